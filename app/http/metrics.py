"""Prometheus metrics: requests by route, method and status, and renders (render cache misses), with their time.

With several uvicorn workers (``WEB_CONCURRENCY`` > 1) each worker counts for itself; set
``PROMETHEUS_MULTIPROC_DIR`` to a directory on a writable file system (made if missing) and ``/metrics``
adds them all up. Counters from earlier processes stay in it, so totals never go back. A worker counts
its requests every quarter second (app.http.access_log.flush); a scrape flushes the worker answering it.
"""

from __future__ import annotations

import logging
import os
from bisect import bisect_left
from collections import Counter, defaultdict
from functools import cache
from itertools import repeat

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, disable_created_metrics, multiprocess
from prometheus_client.exposition import choose_encoder
from starlette.concurrency import run_in_threadpool

from app.http.access_log import REQUEST_OBSERVERS, Answer, Record, flush
from app.rendering import RENDER_OBSERVERS

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROC_DIR:
    os.makedirs(MULTIPROC_DIR, exist_ok=True)  # e.g. /tmp/metrics, on the pod's writable /tmp
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"  # any path no route serves: one label, however many paths are probed

# One observation per request, as OpenTelemetry's http.server.request.duration: its _count by
# route, method and status is the request count, so no counter beside it.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
REQUEST_SECONDS = Histogram(
    "kubeinit_http_request_duration_seconds", "Time to answer an HTTP request, by route template, method and status.",
    ["route", "method", "status"], buckets=REQUEST_BUCKETS,
)
RENDER_SECONDS = Histogram(
    "kubeinit_render_duration_seconds", "Time to render a script: one observation per render cache miss.",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
)


@cache  # bounded: route templates x METHODS and OTHER x the statuses the app answers with
def request_series(route: str, method: str, status: int) -> Histogram:
    return REQUEST_SECONDS.labels(route, method, str(status))


def observe_requests(records: list[Record]) -> None:
    """Count and time HTTP requests under their route templates (``/kubernetes-init``), never the raw path.

    What Histogram.observe does per request, done once per series and bucket of a flush. observe()
    walks the buckets and takes two values' locks (sum and bucket) for each request: 114 of the 572
    bytecodes the service's own code ran per cached script. It adds to the series' sum and to the
    one bucket whose bound is the first at or above the duration (prometheus_client/metrics.py,
    Histogram.observe; the exposition adds the buckets up), as here through the same private
    ``_sum`` and ``_buckets`` values, which also serve PROMETHEUS_MULTIPROC_DIR. prometheus-client
    is pinned in requirements.lock, and tests/http/test_metrics.py holds the two ways to the same figures."""
    durations: defaultdict[Answer, list[float]] = defaultdict(list)
    for answered, seconds, _ in records:
        durations[answered].append(seconds)
    for answered, seconds in durations.items():
        method = answered.method if answered.method in METHODS else "OTHER"
        series = request_series(answered.route or UNMATCHED, method, answered.status)
        series._sum.inc(sum(seconds))
        # the index of each duration's bucket: the first bound at or above it; len(REQUEST_BUCKETS): +Inf
        for index, count in Counter(map(bisect_left, repeat(REQUEST_BUCKETS), seconds)).items():
            series._buckets[index].inc(count)


router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    # the requests answered in this worker's last quarter second count too; on the loop's thread, as every flush
    flush()
    registry = REGISTRY
    if MULTIPROC_DIR:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, MULTIPROC_DIR)
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    body = await run_in_threadpool(encoder, registry)  # reads every worker's files: off the loop
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})


def install(app: FastAPI) -> None:
    """Count requests and renders, and serve ``/metrics``."""
    if int(os.environ.get("WEB_CONCURRENCY", "1") or 1) > 1 and not MULTIPROC_DIR:
        logging.getLogger(__name__).warning(
            "WEB_CONCURRENCY > 1 without PROMETHEUS_MULTIPROC_DIR: each scrape of /metrics sees one worker only"
        )
    disable_created_metrics()  # no *_created series beside every counter and histogram
    app.include_router(router)
    REQUEST_OBSERVERS.append(observe_requests)  # app.http.front times every request
    RENDER_OBSERVERS.append(RENDER_SECONDS.observe)
