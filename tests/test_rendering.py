"""The one Jinja environment: strict, quoting through one filter, cached, byte-identical output."""

import jinja2
import pytest

from app.params import parse_pairs
from app.rendering import ENVIRONMENT, _cached, render, shell_quote
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


def test_renders_are_cached_and_the_cache_is_bounded():
    options = parse_pairs([("weave_mtu", "1234")])
    first = render("scripts/kubernetes-init.sh.j2", options, "http://cache.test")
    hits = _cached().cache_info().hits
    assert render("scripts/kubernetes-init.sh.j2", options, "http://cache.test") is first
    assert _cached().cache_info().hits == hits + 1
    assert _cached().cache_info().maxsize == get_settings().render_cache_size > 0


def test_only_the_header_holds_request_values():
    """A canary value set through every option appears only in the header block."""
    body = render("scripts/kubernetes-init.sh.j2", parse_pairs([("cluster_domain", "canary-domain.test")]), "http://x").body.decode()
    header, rest = body.split("\nlog_print() {", 1)
    assert "canary-domain.test" in header and "canary-domain.test" not in rest
