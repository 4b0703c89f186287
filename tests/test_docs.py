"""The README keeps its promises: two commands first, tables in step with the option model."""

import re
from pathlib import Path

from app.docs import readme_blocks

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_says_what_the_project_is_then_gives_the_two_commands():
    intro, first_section = README.split("\n## ", 2)[:2]
    assert "kubeinit is a web service that renders `kubernetes-init`" in intro
    assert not re.findall(r"^    \S", intro, re.M)  # no command before the project is explained
    commands = re.findall(r"^    (\S.*)$", first_section, re.M)
    assert commands[:2] == ["scripts/serve", "scripts/test"]
    for promise in ("foreground", "another\nterminal", "20 minutes on 2 cores", "/var/cache/kubeinit-tests",
                    "PyPI", "/docs", "PEP 668", "/usr/bin/python3"):
        assert promise.replace("\n", " ") in first_section.replace("\n", " "), promise


def test_every_url_with_a_query_is_quoted():
    """zsh takes an unquoted ? as a pattern: `no matches found`."""
    for line in README.splitlines():
        for url in re.findall(r"https?://\S+\?\S*", line):
            at = line.index(url)
            assert line[at - 1] in "'\"`", line


def test_ci_runs_the_readme_test_command():
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert re.search(r"^exec scripts/test$", ci, re.M)


def test_generated_blocks_match_the_option_model():
    for marker, block in readme_blocks().items():
        inside = README.split(f"<!-- {marker}:start -->\n", 1)[1].split(f"<!-- {marker}:end -->", 1)[0]
        assert inside == block, f"README block {marker!r} is stale: run python3 -m app.docs"
