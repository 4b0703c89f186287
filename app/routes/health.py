"""Liveness and readiness of the service."""

import logging
from functools import lru_cache

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from app.params import DEFAULTS
from app.rendering import ENVIRONMENT, context
from app.settings import get_settings
from app.signing import signer

router = APIRouter(tags=["health"])


@router.get("/healthz", response_class=PlainTextResponse, summary="Liveness: the process answers")
def healthz() -> str:
    return "ok\n"


@lru_cache(maxsize=1)  # a success is kept; a failure (an exception) is tried again on the next probe
def _ready() -> None:
    """Settings load and the installer renders: the templates sit beside the app, the environment is valid."""
    settings = get_settings()
    signer()  # a configured signing key that cannot be read or is not ed25519: not ready
    ENVIRONMENT.get_template("scripts/kubernetes-init.sh.j2").render(context(DEFAULTS, "http://readyz.invalid", settings))


@router.get(
    "/readyz",
    response_class=PlainTextResponse,
    summary="Readiness: settings are valid and the installer renders",
    responses={503: {"description": "Not ready: the reason, in plain text."}},
)
def readyz() -> PlainTextResponse:
    try:
        _ready()
    except Exception as exc:  # noqa: BLE001 - any failure means "do not send traffic here"
        logging.getLogger(__name__).error("not ready: %s", exc)
        return PlainTextResponse(f"not ready: {exc}\n", status_code=503)
    return PlainTextResponse("ok\n")
