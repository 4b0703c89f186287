"""A small reader of the Dockerfile, enough for the tests to check it and to run the app as the image does."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, ENV, ...
    args: str  # the rest, continuation lines joined


def instructions(path: Path = DOCKERFILE) -> list[Instruction]:
    result = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        result.append(Instruction(keyword.upper(), args.strip()))
        pending = ""
    return result


def of(keyword: str, path: Path = DOCKERFILE) -> list[str]:
    return [i.args for i in instructions(path) if i.keyword == keyword]


def exec_form(args: str) -> list[str]:
    """CMD/ENTRYPOINT/HEALTHCHECK CMD in JSON (exec) form as argv; shell form is refused."""
    argv = json.loads(args)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), args
    return argv


def env() -> dict[str, str]:
    """Every ENV of the image, in order (KEY=VALUE form)."""
    values: dict[str, str] = {}
    for args in of("ENV"):
        for word in shlex.split(args):
            key, sep, value = word.partition("=")
            assert sep, f"ENV {args}: use KEY=VALUE"
            values[key] = value
    return values


def command() -> list[str]:
    (cmd,) = of("CMD")
    return exec_form(cmd)


def workdir() -> str:
    (directory,) = of("WORKDIR")
    return directory


def copies() -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY, flags dropped."""
    result = []
    for args in of("COPY"):
        words = [w for w in shlex.split(args) if not w.startswith("--")]
        result.append((words[:-1], words[-1]))
    return result
