"""Under CI (``CI=true``), a test skipped because a tool is missing fails instead.

A test that needs a program calls ``need_tool(name, how)``: on a developer's machine without it the
test is skipped with the reason ``missing tool: NAME (HOW)``; in CI, where scripts/test has installed
everything, such a skip means the setup is broken, so the report turns it into a failure. Other
skips (e.g. "needs root") are left alone. tests/test_ci.py checks both ways."""

from __future__ import annotations

import os
import shutil

import pytest

PREFIX = "missing tool: "


def need_tool(name: str, how: str) -> str:
    """The path of program NAME, or a skip saying how to install it (a failure under CI=true)."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{PREFIX}{name} ({how})")
    return path


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or os.environ.get("CI") != "true" or not isinstance(report.longrepr, tuple):
        return
    reason = report.longrepr[2].removeprefix("Skipped: ")
    if reason.startswith(PREFIX):
        report.outcome = "failed"
        report.longrepr = f"CI=true: skipped for a {reason}; in CI that is a failure: scripts/test installs it"
