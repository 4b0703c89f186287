"""The one Jinja environment, its filters, and the one cached ``render()`` entry point."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import jinja2

from app import __version__
from app.http.caching import sha256_hex
from app.lru import LRU
from app.params import ACTIONS, DOMAIN_RE, HA_VIP_PORT, IPV4_RE, JOIN_FLAGS, NAMES, PROXY_PASSWORD_REFUSED, PROXY_PASSWORD_USER, Options, canonical_query, describe, flag, grouped, text
from app.settings import Settings, get_settings
from app.signing import signer

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def shell_quote(value: Any) -> str:
    """The only way a request value enters a script: one shell word, quoted when needed."""
    return shlex.quote(text(value))


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        # bash's ${#var} would open a Jinja comment: templates comment with {## ... ##}.
        comment_start_string="{##",
        comment_end_string="##}",
    )
    env.filters["sh"] = shell_quote
    env.filters["flag"] = flag
    return env


ENVIRONMENT = make_environment()


@dataclass(frozen=True)
class Rendered:
    body: bytes  # UTF-8, as sent: the response cache keeps this very object, not a copy
    etag: str  # its sha256
    query: str

    @cached_property
    def signature(self) -> str | None:
        """The body's SSH signature (app.signing), computed once per rendered script; None unsigned."""
        found = signer()
        return found.sign(self.body) if found is not None else None


def context(options: Options, base_url: str, settings: Settings) -> dict[str, Any]:
    # The fleet's defaults are named too: the URL gives the same script wherever, whenever it is fetched.
    query = canonical_query(options, pinned=settings.option_defaults)
    return {
        "version": __version__,
        "base_url": base_url,
        "query": query,
        "values": {name: getattr(options, name) for name in NAMES},
        "options": describe(),
        "option_groups": grouped(describe()),
        "actions": ACTIONS,
        "join_flags": JOIN_FLAGS,
        "ipv4_pattern": IPV4_RE,
        "domain_pattern": DOMAIN_RE,
        "proxy_password_refused": PROXY_PASSWORD_REFUSED,
        "proxy_password_user": PROXY_PASSWORD_USER,
        "ha_vip_port": HA_VIP_PORT,
        "settings": settings,
        "signed": settings.signing_key is not None,
    }


# Called after every render, i.e. every render cache miss, with the seconds it took; app.http.metrics adds one.
RENDER_OBSERVERS: list[Callable[[float], None]] = []


def _render(template: str, options: Options, base_url: str) -> Rendered:
    start = time.perf_counter()
    settings = get_settings()
    ctx = context(options, base_url, settings)
    body = ENVIRONMENT.get_template(template).render(ctx).encode()
    rendered = Rendered(body, sha256_hex(body), ctx["query"])
    for observe in RENDER_OBSERVERS:
        observe(time.perf_counter() - start)
    return rendered


@lru_cache(maxsize=1)
def _cache() -> LRU[Rendered]:
    """The rendered scripts, bounded in entries and in bytes (a script is about 200 KB)."""
    settings = get_settings()
    return LRU(settings.render_cache_size, settings.script_cache_bytes)


def render(template: str, options: Options, base_url: str) -> Rendered:
    """Render a script; equal (template, options, base URL) give byte-identical, cached output."""
    cache, key = _cache(), (template, options, base_url)
    rendered = cache.get(key)
    if rendered is None:
        rendered = _render(template, options, base_url)
        cache.store(key, rendered, len(rendered.body))
    return rendered


def render_error(problems: list[tuple[str, str]], options_hint: bool = False) -> str:
    """The error script: prints each problem and exits 1; ``options_hint`` for bad options, which
    ``bash -s help`` lists."""
    return ENVIRONMENT.get_template("scripts/error.sh.j2").render(problems=problems, options_hint=options_hint)
