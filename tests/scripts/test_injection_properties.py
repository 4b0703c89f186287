"""Hostile option values, by query and by `bash -s` flag, against the rendered installer.

Each value is either rejected with a message naming the option, or rendered so that running
the script with `help` and with `dry-run` in the sandbox runs none of the commands planted in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl, quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from app.main import app
from app.params import OptionError, canonical_name
from app.routes.scripts import parse_query
from tests.support.sandbox import INJECTIONS, PLANTED, Sandbox, settings_line
from tests.support.strategies import nasty_text, option_names, spellings, values
from tests.support import render_script

client = TestClient(app)
SCRIPT = render_script()
PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox()
    yield box
    box.close()


def run_clean(sandbox: Sandbox, script: str, *args: str):
    sandbox.reset()
    run = sandbox.run(script, *args)
    assert sandbox.injected() == [], f"planted command ran: {args!r}\n{run.stderr}"
    assert run.returncode in (0, 1), run.stderr
    return run


option_pairs = option_names().flatmap(lambda n: st.tuples(spellings(n), values(n)))
odd_pairs = st.tuples(st.one_of(st.sampled_from(INJECTIONS), nasty_text(1, 8)),
                      st.text(max_size=5))


@PROPERTY
@given(pairs=st.lists(st.one_of(option_pairs, option_pairs, option_pairs, odd_pairs), min_size=1, max_size=4),
       bare=st.booleans())
@example(pairs=[("encrypt_network", "1"), ("encrypt-network", "$(kubeinit-pwned)")], bare=False)  # repeated
@example(pairs=[("cluster_domain", "a" * 5000)], bare=False)  # long
@example(pairs=[("public_address", "x\x00$(kubeinit-pwned)")], bare=True)  # NUL
@example(pairs=[("pod-cidr", "10.32.0.0/12\n$(kubeinit-pwned)")], bare=False)  # newline
def test_query_values_are_rejected_clearly_or_run_inert(sandbox: Sandbox, pairs: list[tuple[str, str]],
                                                        bare: bool) -> None:
    words = [quote(n, safe="") + "=" + quote(v, safe="") for n, v in pairs]
    if bare:  # a bare name, as in ?nodelocal_dnscache
        words.append(quote(pairs[0][0], safe=""))
    query = "&".join(words)
    response = client.get("/kubernetes-init?" + query)
    event(f"HTTP {response.status_code}")
    if response.status_code == 200:
        options = parse_query(query.encode())
        run = run_clean(sandbox, response.text, "help")
        assert run.returncode == 0 and "Usage:" in run.stdout
        run = run_clean(sandbox, response.text, "dry-run")
        assert settings_line(options) in run.stderr.splitlines()
        return
    assert response.status_code in (400, 414), response.text
    if response.status_code == 400:
        with pytest.raises(OptionError):
            parse_query(query.encode())
    named = {n for n, _ in parse_qsl(query, keep_blank_values=True)}
    named |= {canonical_name(n) for n in named} | {repr(n) for n in named} | {"query"}
    run = run_clean(sandbox, response.text, "help")
    assert run.returncode == 1
    assert any(run.stderr.startswith(f"kubeinit: {n}: ") for n in named), run.stderr


flag_args = st.one_of(
    option_names().flatmap(lambda n: st.tuples(spellings(n), values(n, nul=False))).map("=".join),
    option_names().flatmap(spellings),  # bare: NAME means NAME=1
    st.sampled_from(INJECTIONS).map(lambda s: s.replace("\x00", "")),
    st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=12),
)


@PROPERTY
@given(args=st.lists(flag_args, min_size=1, max_size=3), action=st.sampled_from(["help", "dry-run"]))
def test_flag_values_are_rejected_clearly_or_run_inert(sandbox: Sandbox, args: list[str], action: str) -> None:
    run = run_clean(sandbox, SCRIPT, *args, action)
    event("accepted" if run.returncode == 0 else "rejected")
    if run.returncode == 0:
        assert ("Usage:" in run.stdout) if action == "help" else ("[INFO] settings: " in run.stderr)
    else:
        assert run.stderr.startswith("kubeinit: "), run.stderr


@pytest.mark.parametrize("payload", [f"$({PLANTED})", "`touch $KUBEINIT_MARKER`", f"x;{PLANTED}"])
def test_the_sandbox_sees_an_injection_when_there_is_one(sandbox: Sandbox, payload: str) -> None:
    """Control: a header value written unquoted would run the planted command, and the check says so."""
    unquoted = SCRIPT.replace("\nCLUSTER_DOMAIN=cluster.local\n", f"\nCLUSTER_DOMAIN={payload}\n")
    assert unquoted != SCRIPT
    sandbox.reset()
    sandbox.run(unquoted, "help")
    assert sandbox.injected() != []
