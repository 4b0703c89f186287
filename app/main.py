"""Builds the FastAPI app: routers and exception handlers, nothing else."""

from fastapi import FastAPI

from app import __version__, errors, metrics
from app.routes import health, scripts, web

app = FastAPI(
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
metrics.install(app)
