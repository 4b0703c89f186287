"""Exception handlers. On a script route an error is itself a script that stops ``curl | bash``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException

from app.params import OptionError, closest
from app.rendering import render_error

SCRIPT_MEDIA_TYPE = "text/x-shellscript"


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and SCRIPT_MEDIA_TYPE not in accept


def problem_response(request: Request, problems: list[tuple[str, str]], status: int = 400,
                     options_hint: bool = False) -> Response:
    """JSON for clients that ask for it; otherwise a script that prints the problems and exits 1
    (``options_hint``: and points to ``bash -s help``, for problems with options)."""
    if wants_json(request):
        detail = [{"option": name, "message": reason} for name, reason in problems]
        return JSONResponse({"detail": detail}, status_code=status)
    return PlainTextResponse(render_error(problems, options_hint), status_code=status, media_type=SCRIPT_MEDIA_TYPE)


async def option_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OptionError)
    return problem_response(request, exc.problems, options_hint=True)


async def not_found(request: Request, exc: Exception) -> Response:
    """A path no route serves: for a client that is not asking for JSON (``curl | bash``), an error
    script naming the nearest script path, instead of JSON that bash would try to run."""
    assert isinstance(exc, HTTPException)
    if exc.status_code != 404 or exc.detail != "Not Found" or wants_json(request):
        return await http_exception_handler(request, exc)
    path = request.url.path
    meant = closest(path, sorted(request.app.state.script_paths))
    shown = path if path.isprintable() else repr(path)
    reason = f"no such script (did you mean {meant}?)" if meant else "no such script"
    return problem_response(request, [(shown, reason)], status=404)


def install(app: FastAPI, script_paths: set[str]) -> None:
    """``script_paths``: the paths a mistyped one is compared with (app.routes.scripts.SCRIPT_PATHS)."""
    app.state.script_paths = script_paths
    app.add_exception_handler(OptionError, option_error)
    app.add_exception_handler(HTTPException, not_found)
