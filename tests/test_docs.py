"""The README keeps its promises: two commands first, tables in step with the option model."""

import re
from pathlib import Path

from app.docs import readme_blocks

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_starts_with_the_run_and_test_commands():
    commands = re.findall(r"^    (\S.*)$", README.split("\n## ", 1)[0], re.M)
    assert commands[:2] == [
        "python3 -m pip install -e . && python3 -m uvicorn app.main:app --host 0.0.0.0 --port 8000",
        "scripts/test",
    ]


def test_ci_runs_the_readme_test_command():
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert re.search(r"^exec scripts/test$", ci, re.M)


def test_generated_blocks_match_the_option_model():
    for marker, block in readme_blocks().items():
        inside = README.split(f"<!-- {marker}:start -->\n", 1)[1].split(f"<!-- {marker}:end -->", 1)[0]
        assert inside == block, f"README block {marker!r} is stale: run python3 -m app.docs"
