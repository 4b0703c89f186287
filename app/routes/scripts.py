"""The installer scripts, rendered from the option model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response

from app.caching import cached_response
from app.errors import SCRIPT_MEDIA_TYPE
from app.params import Options, describe, parse_pairs
from app.rendering import render
from app.settings import get_settings
from app.urls import base_url

router = APIRouter(tags=["scripts"])

# Response header naming the canonical query: the non-default options, in model order.
QUERY_HEADER = "Kubeinit-Query"
CHECKSUM_MEDIA_TYPE = "text/plain"


@dataclass(frozen=True)
class Script:
    path: str
    summary: str


SCRIPTS: list[Script] = []  # every script route, in registration order (the web page lists them)

JSON_TYPES = {"bool": "boolean", "int": "integer"}


def query_parameters() -> list[dict[str, Any]]:
    """OpenAPI parameters generated from the option model (the query is parsed by hand below)."""
    params = []
    for row in describe():
        schema: dict[str, Any] = {"type": JSON_TYPES.get(row["kind"], "string")}
        if row["default"]:
            schema["default"] = row["default"]
        if row["choices"]:
            schema["enum"] = row["choices"]
        if row["pattern"]:
            schema["pattern"] = row["pattern"]
        if row["kind"] == "int":
            schema.update(minimum=row["minimum"], maximum=row["maximum"])
        description = f"{row['description']} Also spelt `{row['flag']}`; `bash -s {row['flag']}=…` overrides it."
        params.append({"name": row["name"], "in": "query", "required": False, "description": description, "schema": schema})
    return params


def query_options(request: Request) -> Options:
    """Options from the raw query string: both spellings, strict values, repeats and unknown names checked.

    Options the query leaves out take the fleet's defaults (setting ``option_defaults``)."""
    return parse_pairs(get_settings().with_defaults(parse_qsl(request.url.query, keep_blank_values=True)))


SCRIPT_DOC: dict[str, Any] = {
    "response_class": PlainTextResponse,
    "openapi_extra": {"parameters": query_parameters()},
    "responses": {
        200: {"content": {SCRIPT_MEDIA_TYPE: {}}, "description": "The installer script."},
        400: {
            "content": {SCRIPT_MEDIA_TYPE: {}, "application/json": {}},
            "description": "An option was wrong: a script that prints `kubeinit: <option>: <reason>` "
            "and exits 1 (JSON when the client accepts application/json).",
        },
    },
}


CHECKSUM_DOC: dict[str, Any] = {
    **SCRIPT_DOC,
    "responses": {
        **SCRIPT_DOC["responses"],
        200: {"content": {"text/plain": {}}, "description": "`<sha256>  <name>.sh`, for `sha256sum -c`."},
    },
}


def script_response(template: str, request: Request, options: Options) -> Response:
    """The rendered script, or on a ``.sha256`` route its checksum line; both content-addressed.

    Headers: ETag (sha256 of the body; If-None-Match gives 304), Cache-Control, and the
    canonical query, so equal option sets are recognisable whatever their spelling.
    """
    settings = get_settings()
    rendered = render(template, options, base_url(request, settings))
    headers = {QUERY_HEADER: rendered.query}
    if not settings.public_url:  # the base URL in the body came from these (trusted proxies only)
        headers["Vary"] = "X-Forwarded-Host, X-Forwarded-Proto"
    checksum_name = getattr(request.state, "checksum_name", None)
    if checksum_name:
        line = f"{rendered.etag}  {checksum_name}\n"
        return cached_response(request, line, CHECKSUM_MEDIA_TYPE, settings.cache_control, headers=headers)
    return cached_response(request, rendered.body, SCRIPT_MEDIA_TYPE, settings.cache_control,
                           digest=rendered.etag, headers=headers)


def kubernetes_init(request: Request, options: Annotated[Options, Depends(query_options)]) -> Response:
    return script_response("kubernetes-init.sh.j2", request, options)


def checksum_of(path: str) -> Callable[[Request], None]:
    """A dependency telling ``script_response`` to answer with the checksum line of ``<name>.sh``."""
    name = path.rsplit("/", 1)[-1] + ".sh"

    def mark(request: Request) -> None:
        request.state.checksum_name = name

    return mark


def add_script_route(path: str, endpoint: Any, summary: str) -> None:
    """GET documented in OpenAPI; HEAD and the ``.sh`` spelling served alike but not listed twice.

    ``PATH.sha256`` (same query) answers ``<sha256>  NAME.sh`` for ``sha256sum -c``.
    """
    SCRIPTS.append(Script(path, summary))
    router.add_api_route(path, endpoint, methods=["GET"], summary=summary, **SCRIPT_DOC)
    for alias, method in ((path, "HEAD"), (path + ".sh", "GET"), (path + ".sh", "HEAD")):
        router.add_api_route(alias, endpoint, methods=[method], include_in_schema=False, **SCRIPT_DOC)
    checksum = [Depends(checksum_of(path))]
    name = path.rsplit("/", 1)[-1]
    router.add_api_route(path + ".sha256", endpoint, methods=["GET"], dependencies=checksum,
                         summary=f"sha256 of {name}.sh, for sha256sum -c", **CHECKSUM_DOC)
    router.add_api_route(path + ".sha256", endpoint, methods=["HEAD"], dependencies=checksum,
                         include_in_schema=False, **CHECKSUM_DOC)


add_script_route("/kubernetes-init", kubernetes_init, "The control-plane installer: curl -sSL URL | sudo bash")


def kubernetes_troubleshoot(request: Request, options: Annotated[Options, Depends(query_options)]) -> PlainTextResponse:
    return script_response("kubernetes-troubleshoot.sh.j2", request, options)


add_script_route("/kubernetes-troubleshoot", kubernetes_troubleshoot,
                 "Weave Net, NodeLocal DNSCache and DNS checks, explained: curl -sSL URL | sudo bash")


def kubernetes_node_join(request: Request, options: Annotated[Options, Depends(query_options)]) -> PlainTextResponse:
    return script_response("kubernetes-node-join.sh.j2", request, options)


add_script_route("/kubernetes-node-join", kubernetes_node_join,
                 "Joins a host to the cluster: the command kubernetes-init prints, with api-server, token and ca-cert-hash flags")
