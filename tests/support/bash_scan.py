"""A small reader of the rendered bash scripts, for the tests that hold a whole class of mistakes
out of them (tests/scripts/test_substitution.py, tests/lib/test_run.py).

It knows what the scripts use: single, double and $'...' quotes, backslashes, comments, ${...},
$((...)), $(...) (nested), and here-documents (a quoted delimiter keeps the body literal; an
unquoted one expands $(...) in it). It is no full bash parser: it finds the command substitutions
that run and the functions that can stop the script.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFINITION = re.compile(r"^([a-z_][a-z0-9_]*)\(\) \{(.*)$", re.M)
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
HEREDOC = re.compile(r"<<-?[ \t]*(\\?)(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")


@dataclass
class Substitution:
    start: int  # index of the "$" of "$("
    end: int  # index just after the closing ")"
    body: str  # the text between "$(" and ")"
    in_heredoc: bool  # in an unquoted here-document's body: part of the document's text


@dataclass
class Script:
    text: str
    substitutions: list[Substitution]
    code: str  # the text with comments, quoted literals and here-document bodies blanked (same length)

    def line_of(self, index: int) -> int:
        return self.text.count("\n", 0, index) + 1

    def line(self, number: int) -> str:
        return self.text.split("\n")[number - 1]


def scan(text: str) -> Script:
    """The command substitutions of a script, and its code with all literal text blanked."""
    subs: list[Substitution] = []
    code = list(text)
    n = len(text)

    def blank(a: int, b: int) -> None:
        for k in range(a, min(b, n)):
            if code[k] != "\n":
                code[k] = " "

    pending: list[tuple[str, bool]] = []  # here-documents whose bodies start at the next newline

    def heredoc_bodies(i: int) -> int:
        """At a newline ending a line that opened here-documents: skip their bodies."""
        while pending:
            delimiter, literal = pending.pop(0)
            body_start = i + 1
            j = body_start
            while j < n:
                eol = text.find("\n", j)
                eol = n if eol < 0 else eol
                if text[j:eol].strip("\t") == delimiter:
                    break
                j = eol + 1
            if literal:
                blank(body_start, j)
            else:
                expanding(body_start, lambda k, end=j: k >= end, True)
            i = text.find("\n", j)
            i = n if i < 0 else i
        return i

    def expanding(i: int, stop, in_heredoc: bool) -> int:
        """Text where quotes are literal but expansions run (inside "...", or an unquoted
        here-document's body): blanks the literal characters, keeps the expansions; returns the
        index where stop(index) holds."""
        while i < n and not stop(i):
            if text.startswith("$((", i):
                i = arith(i + 3)
            elif text.startswith("$(", i):
                i = substitution(i, in_heredoc)
            elif text.startswith("${", i):
                i = braces(i + 2)
            else:
                step = 2 if text[i] == "\\" else 1
                blank(i, i + step)
                i += step
        return i

    def substitution(i: int, in_heredoc: bool) -> int:
        end = words(i + 2, ")")
        subs.append(Substitution(i, end, text[i + 2:end - 1], in_heredoc))
        return end

    def arith(i: int) -> int:
        depth = 2
        while i < n and depth:
            if text.startswith("$(", i) and not text.startswith("$((", i):
                i = substitution(i, False)
                continue
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        return i

    def braces(i: int) -> int:
        """Inside ${...}: quotes and nested expansions, to the matching }."""
        while i < n and text[i] != "}":
            i = one(i, "}")
        return i + 1

    def one(i: int, closer: str) -> int:
        """One step of code: returns the next index."""
        c = text[i]
        if c == "\\":
            return i + 2
        if c == "'":
            end = text.find("'", i + 1)
            end = n if end < 0 else end
            blank(i + 1, end)
            return end + 1
        if text.startswith("$'", i):
            j = i + 2
            while j < n and text[j] != "'":
                j += 2 if text[j] == "\\" else 1
            blank(i + 2, j)
            return j + 1
        if c == '"':
            return expanding(i + 1, lambda k: text[k] == '"', False) + 1
        if text.startswith("$((", i):
            return arith(i + 3)
        if text.startswith("$(", i):
            return substitution(i, False)
        if text.startswith("${", i):
            return braces(i + 2)
        if c == "#" and (i == 0 or text[i - 1] in " \t\n;(") and closer != "}":
            end = text.find("\n", i)
            end = n if end < 0 else end
            blank(i, end)
            return end
        if c == "<" and text.startswith("<<", i) and not text.startswith("<<<", i):
            m = HEREDOC.match(text, i)
            if m:
                pending.append((m.group(3), bool(m.group(1) or m.group(2))))
                return m.end()
        if c == "\n" and pending:
            return heredoc_bodies(i)
        return i + 1

    def words(i: int, closer: str) -> int:
        """Code up to the closer that matches (")" of "$(" here), returning the index after it."""
        depth = 0
        while i < n:
            c = text[i]
            if c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    return i + 1
                depth -= 1
            j = one(i, closer)
            i = j if j > i else i + 1
        return n

    i = 0
    while i < n:
        j = one(i, "")
        i = j if j > i else i + 1
    subs.sort(key=lambda s: s.start)
    return Script(text, subs, "".join(code))


def functions(script: Script) -> dict[str, str]:
    """Each function's code (comments and literal text blanked), by name."""
    out: dict[str, str] = {}
    for m in DEFINITION.finditer(script.code):
        rest = m.group(2)
        if rest.rstrip().endswith("}"):  # a one-line function
            out[m.group(1)] = rest
            continue
        end = script.code.find("\n}", m.end())
        out[m.group(1)] = script.code[m.end():end if end >= 0 else len(script.code)]
    return out


def calls(code: str, names: set[str]) -> set[str]:
    """The names among `names` that this code calls as commands (first word of a command)."""
    found = set()
    for m in WORD.finditer(code):
        if m.group() not in names:
            continue
        before = code[:m.start()].rstrip(" \t")
        if not before or before[-1] in "\n;&|({!" or re.search(r"(^|\s)(then|do|else|time)$", before):
            if m.end() == len(code) or code[m.end()] in " \t\n;)|&":
                found.add(m.group())
    return found


def can_stop(script: Script) -> set[str]:
    """The functions that can stop the script (exit non-zero), directly or through those they call."""
    bodies = functions(script)
    stopping = {name for name, body in bodies.items() if re.search(r"(^|[\s;])exit +([1-9]|\"?\$)", body)}
    # a function that runs the command it is given ("$@", "$1": run, step) can stop as that command can
    stopping |= {name for name, body in bodies.items() if re.search(r"(^|\n)\s*\"\$[1@]\"", body)}
    changed = True
    while changed:
        changed = False
        for name, body in bodies.items():
            if name not in stopping and calls(body, stopping):
                stopping.add(name)
                changed = True
    return stopping
