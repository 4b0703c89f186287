"""The README's generated blocks: the option table, the actions and the settings table.

Run ``python3 -m app.docs [README]`` after changing the option model or the settings; a test
(tests/test_docs.py) keeps the README in step."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from app.params import ACTIONS, describe, grouped
from app.settings import ENV_PREFIX, Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def options_table() -> str:
    """The README's option table."""
    lines = ["| option | query / flag | value | default | meaning |", "| --- | --- | --- | --- | --- |"]
    for group, rows in grouped(describe()):
        lines.append(f"| **{group}** | | | | |")
        for row in rows:
            default = f"`{row['default']}`" if row["default"] else "(unset)"
            lines.append(f"| {row['label']} | `{row['name']}` / `{row['flag']}` | {row['placeholder']} | {default} | "
                         f"{row['description']} |")
    return "\n".join(lines) + "\n"


def actions_list() -> str:
    """The README's list of actions."""
    return "".join(f"- `{a.usage}`: {a.description}\n" for a in ACTIONS)


def settings_table() -> str:
    """The README's table of deploy-time settings."""
    lines = ["| environment variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = "(unset)" if default is None else f"`{json.dumps(default, default=str) if isinstance(default, (dict, list)) else default}`"
        lines.append(f"| `{ENV_PREFIX}{name.upper()}` | {shown} | {field.description} |")
    return "\n".join(lines) + "\n"


def readme_blocks() -> dict[str, str]:
    """The README's generated blocks, by marker name."""
    return {"options": options_table(), "actions": actions_list(), "settings": settings_table()}


def update(readme: Path = README) -> None:
    text = readme.read_text()
    for marker, block in readme_blocks().items():
        start, end = f"<!-- {marker}:start -->\n", f"<!-- {marker}:end -->"
        head, rest = text.split(start, 1)
        text = head + start + block + end + rest.split(end, 1)[1]
    readme.write_text(text)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else README
    update(target)
    print(f"updated {target}")
