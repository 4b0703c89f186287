"""/docs: Swagger UI from the service itself (app/routes/docs.py), no CDN, no inline script."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.main import app

client = TestClient(app)


def test_docs_load_only_the_services_own_assets_under_a_strict_policy():
    response = client.get("/docs")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "<script>" not in response.text  # no inline script: every <script> has a src
    urls = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert urls and all(url.startswith("/docs/assets/") for url in urls), urls
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 100, url
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    bundle = client.get(next(u for u in urls if "swagger-ui-bundle.js" in u)).text
    assert "SwaggerUIBundle" in bundle


def test_docs_have_no_cdn_fallback_and_no_redoc():
    assert "cdn" not in client.get("/docs").text.lower()
    assert client.get("/redoc", headers={"Accept": "application/json"}).status_code == 404
    assert client.get("/docs/assets/../../app/settings.py").status_code == 404
    assert client.get("/docs/assets/index.html", headers={"Accept": "application/json"}).status_code == 404
