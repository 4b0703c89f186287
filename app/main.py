"""Builds the FastAPI app: wires routers, exception handlers and middleware, nothing else."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from app import __version__, signing
from app.http import access_log, errors, metrics
from app.http.front import Front
from app.routes import docs, health, scripts, web


class Kubeinit(FastAPI):
    """FastAPI with app.http.front outside its own stack (error handling, routing): size limits, the
    response cache, the access log and request metrics, before anything else runs."""

    def build_middleware_stack(self) -> ASGIApp:
        return Front(super().build_middleware_stack(), scripts.SCRIPT_PATHS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # An HTTP request goes straight to app.http.front, as FastAPI.__call__ and Starlette.__call__
        # send it there with telemetry off (below) and no root_path: one frame where they take two and
        # a telemetry check, on every cached script. Anything else takes their way.
        stack = self.middleware_stack
        if scope["type"] == "http" and stack is not None and not self.root_path:
            scope["app"] = self
            await stack(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    signing.announce()  # one line at start: whether scripts are signed
    yield
    # uvicorn ends a worker stopped by a signal with that signal again, so atexit never runs: the
    # requests of the last quarter second are counted and logged here.
    access_log.flush()


app = Kubeinit(
    lifespan=lifespan,
    # No OpenTelemetry: its per-request provider lookup alone cost 7% of a cached script request.
    telemetry={"tracing": False, "metrics": False, "logs": False},
    title="kubeinit",
    docs_url=None,  # app.routes.docs serves Swagger UI from the service, not a CDN
    redoc_url=None,
    version=__version__,
    description="Renders `kubernetes-init`, a bash installer for a kubeadm control plane with Weave Net "
    "and optional NodeLocal DNSCache. Query parameters set the script's defaults; `bash -s` flags "
    "override them on the host.",
)
app.include_router(scripts.router)
app.include_router(health.router)
app.include_router(web.router)
app.include_router(docs.router)
errors.install(app, scripts.SCRIPT_PATHS)
metrics.install(app)  # serves /metrics; counts what app.http.front and the renders report
