"""The service's own public base URL, for the commands that scripts print."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from fastapi import Request

from app.params import OptionError
from app.settings import Settings

# A host name or IPv4 address, or a bracketed IPv6 address, with an optional port.
HOST_RE = re.compile(r"([A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(:[0-9]{1,5})?")


def _trusted(request: Request, settings: Settings) -> bool:
    return peer_trusted(request.client.host if request.client else None, settings.trusted_proxies)


def peer_trusted(host: str | None, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    """Whether a peer address lies in one of the trusted proxy networks."""
    try:
        peer = ipaddress.ip_address(host) if host else None
    except ValueError:
        return False
    return peer is not None and any(peer in network for network in networks)


def base_url(request: Request, settings: Settings) -> str:
    """The configured public URL; else the request's, believing X-Forwarded-* only from trusted proxies."""
    if settings.public_url:
        return settings.public_url
    scheme = request.url.scheme
    host = request.headers.get("host", "")
    if _trusted(request, settings):
        forwarded_proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        forwarded_host = request.headers.get("x-forwarded-host", "").split(",")[0].strip()
        scheme = forwarded_proto or scheme
        host = forwarded_host or host
    if scheme not in ("http", "https"):
        raise OptionError([("X-Forwarded-Proto", f"{scheme!r} is neither http nor https")])
    if not HOST_RE.fullmatch(host):
        raise OptionError([("Host", f"{host!r} is not a host name, address or host:port")])
    return f"{scheme}://{host.lower()}"
