"""Request metrics are counted per flush, not per request: the figures must be the ones
prometheus_client's own Histogram.observe gives for the same durations."""

from __future__ import annotations

import pytest
from prometheus_client import Histogram

from app.http import access_log
from app.http.metrics import REQUEST_BUCKETS, REQUEST_SECONDS, UNMATCHED, observe_requests

# On a bound, just above and below it, zero, and past the last bound (+Inf).
DURATIONS = [0.0, 0.0005, 0.001, 0.0010001, 0.0025, 0.003, 0.003, 0.049, 0.05, 0.2, 1.0, 2.5, 2.6, 30.0]


def samples(histogram: Histogram, **labels: str) -> dict[tuple[str, str], float]:
    """The series' counts and sum as /metrics shows them: (name suffix, le) -> value."""
    (family,) = histogram.collect()
    return {(sample.name.removeprefix(family.name), sample.labels.get("le", "")): sample.value
            for sample in family.samples
            if not sample.name.endswith("_created") and all(sample.labels.get(k) == v for k, v in labels.items())}


def test_a_flush_counts_as_observe_would_for_each_request() -> None:
    reference = Histogram("reference_seconds", "for comparison", buckets=REQUEST_BUCKETS, registry=None)
    for seconds in DURATIONS:
        reference.observe(seconds)
    labels = {"route": "/test-metrics-flush", "method": "GET", "status": "200"}
    before = samples(REQUEST_SECONDS, **labels)  # the series is the process's own: another run may have added to it
    answer = access_log.answer("GET", "/x", "/test-metrics-flush", 200, 10, None)
    other = access_log.answer("GET", "/y", "/test-metrics-flush", 200, 20, "abc")  # same series, another line
    records = [(answer if i % 2 else other, seconds, 0.0) for i, seconds in enumerate(DURATIONS)]
    observe_requests(records[:5])  # two flushes add up
    observe_requests(records[5:])
    got = {name: value - before.get(name, 0.0) for name, value in samples(REQUEST_SECONDS, **labels).items()}
    want = samples(reference)
    assert got.pop(("_sum", "")) == pytest.approx(want.pop(("_sum", "")))  # added in another order
    assert got == want
    assert got[("_count", "")] == len(DURATIONS) and got[("_bucket", "+Inf")] == len(DURATIONS)
    assert got[("_bucket", "0.001")] == 3  # 0.0, 0.0005 and 0.001 itself: a bound holds what equals it


def test_requests_without_a_route_or_with_an_odd_method_share_one_label_each() -> None:
    before = samples(REQUEST_SECONDS, route=UNMATCHED, method="OTHER", status="404").get(("_count", ""), 0.0)
    observe_requests([(access_log.answer("BREW", f"/probe/{n}", None, 404, 0, None), 0.001, 0.0) for n in range(3)])
    assert samples(REQUEST_SECONDS, route=UNMATCHED, method="OTHER", status="404")[("_count", "")] == before + 3
