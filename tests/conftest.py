"""Fixtures shared across the suite."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytest_plugins = ["tests.support.ci", "pytester"]  # ci: under CI=true a skip for a missing tool fails


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_of(url: str) -> int:
    """The port of a base URL from start_uvicorn."""
    return int(url.rsplit(":", 1)[1])


def start_uvicorn(extra_env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    """A real uvicorn serving app.main:app on a loopback port; returns (process, base URL)."""
    port = free_port()
    env = {**os.environ, **(extra_env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port), *args],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited: {proc.stdout.read().decode()}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("uvicorn did not answer /healthz within 30 s")


@pytest.fixture(scope="session")
def live_server() -> Iterator[str]:
    """Base URL of a real uvicorn serving the app for the whole session."""
    proc, url = start_uvicorn()
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def settings_env(monkeypatch):
    """Set KUBEINIT_* variables for one test: ``settings_env(KUBEINIT_X="...")`` returns a client of
    the app running with them; afterwards the app forgets them again."""
    from fastapi.testclient import TestClient

    from app.main import app
    from tests.support import reload_settings

    def set_env(client: tuple[str, int] = ("testclient", 50000), **values: str) -> TestClient:
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        reload_settings()
        return TestClient(app, client=client)

    yield set_env
    monkeypatch.undo()
    reload_settings()
