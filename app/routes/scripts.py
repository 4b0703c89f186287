"""The installer scripts, rendered from the option model."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from app.errors import SCRIPT_MEDIA_TYPE
from app.params import DOMAIN_RE, FALSE_WORDS, IPV4_RE, TRUE_WORDS, Options, describe, parse_pairs
from app.rendering import render
from app.settings import get_settings
from app.urls import base_url

router = APIRouter(tags=["scripts"])

# Booleans in any letter case, or empty (a bare name): 1/0, true/false, yes/no, on/off.
BOOL_PATTERN = "^(" + "|".join(
    "".join(f"[{c.upper()}{c}]" if c.isalpha() else re.escape(c) for c in word) for word in TRUE_WORDS + FALSE_WORDS
) + ")?$"


def value_schema(row: dict[str, Any]) -> dict[str, Any]:
    """JSON schema of exactly the raw values ``check`` accepts for one option. Rules joining
    several options (overlapping networks, host bits of a CIDR) are left to the 400 answer."""
    kind = row["kind"]
    schema: dict[str, Any]
    if kind == "bool":
        schema = {"type": "string", "pattern": BOOL_PATTERN}
    elif kind == "int":
        schema = {"type": "integer", "minimum": row["minimum"], "maximum": row["maximum"]}
    elif kind == "host":
        schema = {"type": "string", "maxLength": 253, "anyOf": [
            {"pattern": IPV4_RE}, {"pattern": DOMAIN_RE, "not": {"pattern": "^[0-9.]*$"}}]}
    else:
        schema = {"type": "string", "maxLength": 253, "pattern": row["pattern"]}
        if row["pattern"] == "^(" + "|".join(map(re.escape, row["choices"])) + ")$":
            schema["enum"] = row["choices"]
    if row["optional"]:
        schema = {"anyOf": [schema, {"type": "string", "maxLength": 0}]}
    if row["default"]:
        schema["default"] = row["default"]
    return schema


def query_parameters() -> list[dict[str, Any]]:
    """OpenAPI parameters generated from the option model (the query is parsed by hand below)."""
    params = []
    for row in describe():
        description = f"{row['description']} Also spelt `{row['flag']}`; `bash -s {row['flag']}=…` overrides it."
        params.append({"name": row["name"], "in": "query", "required": False, "description": description,
                       "schema": value_schema(row)})
    return params


def parse_query(query: bytes) -> Options:
    """Options from a raw query string: both spellings, strict values, repeats and unknown names checked."""
    return parse_pairs(parse_qsl(query.decode(errors="replace"), keep_blank_values=True))


@lru_cache(maxsize=1)
def _cached_parse_query():
    """Popular query strings are parsed once: an LRU as large as the render cache (0: none)."""
    return lru_cache(maxsize=get_settings().render_cache_size)(parse_query)


async def query_options(request: Request) -> Options:
    # async, like the endpoints: parsing and rendering take well under a millisecond of CPU and no
    # I/O, so they run on the event loop instead of paying two thread-pool hops per request.
    options = _cached_parse_query()(request.scope["query_string"])
    request.state.options = options  # for the access log's options hash
    return options


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


def script_response(template: str, request: Request, options: Options) -> PlainTextResponse:
    rendered = render(template, options, base_url(request, get_settings()))
    return PlainTextResponse(rendered.body, media_type=SCRIPT_MEDIA_TYPE)


async def kubernetes_init(request: Request, options: Annotated[Options, Depends(query_options)]) -> PlainTextResponse:
    return script_response("kubernetes-init.sh.j2", request, options)


SCRIPT_PATHS: set[str] = set()  # every script path, for the response cache in front of routing


def add_script_route(path: str, endpoint: Any, summary: str) -> None:
    """GET documented in OpenAPI; HEAD and the ``.sh`` spelling served alike but not listed twice."""
    SCRIPT_PATHS.update((path, path + ".sh"))
    router.add_api_route(path, endpoint, methods=["GET"], summary=summary, **SCRIPT_DOC)
    for alias, method in ((path, "HEAD"), (path + ".sh", "GET"), (path + ".sh", "HEAD")):
        router.add_api_route(alias, endpoint, methods=[method], include_in_schema=False, **SCRIPT_DOC)


add_script_route("/kubernetes-init", kubernetes_init, "The control-plane installer: curl -sSL URL | sudo bash")
