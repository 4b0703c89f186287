"""The script's bash parser and the service's Python model accept, reject and normalise alike.

Both sides get the same (name, value) flags: Python through parse_pairs, bash through the
rendered script's own parser (`bash -s NAME=VALUE... dry-run`), whose settings line shows the
normalised values it resolved.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from app.params import OptionError, canonical_name, parse_pairs
from tests.support.sandbox import Sandbox, settings_line
from tests.support.strategies import option_names, spellings, values
from tests.support import render_script

SCRIPT = render_script()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox()
    yield box
    box.close()


def simple(raw: str) -> bool:
    """Python's repr and bash's '$raw' write this value the same way."""
    return raw.isascii() and raw.isprintable() and "'" not in raw and "\\" not in raw


flags = option_names().flatmap(lambda n: st.tuples(spellings(n), values(n, nul=False)))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(flags, min_size=1, max_size=3))
@example(pairs=[("pod_cidr", "10.96.0.0/16")])  # overlaps the default service network
@example(pairs=[("weave-mtu", "0576")])
@example(pairs=[("public_address", "1.2.3")])
@example(pairs=[("service-cidr", "10.96.0.0/29")])
@example(pairs=[("encrypt_network", "1"), ("encrypt-network", "true")])
@example(pairs=[("encrypt_network", "1"), ("encrypt-network", "0")])
@example(pairs=[("kubernetes-version", "1.37.٣")])
def test_bash_and_python_agree(sandbox: Sandbox, pairs: list[tuple[str, str]]) -> None:
    run = sandbox.run(SCRIPT, *(f"{n}={v}" for n, v in pairs), "dry-run")
    try:
        options = parse_pairs(pairs)
    except OptionError as exc:
        event("rejected")
        assert run.returncode == 1, f"bash accepted what Python rejects ({exc}):\n{run.stderr}"
        first = run.stderr.splitlines()[0]
        assert first.startswith("kubeinit: "), run.stderr
        name, _, reason = first.removeprefix("kubeinit: ").partition(": ")
        if canonical_name(name) not in {canonical_name(n) for n, _ in exc.problems}:
            # Python stops at repeats before it checks values; bash stops at the first bad flag.
            alone = [p for p in pairs if canonical_name(p[0]) == canonical_name(name)]
            with pytest.raises(OptionError):
                parse_pairs(alone)
        if len(pairs) == 1 and simple(pairs[0][1]):
            assert reason == exc.problems[0][1]
        return
    event("accepted")
    assert run.returncode == 0, f"bash rejected what Python accepts:\n{run.stderr}"
    assert settings_line(options) in run.stderr.splitlines()


HELP_POINTER = "kubeinit: list the options and actions with: curl -sSL 'http://kubeinit.test:8000/kubernetes-init' | bash -s help"


@pytest.mark.parametrize(("typed", "first"), [
    ("encrypt-netwrk=0", "kubeinit: encrypt-netwrk: unknown option (did you mean encrypt-network?)"),
    ("encrypt_netwrk=0", "kubeinit: encrypt_netwrk: unknown option (did you mean encrypt-network?)"),
    ("--pod-cdir=10.0.0.0/16", "kubeinit: pod-cdir: unknown option (did you mean pod-cidr?)"),
    ("dryrun", "kubeinit: dryrun: unknown option (did you mean dry-run?)"),
    ("trubleshoot", "kubeinit: trubleshoot: unknown option (did you mean troubleshoot?)"),
    ("zzzz", "kubeinit: zzzz: unknown option"),
    ("dry-run=1", "kubeinit: dry-run: takes no value"),
])
def test_a_wrong_word_gets_one_line_a_suggestion_and_a_pointer_to_help(sandbox: Sandbox, typed: str, first: str) -> None:
    run = sandbox.run(SCRIPT, typed)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [first, HELP_POINTER]


@pytest.mark.parametrize("typed", ["nodelocal_dns_cache", "encrypt_networks", "pod-cdir", "kube_proxy", "zzzz", "weave_mtuu"])
def test_the_script_suggests_what_the_query_suggests(sandbox: Sandbox, typed: str) -> None:
    """The same rule on both sides (app.params.closest and option_suggest), each in its own spelling."""
    with pytest.raises(OptionError) as caught:
        parse_pairs([(typed, "1")])
    [(_, reason)] = caught.value.problems
    run = sandbox.run(SCRIPT, f"{typed}=1")
    assert run.stderr.splitlines()[0] == f"kubeinit: {typed}: {reason.replace('_', '-')}"


def test_a_control_character_in_an_unknown_name_is_shown_quoted(sandbox: Sandbox) -> None:
    run = sandbox.run(SCRIPT, "a\x1b[31mb=1")
    assert run.returncode == 1
    assert "\x1b" not in run.stderr
    assert run.stderr.splitlines()[0] == "kubeinit: $'a\\E[31mb': unknown option"


def test_help_sizes_the_action_column_to_the_longest_name_and_groups_the_options(sandbox: Sandbox) -> None:
    from app.params import ACTIONS, GROUPS, describe

    out = sandbox.run(SCRIPT, "help").stdout.splitlines()
    width = max(len(a.usage) for a in ACTIONS) + 2  # remove-node=NAME: the usage, value and all
    for action in ACTIONS:
        line = next(line for line in out if line.startswith(f"  {action.usage} "))
        assert line[2 + width:].startswith(action.description[:20]), line  # the description starts in one column
    headings = [line.strip() for line in out if line.strip() in GROUPS]
    assert headings == [g for g in GROUPS if any(r["group"] == g for r in describe())]
    for row in describe():
        assert any(line.startswith(f"  {row['flag']}={row['placeholder']}  {row['label']} (now: ") for line in out), row["name"]
