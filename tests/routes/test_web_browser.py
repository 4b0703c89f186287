"""The configurator in headless Chromium (Debian's package) against a real uvicorn.

Screenshots of the page at phone and desktop widths go to artifacts/ for review.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from app.params import canonical_query, describe, grouped, parse_pairs
from tests.support import Stubs, run_bash

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium (tests/debian-packages.txt)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        browser.close()


def open_page(browser: Browser, url: str, viewport: dict[str, int] = DESKTOP, scheme: str = "light") -> Page:
    """The page, loaded and showing its first script; it fails the test on any script error or outside request."""
    context = browser.new_context(viewport=viewport, color_scheme=scheme,
                                  permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.problems = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
    expected = "the server responded with a status of 400"  # the API's answer to invalid options
    page.on("console", lambda m: m.type == "error" and expected not in m.text and page.problems.append(m.text))
    origin = url.split("/", 3)[:3]
    page.on("request", lambda r: r.url.split("/", 3)[:3] != origin and page.problems.append(f"outside: {r.url}"))
    page.goto(url)
    expect(page.locator("#preview")).to_have_attribute("aria-busy", "false")
    return page


@pytest.fixture
def page(browser: Browser, live_server: str) -> Iterator[Page]:
    page = open_page(browser, f"{live_server}/")
    yield page
    assert page.problems == []  # type: ignore[attr-defined]
    page.context.close()


LABELS = {row["name"]: row["label"] for row in describe()}


def option(page: Page, name: str):
    """An option's control, found by its human label as a user finds it; an advanced option's fold is
    opened first, as a user would."""
    control = page.get_by_label(LABELS[name], exact=True)
    if not control.is_visible():
        page.locator(f"details:has(#opt-{name}) > summary").click()
    return control


def command(page: Page, which: str = "pipe") -> str:
    return page.locator(f"#cmd-{which}").text_content() or ""


def expected_pipe(base: str, **options: str) -> str:
    """The command the model says these options give: the canonical query of the non-default ones."""
    query = canonical_query(parse_pairs(options.items()))
    url = f"{base}/kubernetes-init" + (f"?{query}" if query else "")
    return f"curl -sSL {shlex.quote(url)} | sudo bash"


def fetch(url: str, accept: str = "*/*") -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": accept}), timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_each_kind_of_option_updates_the_command(page: Page, live_server: str):
    pipe = page.locator("#cmd-pipe")
    expect(pipe).to_have_text(expected_pipe(live_server))

    option(page, "nodelocal_dnscache").check()  # bool, off by default
    expect(pipe).to_have_text(expected_pipe(live_server, nodelocal_dnscache="1"))
    option(page, "encrypt_network").uncheck()  # bool, on by default: goes first, in model order
    expect(pipe).to_have_text(expected_pipe(live_server, encrypt_network="0", nodelocal_dnscache="1"))

    option(page, "kube_proxy_mode").select_option("ipvs")  # strict choice
    option(page, "kubernetes_version").fill("1.36.4")  # open choice, typed
    option(page, "pod_cidr").fill("10.40.0.0/16")  # text: CIDR
    chosen = {"encrypt_network": "0", "nodelocal_dnscache": "1", "kube_proxy_mode": "ipvs",
              "kubernetes_version": "1.36.4", "pod_cidr": "10.40.0.0/16"}
    expect(pipe).to_have_text(expected_pipe(live_server, **chosen))
    assert command(page, "flags") == (
        f"curl -sSL {live_server}/kubernetes-init | sudo bash -s encrypt-network=0 nodelocal-dnscache=1 "
        "kubernetes-version=1.36.4 pod-cidr=10.40.0.0/16 kube-proxy-mode=ipvs"
    )
    query = canonical_query(parse_pairs(chosen.items()))
    assert command(page, "verify") == (
        f"curl -fsSL -o kubernetes-init.sh '{live_server}/kubernetes-init?{query}' &&\n"
        f"  curl -fsSL '{live_server}/kubernetes-init.sha256?{query}' | sha256sum -c - &&\n"
        "  sudo bash kubernetes-init.sh"
    )
    assert page.url == f"{live_server}/?{query}"  # the page's own URL keeps the choice (bookmarkable)

    option(page, "pod_cidr").fill("10.32.0.0/12")  # back to its default: out of the query
    del chosen["pod_cidr"]
    expect(pipe).to_have_text(expected_pipe(live_server, **chosen))
    page.get_by_role("button", name="Reset to defaults").click()
    expect(pipe).to_have_text(expected_pipe(live_server))
    expect(option(page, "nodelocal_dnscache")).not_to_be_checked()


def test_reloading_the_page_keeps_the_options(browser: Browser, live_server: str):
    page = open_page(browser, f"{live_server}/?weave-version=2.9.0&nodelocal_dnscache=yes")
    expect(page.locator("#cmd-pipe")).to_have_text(expected_pipe(live_server, nodelocal_dnscache="1", weave_version="2.9.0"))
    expect(option(page, "weave_version")).to_have_value("2.9.0")
    assert page.problems == []  # type: ignore[attr-defined]
    page.context.close()


def test_the_commands_fetch_exactly_the_previewed_script(page: Page, live_server: str, tmp_path: Path):
    option(page, "nodelocal_dnscache").check()
    option(page, "service_cidr").fill("10.100.0.0/16")
    option(page, "weave_mtu").fill("1400")
    expect(page.locator("#cmd-pipe")).to_contain_text("weave_mtu=1400")
    expect(page.locator("#preview")).to_contain_text("WEAVE_MTU=1400")
    preview = page.locator("#preview").text_content()
    assert preview is not None

    url = re.search(r"'(http[^']+)'", command(page, "pipe")).group(1)
    status, body = fetch(url)
    assert status == 200 and body.decode() == preview
    assert page.locator("#preview-sha256").text_content() == hashlib.sha256(body).hexdigest()

    # Each command as copied, run by bash with a recording `sudo`: it hands bash the previewed script.
    stubs = Stubs(tmp_path / "stubs", ["sudo"])
    env = {**stubs.env(), "HOME": str(tmp_path)}
    for which in ("pipe", "verify", "flags"):
        ran = subprocess.run(["bash", "-euc", command(page, which)], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=30, check=False)
        assert ran.returncode == 0, (which, ran.stderr)
    pipe_call, verify_call, flags_call = stubs.calls()
    assert pipe_call == ["sudo", "bash"]
    assert (stubs.log.parent / "calls.log.stdin.0").read_text() == preview
    assert verify_call == ["sudo", "bash", "kubernetes-init.sh"]
    assert (tmp_path / "kubernetes-init.sh").read_text() == preview

    # The flags form runs the plain script; with its flags it resolves the same settings.
    assert flags_call[:3] == ["sudo", "bash", "-s"]
    plain = (stubs.log.parent / "calls.log.stdin.2").read_text()
    assert plain == fetch(f"{live_server}/kubernetes-init")[1].decode()

    def settings(script: str, *flags: str) -> str:
        run = run_bash(script, *flags, "dry-run", as_nobody=True)
        assert run.returncode == 0, run.stderr
        return next(line for line in run.stderr.splitlines() if "settings:" in line)

    assert settings(plain, *flags_call[3:]) == settings(preview)


def test_copy_buttons_put_each_command_on_the_clipboard(page: Page):
    option(page, "encrypt_network").uncheck()
    expect(page.locator("#cmd-pipe")).to_contain_text("encrypt_network=0")
    for which in ("pipe", "flags", "verify"):
        button = page.locator(f"button[data-copy=cmd-{which}]")
        if which == "pipe":
            button.focus()  # by keyboard
            page.keyboard.press("Enter")
        else:
            button.click()
        expect(button).to_have_text("Copied")
        assert page.evaluate("() => navigator.clipboard.readText()") == command(page, which)
    expect(page.locator("#status")).to_contain_text("Copied")


def test_copy_works_without_the_clipboard_api(browser: Browser, live_server: str):
    """Plain http on a LAN address is no secure context: no navigator.clipboard, the page falls back."""
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.add_init_script("delete Navigator.prototype.clipboard")
    page.goto(f"{live_server}/?cluster_domain=example.internal")
    expect(page.locator("#cmd-pipe")).to_contain_text("cluster_domain=example.internal")
    assert page.evaluate("() => 'clipboard' in navigator") is False
    page.locator("button[data-copy=cmd-pipe]").click()
    expect(page.locator("button[data-copy=cmd-pipe]")).to_have_text("Copied")
    reader = context.new_page()
    reader.goto(f"{live_server}/healthz")
    assert reader.evaluate("() => navigator.clipboard.readText()") == command(page, "pipe")
    context.close()


def test_invalid_input_shows_the_api_message(page: Page, live_server: str):
    def api_messages(query: str) -> dict[str, str]:
        status, body = fetch(f"{live_server}/kubernetes-init?{query}", accept="application/json")
        assert status == 400
        return {d["option"]: d["message"] for d in json.loads(body)["detail"]}

    field = option(page, "pod_cidr")
    for bad in ("10.32.0.1/12", "10.32.0.0/33", "banana"):
        field.fill(bad)
        message = api_messages(f"pod_cidr={bad}")["pod_cidr"]
        expect(page.locator("#err-pod_cidr")).to_have_text(message)
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#problems")).to_contain_text(f"pod_cidr: {message}")
        expect(page.locator("button[data-copy=cmd-pipe]")).to_be_disabled()

    # A rule across fields: the message comes from the API too, on the field it names.
    field.fill("10.32.0.0/12")
    option(page, "service_cidr").fill("10.32.0.0/16")
    message = api_messages("service_cidr=10.32.0.0/16")["service_cidr"]
    expect(page.locator("#err-service_cidr")).to_have_text(message)
    expect(page.locator("#err-pod_cidr")).to_have_text("")

    option(page, "service_cidr").fill("10.96.0.0/12")
    expect(page.locator("#problems")).to_be_hidden()
    expect(page.locator("button[data-copy=cmd-pipe]")).to_be_enabled()
    expect(option(page, "service_cidr")).not_to_have_attribute("aria-invalid", "true")


def test_keyboard_focus_is_visible(page: Page):
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the commands")
    expect(skip).to_be_focused()
    assert skip.bounding_box()["x"] >= 0  # shown while focused
    page.keyboard.press("Tab")
    first = option(page, describe_first())
    expect(first).to_be_focused()
    assert first.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    checkbox = option(page, "encrypt_network")
    while not checkbox.evaluate("e => e === document.activeElement"):
        page.keyboard.press("Tab")
    assert checkbox.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    page.keyboard.press("Space")
    expect(page.locator("#cmd-pipe")).to_contain_text("encrypt_network=0")


@pytest.mark.parametrize(("name", "viewport", "scheme"),
                         [("phone", PHONE, "light"), ("desktop", DESKTOP, "light"), ("desktop-dark", DESKTOP, "dark")])
def test_screenshots_for_review(browser: Browser, live_server: str, name: str,
                                viewport: dict[str, int], scheme: str):
    page = open_page(browser, f"{live_server}/?nodelocal_dnscache=1&pod_cidr=10.40.0.0/16", viewport, scheme)
    # Readable without sideways scrolling; commands wrap rather than overflow.
    assert page.locator("html").evaluate("e => e.scrollWidth <= window.innerWidth")
    assert page.locator("#cmd-pipe").evaluate("e => e.scrollWidth <= e.clientWidth")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"web-{name}.png")
    page.screenshot(path=ARTIFACTS / f"web-{name}-full.png", full_page=True)
    option(page, "service_cidr").fill("10.40.0.0/20")
    expect(page.locator("#err-service_cidr")).not_to_be_empty()
    page.locator("#options-title").scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / f"web-{name}-error.png")
    for suffix in ("", "-full", "-error"):
        assert (ARTIFACTS / f"web-{name}{suffix}.png").stat().st_size > 10_000
    assert page.problems == []  # type: ignore[attr-defined]
    page.context.close()


def describe_first() -> str:
    """The option the page shows first: the first of the first group that is not folded away."""
    return next(r["name"] for _, rows in grouped(describe()) for r in rows if not r["advanced"])


def test_options_are_grouped_labelled_and_named(page: Page):
    groups = grouped(describe())
    assert page.locator("fieldset.group > legend").all_text_contents() == [g for g, _ in groups]
    for group, rows in groups:
        fieldset = page.locator(f"fieldset.group:has(> legend:text-is('{group}'))")
        for row in rows:
            control = fieldset.get_by_label(row["label"], exact=True)  # the accessible name is the label
            expect(control).to_have_id(f"opt-{row['name']}")
            if row["advanced"]:
                expect(control).to_be_hidden()  # folded until opened
            else:
                expect(control).to_be_visible()
        if any(row["advanced"] for row in rows):
            fieldset.locator("details > summary").click()
        for row in rows:
            expect(fieldset.get_by_label(row["label"], exact=True)).to_be_visible()
            names = fieldset.locator(f".field[data-option={row['name']}] .names")
            expect(names).to_have_text(f"query {row['name']} · flag {row['flag']}")


def test_copy_buttons_say_what_they_copy(page: Page):
    for which, title in (("pipe", "Run it"), ("flags", "Or pass the options as flags"),
                         ("verify", "Or download, verify, then run")):
        button = page.get_by_role("button", name=f"Copy the command: {title}", exact=True)
        assert button.get_attribute("data-copy") == f"cmd-{which}"


def test_the_preview_size_and_sha256_show_without_scrolling_at_1440x900(browser: Browser, live_server: str):
    page = open_page(browser, f"{live_server}/?nodelocal_dnscache=1", DESKTOP)
    panel = page.locator("#commands").bounding_box()
    for part in ("#preview-size", "#preview-sha256"):
        expect(page.locator(part)).not_to_be_empty()
        box = page.locator(part).bounding_box()
        assert box["y"] + box["height"] <= min(panel["y"] + panel["height"], DESKTOP["height"]), part
    assert page.locator("#commands").evaluate("e => e.scrollTop") == 0
    page.context.close()


def test_docs_render_the_api_from_the_service_alone(browser: Browser, live_server: str):
    """Swagger UI draws the operations with no request outside the service and no CSP violation
    (open_page counts console errors, which is where Chromium reports those)."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    problems: list[str] = []
    origin = live_server.split("/", 3)[:3]
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("request", lambda r: r.url.split("/", 3)[:3] != origin and problems.append(f"outside: {r.url}"))
    page.goto(f"{live_server}/docs")
    expect(page.locator(".opblock-summary-path", has_text="/kubernetes-init").first).to_be_visible(timeout=15000)
    expect(page.locator(".opblock-summary-path", has_text="/options")).to_be_visible()
    assert problems == []
    context.close()


def test_with_signing_on_the_verify_command_checks_the_signature(browser: Browser, tmp_path: Path):
    from tests.conftest import start_uvicorn

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "key")], check=True)
    proc, url = start_uvicorn({"KUBEINIT_SIGNING_KEY": str(tmp_path / "key")})
    try:
        page = open_page(browser, f"{url}/?nodelocal_dnscache=1")
        verify = command(page, "verify")
        assert "ssh-keygen -Y verify -f allowed_signers -I kubeinit -n kubeinit -s kubernetes-init.sh.sig" in verify
        assert f"'{url}/kubernetes-init.sig?nodelocal_dnscache=1'" in verify
        assert "  bash kubernetes-init.sh check-query=nodelocal_dnscache=1 &&\n" in verify
        (tmp_path / "allowed_signers").write_bytes(fetch(f"{url}/kubeinit.pub")[1])
        stubs = Stubs(tmp_path / "stubs", ["sudo"])
        ran = subprocess.run(["bash", "-euc", verify], cwd=tmp_path, env={**stubs.env(), "HOME": str(tmp_path)},
                             capture_output=True, text=True, timeout=30, check=False)
        assert ran.returncode == 0, ran.stderr
        assert stubs.calls() == [["sudo", "bash", "kubernetes-init.sh"]]
        assert (tmp_path / "kubernetes-init.sh").read_text() == page.locator("#preview").text_content()
        assert page.problems == []  # type: ignore[attr-defined]
        page.context.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
