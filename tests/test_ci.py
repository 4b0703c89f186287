"""tests/support/ci.py: under CI=true a skip for a missing tool is a failure; elsewhere a skip."""

from __future__ import annotations

import pytest

SAMPLE = '''
import pytest
from tests.support.ci import need_tool

def test_needs_a_tool_nobody_has():
    need_tool("kubeinit-no-such-tool", "nowhere")

def test_skips_for_another_reason():
    pytest.skip("needs root")

def test_has_its_tool():
    assert need_tool("bash", "coreutils").endswith("/bash")
'''


@pytest.mark.parametrize("ci", ["true", ""])
def test_a_skip_for_a_missing_tool_fails_under_ci_only(pytester: pytest.Pytester, monkeypatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    pytester.makepyfile(test_sample=SAMPLE)
    result = pytester.runpytest_inprocess("-p", "tests.support.ci", "-rA")
    if ci:
        result.assert_outcomes(failed=1, skipped=1, passed=1)
        result.stdout.fnmatch_lines(["*CI=true: skipped for a missing tool: kubeinit-no-such-tool (nowhere)*"])
    else:
        result.assert_outcomes(skipped=2, passed=1)
