"""The installer's options: one pydantic model, the single source of truth.

The query string, the script's ``bash -s`` parser and its ``help`` text, the
README table and the OpenAPI description are all generated from ``Options``.
Each field carries a ``Spec``: its kind, and the POSIX extended regular
expression that both this module and the rendered bash use to validate it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

KUBERNETES_MINORS = ("1.35", "1.36", "1.37")
WEAVE_VERSIONS = ("2.8.1", "2.9.0")
WEAVE_DEFAULT = "2.9.0"  # 2.8.1's iptables 1.8.3 breaks on iptables-nft >= 1.8.8 hosts (weaveworks/weave#3968)
KUBE_PROXY_MODES = ("iptables", "ipvs", "nftables")
# NodeLocal DNSCache's address: link-local only, which no host or pod uses (node-cache binds it on
# every node, so any other address would be taken from its real owner).
LINK_LOCAL = ipaddress.IPv4Network("169.254.0.0/16")
FIREWALL_MODES = ("open", "keep")
DRAIN_MODES = ("evict", "force", "skip")
# A duration kubectl's --timeout takes (Go's time.ParseDuration): a whole number of seconds, minutes or hours.
DURATION_RE = r"^[1-9][0-9]{0,4}(s|m|h)$"

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
IPV4_RE = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"
CIDR_RE = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}/(3[0-2]|[12]?[0-9])$"
DOMAIN_RE = rf"^{_LABEL}(\.{_LABEL})*$"
_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
# HOST[:PORT]: an IPv4 address or a lowercase DNS name, and an optional port.
ENDPOINT_RE = rf"^({IPV4_RE[1:-1]}|{DOMAIN_RE[1:-1]})(:{_PORT})?$"
_HOST = rf"({_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}|{_LABEL}(\.{_LABEL})*)"
# An HTTP proxy: scheme, an optional user, host and port (curl, apt and Go default the port
# differently: 1080, 80 and 80/443, so it must be named). The user is unreserved characters and %XX
# escapes only, so it is safe in apt.conf, dnf.conf and a systemd environment file. A password is
# never part of it (it would sit in a URL or in bash's argv, which ps shows): proxy_password_file.
PROXY_RE = rf"^https?://(([A-Za-z0-9._~-]|%[0-9A-Fa-f]{{2}})+@)?{_HOST}:{_PORT}/?$"
PROXY_PASSWORD_REFUSED = ("carries a password: a proxy password never goes in a URL or on a command line (ps shows it); "
                          "give the user only, http://USER@HOST:PORT, and the password in a file on the host: "
                          "proxy-password-file=PATH (the password on its first line; chmod 600 PATH)")
PROXY_PASSWORD_USER = "needs http_proxy with the user it belongs to: http://USER@HOST:PORT"
# With ha_vip the endpoint's port is the API servers' own: kube-vip in ARP mode only adds the address and forwards
# nothing, and it takes its lease through kubernetes:PORT, i.e. 127.0.0.1:PORT (hostAliases; kube-vip's
# pkg/manager/manager.go New, k8s.NewRestConfig(adminConfigPath, false, fmt.Sprintf("kubernetes:%v", config.Port))).
HA_VIP_PORT = ("has a port other than 6443, which ha_vip cannot serve: the API servers listen on 6443 and kube-vip "
               "(ARP mode) forwards nothing; give ha_vip's address alone or with :6443, or leave ha_vip out and put "
               "a load balancer at control_plane_endpoint")


def has_password(url: str) -> bool:
    """Whether a proxy URL carries USER:PASSWORD@ (options.sh.j2's option_check asks the same)."""
    return "@" in url and ":" in url.rpartition("@")[0].split("://", 1)[-1]


# NO_PROXY entries: host names, .domain suffixes, IPv4 addresses and networks.
_NO_PROXY_ITEM = rf"(\.?{_LABEL}(\.{_LABEL})*|{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}(/(3[0-2]|[12]?[0-9]))?)"
NO_PROXY_RE = rf"^{_NO_PROXY_ITEM}(,{_NO_PROXY_ITEM})*$"
# A registry host as an image name starts with one: a dot or a port, or localhost (docker's rule).
REGISTRY_HOST_RE = rf"({_LABEL}(\.{_LABEL})+(:{_PORT})?|localhost(:{_PORT})?|{_LABEL}:{_PORT})"
_MIRROR_ITEM = rf"{REGISTRY_HOST_RE}={REGISTRY_HOST_RE}(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*"
MIRRORS_RE = rf"^{_MIRROR_ITEM}(,{_MIRROR_ITEM})*$"
PATH_RE = r"^/[A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)*$"
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Spec:
    """How one option is written and checked, in Python and in bash alike."""

    kind: Literal["bool", "ipv4", "cidr", "domain", "choice", "int", "host", "endpoint", "proxy", "list", "mirrors", "path", "duration"]
    placeholder: str
    pattern: str = ""
    choices: tuple[str, ...] = ()
    minimum: int = 0
    maximum: int = 0
    optional: bool = False  # an empty value means "unset": the installer decides


def _choice(values: Iterable[str]) -> str:
    return "^(" + "|".join(re.escape(v) for v in values) + ")$"


BOOL = Spec("bool", "BOOL")
IPV4 = Spec("ipv4", "IPV4", IPV4_RE)
OPTIONAL_IPV4 = Spec("ipv4", "IPV4", IPV4_RE, optional=True)
CIDR = Spec("cidr", "CIDR", CIDR_RE)
DOMAIN = Spec("domain", "DOMAIN", DOMAIN_RE)
VERSION = Spec(
    "choice",
    "VERSION",
    r"^1\.(" + "|".join(m.split(".")[1] for m in KUBERNETES_MINORS) + r")(\.(0|[1-9][0-9]{0,2}))?$",
    KUBERNETES_MINORS,
)


class OptionError(ValueError):
    """One or more options were wrong; each problem names its option."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in problems))


def parse_bool(raw: str) -> bool:
    word = raw.lower()
    if word in TRUE_WORDS or word == "":  # a bare name (?nodelocal_dnscache) means true
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{raw!r} is not a boolean: use 1/0, true/false, yes/no or on/off")


def _match(pattern: str, raw: str) -> bool:
    """Whole-string match, like bash's ``[[ $raw =~ ^...$ ]]`` (Python's ``$`` would allow a final newline)."""
    return re.fullmatch(pattern.removeprefix("^").removesuffix("$"), raw) is not None


def check(spec: Spec, raw: str) -> Any:
    """Parse one raw string (query or flag) into the field's value, or raise ValueError."""
    if spec.kind == "bool":
        return parse_bool(raw)
    if raw == "":
        if spec.optional:
            return None
        raise ValueError("needs a value")
    if len(raw) > 253:
        raise ValueError("is longer than 253 characters")
    if spec.kind == "choice" and not _match(spec.pattern, raw):
        raise ValueError(f"{raw!r} is not one of {', '.join(spec.choices)}")
    if spec.kind == "int":
        if not _match(spec.pattern, raw) or not spec.minimum <= int(raw) <= spec.maximum:
            raise ValueError(f"{raw!r} is not a whole number from {spec.minimum} to {spec.maximum}")
        return int(raw)
    if spec.kind == "host":
        if _match(IPV4_RE, raw):
            return raw
        if _match(r"[0-9.]*", raw) or not _match(DOMAIN_RE, raw):
            raise ValueError(f"{raw!r} is neither an IPv4 address nor a lowercase DNS name")
        return raw
    if spec.kind == "proxy":
        if has_password(raw):
            raise ValueError(PROXY_PASSWORD_REFUSED)
        if not _match(spec.pattern, raw):
            raise ValueError(f"{raw!r} is not a proxy URL such as http://proxy.example.com:3128 or http://USER@proxy.example.com:3128 "
                             "(http or https, an optional user of letters, digits, . _ ~ - and %XX escapes, host, port)")
        return raw
    if spec.kind in ("list", "mirrors", "path") and not _match(spec.pattern, raw):
        described = {
            "list": "a comma-separated list of host names, .domains, IPv4 addresses or networks",
            "mirrors": "REGISTRY=MIRROR[,...] of registry hosts, e.g. docker.io=mirror.example.com/dockerhub",
            "path": "an absolute path on the host (letters, digits and . _ + - only)",
        }
        raise ValueError(f"{raw!r} is not {described[spec.kind]}")
    if spec.kind == "cidr":
        if not _match(spec.pattern, raw):
            raise ValueError(f"{raw!r} is not an IPv4 CIDR such as 10.32.0.0/12")
        network = ipaddress.IPv4Network(raw, strict=False)
        if str(network) != raw:
            raise ValueError(f"{raw!r} has host bits set: the network is {network}")
        return raw
    if not _match(spec.pattern, raw):
        described = {"ipv4": "an IPv4 address", "domain": "a lowercase DNS name such as cluster.local",
                     "endpoint": "HOST[:PORT], an IPv4 address or lowercase DNS name with an optional port",
                     "duration": "a duration such as 300s, 10m or 1h (a whole number of s, m or h)"}
        raise ValueError(f"{raw!r} is not {described[spec.kind]}")
    return raw


# The groups options are shown in, in this order, on the page, in help, the README table and /options.
GROUPS: tuple[str, ...] = (
    "Kubernetes",
    "Pod network and encryption",
    "DNS",
    "Addresses and HA",
    "Proxies and registries",
    "Firewall",
    "Upgrade and node removal",
)


def _opt(default: Any, description: str, *, group: str | None = None, label: str | None = None,
         advanced: bool = False) -> Any:
    """An option's field: its default, its description, and how people see it: a short human
    ``label`` ("Encrypt pod traffic"), its ``group`` (one of GROUPS) and whether it is ``advanced``
    (folded away on the page). tests/test_params.py names any option that lacks a group or label."""
    return Field(default, description=description,
                 json_schema_extra={"group": group, "label": label, "advanced": advanced})


class Options(BaseModel):
    """Every option the installer takes. Field order is the order of help, README and header."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    encrypt_network: Annotated[bool, BOOL] = _opt(True, "Encrypt pod traffic between hosts (Weave IPSec on the fast datapath). "
        "The password is generated on the host and kept in Secret kube-system/weave-passwd.",
        group="Pod network and encryption", label="Encrypt pod traffic",
    )
    nodelocal_dnscache: Annotated[bool, BOOL] = _opt(False, "Deploy NodeLocal DNSCache, a DNS cache on every node that avoids the conntrack "
        "race behind 5 s DNS stalls (kubernetes/kubernetes#56903).",
        group="DNS", label="NodeLocal DNS cache",
    )
    nodelocal_address: Annotated[str, IPV4] = _opt("169.254.20.10", "Link-local address (169.254.0.0/16) NodeLocal DNSCache listens on, on every node.",
        group="DNS", label="NodeLocal DNS cache address", advanced=True,
    )
    kubernetes_version: Annotated[str, VERSION] = _opt(KUBERNETES_MINORS[-1], "Kubernetes minor (newest patch) or exact patch to install: "
        + ", ".join(KUBERNETES_MINORS) + " or e.g. " + KUBERNETES_MINORS[-1] + ".2.",
        group="Kubernetes", label="Kubernetes version",
    )
    pod_cidr: Annotated[str, CIDR] = _opt("10.32.0.0/12", "Pod network: Weave's IPALLOC_RANGE and kubeadm's podSubnet.",
        group="Pod network and encryption", label="Pod network range", advanced=True,
    )
    service_cidr: Annotated[str, CIDR] = _opt("10.96.0.0/12", "Service network; cluster DNS is its 10th address.",
        group="Kubernetes", label="Service network range", advanced=True,
    )
    cluster_domain: Annotated[str, DOMAIN] = _opt("cluster.local", "Cluster DNS domain.",
        group="DNS", label="Cluster domain", advanced=True,
    )
    kube_proxy_mode: Annotated[str, Spec("choice", "MODE", _choice(KUBE_PROXY_MODES), KUBE_PROXY_MODES)] = _opt("iptables", "kube-proxy mode: iptables, ipvs (deprecated from Kubernetes 1.35, KEP-5495) or "
        "nftables (GA since 1.33).",
        group="Kubernetes", label="kube-proxy mode", advanced=True,
    )
    weave_version: Annotated[str, Spec("choice", "VERSION", _choice(WEAVE_VERSIONS), WEAVE_VERSIONS)] = _opt(WEAVE_DEFAULT, "Weave Net release: 2.9.0 (the maintained rajchaudhuri fork, "
        "iptables-nft aware) or 2.8.1 (the last upstream weaveworks release: refused on iptables-nft 1.8.8+ hosts "
        "unless forced).",
        group="Pod network and encryption", label="Weave Net version",
    )
    weave_mtu: Annotated[int | None, Spec("int", "BYTES", r"^[1-9][0-9]{0,4}$", minimum=576, maximum=9000, optional=True)] = _opt(None, "MTU of Weave's interface; empty lets Weave choose (1376). Preflight checks "
        "that the host's uplink carries it plus Weave's encapsulation.",
        group="Pod network and encryption", label="Weave Net MTU", advanced=True,
    )
    private_address: Annotated[str | None, OPTIONAL_IPV4] = _opt(None, "Address the API server advertises to the cluster; empty takes the host's default route address.",
        group="Addresses and HA", label="Advertise address",
    )
    public_address: Annotated[str | None, Spec("host", "HOST", optional=True)] = _opt(None, "Extra IP address or DNS name added to the API server certificate, e.g. a public IP.",
        group="Addresses and HA", label="Extra API server name",
    )
    control_plane_endpoint: Annotated[str | None, Spec("endpoint", "HOST[:PORT]", ENDPOINT_RE, optional=True)] = _opt(None, "Load balancer address in front of the API servers, for more than one control-plane host "
        "(kubeadm's controlPlaneEndpoint, also a certificate SAN; port 6443 when left out). Set it at the first "
        "install: kubeadm cannot add it to a running cluster.",
        group="Addresses and HA", label="Control-plane endpoint", advanced=True,
    )
    ha_vip: Annotated[str | None, OPTIONAL_IPV4] = _opt(None, "Virtual IPv4 address for the API servers when there is no load balancer: kube-vip runs as a static "
        "pod on each control-plane host (ARP mode) and the address becomes the control-plane endpoint, on the API servers' "
        "port 6443 (kube-vip forwards no other port).",
        group="Addresses and HA", label="Virtual IP for the API servers", advanced=True,
    )
    control_plane_taint: Annotated[bool, BOOL] = _opt(False, "Keep the control-plane taint, so that only system pods run on control-plane hosts. Off by "
        "default: a single host runs workloads too.",
        group="Kubernetes", label="Keep the control-plane taint", advanced=True,
    )
    firewall: Annotated[str, Spec("choice", "MODE", _choice(FIREWALL_MODES), FIREWALL_MODES)] = _opt("open", "When firewalld or ufw is active: open opens exactly the ports and protocols this host's role needs "
        "(at runtime and permanently, recorded so that reset closes them again); keep changes nothing, and preflight stops "
        "with the commands to run.",
        group="Firewall", label="Host firewall",
    )
    drain: Annotated[str, Spec("choice", "MODE", _choice(DRAIN_MODES), DRAIN_MODES)] = _opt("evict", "How upgrade empties "
        "this host before its kubelet restarts: evict (kubectl drain, which respects PodDisruptionBudgets and stops at "
        "pods no controller owns); force (adds --force --disable-eviction: pods no controller owns are deleted for good "
        "and PodDisruptionBudgets are bypassed, which can cause downtime); skip (no drain: the kubelet restarts under "
        "its running pods).",
        group="Upgrade and node removal", label="Drain mode", advanced=True,
    )
    drain_timeout: Annotated[str, Spec("duration", "DURATION", DURATION_RE)] = _opt("300s", "How long a drain (upgrade, "
        "remove-node) waits for its pods to leave before it gives up (kubectl drain --timeout), e.g. 300s, 10m, 1h.",
        group="Upgrade and node removal", label="Drain timeout", advanced=True,
    )

    http_proxy: Annotated[str | None, Spec("proxy", "URL", PROXY_RE, optional=True)] = _opt(None, "HTTP proxy for every download: apt or dnf, curl, containerd's image pulls; e.g. "
        "http://proxy.example.com:3128, or http://USER@proxy.example.com:3128 with proxy_password_file. "
        "Never a password: it would be in a URL or in ps.",
        group="Proxies and registries", label="HTTP proxy", advanced=True,
    )
    proxy_password_file: Annotated[str | None, Spec("path", "PATH", PATH_RE, optional=True)] = _opt(None, "A file on the host (chmod 600) whose first line is the password of "
        "http_proxy's user; it goes only into the installer's 0600 proxy files.",
        group="Proxies and registries", label="Proxy password file", advanced=True,
    )
    no_proxy: Annotated[str | None, Spec("list", "LIST", NO_PROXY_RE, optional=True)] = _opt(None, "More hosts, .domains and networks reached without the proxy. localhost, 127.0.0.1, ::1, this host's "
        "addresses and their networks, the API server, the pod and service networks, .svc, the cluster domain and the "
        "registry mirrors' hosts are always added.",
        group="Proxies and registries", label="Bypass the proxy for", advanced=True,
    )
    ca_bundle: Annotated[str | None, Spec("path", "PATH", PATH_RE, optional=True)] = _opt(None, "A PEM file on the host: CA "
        "certificates (a TLS-inspecting proxy's) added to the system trust store, so that apt or dnf, curl and containerd "
        "trust them; reset removes them.",
        group="Proxies and registries", label="Extra CA certificates", advanced=True,
    )
    registry_mirror: Annotated[str | None, Spec("mirrors", "REGISTRY=MIRROR,...", MIRRORS_RE, optional=True)] = _opt(None, "containerd pulls these registries' images through a mirror (hosts.toml), e.g. "
        "docker.io=mirror.example.com/dockerhub; added to the service's KUBEINIT_IMAGE_REGISTRY_MIRRORS.",
        group="Proxies and registries", label="Registry mirrors", advanced=True,
    )
    registry_mirror_ca: Annotated[str | None, Spec("path", "PATH", PATH_RE, optional=True)] = _opt(None, "A PEM file on the host: the private CA that signed the mirrors' certificates.",
        group="Proxies and registries", label="Registry mirrors' CA file", advanced=True,
    )
    airgap: Annotated[str | None, Spec("path", "PATH", PATH_RE, optional=True)] = _opt(None, "Install from an air-gap bundle on the host (made by /kubernetes-airgap-bundle): packages and "
        "images from the bundle, no network used.",
        group="Proxies and registries", label="Air-gap bundle", advanced=True,
    )

    @field_validator("*", mode="before")
    @classmethod
    def _from_text(cls, value: Any, info: Any) -> Any:
        if isinstance(value, str):
            return check(spec_of(info.field_name), value)
        return value

    @model_validator(mode="after")
    def _networks(self) -> Options:
        pods = ipaddress.IPv4Network(self.pod_cidr)
        services = ipaddress.IPv4Network(self.service_cidr)
        if pods.overlaps(services):
            raise OptionError([("service_cidr", f"{services} overlaps pod_cidr {pods}")])
        if services.num_addresses < 16:
            raise OptionError([("service_cidr", f"{services} is too small: cluster DNS is its 10th address")])
        local = ipaddress.IPv4Address(self.nodelocal_address)
        if local not in LINK_LOCAL:
            raise OptionError([("nodelocal_address", f"{local} is not link-local (169.254.0.0/16): node-cache "
                                "would take it over on every node")])
        for name, network in (("pod_cidr", pods), ("service_cidr", services)):
            if local in network:
                raise OptionError([("nodelocal_address", f"{local} lies inside {name} {network}")])
        if self.ha_vip and self.control_plane_endpoint and self.control_plane_endpoint.split(":")[0] != self.ha_vip:
            raise OptionError([("control_plane_endpoint", f"{self.control_plane_endpoint} is not ha_vip's address "
                                f"{self.ha_vip}: leave it out, or give {self.ha_vip}[:6443]")])
        if self.ha_vip and self.control_plane_endpoint and self.control_plane_endpoint.partition(":")[2] not in ("", "6443"):
            raise OptionError([("control_plane_endpoint", f"{self.control_plane_endpoint} {HA_VIP_PORT}")])
        if self.proxy_password_file and "@" not in (self.http_proxy or ""):
            raise OptionError([("proxy_password_file", PROXY_PASSWORD_USER)])
        return self


NAMES: tuple[str, ...] = tuple(Options.model_fields)
DEFAULTS = Options()


def spec_of(name: str) -> Spec:
    return next(m for m in Options.model_fields[name].metadata if isinstance(m, Spec))


def flag(name: str) -> str:
    return name.replace("_", "-")


def canonical_name(raw: str) -> str:
    return raw.strip().lower().replace("-", "_")


def distance(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions): option_distance in lib/options does the same."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j - 1] + (x != y), previous[j] + 1, current[j - 1] + 1))
        previous = current
    return previous[-1]


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate nearest to ``word``, if it is within a third of its length (at least 1) edits;
    the first in order on a tie. The script's option_suggest applies the same rule to flags and actions."""
    best, best_distance = None, 0
    for candidate in candidates:
        d = distance(word, candidate)
        if d <= max(1, len(candidate) // 3) and (best is None or d < best_distance):
            best, best_distance = candidate, d
    return best


def suggest(name: str) -> str:
    close = closest(name, NAMES)
    return f"unknown option (did you mean {close}?)" if close else "unknown option"


def text(value: Any) -> str:
    """How a value is written in a query string and in the script: 1/0, empty for unset."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else str(value)


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> Options:
    """Build Options from (name, raw value) pairs in either spelling; raise OptionError."""
    values: dict[str, Any] = {}
    seen: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for raw_name, raw in pairs:
        name = canonical_name(raw_name)
        if name not in NAMES:  # shown as typed, unless it holds control characters (NUL, newline, ESC...)
            problems.append((raw_name if raw_name.isprintable() else repr(raw_name), suggest(name)))
            continue
        if name in seen and seen[name] != raw:
            try:
                same = check(spec_of(name), seen[name]) == check(spec_of(name), raw)
            except ValueError:
                same = False
            if not same:
                problems.append((name, f"given twice with different values ({seen[name]!r} and {raw!r})"))
                continue
        seen[name] = raw
        values[name] = raw
    try:
        options = Options(**values)
    except ValidationError as exc:
        problems += [_problem(e) for e in exc.errors()]
    if problems:
        raise OptionError(problems)
    return options


def _problem(error: Any) -> tuple[str, str]:
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, OptionError):
        return cause.problems[0]
    name = str(error["loc"][0]) if error["loc"] else "options"
    return name, str(cause) if cause is not None else error["msg"]


def canonical_query(options: Options, pinned: Iterable[str] = ()) -> str:
    """The non-default options, and those named in ``pinned``, in model order, as name=value:
    equal options give equal strings."""
    from urllib.parse import quote

    return "&".join(
        f"{name}={quote(text(getattr(options, name)), safe='./:')}"
        for name in NAMES
        if getattr(options, name) != getattr(DEFAULTS, name) or name in pinned
    )


def describe(defaults: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The options as plain data, for /options, the web page, help, README and OpenAPI.

    ``defaults`` (canonical name to text, e.g. the fleet's ``option_defaults`` setting) replaces
    the model's defaults where the service applies other ones."""
    rows = []
    for name, field in Options.model_fields.items():
        spec = spec_of(name)
        shown = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        rows.append(
            {
                "name": name,
                "flag": flag(name),
                "group": shown.get("group") or "Other",  # tests/test_params.py names a missing one
                "label": shown.get("label") or name,
                "advanced": bool(shown.get("advanced")),
                "kind": spec.kind,
                "placeholder": spec.placeholder,
                "default": (defaults or {}).get(name, text(field.default)),
                "choices": list(spec.choices),
                "pattern": spec.pattern,
                "minimum": spec.minimum,
                "maximum": spec.maximum,
                "optional": spec.optional,
                # only the listed values (a select), not an open choice such as a version with patches
                "closed": bool(spec.choices) and spec.pattern == _choice(spec.choices),
                "description": field.description or "",
            }
        )
    return rows


def grouped(rows: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """``describe()`` rows as (group, rows) in GROUPS order (model order within a group), groups
    without options left out, an unknown group last."""
    groups: dict[str, list[dict[str, Any]]] = {group: [] for group in GROUPS}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    return [(group, members) for group, members in groups.items() if members]


@dataclass(frozen=True)
class Action:
    """A word the script takes besides the options: it picks what to do, or how."""

    name: str
    description: str
    switch: bool = False  # True: modifies the run (sets a 0/1 variable); False: chooses what runs
    placeholder: str = ""  # set: the action takes a value, NAME=VALUE (kept in ACTION_VALUE)
    pattern: str = ""  # the POSIX ERE the value must match, in bash as here

    @property
    def usage(self) -> str:
        return f"{self.name}={self.placeholder}" if self.placeholder else self.name


ACTIONS: tuple[Action, ...] = (
    Action("help", "Print this help and exit. Needs no root, changes nothing."),
    Action("dry-run", "Print every host-changing command instead of running it. Needs no root.", switch=True),
    Action("manifests", "Print the Kubernetes manifests the installer applies, settings resolved (kube-proxy mode "
           "and cluster DNS address from the running cluster when one answers, else from the options). "
           "Needs no root, changes nothing."),
    Action("troubleshoot", "Check every weave-net pod (weave status and status connections, quoting Weave's log for "
           "sleeve or failed links; a restarting or crash-looping weave-npc with its last log lines), the NodeLocal "
           "DNSCache pods, and the pod network end to end: a short-lived test "
           "pod on each node, pod to pod across every pair, pod to Service, DNS, NetworkPolicy enforced on each node; "
           "and, on a control-plane host, when the "
           "certificates expire (a warning within 30 days); explain the results. The test pods and policy are removed "
           "afterwards."),
    Action("preflight", "Run the preflight checks only (OS, CPUs, memory, swap, cgroup v2, ports, and Weave's: "
           "iptables backend, firewall, kernel, modules, MTU, routes, peers) and exit. Changes nothing."),
    Action("reset", "Undo the install: kubeadm reset first, then Weave's traces, kube-proxy's and Weave's iptables "
           "chains, IPVS tables, kube-ipvs0 and the nodelocaldns interface, CNI config, the added repositories, "
           "sysctl and module files; restores the swap lines of /etc/fstab. A step that fails warns and the rest "
           "goes on; the end lists what was left. Asks first unless given yes."),
    Action("upgrade", "Upgrade this host to kubernetes-version, one minor at a time: on a control plane kubeadm "
           "upgrade plan and apply (node on the others), packages, drain, kubelet restart, uncordon, then the "
           "network; on a node (kubernetes-node-join) kubeadm upgrade node, never past the control plane. "
           "Refuses before any change what cannot work."),
    Action("renew-certs", "Renew the control-plane certificates (kubeadm certs renew all) and restart the "
           "control-plane components. On a control-plane host."),
    Action("remove-node", "Take a node out of the cluster, from a control-plane host: drain, delete, reclaim its "
           "Weave address range, and for a control plane its etcd member (never the last one, never "
           "breaking quorum). Then run reset on the removed host.", placeholder="NAME", pattern=DOMAIN_RE),
    Action("backup", "On a control-plane host: an etcd snapshot (etcdctl in this host's etcd pod, verified with "
           "etcdutl snapshot status), the PKI and kubeadm's configuration in one 0600 archive under "
           "/var/lib/kubeinit/backups/, the last 5 kept. upgrade, remove-node and renew-certs take one first."),
    Action("restore", "Put a backup's etcd snapshot back on a single-control-plane cluster (kubeadm's procedure: "
           "static pods stopped, etcdutl snapshot restore, the data directory swapped, the old one kept aside, "
           "the control plane back). Refuses on more than one etcd member and prints the procedure for them.",
           placeholder="PATH", pattern=PATH_RE),
    Action("check-query", "Check that this script was made for QUERY, the query its URL was asked with (after "
           "ssh-keygen -Y verify: a signature proves the service made the script, not for which query): each "
           "option, named in either spelling or left to the service's default, must be the script's; names every "
           "one that differs and exits 1. Needs no root, changes nothing.",
           placeholder="QUERY", pattern=r"^[][A-Za-z0-9._~:/%,=&+@-]*$"),
    Action("yes", "Answer yes to reset's question, for unattended runs.", switch=True),
    Action("force", "Go on past failed preflight checks, e.g. on an OS that is not supported; past a failed "
           "automatic backup; and restore when etcd does not answer to count its members.", switch=True),
)


@dataclass(frozen=True)
class JoinFlag:
    """A flag of the join script only: never a query parameter, so a token never reaches the service."""

    name: str
    placeholder: str  # empty: a bare word that sets the variable to 1
    pattern: str
    description: str

    @property
    def usage(self) -> str:
        return f"{self.name}={self.placeholder}" if self.placeholder else self.name

    @property
    def variable(self) -> str:
        name = self.name.upper().replace("-", "_")
        return name if name.startswith("JOIN_") else "JOIN_" + name


JOIN_FLAGS: tuple[JoinFlag, ...] = (
    JoinFlag("join-file", "PATH", r"^/.+$",
             "A file of root's alone (chmod 600) holding the flags below, one NAME=VALUE a line, as kubernetes-init "
             "prints it: the token and certificate key stay off every command line ('ps') and shell history. "
             "Removed once this host has joined."),
    JoinFlag("api-server", "HOST:PORT", ENDPOINT_RE,
             "The control plane's API server, as printed by kubernetes-init (port 6443 when left out)."),
    JoinFlag("token", "TOKEN", r"^[a-z0-9]{6}\.[a-z0-9]{16}$",
             "Bootstrap token (abcdef.0123456789abcdef); make one on the control plane with "
             "kubeadm token create --print-join-command."),
    JoinFlag("ca-cert-hash", "sha256:HEX", r"^sha256:[a-f0-9]{64}$",
             "Hash of the cluster CA's public key, as printed by kubernetes-init."),
    JoinFlag("control-plane", "", "",
             "Join as one more control-plane host (stacked etcd), with certificate-key; api-server is then the "
             "control-plane endpoint."),
    JoinFlag("iptables-backend", "nft|legacy", r"^(nft|legacy)$",
             "The iptables backend Weave Net runs with in the cluster (its DaemonSet's IPTABLES_BACKEND, the first "
             "control plane's), as printed by kubernetes-init: preflight stops, before any change, on a host whose "
             "own backend differs, with the command that switches it."),
    JoinFlag("certificate-key", "HEX", r"^[a-f0-9]{64}$",
             "Key of the control-plane certificates uploaded by kubernetes-init (valid 2 hours); make one on a "
             "control plane with kubeadm init phase upload-certs --upload-certs."),
)
