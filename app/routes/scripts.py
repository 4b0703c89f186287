"""The installer scripts, rendered from the option model."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response

from app.http.caching import cached_response
from app.http.errors import SCRIPT_MEDIA_TYPE, problem_response
from app.params import DOMAIN_RE, FALSE_WORDS, IPV4_RE, TRUE_WORDS, Options, describe, parse_pairs
from app.rendering import render
from app.settings import get_settings
from app.signing import signer
from app.http.urls import base_url

router = APIRouter(tags=["scripts"])

# Response header naming the canonical query: the non-default options, in model order.
QUERY_HEADER = "Kubeinit-Query"
CHECKSUM_MEDIA_TYPE = "text/plain"


@dataclass(frozen=True)
class Script:
    path: str
    summary: str


SCRIPTS: list[Script] = []  # every script route, in registration order (the web page lists them)

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
        if row["closed"]:
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
    """Options from a raw query string: both spellings, strict values, repeats and unknown names
    checked; options the query leaves out take the fleet's defaults (setting ``option_defaults``)."""
    pairs = parse_qsl(query.decode(errors="replace"), keep_blank_values=True)
    return parse_pairs(get_settings().with_defaults(pairs))


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
        304: {"description": "Not modified: If-None-Match named this body's ETag (its sha256)."},
        414: {
            "content": {SCRIPT_MEDIA_TYPE: {}, "application/json": {}},
            "description": "The query (over 8 KiB) or path is too long: an error script as for 400, nothing rendered.",
        },
        431: {
            "content": {SCRIPT_MEDIA_TYPE: {}, "application/json": {}},
            "description": "Too many or too large header fields: an error script as for 400, nothing rendered.",
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


SIGNATURE_MEDIA_TYPE = "text/plain"
NO_KEY = "this service signs no scripts (no KUBEINIT_SIGNING_KEY is configured): verify with the .sha256 checksum"
SIGNATURE_DOC: dict[str, Any] = {
    **SCRIPT_DOC,
    "responses": {
        **SCRIPT_DOC["responses"],
        200: {"content": {"text/plain": {}}, "description": "The armoured SSH signature of exactly the bytes the "
              "script route serves for the same query: `ssh-keygen -Y verify -f allowed_signers -I kubeinit "
              "-n kubeinit -s NAME.sh.sig < NAME.sh`."},
        404: {"content": {SCRIPT_MEDIA_TYPE: {}, "application/json": {}},
              "description": "No signing key is configured: an error script saying so."},
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
    if getattr(request.state, "signature", False):
        if rendered.signature is None:
            return problem_response(request, [(request.url.path, NO_KEY)], status=404)
        return cached_response(request, rendered.signature, SIGNATURE_MEDIA_TYPE, settings.cache_control,
                               headers=headers)
    checksum_name = getattr(request.state, "checksum_name", None)
    if checksum_name:
        line = f"{rendered.etag}  {checksum_name}\n"
        return cached_response(request, line, CHECKSUM_MEDIA_TYPE, settings.cache_control, headers=headers)
    return cached_response(request, rendered.body, SCRIPT_MEDIA_TYPE, settings.cache_control,
                           digest=rendered.etag, headers=headers)



def checksum_of(path: str) -> Callable[[Request], None]:
    """A dependency telling ``script_response`` to answer with the checksum line of ``<name>.sh``."""
    name = path.rsplit("/", 1)[-1] + ".sh"

    def mark(request: Request) -> None:
        request.state.checksum_name = name

    return mark


def signature_of(request: Request) -> None:
    """A dependency telling ``script_response`` to answer with the script's SSH signature."""
    request.state.signature = True


SCRIPT_PATHS: set[str] = set()  # every script path, for the response cache in front of routing


def add_script_route(path: str, summary: str) -> None:
    """Serve ``templates/scripts/<name>.sh.j2`` at PATH: GET documented in OpenAPI; HEAD and the ``.sh``
    spelling served alike but not listed twice; ``PATH.sha256`` (same query) answers
    ``<sha256>  NAME.sh`` for ``sha256sum -c``.
    """
    name = path.rsplit("/", 1)[-1]
    template = f"scripts/{name}.sh.j2"

    async def endpoint(request: Request, options: Annotated[Options, Depends(query_options)]) -> Response:
        return script_response(template, request, options)

    endpoint.__name__ = name.replace("-", "_")
    SCRIPTS.append(Script(path, summary))
    SCRIPT_PATHS.update((path, path + ".sh"))
    router.add_api_route(path, endpoint, methods=["GET"], summary=summary, **SCRIPT_DOC)
    for alias, method in ((path, "HEAD"), (path + ".sh", "GET"), (path + ".sh", "HEAD")):
        router.add_api_route(alias, endpoint, methods=[method], include_in_schema=False, **SCRIPT_DOC)
    checksum = [Depends(checksum_of(path))]
    router.add_api_route(path + ".sha256", endpoint, methods=["GET"], dependencies=checksum,
                         summary=f"sha256 of {name}.sh, for sha256sum -c", **CHECKSUM_DOC)
    router.add_api_route(path + ".sha256", endpoint, methods=["HEAD"], dependencies=checksum,
                         include_in_schema=False, **CHECKSUM_DOC)
    signature = [Depends(signature_of)]
    router.add_api_route(path + ".sig", endpoint, methods=["GET"], dependencies=signature,
                         summary=f"SSH signature of {name}.sh (namespace kubeinit), for ssh-keygen -Y verify",
                         **SIGNATURE_DOC)
    router.add_api_route(path + ".sig", endpoint, methods=["HEAD"], dependencies=signature,
                         include_in_schema=False, **SIGNATURE_DOC)


@router.get("/kubeinit.pub", response_class=PlainTextResponse,
            summary="The public key scripts are signed with, as an allowed_signers file for ssh-keygen -Y verify",
            responses={404: {"description": "No signing key is configured."}})
def public_key(request: Request) -> Response:
    found = signer()
    if found is None:
        return problem_response(request, [("/kubeinit.pub", NO_KEY)], status=404)
    return cached_response(request, found.allowed_signers(), "text/plain", get_settings().cache_control)


add_script_route("/kubernetes-init", "The control-plane installer: curl -sSL URL | sudo bash")
add_script_route("/kubernetes-troubleshoot",
                 "Weave Net, NodeLocal DNSCache and DNS checks, explained: curl -sSL URL | sudo bash")
add_script_route("/kubernetes-node-join",
                 "Joins a host to the cluster: the command kubernetes-init prints, with api-server, token and ca-cert-hash flags")
add_script_route("/kubernetes-airgap-bundle",
                 "Builds an air-gap bundle on a connected host (same OS family and arch): curl -sSL URL | sudo bash")
