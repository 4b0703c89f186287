"""Deploy-time configuration, read once from ``KUBEINIT_*`` environment variables."""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.params import MIRRORS_RE, WEAVE_VERSIONS, canonical_name, parse_pairs, text

ENV_PREFIX = "KUBEINIT_"
# A registry host (with an optional port), and an image or repository reference under one: it is
# written into manifests, so no quotes, spaces or newlines.
REGISTRY_RE = r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?"
IMAGE_RE = r"^[a-z0-9][a-z0-9.\-/:@_]*$"


def mirrored(ref: str, mirrors: dict[str, str]) -> str:
    """``ref`` (an image, a repository or a bare registry) pulled through the mirror of its registry,
    if there is one. A first part without a dot or port is Docker Hub's, as docker reads it."""
    first, slash, rest = ref.partition("/")
    if "." in first or ":" in first or first == "localhost":
        registry, path = first, slash + rest
    else:
        registry, path = "docker.io", "/" + ref
    mirror = mirrors.get(registry)
    return mirror + path if mirror else ref


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
    if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?", value):
        raise ValueError("may hold only letters, digits and . - _ ~ / in its host and path")
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
        description="Peers (a JSON list of addresses or networks) whose X-Forwarded-Proto and "
        "X-Forwarded-Host headers are believed when the public URL is unset.",
    )
    option_defaults: dict[str, str] = Field(
        default_factory=dict,
        description="Installer option defaults for this fleet, a JSON object by option name, e.g. "
        '`{"kubernetes_version": "1.36", "weave_version": "2.9.0"}`: used when the query does not name '
        "the option; the script's header and its reproduce URL then carry the value.",
    )
    image_registry_mirrors: dict[str, str] = Field(
        default_factory=dict,
        description="Registry mirrors, a JSON object, e.g. "
        '`{"docker.io": "mirror.example.com/dockerhub", "registry.k8s.io": "mirror.example.com/k8s"}`: '
        "every image setting below whose registry is a key is pulled from the mirror instead.",
    )
    docs_url: Annotated[str | None, AfterValidator(_base_url)] = Field(
        None,
        description="Where this project's README is published (e.g. https://github.com/ORG/kubeinit/blob/main/README.md): "
        "the installer's network warnings link to its #networking section. Unset: they name the section.",
    )
    # Each worker keeps scripts twice: rendered (app.rendering), and as whole responses ready to
    # send (app.http.script_cache), both bounded in entries and in bytes. A response holds the very
    # bytes of its render, so a worker's scripts take about script_cache_bytes, at most twice that
    # (scripts/bench reports RSS after 100 000 distinct option sets; a script is about 200 KB).
    render_cache_size: int = Field(
        128, ge=0, description="Scripts kept in memory, rendered and ready to send, per worker process (0 disables the caches)."
    )
    script_cache_bytes: int = Field(
        8 * 2**20, ge=0, description="Bytes of scripts kept in memory, rendered and ready to send, per worker process."
    )
    weave_repositories: dict[str, Annotated[str, Field(pattern=IMAGE_RE)]] = Field(
        default_factory=lambda: {
            "2.8.1": "docker.io/weaveworks",
            "2.9.0": "docker.io/rajchaudhuri",
        },
        description="Image repository holding weave-kube and weave-npc, per allowed weave_version.",
    )
    cache_control: str = Field(
        "public, max-age=300, no-transform",
        description="Cache-Control of scripts and checksums. They are content-addressed (ETag = sha256) "
        "and change only with the service version; no-transform keeps proxies from altering a "
        "checksummed body.",
    )
    nodelocaldns_image: str = Field(
        "registry.k8s.io/dns/k8s-dns-node-cache:1.26.8",
        pattern=IMAGE_RE,
        description="Image of the NodeLocal DNSCache DaemonSet.",
    )
    # Images are pinned by digest where a public source records the tag's (the tag stays, for people):
    # kube-vip v1.0.0's as Renovate pinned it in randomcoww's homelab (ghcr.io/kube-vip/kube-vip:v1.0.0@sha256:4f25…),
    # agnhost 2.53's as several public manifests and test suites pin it. node-cache 1.26.8 and Weave's images stay
    # by tag: no public source found records their digests, and none is made up here.
    kube_vip_image: str = Field(
        "ghcr.io/kube-vip/kube-vip:v1.0.0@sha256:4f256554a83a6d824ea9c5307450a2c3fd132e09c52b339326f94fefaf67155c",
        pattern=IMAGE_RE,
        description="Image of kube-vip, the static pod that carries ha_vip on the control-plane hosts.",
    )
    kubeadm_image_repository: str = Field(
        "registry.k8s.io",
        pattern=IMAGE_RE,
        description="Repository of the control plane images (kubeadm's imageRepository), and of the pause "
        "image containerd's pod sandboxes use on every host.",
    )
    # containerd.io 2.2.6 is published for Debian 12/13 (~debian.12~bookworm, ~debian.13~trixie), Ubuntu 24.04
    # (~ubuntu.24.04~noble) and the RHEL family (.el8, .el9): see tests/support/distros/ for each source.
    containerd_version: str = Field(
        "2.2.6",
        pattern=r"^2\.[0-9]+\.[0-9]+$",
        description="containerd version installed (as containerd.io, from Docker's signed repository "
        "download.docker.com) on hosts that have no containerd yet. 2.0 or later: Kubernetes 1.36 and later "
        "need it (the cgroup driver comes from the runtime, KEP-4033).",
    )

    signing_key: Path | None = Field(
        None,
        description="Path of an unencrypted OpenSSH ed25519 private key (ssh-keygen -t ed25519 -N ''): every "
        "script route then has a `.sig` twin (SSH signature, namespace kubeinit) and GET /kubeinit.pub serves "
        "the public key. Unset: no signatures.",
    )
    dns_test_image: str = Field(
        "registry.k8s.io/e2e-test-images/agnhost:2.53@sha256:99c6b4bb4a1e1df3f0b3752168c89358794d02258ebebc26bf21c29399011a85",
        pattern=IMAGE_RE,
        description="Image of the short-lived test pods of the connectivity check (after install and in "
        "troubleshoot): Kubernetes' e2e agnhost, which serves its name (netexec) and has curl and nslookup.",
    )

    @field_validator("image_registry_mirrors")
    @classmethod
    def _check_mirrors(cls, mirrors: dict[str, str]) -> dict[str, str]:
        # The same rule as the registry_mirror option's: the script writes both into containerd's hosts.toml.
        for registry, mirror in mirrors.items():
            if not re.fullmatch(REGISTRY_RE, registry):
                raise ValueError(f"{registry!r} is not a registry host such as docker.io or registry.k8s.io")
            if not re.fullmatch(IMAGE_RE, mirror) or not re.fullmatch(MIRRORS_RE[1:-1], f"{registry}={mirror}"):
                raise ValueError(f"{registry}: {mirror!r} is not a registry host with an optional path")
        return mirrors

    @field_validator("weave_repositories", "nodelocaldns_image", "kube_vip_image", "kubeadm_image_repository",
                     "dns_test_image")
    @classmethod
    def _mirror(cls, value: str | dict[str, str], info: ValidationInfo) -> str | dict[str, str]:
        mirrors = info.data.get("image_registry_mirrors", {})
        if isinstance(value, dict):
            return {key: mirrored(ref, mirrors) for key, ref in value.items()}
        return mirrored(value, mirrors)

    @field_validator("option_defaults")
    @classmethod
    def _check_defaults(cls, defaults: dict[str, str]) -> dict[str, str]:
        options = parse_pairs(defaults.items())  # OptionError (a ValueError) names the wrong option
        return {name: text(getattr(options, name)) for name in map(canonical_name, defaults)}

    def with_defaults(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Query pairs, preceded by the fleet's option defaults for the options the query does not name."""
        given = {canonical_name(name) for name, _ in pairs}
        return [(name, raw) for name, raw in self.option_defaults.items() if name not in given] + pairs

    @model_validator(mode="after")
    def _check(self) -> Settings:
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
