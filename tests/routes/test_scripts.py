"""The script routes: status, content type, HEAD, errors as scripts, OpenAPI."""

import subprocess

import pytest
from fastapi.testclient import TestClient

from app.main import app
from app.params import NAMES, describe

client = TestClient(app)
SCRIPT_TYPE = "text/x-shellscript"


@pytest.mark.parametrize("path", ["/kubernetes-init", "/kubernetes-init.sh"])
def test_get_serves_a_bash_script(path):
    response = client.get(path, params={"nodelocal_dnscache": "1"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(SCRIPT_TYPE)
    assert response.text.startswith("#!/usr/bin/env bash\n")
    assert "\nNODELOCAL_DNSCACHE=1\n" in response.text


@pytest.mark.parametrize("path", ["/kubernetes-init", "/kubernetes-init.sh"])
def test_head_gives_the_headers_of_get_without_a_body(path):
    get = client.get(path)
    head = client.head(path)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert int(head.headers["content-length"]) == len(get.content)


def test_query_values_become_the_scripts_defaults_in_both_spellings():
    a = client.get("/kubernetes-init?encrypt-network=0&pod_cidr=10.0.0.0/16").text
    b = client.get("/kubernetes-init?pod-cidr=10.0.0.0/16&encrypt_network=false").text
    assert a == b
    assert "\nENCRYPT_NETWORK=0\n" in a and "\nPOD_CIDR=10.0.0.0/16\n" in a


def test_a_bare_boolean_name_means_true():
    assert "\nNODELOCAL_DNSCACHE=1\n" in client.get("/kubernetes-init?nodelocal_dnscache").text


def run_error_script(body: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash"], input=body, capture_output=True, text=True, timeout=10)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("nodelocal_dns_cache=1", "kubeinit: nodelocal_dns_cache: unknown option (did you mean nodelocal_dnscache?)"),
        ("pod_cidr=10.96.0.0/16", "kubeinit: service_cidr: 10.96.0.0/12 overlaps pod_cidr 10.96.0.0/16"),
        ("encrypt_network=maybe", "kubeinit: encrypt_network: 'maybe' is not a boolean"),
        ("kubernetes_version=1.20", "kubeinit: kubernetes_version: '1.20' is not one of 1.35, 1.36, 1.37"),
        ("drain_timeout=5x", "kubeinit: drain_timeout: '5x' is not a duration such as 300s, 10m or 1h"),
        ("drain=delete", "kubeinit: drain: 'delete' is not one of evict, force, skip"),
    ],
)
def test_an_error_is_a_4xx_script_that_names_the_option_and_exits_1(query, expected):
    response = client.get("/kubernetes-init?" + query)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(SCRIPT_TYPE)
    result = run_error_script(response.text)
    assert result.returncode == 1
    assert expected in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "kubeinit: nothing was installed; pipe the script to 'bash -s help' to list the options")
    assert result.stdout == ""


def test_every_problem_is_reported_at_once():
    response = client.get("/kubernetes-init?bogus=1&weave_mtu=1")
    result = run_error_script(response.text)
    assert "kubeinit: bogus: unknown option" in result.stderr
    assert "kubeinit: weave_mtu:" in result.stderr


def test_the_error_script_also_stops_under_sh():
    body = client.get("/kubernetes-init?encrypt_network=maybe").text
    result = subprocess.run(["sh"], input=body, capture_output=True, text=True, timeout=10)
    assert result.returncode == 1 and "encrypt_network" in result.stderr


def test_a_client_asking_for_json_gets_json():
    response = client.get("/kubernetes-init?pod_cidr=nope", headers={"accept": "application/json"})
    assert response.status_code == 400
    assert response.json() == {
        "detail": [{"option": "pod_cidr", "message": "'nope' is not an IPv4 CIDR such as 10.32.0.0/12"}]
    }


def test_openapi_lists_every_option_with_its_meaning_and_default():
    spec = client.get("/openapi.json").json()
    parameters = {p["name"]: p for p in spec["paths"]["/kubernetes-init"]["get"]["parameters"]}
    assert list(parameters) == list(NAMES)
    for row in describe():
        parameter = parameters[row["name"]]
        assert row["description"] in parameter["description"]
        assert parameter["schema"].get("default", "") == row["default"]
    assert parameters["kube_proxy_mode"]["schema"]["enum"] == ["iptables", "ipvs", "nftables"]


def test_a_mistyped_script_path_piped_into_bash_says_which_script_was_meant():
    response = client.get("/kubernetes-inti")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/x-shellscript")
    result = subprocess.run(["bash"], input=response.text, capture_output=True, text=True, check=False)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines()[0] == "kubeinit: /kubernetes-inti: no such script (did you mean /kubernetes-init?)"
    far = subprocess.run(["bash"], input=client.get("/zzz").text, capture_output=True, text=True, check=False)
    assert far.returncode == 1 and far.stderr.splitlines()[0] == "kubeinit: /zzz: no such script"
    # No pointer to the options: the path, not an option, was wrong.
    assert result.stderr.splitlines()[1:] == far.stderr.splitlines()[1:] == ["kubeinit: nothing was installed"]


def test_a_mistyped_script_path_answers_json_to_json_clients():
    response = client.get("/kubernetes-inti", headers={"Accept": "application/json"})
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}


def test_healthz():
    response = client.get("/healthz")
    assert response.status_code == 200 and response.text == "ok\n"


def test_forwarded_headers_are_ignored_from_untrusted_peers():
    body = client.get("/kubernetes-init", headers={"x-forwarded-host": "evil.example", "x-forwarded-proto": "https"}).text
    assert "evil.example" not in body
    assert "KUBEINIT_BASE_URL=http://testserver\n" in body


def test_forwarded_headers_are_believed_from_trusted_proxies():
    trusted = TestClient(app, client=("127.0.0.1", 5000))
    body = trusted.get("/kubernetes-init", headers={"x-forwarded-host": "kubeinit.example.com", "x-forwarded-proto": "https"}).text
    assert "KUBEINIT_BASE_URL=https://kubeinit.example.com\n" in body


def test_a_hostile_host_header_is_refused_not_rendered():
    trusted = TestClient(app, client=("127.0.0.1", 5000))
    response = trusted.get("/kubernetes-init", headers={"x-forwarded-host": "a'$(id)'"})
    assert response.status_code == 400
    assert "$(id)" not in response.text.split("printf '%s\\n' ", 1)[0]
    result = run_error_script(response.text)
    assert result.returncode == 1 and "Host" in result.stderr
