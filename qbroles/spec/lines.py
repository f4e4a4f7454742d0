"""Where in a file a setting is: the line of a spec's key, or of a task definition's field.

qbroles check and the CI reports anchor each problem to a line, as a compiler does. The
loaders say where a problem is the way a person reads it ("role 2 (Api): key 'path'",
"containerDefinitions[0].image"); this finds that place in the text.
"""

from __future__ import annotations

import json
import re

_ROLE = re.compile(r"\s*\[\[\s*role\s*\]\]")
_AT_LINE = re.compile(r"\bline (\d+)")


def toml_line(text: str, message: str) -> int | None:
    """Return the line of the spec file that ``message`` (a spec loader's) is about: the
    key it names, in the role it names; the role's header if the key is not written."""
    found = _AT_LINE.search(message)
    if found:  # tomllib's own: "(at line 6, column 24)"
        return int(found.group(1))
    lines = text.splitlines()
    role = re.search(r"\brole (\d+)\b", message)
    key = re.search(r"\bkey '([^']+)'", message)
    start, end = 0, len(lines)
    if role:
        headers = [number for number, line in enumerate(lines) if _ROLE.match(line)]
        index = int(role.group(1)) - 1
        if not 0 <= index < len(headers):
            return None
        start = headers[index]
        end = headers[index + 1] if index + 1 < len(headers) else len(lines)
    if key:
        name = re.escape(key.group(1).split(".")[0])
        setting = re.compile(rf"\s*(?:{name}|\"{name}\")\s*=|\s*\[+\s*role\.{name}\b")
        for number in range(start, end):
            if setting.match(lines[number]) and (role or not _before_any_table(lines, number)):
                return number + 1
    return start + 1 if role else None


def _before_any_table(lines: list[str], number: int) -> bool:
    return any(line.lstrip().startswith("[") for line in lines[:number])


def json_line(text: str, path: str) -> int | None:
    """Return the line where the value at ``path`` ("containerDefinitions[0].image")
    starts in the JSON text, or None if the text does not hold it."""
    steps: list[str | int] = [
        int(part[1:-1]) if part.startswith("[") else part
        for part in re.findall(r"\[\d+\]|[^.\[\]]+", path)
    ]
    try:
        offset = _find(text, _skip(text, 0), steps)
    except (ValueError, IndexError):
        return None
    return None if offset is None else text.count("\n", 0, offset) + 1


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def _find(text: str, at: int, steps: list[str | int]) -> int | None:
    """Return the offset of the value the steps lead to from the value at ``at``."""
    if not steps:
        return at
    step, rest = steps[0], steps[1:]
    opener = text[at]
    if opener == "{" and isinstance(step, str):
        at = _skip(text, at + 1)
        while text[at] != "}":
            key, at = json.decoder.scanstring(text, at + 1)  # type: ignore[attr-defined]
            at = _skip(text, _skip(text, at) + 1)  # past the colon
            if key == step:
                return _find(text, at, rest)
            at = _skip(text, _end(text, at))
            at = _skip(text, at + 1) if text[at] == "," else at
        return None
    if opener == "[" and isinstance(step, int):
        at, index = _skip(text, at + 1), 0
        while text[at] != "]":
            if index == step:
                return _find(text, at, rest)
            at = _skip(text, _end(text, at))
            at = _skip(text, at + 1) if text[at] == "," else at
            index += 1
    return None


def _end(text: str, at: int) -> int:
    """Return the offset just past the JSON value starting at ``at``."""
    _, end = json.JSONDecoder().raw_decode(text, at)
    return int(end)
