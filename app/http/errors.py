"""Exception handlers. On a script route an error is itself a script that stops ``curl | bash``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from app.params import OptionError
from app.rendering import render_error

SCRIPT_MEDIA_TYPE = "text/x-shellscript"


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and SCRIPT_MEDIA_TYPE not in accept


def problem_response(request: Request, problems: list[tuple[str, str]], status: int = 400) -> Response:
    """JSON for clients that ask for it; otherwise a script that prints the problems and exits 1."""
    if wants_json(request):
        detail = [{"option": name, "message": reason} for name, reason in problems]
        return JSONResponse({"detail": detail}, status_code=status)
    return PlainTextResponse(render_error(problems), status_code=status, media_type=SCRIPT_MEDIA_TYPE)


async def option_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OptionError)
    return problem_response(request, exc.problems)


def install(app: FastAPI) -> None:
    app.add_exception_handler(OptionError, option_error)
