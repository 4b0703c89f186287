"""Each bash module (templates/lib) opens with its interface: what it is for, the functions it
offers, the functions of other modules it calls, and the host files it writes. These tests hold
that comment to the code, so it cannot go stale."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.rendering import TEMPLATES
from tests.support import render_script

LIB = TEMPLATES / "lib"
MODULES = sorted(p.name.removesuffix(".sh.j2") for p in LIB.glob("*.sh.j2"))
DEFINITION = re.compile(r"^([a-z_][a-z0-9_]*)\(\) \{", re.M)


def interface(module: str) -> dict[str, str]:
    """The fields of a module's opening {## ... ##} comment: summary, offers, uses, writes."""
    text = (LIB / f"{module}.sh.j2").read_text()
    match = re.match(r"\{##\n(.*?)\n##\}\n", text, re.S)
    assert match, f"templates/lib/{module}.sh.j2 does not open with its interface comment"
    fields: dict[str, str] = {}
    key = "summary"
    for line in match.group(1).splitlines():
        head = re.match(r"(offers|uses|writes):\s*(.*)", line)
        if head:
            key, line = head.group(1), head.group(2)
        fields[key] = (fields.get(key, "") + " " + line.strip()).strip()
    return fields


def defined(module: str) -> list[str]:
    return DEFINITION.findall((LIB / f"{module}.sh.j2").read_text())


OWNER = {function: module for module in MODULES for function in defined(module)}


def code_words(text: str) -> set[str]:
    """The words of bash code, outside comments and outside the literal text of quoted strings
    (command substitutions inside double quotes count: they run)."""
    text = re.sub(r"\{##.*?##\}", "", text, flags=re.S)
    out, i, depth_quote = [], 0, []  # depth_quote: a stack of contexts, '"' or '$('
    while i < len(text):
        c = text[i]
        in_dq = bool(depth_quote) and depth_quote[-1] == '"'
        if c == "\\":
            i += 2
            continue
        if not in_dq and c == "'":
            i = text.index("'", i + 1) + 1 if "'" in text[i + 1:] else len(text)
            continue
        if not in_dq and c == "#" and (i == 0 or text[i - 1] in " \t\n;"):
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
            continue
        if text.startswith("$(", i):
            depth_quote.append("$(")
            out.append(" ")
            i += 2
            continue
        if c == ")" and depth_quote and depth_quote[-1] == "$(":
            depth_quote.pop()
        elif c == '"':
            if in_dq:
                depth_quote.pop()
            else:
                depth_quote.append('"')
            out.append(" ")
            i += 1
            continue
        out.append(" " if in_dq else c)
        i += 1
    return set(re.findall(r"(?<![\w-])[a-z_][a-z0-9_]*(?![\w-])", "".join(out)))


def uses(module: str) -> dict[str, str]:
    """{function: module} from the 'uses' line: 'f g (run, log); h (network)' style groups."""
    listed: dict[str, str] = {}
    for group in filter(None, (g.strip() for g in interface(module).get("uses", "").split(";"))):
        match = re.fullmatch(r"([a-z0-9_ ]+) \(([a-z_]+)\)", group)
        assert match, f"{module}: uses group {group!r} is not 'function... (module)'"
        for function in match.group(1).split():
            listed[function] = match.group(2)
    return listed


@pytest.mark.parametrize("module", MODULES)
def test_offers_lists_exactly_the_functions_the_module_defines(module):
    offered = interface(module).get("offers", "").split()
    assert offered == defined(module) or (offered == ["nothing"] and not defined(module))


@pytest.mark.parametrize("module", MODULES)
def test_uses_names_each_call_into_another_module_with_its_module(module):
    listed = uses(module)
    called = {f: OWNER[f] for f in code_words((LIB / f"{module}.sh.j2").read_text()) if f in OWNER and OWNER[f] != module}
    assert listed == called, f"{module}: the uses line says {listed}, the code calls {called}"


@pytest.mark.parametrize("module", MODULES)
def test_every_module_says_what_it_is_for_and_what_it_writes(module):
    fields = interface(module)
    assert fields.get("summary", "").startswith(f"{module}: "), fields
    assert fields.get("writes"), f"{module}: no writes line (say 'nothing' when it writes nothing)"
    for path in re.findall(r"(/(?:etc|var|opt|root|usr|run)/[\w./*-]+)", fields["writes"]):
        source = (LIB / f"{module}.sh.j2").read_text()
        stem = path.rstrip("*/").rsplit("/", 1)[-1].split("*")[0]
        assert stem in source, f"{module}: writes {path}, which its code never names"


@pytest.mark.parametrize("script", ["kubernetes-init", "kubernetes-node-join", "kubernetes-troubleshoot",
                                    "kubernetes-airgap-bundle"])
def test_every_function_a_rendered_script_calls_is_defined_in_it(script):
    """Each entry script includes the modules its calls need: none calls a function it left out."""
    body = render_script(f"scripts/{script}.sh.j2")
    missing = sorted(f for f in code_words(body) if f in OWNER and f not in DEFINITION.findall(body))
    # a word in command position that looks like a module function (module_verb) but no module defines
    prefixes = {f.split("_", 1)[0] for f in OWNER if "_" in f}
    called = set(re.findall(r"(?:^|[;&|({]|\$\(|\bthen|\bdo|\belse|!)\s*([a-z]+_[a-z0-9_]+)(?=\s|$|\)|;)", body, re.M))
    undefined = sorted(f for f in called if f.split("_", 1)[0] in prefixes and f not in DEFINITION.findall(body)
                       and f in code_words(body) and not re.search(rf"\b{f}=|=\([^)]*\b{f}\b", body))
    assert not undefined, f"{script} calls {undefined}, which no module defines"
    assert not missing, f"{script} calls {missing}, defined in modules it does not include"
