"""The option model: spellings, strict booleans, suggestions, CIDR rules, canonical form."""

import pytest

from app.params import (
    DEFAULTS,
    NAMES,
    OptionError,
    Options,
    canonical_query,
    describe,
    parse_pairs,
)


def problems(pairs):
    with pytest.raises(OptionError) as caught:
        parse_pairs(pairs)
    return caught.value.problems


@pytest.mark.parametrize("name", ["encrypt_network", "encrypt-network", "ENCRYPT-NETWORK", "Encrypt_Network"])
def test_both_spellings_in_any_case_name_the_same_option(name):
    assert parse_pairs([(name, "0")]).encrypt_network is False


@pytest.mark.parametrize("word", ["1", "true", "TRUE", "yes", "Yes", "on", "ON", ""])
def test_true_words_and_a_bare_name_mean_true(word):
    assert parse_pairs([("nodelocal_dnscache", word)]).nodelocal_dnscache is True


@pytest.mark.parametrize("word", ["0", "false", "False", "no", "NO", "off", "Off"])
def test_false_and_zero_mean_off(word):
    assert parse_pairs([("encrypt_network", word)]).encrypt_network is False


@pytest.mark.parametrize("word", ["t", "f", "y", "n", "2", "-1", "enable", "truee", " 1", "1\n", "null"])
def test_other_boolean_words_are_errors_naming_the_option(word):
    [(name, reason)] = problems([("encrypt_network", word)])
    assert name == "encrypt_network"
    assert "not a boolean" in reason and "1/0, true/false, yes/no or on/off" in reason


def test_defaults_are_the_documented_ones():
    assert DEFAULTS.encrypt_network is True
    assert DEFAULTS.nodelocal_dnscache is False
    assert DEFAULTS.nodelocal_address == "169.254.20.10"
    assert DEFAULTS.kubernetes_version == "1.37"
    assert DEFAULTS.pod_cidr == "10.32.0.0/12"
    assert DEFAULTS.service_cidr == "10.96.0.0/12"
    assert DEFAULTS.cluster_domain == "cluster.local"
    assert DEFAULTS.kube_proxy_mode == "iptables"


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("nodelocal_dns_cache", "nodelocal_dnscache"),
        ("encrypt_networks", "encrypt_network"),
        ("pod-cdir", "pod_cidr"),
        ("kube_proxy", "kube_proxy_mode"),
    ],
)
def test_unknown_names_are_rejected_with_the_closest_known_one(typed, meant):
    [(name, reason)] = problems([(typed, "1")])
    assert name == typed
    assert reason == f"unknown option (did you mean {meant}?)"


def test_an_unknown_name_far_from_any_option_gets_no_suggestion():
    assert problems([("zzzz", "1")]) == [("zzzz", "unknown option")]


def test_two_different_values_for_one_option_are_an_error():
    [(name, reason)] = problems([("encrypt_network", "1"), ("encrypt-network", "0")])
    assert name == "encrypt_network" and "given twice with different values" in reason


def test_the_same_value_twice_in_different_words_is_accepted():
    assert parse_pairs([("encrypt_network", "yes"), ("encrypt-network", "1")]).encrypt_network is True


@pytest.mark.parametrize(
    ("pod", "service", "culprit"),
    [
        ("10.96.0.0/16", "10.96.0.0/12", "service_cidr"),
        ("10.0.0.0/8", "10.96.0.0/12", "service_cidr"),
        ("10.32.0.0/12", "10.32.128.0/24", "service_cidr"),
    ],
)
def test_overlapping_pod_and_service_ranges_are_rejected(pod, service, culprit):
    [(name, reason)] = problems([("pod_cidr", pod), ("service_cidr", service)])
    assert name == culprit and "overlaps" in reason and pod in reason


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("10.32.0.1/12", "host bits set: the network is 10.32.0.0/12"),
        ("10.32.0.0", "not an IPv4 CIDR"),
        ("10.32.0.0/33", "not an IPv4 CIDR"),
        ("256.0.0.0/8", "not an IPv4 CIDR"),
        ("010.0.0.0/8", "not an IPv4 CIDR"),
        ("fd00::/64", "not an IPv4 CIDR"),
    ],
)
def test_invalid_cidrs_say_why(value, fragment):
    [(name, reason)] = problems([("pod_cidr", value)])
    assert name == "pod_cidr" and fragment in reason


def test_cluster_dns_needs_room_in_the_service_range():
    [(name, reason)] = problems([("service_cidr", "10.96.0.0/29")])
    assert name == "service_cidr" and "10th address" in reason


def test_nodelocal_address_may_not_sit_inside_a_cluster_range():
    [(name, reason)] = problems([("nodelocal_address", "169.254.20.10"), ("pod_cidr", "169.254.0.0/16")])
    assert name == "nodelocal_address" and "pod_cidr" in reason


@pytest.mark.parametrize("address", ["8.8.8.8", "127.0.0.1", "0.0.0.0", "10.96.0.10", "169.255.0.1"])
def test_nodelocal_address_is_link_local_only(address):
    # node-cache binds it on every node: any other address would be taken from its owner (issue #13)
    [(name, reason)] = problems([("nodelocal_address", address)])
    assert name == "nodelocal_address" and "not link-local (169.254.0.0/16)" in reason


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("kubernetes_version", "1.34"),
        ("kubernetes_version", "1.37.x"),
        ("kubernetes_version", "v1.37"),
        ("kube_proxy_mode", "userspace"),
        ("weave_version", "2.8.0"),
        ("cluster_domain", "Cluster.Local"),
        ("cluster_domain", "-bad.local"),
        ("cluster_domain", "a..b"),
        ("nodelocal_address", "169.254.20"),
        ("weave_mtu", "575"),
        ("weave_mtu", "9001"),
        ("weave_mtu", "1e3"),
        ("private_address", "10.0.0.256"),
        ("public_address", "1.2.3.4.5"),
        ("public_address", "a b"),
        ("drain_timeout", "5x"),
        ("drain_timeout", "0s"),
        ("drain_timeout", "300"),
        ("drain", "delete"),
    ],
)
def test_each_kind_of_value_is_checked(name, value):
    [(problem_name, reason)] = problems([(name, value)])
    assert problem_name == name and repr(value) in reason


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("kubernetes_version", "1.35", "1.35"),
        ("kubernetes_version", "1.37.2", "1.37.2"),
        ("kube_proxy_mode", "ipvs", "ipvs"),
        ("kube_proxy_mode", "nftables", "nftables"),
        ("weave_version", "2.9.0", "2.9.0"),
        ("weave_mtu", "1400", 1400),
        ("weave_mtu", "", None),
        ("public_address", "k8s.example.com", "k8s.example.com"),
        ("public_address", "203.0.113.7", "203.0.113.7"),
        ("private_address", "192.168.1.10", "192.168.1.10"),
        ("cluster_domain", "corp.internal", "corp.internal"),
        ("drain_timeout", "10m", "10m"),
        ("drain", "force", "force"),
    ],
)
def test_valid_values_are_kept(name, value, expected):
    assert getattr(parse_pairs([(name, value)]), name) == expected


def test_a_value_is_required_where_no_default_applies():
    assert problems([("pod_cidr", "")]) == [("pod_cidr", "needs a value")]


def test_canonical_query_is_the_same_whatever_the_order_and_spelling():
    a = parse_pairs([("pod-cidr", "10.0.0.0/16"), ("Encrypt-Network", "off"), ("nodelocal_dnscache", "")])
    b = parse_pairs([("nodelocal-dnscache", "yes"), ("encrypt_network", "0"), ("pod_cidr", "10.0.0.0/16")])
    assert a == b
    assert canonical_query(a) == canonical_query(b) == "encrypt_network=0&nodelocal_dnscache=1&pod_cidr=10.0.0.0/16"


def test_defaults_given_explicitly_vanish_from_the_canonical_query():
    assert canonical_query(parse_pairs([("encrypt_network", "1"), ("kube_proxy_mode", "iptables")])) == ""


def test_canonical_query_parses_back_to_the_same_options():
    from urllib.parse import parse_qsl

    options = parse_pairs([("weave_mtu", "1400"), ("public_address", "k8s.example.com"), ("kube_proxy_mode", "ipvs")])
    assert parse_pairs(parse_qsl(canonical_query(options), keep_blank_values=True)) == options


def test_describe_covers_every_field_with_a_description():
    rows = describe()
    assert [r["name"] for r in rows] == list(NAMES)
    assert all(r["description"] for r in rows)
    assert {r["name"]: r["flag"] for r in rows}["encrypt_network"] == "encrypt-network"


def test_model_rejects_bad_python_values_too():
    with pytest.raises(Exception):
        Options(pod_cidr="not a cidr")


def test_every_option_has_a_group_and_a_short_label():
    """The page, help, README and /options group and name options by these: an option added without
    them is named here (fill them in with _opt(..., group=..., label=...))."""
    from app.params import GROUPS, Options

    missing = []
    for name, field in Options.model_fields.items():
        shown = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if shown.get("group") not in GROUPS:
            missing.append(f"{name}: group {shown.get('group')!r} is not one of {', '.join(GROUPS)}")
        label = shown.get("label") or ""
        if not label or len(label) > 30 or label == name:
            missing.append(f"{name}: needs a short human label (30 characters at most), got {label!r}")
    assert not missing, "\n".join(missing)


def test_options_are_grouped_in_the_order_of_groups_and_of_the_model():
    from app.params import GROUPS, NAMES, describe, grouped

    groups = grouped(describe())
    assert [g for g, _ in groups] == [g for g in GROUPS if g in {r["group"] for r in describe()}]
    for _, rows in groups:
        names = [r["name"] for r in rows]
        assert names == sorted(names, key=NAMES.index)
