"""The web configurator (``GET /``) and the option model as JSON (``GET /options``).

The page is generated from ``describe()``; it validates nothing itself: it asks the script
route (JSON errors) and shows the service's own messages, canonical query and script.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from app import __version__
from app.http.caching import cached_response, sha256_hex
from app.params import ACTIONS, NAMES, canonical_name, describe, grouped, parse_bool
from app.rendering import TEMPLATES
from app.routes.scripts import QUERY_HEADER, SCRIPTS
from app.settings import get_settings
from app.http.urls import base_url

router = APIRouter(tags=["web"])

WEB = TEMPLATES / "web"
CONFIGURED = "/kubernetes-init"  # the script the page configures
PAGE = jinja2.Environment(
    loader=jinja2.FileSystemLoader(WEB),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

# The page loads nothing but itself and /static: no CDN, no font, no inline script.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class Asset:
    body: str
    media_type: str

    @property
    def digest(self) -> str:
        return sha256_hex(self.body)


ASSETS = {
    name: Asset((WEB / "static" / name).read_text(), media_type)
    for name, media_type in (
        ("kubeinit.css", "text/css"),
        ("kubeinit.js", "text/javascript"),
        ("kubeinit.svg", "image/svg+xml"),
    )
}


JSON_TYPES = {"bool": "boolean", "int": "integer"}


def option_rows() -> list[dict[str, Any]]:
    """``describe()`` with the defaults this service applies, plus the JSON type of each value."""
    rows = describe(get_settings().option_defaults)
    return [{**row, "type": JSON_TYPES.get(row["kind"], "string")} for row in rows]


def _control(row: dict[str, Any]) -> str:
    if row["kind"] == "bool":
        return "checkbox"
    if row["closed"]:
        return "select"  # only the listed values; an open choice (a version with patches) is typed
    return "text"


def _prefill(query: str) -> dict[str, Any]:
    """Form values from the page's own query (either spelling), so a configured page can be bookmarked."""
    values: dict[str, Any] = {}
    kinds = {row["name"]: row["kind"] for row in describe()}
    for raw_name, raw in parse_qsl(query, keep_blank_values=True):
        name = canonical_name(raw_name)
        if name not in NAMES:
            continue
        if kinds[name] == "bool":
            try:
                values[name] = parse_bool(raw)
            except ValueError:
                continue  # the form cannot show it; the default stays
        else:
            values[name] = raw
    return values


def fields(query: str) -> list[dict[str, Any]]:
    given = _prefill(query)
    rows = []
    for row in option_rows():
        default = row["default"]
        value = given.get(row["name"], default == "1" if row["kind"] == "bool" else default)
        changed = row["name"] in given  # an advanced option the page's query sets is shown unfolded
        rows.append({**row, "control": _control(row), "value": value, "changed": changed})
    return rows


@router.get("/", response_class=HTMLResponse, summary="The web configurator: pick options, copy a command")
def page(request: Request) -> Response:
    body = PAGE.get_template("index.html.j2").render(
        version=__version__,
        base_url=base_url(request, get_settings()),
        script=CONFIGURED,
        groups=grouped(fields(request.url.query)),
        actions=ACTIONS,
        scripts=[s for s in SCRIPTS if s.path != CONFIGURED],
        query_header=QUERY_HEADER,
        signed=get_settings().signing_key is not None,
        assets={name: asset.digest[:16] for name, asset in ASSETS.items()},
    )
    return HTMLResponse(body, headers=PAGE_HEADERS)


router.add_api_route("/", page, methods=["HEAD"], response_class=HTMLResponse, include_in_schema=False)


@router.get("/static/{name}", include_in_schema=False)
def static(name: str, request: Request) -> Response:
    asset = ASSETS.get(name)
    if asset is None:
        raise HTTPException(404, f"no static file {name!r}")
    # The page links each asset with ?v=<its digest>: a changed file is a new URL.
    return cached_response(request, asset.body, asset.media_type, "public, max-age=31536000, immutable",
                           digest=asset.digest, headers={"X-Content-Type-Options": "nosniff"})


def options_document() -> dict[str, Any]:
    return {
        "version": __version__,
        "groups": [group for group, _ in grouped(describe())],
        "options": option_rows(),
        "actions": [{"name": a.name, "description": a.description, "switch": a.switch, "value": a.placeholder}
                    for a in ACTIONS],
        "scripts": [{"path": s.path, "summary": s.summary} for s in SCRIPTS],
        "signed": get_settings().signing_key is not None,
    }


@router.get(
    "/options",
    summary="The option model as JSON",
    description="`version`: the service's. `groups`: the option groups in display order. `options`: every option with its `name` "
    "(query spelling), `flag` spelling, short human `label`, `group`, whether it is `advanced` (folded "
    "on the page), JSON `type` of its value, `kind` (bool, ipv4, cidr, domain, choice, int, host, endpoint, proxy, list, mirrors, path), "
    "`placeholder` (the value's name in help, e.g. CIDR), `default` (as written in a query: 1/0 for "
    "booleans, empty for unset), allowed `choices`, the POSIX ERE `pattern` the service and the script "
    "both check, `minimum`/`maximum`, whether it is `optional`, whether only the `choices` are allowed "
    "(`closed`), and its `description`. `actions`: the words the script takes besides options "
    "(`switch`: modifies a run rather than choosing what runs; `value`: the placeholder of the value it takes, "
    "e.g. remove-node=NAME, or null). `scripts`: the script routes (`path`, `summary`). "
    "`signed`: whether scripts have `.sig` signatures (GET /kubeinit.pub).",
    responses={200: {"content": {"application/json": {}}}},
)
def options(request: Request) -> Response:
    body = json.dumps(options_document(), indent=2) + "\n"
    return cached_response(request, body, "application/json", get_settings().cache_control)
