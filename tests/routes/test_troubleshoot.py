"""GET /kubernetes-troubleshoot: the troubleshoot script, with the installer's options baked in."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.main import app
from tests.support import MAIN_CALL

client = TestClient(app)


def test_serves_the_troubleshoot_script_with_the_query_baked_in() -> None:
    response = client.get("/kubernetes-troubleshoot?cluster_domain=corp.example&nodelocal-address=169.254.25.10")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/x-shellscript")
    body = response.text
    assert body.startswith("#!/usr/bin/env bash\n")
    assert "\n# kubernetes-troubleshoot, rendered by kubeinit" in body
    assert "\nCLUSTER_DOMAIN=corp.example\n" in body and "\nNODELOCAL_ADDRESS=169.254.25.10\n" in body
    assert body.endswith(MAIN_CALL)


def test_head_and_the_sh_alias_serve_the_same_script() -> None:
    body = client.get("/kubernetes-troubleshoot").text
    assert client.get("/kubernetes-troubleshoot.sh").text == body
    assert client.head("/kubernetes-troubleshoot").status_code == 200
    assert "/kubernetes-troubleshoot" in client.get("/openapi.json").json()["paths"]


def test_a_bad_option_is_a_script_that_stops() -> None:
    response = client.get("/kubernetes-troubleshoot?cluster_domain=Not_A_Domain")
    assert response.status_code == 400
    assert "kubeinit: cluster_domain:" in response.text and "exit 1" in response.text


def test_the_troubleshoot_script_refuses_installer_actions() -> None:
    from tests.support import render_script, run_bash

    result = run_bash(render_script("scripts/kubernetes-troubleshoot.sh.j2"), "manifests")
    assert result.returncode == 1
    assert "manifests: an action of kubernetes-init, not of this troubleshoot script" in result.stderr
