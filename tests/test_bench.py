"""The benchmark command runs end to end with tiny settings (its figures are not judged here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "scripts" / "bench"


def test_bench_runs_and_reports_every_figure() -> None:
    run = subprocess.run([sys.executable, str(BENCH), "--duration", "1", "--rounds", "2", "--distinct", "200", "--mixed", "300",
                          "--connections", "8"], capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    for row in ("service (cached)", "nginx static", "service uncached"):
        requests_per_s = re.search(rf"^{re.escape(row)}\s+(\d+)\s+[\d.]+\s+[\d.]+\s+0\s+0\s+\d+ \d+$", out, re.M)
        assert requests_per_s and int(requests_per_s.group(1)) > 0, out
    for label in ("service/nginx:", "service/uncached:", "service p99:", "cold render:", "RSS:"):
        assert re.search(rf"^{re.escape(label)}\s+\S", out, re.M), label
    assert re.search(r"after 2\d\d distinct option sets", out)  # every thread stopped at its share
    mixed = re.search(r"^mixed load:\s+(\d+) requests, status \{'2xx': (\d+), '3xx': 0, '4xx': (\d+), '5xx': 0", out, re.M)
    assert mixed, out
    assert int(mixed.group(1)) >= 300 and int(mixed.group(2)) > 0 and int(mixed.group(3)) > 0
