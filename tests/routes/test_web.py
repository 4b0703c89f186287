"""GET / and GET /options come from the option model; the page needs nothing from outside."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from fastapi.testclient import TestClient

from app.main import app
from app.params import ACTIONS, DEFAULTS, NAMES, Options, spec_of, text
from app.routes.scripts import SCRIPTS

client = TestClient(app)


class Page(HTMLParser):
    """The page's elements as (tag, attributes), and its text."""

    def __init__(self, html: str):
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data):
        self.text.append(data)

    def by_id(self, ident: str) -> tuple[str, dict[str, str]]:
        return next(e for e in self.elements if e[1].get("id") == ident)

    def all_text(self) -> str:
        return re.sub(r"\s+", " ", "".join(self.text))


def page(query: str = "") -> Page:
    response = client.get(f"/{query}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return Page(response.text)


def test_options_lists_every_option_with_its_type_default_values_and_description():
    document = client.get("/options").json()
    rows = {row["name"]: row for row in document["options"]}
    assert list(rows) == list(NAMES)
    for name, field in Options.model_fields.items():
        row, spec = rows[name], spec_of(name)
        assert row["flag"] == name.replace("_", "-")
        assert row["default"] == text(getattr(DEFAULTS, name))
        assert row["description"] == field.description and row["description"]
        assert row["choices"] == list(spec.choices)
        assert row["pattern"] == spec.pattern
        assert row["type"] == {"bool": "boolean", "int": "integer"}.get(spec.kind, "string")
    assert rows["kube_proxy_mode"]["choices"] == ["iptables", "ipvs", "nftables"]
    assert (rows["weave_mtu"]["minimum"], rows["weave_mtu"]["maximum"], rows["weave_mtu"]["optional"]) == (576, 9000, True)
    assert [a["name"] for a in document["actions"]] == [a.name for a in ACTIONS]
    assert [s["path"] for s in document["scripts"]] == [s.path for s in SCRIPTS]


def test_options_is_cacheable_and_revalidates():
    first = client.get("/options")
    assert first.headers["content-type"] == "application/json"
    again = client.get("/options", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


def test_page_has_a_labelled_control_with_description_for_every_option():
    raw = client.get("/").text
    html = Page(raw)
    labels = {attrs["for"] for tag, attrs in html.elements if tag == "label"}
    for row in client.get("/options").json()["options"]:
        name = row["name"]
        tag, attrs = html.by_id(f"opt-{name}")
        assert f"opt-{name}" in labels, f"{name} has no label"
        assert attrs["name"] == name and attrs["data-default"] == row["default"]
        assert attrs["aria-describedby"] == f"desc-{name} err-{name}"
        assert row["description"].split(" (")[0] in html.all_text()
        if row["kind"] == "bool":
            assert attrs["type"] == "checkbox" and ("checked" in attrs) == (row["default"] == "1")
        elif tag == "select":
            select = re.search(rf'<select id="opt-{name}".*?</select>', raw, re.S).group(0)
            assert re.findall(r"<option(?: selected)?>([^<]*)</option>", select) == row["choices"]
            assert f"<option selected>{row['default']}</option>" in select
        else:
            assert attrs["value"] == row["default"]


def test_strict_choices_are_selects_and_open_ones_are_typed():
    html = page()
    assert html.by_id("opt-kube_proxy_mode")[0] == "select"
    assert html.by_id("opt-weave_version")[0] == "select"
    tag, attrs = html.by_id("opt-kubernetes_version")  # takes 1.37 and also a patch such as 1.37.2
    assert (tag, attrs["list"]) == ("input", "choices-kubernetes_version")


def test_page_prefills_the_form_from_its_query_in_either_spelling():
    html = page("?pod-cidr=10.40.0.0/16&encrypt_network=no&nodelocal_dnscache=yes&kube_proxy_mode=ipvs")
    assert html.by_id("opt-pod_cidr")[1]["value"] == "10.40.0.0/16"
    assert "checked" not in html.by_id("opt-encrypt_network")[1]
    assert "checked" in html.by_id("opt-nodelocal_dnscache")[1]
    selected = [a for t, a in html.elements if t == "option" and "selected" in a]
    assert len(selected) == 4  # kube_proxy_mode, weave_version, firewall and drain


def test_page_loads_nothing_from_outside_the_service():
    response = client.get("/")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    html = Page(response.text)
    urls = [attrs[key] for tag, attrs in html.elements for key in ("src", "href") if key in attrs]
    external = [u for u in urls if re.match(r"^(https?:)?//", u)]
    assert external == [], external
    for tag, attrs in html.elements:
        if tag in ("script", "link") and (attrs.get("src") or attrs.get("href")):
            url = attrs.get("src") or attrs["href"]
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert "immutable" in asset.headers["cache-control"]
            body = asset.text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name, not a load
            assert not re.search(r"@import|(https?:)?//[a-z]", body), url


def test_page_names_the_configured_script_and_every_other_script_route():
    html = page()
    words = html.all_text()
    assert "/kubernetes-init.sha256" in words and "sha256sum -c" in words
    links = {attrs["href"] for tag, attrs in html.elements if tag == "a" and "href" in attrs}
    for script in SCRIPTS:
        if script.path != "/kubernetes-init":
            assert script.path in links and script.summary in words


def test_page_links_the_join_and_troubleshoot_scripts_once_registered(monkeypatch):
    from app.routes import web
    from app.routes.scripts import Script

    others = [Script("/kubernetes-node-join", "Joins this host to a cluster as a worker"),
              Script("/kubernetes-troubleshoot", "Collects what is wrong with a node")]
    monkeypatch.setattr(web, "SCRIPTS", [*SCRIPTS, *others])
    html = page()
    links = {attrs["href"] for tag, attrs in html.elements if tag == "a" and "href" in attrs}
    assert {"/kubernetes-node-join", "/kubernetes-troubleshoot"} <= links
    assert "Joins this host to a cluster as a worker" in html.all_text()


def test_page_uses_the_public_url_from_the_request():
    response = client.get("/", headers={"Host": "kube.example.org:8443"})
    assert 'data-base-url="http://kube.example.org:8443"' in response.text


def test_page_commands_use_the_configured_public_url(settings_env):
    response = settings_env(KUBEINIT_PUBLIC_URL="https://kube.example.org/").get("/", headers={"Host": "10.0.0.5:8000"})
    assert 'data-base-url="https://kube.example.org"' in response.text
    assert "10.0.0.5" not in response.text


def test_unknown_static_file_is_404():
    assert client.get("/static/nothing.js").status_code == 404


def test_head_of_the_page_answers_like_get_without_a_body():
    get, head = client.get("/"), client.head("/")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


def test_options_json_groups_and_labels_like_the_page_and_documents_every_key():
    from fastapi.testclient import TestClient

    from app.main import app
    from app.params import grouped, describe

    client = TestClient(app)
    document = client.get("/options").json()
    assert document["groups"] == [g for g, _ in grouped(describe())]
    assert {row["group"] for row in document["options"]} == set(document["groups"])
    assert all(row["label"] and isinstance(row["advanced"], bool) for row in document["options"])
    described = client.get("/openapi.json").json()["paths"]["/options"]["get"]["description"]
    for key in [*document, *document["options"][0], *document["actions"][0], *document["scripts"][0]]:
        assert f"`{key}`" in described, key
