"""Builds the FastAPI app: wires routers, exception handlers and middleware, nothing else."""

from fastapi import FastAPI

from app import __version__, errors, metrics
from app.access_log import AccessLog
from app.limits import SizeLimits
from app.routes import health, scripts, web
from app.script_cache import ScriptCache

app = FastAPI(
    # No OpenTelemetry: its per-request provider lookup alone cost 7% of a cached script request.
    telemetry={"tracing": False, "metrics": False, "logs": False},
    title="kubeinit",
    version=__version__,
    description="Renders `kubernetes-init`, a bash installer for a kubeadm control plane with Weave Net "
    "and optional NodeLocal DNSCache. Query parameters set the script's defaults; `bash -s` flags "
    "override them on the host.",
)
app.include_router(scripts.router)
app.include_router(health.router)
app.include_router(web.router)
errors.install(app)
# Middleware, innermost first.
app.add_middleware(ScriptCache, paths=scripts.SCRIPT_PATHS)  # repeated script requests skip routing
app.add_middleware(SizeLimits)  # before routing: oversized requests get a 4xx, never a render
app.add_middleware(AccessLog)  # outermost: every request is logged and counted (metrics), rejected ones too
metrics.install(app)  # serves /metrics; counts requests through the access log's observers
