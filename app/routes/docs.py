"""``GET /docs``: Swagger UI for /openapi.json, served from the service itself.

The assets come from the pinned ``swagger-ui-bundle-v2`` package (pyproject.toml), not a CDN: the
page works offline and under the same kind of Content-Security-Policy as the configurator, with no
inline script (the start-up code is ``templates/web/static/docs.js``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import swagger_ui_bundle
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from app.http.caching import cached_response, sha256_hex
from app.rendering import TEMPLATES

router = APIRouter(tags=["web"])

SWAGGER_UI = Path(str(swagger_ui_bundle.swagger_ui_path))
START = TEMPLATES / "web" / "static" / "docs.js"
MEDIA_TYPES = {".css": "text/css", ".js": "text/javascript", ".png": "image/png"}
ASSET_FILES = {"swagger-ui.css": SWAGGER_UI, "swagger-ui-bundle.js": SWAGGER_UI, "favicon-32x32.png": SWAGGER_UI,
               "docs.js": START.parent}

# Swagger UI draws its icons from data: URLs in its stylesheet and sets styles from script (CSSOM),
# which style-src 'self' allows; nothing else is loosened.
DOCS_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    digest: str


@cache
def asset(name: str) -> Asset:
    """One file, read once (the bundle is 1.5 MB: only when /docs is first used)."""
    body = (ASSET_FILES[name] / name).read_bytes()
    return Asset(body, MEDIA_TYPES[Path(name).suffix], sha256_hex(body))


def _url(name: str) -> str:
    return f"/docs/assets/{name}?v={asset(name).digest[:16]}"


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
def docs() -> Response:
    body = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kubeinit API</title>
<link rel="icon" type="image/png" href="{_url('favicon-32x32.png')}">
<link rel="stylesheet" href="{_url('swagger-ui.css')}">
<script src="{_url('swagger-ui-bundle.js')}" defer></script>
<script src="{_url('docs.js')}" defer></script>
</head>
<body>
<div id="swagger-ui" data-openapi-url="/openapi.json"></div>
</body>
</html>
"""
    return HTMLResponse(body, headers=DOCS_HEADERS)


@router.get("/docs/assets/{name}", include_in_schema=False)
def docs_asset(name: str, request: Request) -> Response:
    if name not in ASSET_FILES:
        raise HTTPException(404, f"no documentation asset {name!r}")
    found = asset(name)
    return cached_response(request, found.body, found.media_type, "public, max-age=31536000, immutable",
                           digest=found.digest, headers={"X-Content-Type-Options": "nosniff"})
