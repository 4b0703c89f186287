"""The one Jinja environment: strict, quoting through one filter, cached, byte-identical output."""

import jinja2
import pytest

from app.params import parse_pairs
from app.rendering import ENVIRONMENT, _cache, render, shell_quote
from app.settings import get_settings


def test_undefined_variables_fail_loudly():
    with pytest.raises(jinja2.UndefinedError):
        ENVIRONMENT.from_string("{{ nope }}").render()


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        (True, "1"),
        (False, "0"),
        (None, "''"),
        ("10.32.0.0/12", "10.32.0.0/12"),
        ("a b", "'a b'"),
        ("$(id)", "'$(id)'"),
        ("it's", "'it'\"'\"'s'"),
    ],
)
def test_the_quote_filter_makes_one_inert_shell_word(value, quoted):
    assert shell_quote(value) == quoted


def test_equal_options_render_byte_identical_whatever_order_or_spelling():
    a = parse_pairs([("encrypt-network", "no"), ("pod_cidr", "10.0.0.0/16")])
    b = parse_pairs([("POD-CIDR", "10.0.0.0/16"), ("encrypt_network", "0")])
    first = render("scripts/kubernetes-init.sh.j2", a, "http://x")
    second = render("scripts/kubernetes-init.sh.j2", b, "http://x")
    assert first.body == second.body and first.etag == second.etag


def test_renders_are_cached_and_the_cache_is_bounded_in_entries_and_bytes(monkeypatch):
    options = parse_pairs([("weave_mtu", "1234")])
    first = render("scripts/kubernetes-init.sh.j2", options, "http://cache.test")
    assert render("scripts/kubernetes-init.sh.j2", options, "http://cache.test") is first
    cache, settings = _cache(), get_settings()
    assert (cache.max_entries, cache.max_bytes) == (settings.render_cache_size, settings.script_cache_bytes)
    assert cache.max_bytes // len(first.body) < cache.max_entries  # bytes, not entries, bound whole scripts
    # Scripts are about 200 KB: with room for three, a fourth drops the least recently used.
    monkeypatch.setattr(cache, "max_bytes", 3 * len(first.body) + 1000)
    kept = [render("scripts/kubernetes-init.sh.j2", parse_pairs([("weave_mtu", str(m))]), "http://cache.test")
            for m in (1301, 1302, 1303, 1304)]
    assert cache.size <= cache.max_bytes and len(cache.entries) == 3
    assert render("scripts/kubernetes-init.sh.j2", parse_pairs([("weave_mtu", "1304")]), "http://cache.test") is kept[-1]
    assert render("scripts/kubernetes-init.sh.j2", parse_pairs([("weave_mtu", "1301")]), "http://cache.test") is not kept[0]


def test_only_the_header_holds_request_values():
    """A canary value set through every option appears only in the header block."""
    body = render("scripts/kubernetes-init.sh.j2", parse_pairs([("cluster_domain", "canary-domain.test")]), "http://x").body.decode()
    header, rest = body.split("\nlog_print() {", 1)
    assert "canary-domain.test" in header and "canary-domain.test" not in rest
