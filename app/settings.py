"""Deploy-time configuration, read once from ``KUBEINIT_*`` environment variables."""

from __future__ import annotations

import difflib
import ipaddress
import os
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "KUBEINIT_"


def _base_url(value: str | None) -> str | None:
    """An absolute http(s) URL with no query or fragment, kept without a trailing slash."""
    if value is None:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("must not carry credentials, a query or a fragment")
    return value.rstrip("/")


class Settings(BaseSettings):
    """Every field is set by the environment variable ``KUBEINIT_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    public_url: Annotated[str | None, AfterValidator(_base_url)] = Field(
        None,
        description="Public base URL of this service, used in the join and troubleshoot "
        "commands the installer prints. Unset: taken from the request.",
    )
    trusted_proxies: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = Field(
        default_factory=lambda: [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128")],
        description="Peers whose X-Forwarded-Proto and X-Forwarded-Host headers are believed.",
    )
    # Each worker holds up to render_cache_size scripts twice (rendered, and ready to send, the
    # latter also bounded in bytes): 512 keeps a worker near 70 MB (scripts/bench reports RSS).
    render_cache_size: int = Field(512, ge=0, description="Rendered scripts kept in memory (0 disables the cache).")
    script_cache_bytes: int = Field(
        8 * 2**20, ge=0, description="Bytes of whole script responses kept ready to send, per worker process."
    )
    weave_repositories: dict[str, str] = Field(
        default_factory=lambda: {
            "2.8.1": "docker.io/weaveworks",
            "2.9.0": "docker.io/rajchaudhuri",
        },
        description="Image repository holding weave-kube and weave-npc, per allowed weave_version.",
    )
    nodelocaldns_image: str = Field(
        "registry.k8s.io/dns/k8s-dns-node-cache:1.26.8",
        pattern=r"^[a-z0-9][a-z0-9.\-/:@_]*$",
        description="Image of the NodeLocal DNSCache DaemonSet.",
    )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        from app.params import WEAVE_VERSIONS

        missing = [v for v in WEAVE_VERSIONS if v not in self.weave_repositories]
        if missing:
            raise ValueError(f"weave_repositories: no repository for weave_version {', '.join(missing)}")
        return self


def unknown_environment(environ: os._Environ[str] | dict[str, str]) -> list[str]:
    """``KUBEINIT_*`` variables that name no setting (pydantic-settings ignores them silently)."""
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    problems = []
    for key in sorted(k for k in environ if k.upper().startswith(ENV_PREFIX) and k.upper() not in known):
        close = difflib.get_close_matches(key.upper(), sorted(known), n=1)
        problems.append(f"{key}: unknown setting" + (f" (did you mean {close[0]}?)" if close else ""))
    return problems


@lru_cache
def get_settings() -> Settings:
    problems = unknown_environment(os.environ)
    if problems:
        raise ValueError("; ".join(problems))
    return Settings()
