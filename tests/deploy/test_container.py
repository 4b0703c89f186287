"""The app started as the image starts it: the Dockerfile's command and environment, its pinned
dependencies (a venv from requirements.lock), a read-only copy of the working directory, a non-root user,
a real uvicorn on a loopback port. Checks the probes, /metrics and the proxy rules."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.http.access_log import FLUSH_SECONDS

from tests.support import MAIN_CALL, dockerfile
from tests.conftest import free_port
from tests.support.dockerfile import ROOT

CACHE = Path("/var/cache/kubeinit-tests")
SYSTEM_PYTHON = "/usr/bin/python3"  # not the test runner's: the service user must be able to read it
UID = 10001


@pytest.fixture(scope="module")
def image_venv() -> Path:
    """The image's dependency layer: a venv of requirements.lock, cached under its hash."""
    if os.geteuid() != 0:
        pytest.skip("needs root: runs the service as another user")
    version = subprocess.run([SYSTEM_PYTHON, "--version"], capture_output=True, text=True, check=True).stdout
    key = hashlib.sha256((ROOT / "requirements.lock").read_bytes() + version.encode()).hexdigest()[:16]
    venv = CACHE / f"image-venv-{key}"
    if not (venv / ".complete").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        CACHE.chmod(0o755)
        building = Path(tempfile.mkdtemp(prefix="image-venv-", dir=CACHE))
        subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(building)], check=True)
        pip = [str(building / "bin/python"), "-m", "pip", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "install", "--no-deps", "-r", str(ROOT / "requirements.lock")], check=True)
        subprocess.run([*pip, "check"], check=True)  # as the Dockerfile does: the lock is complete
        building.chmod(0o755)
        (building / ".complete").touch()
        shutil.rmtree(venv, ignore_errors=True)
        # venvs hold their own path: build at a temporary name, then move and fix the scripts' shebangs
        building.rename(venv)
        for script in (venv / "bin").iterdir():
            if script.is_file() and not script.is_symlink() and script.read_bytes().startswith(b"#!"):
                script.write_text(script.read_text().replace(str(building), str(venv)))
        (venv / "pyvenv.cfg").write_text((venv / "pyvenv.cfg").read_text().replace(str(building), str(venv)))
    return venv


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """The image's working directory as the Dockerfile's COPY lines lay it out, compiled, then read-only."""
    top = Path(tempfile.mkdtemp(prefix="kubeinit-image-"))
    top.chmod(0o755)
    root = top / dockerfile.workdir().lstrip("/")
    root.mkdir(parents=True)
    for sources, destination in dockerfile.copies():
        if sources == ["requirements.lock"]:
            continue  # consumed by the dependency layer (image_venv)
        for source in sources:
            shutil.copytree(ROOT / source, root / destination, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([SYSTEM_PYTHON, "-m", "compileall", "-q", "app"], cwd=root, check=True)
    for path in [top, *top.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    yield root
    shutil.rmtree(top)


def tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


@dataclass
class Service:
    url: str
    process: subprocess.Popen
    env: dict[str, str]

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def metric(self, name: str, **labels: str) -> float:
        """One sample of /metrics (0 when absent), the labels matched exactly."""
        _, text = self.get("/metrics")
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            sample, _, value = line.rpartition(" ")
            sample_name, _, sample_labels = sample.partition("{")
            if sample_name == name and ",".join(sorted(sample_labels.rstrip("}").split(","))) == wanted:
                return float(value)
        return 0.0


@contextmanager
def serve(venv: Path, root: Path, **env: str) -> Iterator[Service]:
    """The image's CMD, with its ENV (port changed, `env` added), as uid 10001, from the read-only copy."""
    port = free_port()
    environment = {"PATH": f"{venv}/bin:/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8"}
    environment.update(dockerfile.env(), UVICORN_PORT=str(port), UVICORN_HOST="127.0.0.1", **env)
    log = tempfile.TemporaryFile()
    command = ["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups", *dockerfile.command()]
    process = subprocess.Popen(command, cwd=root, env=environment, stdout=log, stderr=subprocess.STDOUT)
    service = Service(f"http://127.0.0.1:{port}", process, environment)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if service.get("/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"the service did not start:\n{log.read().decode()}")
            time.sleep(0.1)
        yield service
    finally:
        process.terminate()
        code = process.wait(timeout=30)
        log.seek(0)
        output = log.read().decode()
        # uvicorn finishes in-flight requests, then re-raises the signal: a clean stop is 0 or -SIGTERM
        assert code in (0, -signal.SIGTERM) and "Finished server process" in output, output


@pytest.fixture(scope="module")
def service(image_venv: Path, workdir: Path) -> Iterator[Service]:
    with serve(image_venv, workdir) as running:
        yield running


def test_probes_answer(service: Service):
    assert service.get("/healthz") == (200, "ok\n")
    assert service.get("/readyz") == (200, "ok\n")


def test_a_script_comes_whole_and_names_no_server(service: Service):
    with urllib.request.urlopen(service.url + "/kubernetes-init", timeout=10) as response:
        body = response.read()
        assert int(response.headers["content-length"]) == len(body) and body.endswith(MAIN_CALL.encode())
        assert "server" not in {name.lower() for name in response.headers}  # UVICORN_SERVER_HEADER=false


def test_the_image_healthcheck_passes(service: Service, image_venv: Path, workdir: Path):
    (check,) = dockerfile.of("HEALTHCHECK")
    argv = dockerfile.exec_form(check.partition(" CMD ")[2])
    env = {**service.env, "PATH": f"{image_venv}/bin:/usr/bin:/bin"}
    as_user = ["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups"]
    assert subprocess.run([*as_user, *argv], cwd=workdir, env=env, timeout=10, check=False).returncode == 0
    env["UVICORN_PORT"] = str(free_port())  # nothing listens there: the check must fail
    assert subprocess.run([*as_user, *argv], cwd=workdir, env=env, capture_output=True, timeout=10,
                          check=False).returncode != 0


def test_runs_as_the_image_user_and_writes_nothing(service: Service, workdir: Path):
    before = tree(workdir)
    service.get("/kubernetes-init?kubernetes_version=1.36")
    status = Path(f"/proc/{service.process.pid}/status").read_text()
    assert re.search(rf"^Uid:\s+{UID}\s+{UID}\s+{UID}\s+{UID}$", status, re.M)
    assert tree(workdir) == before


def test_metrics_count_requests_by_route_and_status(service: Service):
    route = {"route": "/kubernetes-init", "method": "GET"}
    ok, bad = service.metric("kubeinit_http_request_duration_seconds_count", **route, status="200"), \
        service.metric("kubeinit_http_request_duration_seconds_count", **route, status="400")
    unmatched = service.metric("kubeinit_http_request_duration_seconds_count", route="<unmatched>", method="GET", status="404")
    assert service.get("/kubernetes-init?weave_mtu=1400")[0] == 200
    assert service.get("/kubernetes-init?weave_mtu=1")[0] == 400
    assert service.get("/no/such/path/12345")[0] == 404
    assert service.metric("kubeinit_http_request_duration_seconds_count", **route, status="200") == ok + 1
    assert service.metric("kubeinit_http_request_duration_seconds_count", **route, status="400") == bad + 1
    assert service.metric("kubeinit_http_request_duration_seconds_count", route="<unmatched>", method="GET", status="404") == unmatched + 1
    _, text = service.get("/metrics")
    assert "12345" not in text  # raw paths never become labels


def test_metrics_count_renders_so_the_cache_hit_ratio_shows(service: Service):
    """A render is a render cache miss; the scripts served beyond the renders were cache hits."""
    route = {"route": "/kubernetes-init", "method": "GET", "status": "200"}
    renders, served = service.metric("kubeinit_render_duration_seconds_count"), service.metric("kubeinit_http_request_duration_seconds_count", **route)
    first = service.get("/kubernetes-init?pod_cidr=10.40.0.0/16")
    assert service.metric("kubeinit_render_duration_seconds_count") == renders + 1
    assert service.get("/kubernetes-init?pod-cidr=10.40.0.0/16") == first  # other spelling: the render cache
    assert service.get("/kubernetes-init?pod-cidr=10.40.0.0/16") == first  # again: the response cache
    assert service.metric("kubeinit_render_duration_seconds_count") == renders + 1
    assert service.metric("kubeinit_http_request_duration_seconds_count", **route) == served + 3


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "kubeinit.example.com"}


def base_url(service: Service) -> str:
    status, body = service.get("/kubernetes-init", headers=FORWARDED)
    assert status == 200
    return re.search(r"^KUBEINIT_BASE_URL=(\S+)$", body, re.M).group(1)


def test_forwarded_headers_are_believed_from_a_trusted_proxy(service: Service):
    # the default trusted proxies are the loopback addresses, where this request comes from
    assert base_url(service) == "https://kubeinit.example.com"


def test_forwarded_headers_are_ignored_from_anyone_else(image_venv: Path, workdir: Path):
    with serve(image_venv, workdir, KUBEINIT_TRUSTED_PROXIES='["10.0.0.0/8"]') as untrusting:
        assert base_url(untrusting) == untrusting.url  # neither the app nor uvicorn took the https


def test_the_public_url_wins_over_everything(image_venv: Path, workdir: Path):
    with serve(image_venv, workdir, KUBEINIT_PUBLIC_URL="https://get.example.org/") as public:
        assert base_url(public) == "https://get.example.org"


def test_workers_add_up_in_metrics(image_venv: Path, workdir: Path):
    writable = Path(tempfile.mkdtemp(prefix="kubeinit-tmp-"))  # the pod's /tmp
    shutil.chown(writable, UID, UID)
    directory = writable / "metrics"  # made by the app
    try:
        with serve(image_venv, workdir, WEB_CONCURRENCY="2", PROMETHEUS_MULTIPROC_DIR=str(directory)) as pool:
            deadline = time.monotonic() + 30
            # each worker has its own files, made at start-up for the unlabelled render histogram
            while len({p.name for p in directory.glob("histogram_*.db")}) < 2:
                assert time.monotonic() < deadline, "the second worker did not start"
                time.sleep(0.1)
            for _ in range(40):
                assert pool.get("/healthz")[0] == 200
            # A worker counts its requests within app.http.access_log.FLUSH_SECONDS (a scrape it answers
            # itself, at once): after that, whichever worker answers sees them all.
            time.sleep(FLUSH_SECONDS + 0.25)
            counts = {pool.metric("kubeinit_http_request_duration_seconds_count", route="/healthz", method="GET", status="200")
                      for _ in range(8)}
            assert counts == {40 + 1}  # every scrape, whichever worker answers it, sums both (+1: start-up poll)
    finally:
        shutil.rmtree(writable)
