"""Hypothesis strategies for option names and values, derived from the option model."""

from __future__ import annotations

from hypothesis import strategies as st

from app.params import DEFAULTS, NAMES, flag, spec_of, text
from tests.support.sandbox import INJECTIONS

# Valid raw values by kind; a kind added later falls back to the option's default.
EXAMPLES = {
    "bool": ["1", "0", "true", "FALSE", "yes", "No", "on", "OFF", ""],
    "ipv4": ["169.254.20.10", "192.168.1.10", "10.0.0.1", "255.255.255.255", "0.0.0.0"],
    "cidr": ["10.32.0.0/12", "10.200.0.0/16", "172.16.0.0/12", "192.168.0.0/24", "100.64.0.0/10"],
    "domain": ["cluster.local", "k8s.example.org", "a", "x-1.y2"],
    "int": ["576", "1376", "9000", "1500"],
    "host": ["203.0.113.7", "api.example.com", "k8s-1"],
    "endpoint": ["lb.example.com", "10.0.0.100:6443", "api.example.com:8443", "10.0.0.1:65535", "k8s-1:1"],
    "proxy": ["http://proxy.example.com:3128", "https://10.0.0.1:8443", "http://alice@proxy.example.com:3128",
              "http://a%40b.c@10.0.0.1:8080"],  # a user, never a password (proxy_password_file)
    "list": [".corp.example.com", "a.example.com,10.1.0.0/16"],
    "duration": ["300s", "10m", "1h", "99999s"],
    "mirrors": ["docker.io=mirror.example.com/hub", "quay.io=localhost:5000,ghcr.io=m.example.com"],
    # "path" (airgap, registry_mirror_ca, proxy_password_file) falls back to unset: a run given a path checks that file first
}
NASTY = list("$`'\"\\;|&<>(){}[]*?!#~=% \t\n\r+-_./:") + [
    "é", "ß", "İ", "K", "١", "٣", "\u202e", "\u200b", "😀", "\x1b[31m", "\ufeff", "\x7f", "０",
]


def nasty_text(min_size: int = 0, max_size: int = 20) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(NASTY), min_size=min_size, max_size=max_size).map("".join)


def valid_examples(name: str) -> list[str]:
    spec = spec_of(name)
    values = list(spec.choices) + EXAMPLES.get(spec.kind, [])
    if spec.optional:
        values.append("")
    return values or [text(getattr(DEFAULTS, name))]


def spellings(name: str) -> st.SearchStrategy[str]:
    """Both spellings, in any letter case."""
    return st.sampled_from([name, flag(name)]).flatmap(
        lambda word: st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
            lambda upper: "".join(c.upper() if u else c for c, u in zip(word, upper, strict=True))))


def option_names() -> st.SearchStrategy[str]:
    return st.sampled_from(NAMES)


def near_valid(name: str) -> st.SearchStrategy[str]:
    """A valid value with one character inserted, replaced or deleted, or its case changed."""
    def mutate(value: str, position: int, char: str, how: int) -> str:
        i = position % (len(value) + 1)
        if how == 0:
            return value[:i] + char + value[i:]
        if how == 1:
            return value[:i] + char + value[i + 1:]
        if how == 2:
            return value[:i] + value[i + 1:]
        return value.upper() if how == 3 else " " + value
    return st.builds(mutate, st.sampled_from(valid_examples(name)), st.integers(0, 40),
                     st.sampled_from(NASTY + list("0123456789abcxyz")), st.integers(0, 4))


def values(name: str, nul: bool = True) -> st.SearchStrategy[str]:
    """Valid, nearly valid, injected, random, very long: every kind of value a client could send."""
    chars = st.characters(exclude_characters=None if nul else "\x00", exclude_categories=("Cs",))
    injected = st.builds(lambda a, b, c: a + b + c, st.sampled_from(valid_examples(name) + [""]),
                         st.sampled_from(INJECTIONS), nasty_text(max_size=8))
    long = st.builds(lambda v, n: ((v or "9") * n)[:n], st.sampled_from(valid_examples(name)), st.integers(250, 5000))
    strategy = st.one_of(
        st.sampled_from(valid_examples(name)),
        near_valid(name),
        injected,
        st.text(chars, max_size=30),
        nasty_text(),
        long,
    )
    return strategy if nul else strategy.map(lambda v: v.replace("\x00", ""))
