"""No function that can stop the script is called where its failure is lost (issue #12 item 1).

`x=$(f)` alone as a statement (optionally followed by `|| ...`) stops the script when f dies,
under `set -e`. Anywhere else the failure is lost: as an argument (`g "$(f)"`), part of a
larger word (`"a$(f)"`), `local x=$(f)` (local's own status wins), inside `[ ... ]`, a
here-string, a pipeline stage, a here-document, or a second assignment on the same line. Bash
prints f's `[ERROR]` and goes on with an empty value (`advertiseAddress: ""` and `kubeadm init`,
in issue #12). This test reads every rendered script, works out which functions can stop it
(`die`, `exit 1`, or through a function that does), and names each call in a lossy place.
"""

from __future__ import annotations

import re

import pytest

from tests.scripts.test_variants import QUERIES, QUERY_IDS, TEMPLATES
from tests.support import render_script
from tests.support.bash_scan import Script, calls, can_stop, scan


# What may stand before and after `$(f ...)` in a statement whose failure stops the script.
SAFE_BEFORE = re.compile(r"^\s*((if|elif|while|until)\s+(!\s+)?)?[A-Za-z_][A-Za-z0-9_]*=$")
SAFE_AFTER = re.compile(r"^(\s*\|\|.*)?$")
SAFE_AFTER_CONDITION = re.compile(r"^.*;\s*(then|do)(\s.*)?$")


def logical_line(text: str, index: int) -> tuple[int, int]:
    """The start and end of the line holding index, continuation lines (ending in \\) joined."""
    start = index
    while start > 0 and not (text[start - 1] == "\n" and (start < 2 or text[start - 2] != "\\")):
        start -= 1
    end = text.find("\n", index)
    while end > 0 and text[end - 1] == "\\":
        end = text.find("\n", end + 1)
    return start, len(text) if end < 0 else end


def lossy_calls(script: Script) -> list[tuple[int, str, str]]:
    """(line number, line, function) for each call of a function that can stop the script, made
    inside a command substitution whose failure is lost."""
    stopping = can_stop(script)
    found = []
    for sub in script.substitutions:
        own = list(script.code[sub.start + 2:sub.end - 1])
        for inner in script.substitutions:  # nested substitutions are judged on their own
            if sub.start < inner.start and inner.end <= sub.end:
                for k in range(inner.start - sub.start - 2, inner.end - sub.start - 2):
                    own[k] = " "
        called = calls("".join(own), stopping)
        if not called:
            continue
        start, end = logical_line(script.text, sub.start)
        before, after = script.text[start:sub.start], script.text[sub.end:end]
        before = re.sub(r"^\s*[a-z_][a-z0-9_]*\(\) \{", "", before)  # a one-line function
        after = re.sub(r";\s*\}\s*$", "", after)
        condition = re.match(r"^\s*(if|elif|while|until)\s", before) is not None
        safe = (not sub.in_heredoc and SAFE_BEFORE.match(before) is not None
                and (SAFE_AFTER.match(after) is not None or condition and SAFE_AFTER_CONDITION.match(after) is not None))
        if not safe:
            number = script.line_of(sub.start)
            found.append((number, script.line(number).strip(), ", ".join(sorted(called))))
    return found


@pytest.mark.parametrize("query", QUERIES, ids=QUERY_IDS)
@pytest.mark.parametrize("template", TEMPLATES)
def test_no_stopping_function_is_called_where_its_failure_is_lost(template: str, query: dict[str, str]) -> None:
    script = scan(render_script(template, **query))
    problems = [f"line {n}: {f} can stop the script, but its failure is lost here: {line}"
                for n, line, f in lossy_calls(script)]
    assert problems == []



EXAMPLE = r"""#!/usr/bin/env bash
die() { printf '%s\n' "$*" >&2; exit 1; }
address() { [ -n "$X" ] || die "no address"; echo "$X"; }
wrapped() { address; }
quiet() { echo fine; }
f1() { cfg=$(render "$(address)"); }
f2() { echo "host-$(wrapped)"; }
f3() { local a=$(address); }
f4() { [ -n "$(address)" ]; }
f5() { grep -q x <<<"$(address)"; }
f6() { echo "$(wrapped)" | sort; }
f7() {
  cat <<EOF
address: $(address)
EOF
}
f8() { a=$(address) b=$(quiet); }
ok1() { a=$(address); }
ok2() { a=$(wrapped) || die "cannot"; }
ok3() { if ! a=$(address); then echo none; fi; }
ok4() { b="$(quiet) $(quiet)"; echo '$(address)'; }
ok5() {
  cat <<'EOF'
$(address)
EOF
}
"""


def test_the_check_finds_each_lossy_form_and_passes_the_safe_ones() -> None:
    lines = [line for _, line, _ in lossy_calls(scan(EXAMPLE))]
    found = {"f7" if line.startswith("address:") else line.split("()")[0] for line in lines}
    assert found == {"f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8"}
