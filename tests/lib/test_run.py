"""lib/run: file_write never commits what a failed producer gave it (issue #12 item 2).

In `producer | file_write PATH`, file_write runs beside the producer and reads whatever it wrote
before failing (often nothing): it replaces PATH with that, and only then does `pipefail` stop
the run (a 0-byte /etc/containerd/config.toml). So no pipeline, and no process substitution, may
feed file_write: the content is captured first (`content=$(producer) || die ...`), then written
(`file_write PATH <<<"$content"`), or comes from a here-document or a file. The end-to-end proof
(`containerd config default` failing keeps the old config.toml) is in tests/scripts/test_rerun.py.
"""

from __future__ import annotations

import re

import pytest

from tests.scripts.test_variants import QUERIES, QUERY_IDS, TEMPLATES
from tests.support import render_script, run_bash, with_body
from tests.support.bash_scan import Script, scan


PIPED = re.compile(r"(?<!\|)\|(?!\|)[ \t]*(\\?\n[ \t]*)*file_write\b|\bfile_write\b[^\n;|&]*<[ \t]*<\(")


def piped_writes(script: Script) -> list[tuple[int, str]]:
    return [(script.line_of(m.end()), script.line(script.line_of(m.end())).strip())
            for m in PIPED.finditer(script.code)]


@pytest.mark.parametrize("query", QUERIES, ids=QUERY_IDS)
@pytest.mark.parametrize("template", TEMPLATES)
def test_no_pipeline_feeds_file_write(template: str, query: dict[str, str]) -> None:
    script = scan(render_script(template, **query))
    problems = [f"line {n}: a pipeline feeds file_write, which would commit a failed producer's output: {line}"
                for n, line in piped_writes(script)]
    assert problems == []


def test_the_check_sees_pipes_across_lines_and_process_substitutions() -> None:
    example = "f() {\n  sed s/a/b/ x |\n    file_write /etc/x\n  file_write /etc/y < <(awk 1 y)\n  a || file_write /z <<<\"$c\"\n}\n"
    assert [n for n, _ in piped_writes(scan(example))] == [3, 4]



def file_write_script(body: str) -> str:
    """The installer's functions (main not called), then body."""
    script = render_script()
    return with_body(script, "DRY_RUN=0\n" + body)


def test_capture_then_write_keeps_the_old_file_when_the_producer_fails(tmp_path) -> None:
    target = tmp_path / "config.toml"
    target.write_text("old = true\n")
    result = run_bash(file_write_script(f"""
content=$(printf 'partial\\n'; exit 3) || die "the producer failed: {target} is left as it was"
file_write {target} <<<"$content"
"""))
    assert result.returncode == 1
    assert "the producer failed" in result.stderr
    assert target.read_text() == "old = true\n"


def test_file_write_from_a_here_string_writes_the_text_with_its_final_newline(tmp_path) -> None:
    target = tmp_path / "sub" / "list"
    result = run_bash(file_write_script(f"""
content=$(printf 'deb x /\\n')
file_write {target} 0600 <<<"$content"
file_write {target} 0600 <<<"$content"
"""))
    assert result.returncode == 0, result.stderr
    assert target.read_text() == "deb x /\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert f"unchanged: {target}" in result.stderr
