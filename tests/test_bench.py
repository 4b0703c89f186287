"""The benchmark command runs end to end with tiny settings (its figures are not judged here).

The full run is for an idle machine: scripts/bench (about 12 minutes on 2 cores)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.serial  # alone on the machine: scripts/test runs it after the rest

BENCH = Path(__file__).resolve().parent.parent / "scripts" / "bench"


def test_bench_runs_and_reports_every_figure() -> None:
    run = subprocess.run([sys.executable, str(BENCH), "--duration", "1", "--rounds", "2", "--distinct", "200", "--mixed", "300",
                          "--connections", "8"], capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    for row in ("service (cached)", "bare ASGI, same uvicorn", "nginx static", "service uncached",
                "limit: nginx static", "limit: bare ASGI", "limit: service"):
        figures = re.search(rf"^{re.escape(row)}\s+(\d+)\s+[\d.]+\s+[\d.]+\s+0\s+0\s+(\d+)%\s+([\d.]+)\s+\d+ \d+$", out, re.M)
        assert figures and int(figures.group(1)) > 0, out
        assert 0 < int(figures.group(2)) <= 100, out  # the client's own CPU share, beside what it measured
        assert float(figures.group(3)) > 0, out  # the server's CPU time per request
    for label in ("service/bare ASGI:", "service/uncached:", "service/nginx:", "nginx mix/limit:", "service p99:",
                  "cold render:", "RSS:"):
        assert re.search(rf"^{re.escape(label)}\s+\S", out, re.M), label
    # The service's own cost is judged against the bare app, with its target; the gap to nginx is
    # reported as its two factors, measured with plain wrk on one URL (no Lua in the client).
    assert re.search(r"^service p99:\s+[\d.]+ ms (ok  |MISS) target <= 25 ms \(the median of the rounds' p99; "
                     r"rounds: service [\d. ]+, bare ASGI [\d. ]+\)$", out, re.M), out
    assert re.search(r"^CPU per request:  service [\d.]+ us, bare ASGI [\d.]+ us: bare/service [\d.]+", out, re.M), out
    assert re.search(r"^service/bare ASGI:\s+[\d.]+\s+(ok  |MISS) target >= 0\.90", out, re.M), out
    assert re.search(r"^service/nginx:\s+[\d.]+\s+the limit, one URL, plain wrk .* = bare ASGI/nginx [\d.]+ "
                     r"\(uvicorn and Python\) x service/bare ASGI [\d.]+ \(the service\)$", out, re.M), out
    assert re.search(r"after 2\d\d distinct option sets", out)  # every thread stopped at its share
    mixed = re.search(r"^mixed load:\s+(\d+) requests, status \{'2xx': (\d+), '3xx': 0, '4xx': (\d+), '5xx': 0", out, re.M)
    assert mixed, out
    assert int(mixed.group(1)) >= 300 and int(mixed.group(2)) > 0 and int(mixed.group(3)) > 0
