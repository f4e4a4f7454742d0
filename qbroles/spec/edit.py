"""Edit a spec file in place (tighten --write): the tightened roles' values replaced, the
user's comments, order and other settings kept (tomlkit, which edits TOML keeping its
layout; CONTRIBUTING.md says why init writes its files itself).

Only the values tighten changes are touched: each role's ``managed_policies``,
``inline_policies`` and ``source_conditions``. The result is read back with the
standard library and must give exactly the tightened spec; else the commented file is
written whole, and the caller says so.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

from qbroles.spec.load import parse_spec
from qbroles.spec.model import Spec
from qbroles.spec.write import commented_toml, spec_data

CHANGED = ("source_conditions", "managed_policies", "inline_policies")


def edited(
    old: str, spec: Spec, notes: Mapping[str, Sequence[str]], writer: str
) -> tuple[str, bool]:
    """Return the file text holding ``spec``, and whether the old text was kept around the
    change (False: written whole, as init writes it)."""
    import tomlkit

    wanted = spec_data(spec)
    try:
        document = tomlkit.parse(old)
        tables = document.get("role")
        if tables is None or len(tables) != len(wanted["role"]):
            raise ValueError("the roles differ")
        for table, role in zip(tables, wanted["role"], strict=True):
            if table.get("name") != role["name"]:
                raise ValueError("the roles differ")
            for key in CHANGED:
                if key in table:
                    del table[key]
            table["source_conditions"] = role["source_conditions"]
            table["managed_policies"] = tomlkit.array()
            table["managed_policies"].extend(role["managed_policies"])
            table.append("inline_policies", _policies(role["inline_policies"], notes))
        text = tomlkit.dumps(document)
        if spec_data(parse_spec(tomllib.loads(text), source=spec.source)) == wanted:
            return text, True
    except Exception:  # any layout tomlkit cannot edit safely: the whole file instead
        pass
    return commented_toml(spec, spec.source, notes, writer=writer), False


def _policies(policies: Mapping[str, Any], notes: Mapping[str, Sequence[str]]) -> Any:
    """Return the inline policies as TOML tables, each statement under its evidence."""
    import tomlkit

    outer = tomlkit.table(is_super_table=True)
    for name, document in policies.items():
        table = tomlkit.table()
        for key, value in document.items():
            if key != "Statement":
                table[key] = value
        statements = tomlkit.aot()
        for statement in document.get("Statement", []):
            item = tomlkit.table()
            for line in notes.get(statement.get("Sid", ""), ()):
                item.add(tomlkit.comment(line))
            for key, value in statement.items():
                item[key] = value
            statements.append(item)
        table["Statement"] = statements
        outer[name] = table
    return outer
