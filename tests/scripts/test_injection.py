"""Hostile values, by query and by `bash -s`, are rejected or inert: the planted command never runs."""

import os
import subprocess

import pytest
from fastapi.testclient import TestClient

from app.main import app
from app.params import NAMES, flag
from tests.support import render_script, run_bash

client = TestClient(app)

PAYLOADS = [
    "$(touch {marker})",
    "`touch {marker}`",
    "'; touch {marker}; '",
    '"; touch {marker}; "',
    "x\ntouch {marker}",
    "1;touch {marker}",
    "1|touch {marker}",
    "1 && touch {marker}",
    "${{IFS}}$(touch${{IFS}}{marker})",
    "1\rtouch {marker}",
]


@pytest.fixture
def marker(tmp_path):
    tmp_path.chmod(0o777)
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "an injected command ran"


def run_error_body(body: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash"], input=body,
                          capture_output=True, text=True, cwd=cwd, timeout=10, env={"PATH": os.environ["PATH"]})


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("name", NAMES)
def test_hostile_query_values_are_rejected_and_the_error_script_is_inert(name, payload, marker):
    value = payload.format(marker=marker)
    response = client.get("/kubernetes-init", params={name: value})
    assert response.status_code == 400
    result = run_error_body(response.text, marker.parent)
    assert result.returncode == 1
    assert f"kubeinit: {name}: " in result.stderr


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_option_names_are_inert_in_the_error_script(payload, marker):
    response = client.get("/kubernetes-init", params={payload.format(marker=marker): "1"})
    assert response.status_code == 400
    result = run_error_body(response.text, marker.parent)
    assert result.returncode == 1 and "unknown option" in result.stderr


SCRIPT = render_script()


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("name", NAMES)
def test_hostile_flag_values_are_rejected_by_the_script(name, payload, marker):
    result = run_bash(SCRIPT, "dry-run", f"{flag(name)}={payload.format(marker=marker)}", cwd=marker.parent,
                      as_nobody=True)
    assert result.returncode == 1
    assert f"kubeinit: {flag(name)}: " in result.stderr
    assert "[INFO]" not in result.stderr


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_flag_names_stop_the_script(payload, marker):
    result = run_bash(SCRIPT, "dry-run", payload.format(marker=marker), cwd=marker.parent, as_nobody=True)
    assert result.returncode == 1 and "unknown option" in result.stderr
