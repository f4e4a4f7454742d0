"""Write a spec as a commented TOML file (qbroles init): the inverse of spec.load_spec.

The standard library reads TOML but does not write it. Specs hold only tables, arrays,
strings, integers and booleans, so a small writer suffices; the tests check that
``tomllib`` reads back exactly what it wrote, for any such data. (Why not tomlkit:
CONTRIBUTING.md.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from qbroles.catalog import RoleKind
from qbroles.files import check_encodable
from qbroles.spec.model import RoleSpec, Spec

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

# What each key means, written above it in the file.
_COMMENTS = {
    "name": "The IAM role name (1-64 of letters, digits and _+=,.@-).",
    "kind": 'What ECS uses the role for: "execution" or "task" (verify --task-definition, '
    "outputs).",
    "description": "The role's description in IAM.",
    "trusted_service": "The service that may assume the role (sts:AssumeRole).",
    "source_conditions": "true: only on behalf of this account (aws:SourceAccount and "
    "aws:SourceArn; confused-deputy protection). AWS documents them for the task role; on "
    "an execution role they are reported.",
    "path": "IAM path; IAM cannot move a role, so a new path means delete and create.",
    "max_session_duration": "Seconds, 3600 to 43200.",
    "managed_policies": "AWS managed policies by path/name, or any managed policy by ARN "
    "(at most 20). To cap what the role may do, add permissions_boundary = (path/name or ARN).",
    "permissions_boundary": "A managed policy capping what the role may do.",
    "tags": "Your tags; qbroles adds ManagedBy = qbroles and its record qbroles:tags itself.",
    "inline_policies": "Inline policies: name = policy document (a table, as below, or the "
    "path of a JSON file). Strings may hold {partition}, {region} and {account}.",
}


def spec_data(spec: Spec) -> dict[str, Any]:
    """Return a spec as the data of a spec file; ``parse_spec`` of it gives the spec back.

    Names and descriptions are written as they were given, ``{app}`` and all, so the file
    still follows --app.
    """
    return {"app": spec.app, "role": [_role_data(role) for role in spec.roles]}


def _role_data(role: RoleSpec) -> dict[str, Any]:
    name, description = role.written or (role.name, role.description)
    data: dict[str, Any] = {"name": name}
    if role.kind is not None:
        data["kind"] = role.kind.value
    data |= {
        "description": description,
        "trusted_service": role.trusted_service,
        "source_conditions": role.source_conditions,
        "path": role.path,
        "max_session_duration": role.max_session_duration,
        "managed_policies": list(role.managed_policies),
    }
    if role.permissions_boundary is not None:
        data["permissions_boundary"] = role.permissions_boundary
    data["tags"] = dict(role.tags)
    data["inline_policies"] = dict(role.inline_policies)
    return data


def commented_toml(
    spec: Spec,
    origin: str,
    notes: Mapping[str, Sequence[str]] | None = None,
    writer: str = "qbroles init",
) -> str:
    """Return the spec as a TOML file, each setting explained by a comment above it;
    ``notes``: comment lines above each policy statement, by its Sid (tighten's evidence)."""
    data = spec_data(spec)
    lines = [
        "# qbroles spec: the IAM roles qbroles creates, verifies and deletes.",
        f"# Written by {writer} from {origin}. As ./qbroles.toml every command in",
        "# its folder reads it (unless --spec or --preset is given); elsewhere, use it with:",
        "#   qbroles --spec FILE plan      # what create would change",
        "#   qbroles --spec FILE create",
        "# {app} in a name or description stands for the application name below (or --app).",
        "",
        "# The application name, for {app}.",
        f"app = {_value(data['app'])}",
    ]
    for index, role in enumerate(data["role"]):
        kind = role.get("kind")
        title = f"{RoleKind(kind).heading}: {RoleKind(kind).purpose}." if kind else "A role."
        lines += ["", *_comment(title), "[[role]]"]
        _table(["role"], role, lines, comments=index == 0, notes=notes or {})
    return "\n".join(lines) + "\n"


def dumps(data: Mapping[str, Any]) -> str:
    """Return TOML for a table of tables, arrays, strings, integers and booleans."""
    lines: list[str] = []
    _table([], data, lines)
    return "\n".join(lines) + "\n"


def _table(
    path: list[str],
    table: Mapping[str, Any],
    out: list[str],
    *,
    comments: bool = False,
    notes: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Append one table's body to ``out``: its values first, then its sub-tables (an item
    whose Sid ``notes`` has, under those comment lines)."""
    notes = notes or {}
    for key, value in table.items():
        if _kind(value) == "value":
            if comments and key in _COMMENTS:
                out += _comment(_COMMENTS[key])
            out.append(f"{_key(key)} = {_value(value)}")
    for key, value in table.items():
        where = [*path, key]
        header = ".".join(map(_key, where))
        if _kind(value) == "value":
            continue
        if comments and key in _COMMENTS:
            out += ["", *_comment(_COMMENTS[key])]
        if _kind(value) == "array":
            for item in value:
                noted = notes.get(item.get("Sid", ""), ())
                said = [line for note in noted for line in _comment(note)]
                out += [*_gap(out), *said, f"[[{header}]]"]
                _table(where, item, out, notes=notes)
        elif any(_kind(v) == "value" for v in value.values()):
            out += [*_gap(out), f"[{header}]"]
            _table(where, value, out, notes=notes)
        else:  # only sub-tables: TOML defines this table implicitly
            _table(where, value, out, notes=notes)


def _gap(lines: list[str]) -> list[str]:
    """Return the blank line that goes before a table header, unless a comment leads it."""
    return [] if not lines or lines[-1].startswith("#") else [""]


def _comment(text: str) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=88, initial_indent="# ", subsequent_indent="# ")


def _kind(value: Any) -> str:
    """Return how a value is written: "table" and "array" (of tables) get headers."""
    if isinstance(value, Mapping) and value:
        return "table"
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        return "array"
    return "value"


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        items = [_value(item) for item in value]
        if len(items) > 1 and sum(len(item) + 2 for item in items) > 60:
            return "[\n" + "".join(f"  {item},\n" for item in items) + "]"
        return "[" + ", ".join(items) + "]"
    if isinstance(value, Mapping):
        pairs = ", ".join(f"{_key(key)} = {_value(item)}" for key, item in value.items())
        return f"{{ {pairs} }}" if pairs else "{}"
    raise TypeError(f"a spec holds no {type(value).__name__} values")


def _string(text: str) -> str:
    """Return a TOML basic string: JSON's escapes are TOML's, but DEL must be escaped too."""
    check_encodable(text, "TOML")
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")
