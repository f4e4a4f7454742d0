"""Policy documents: the trust policy a role spec asks for, and semantic comparison."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

POLICY_VERSION = "2012-10-17"


def trust_policy(service: str) -> dict[str, Any]:
    """Return the trust policy that lets ``service`` assume the role."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def canonical(document: Mapping[str, Any]) -> Any:
    """Return a hashable form of a policy document in which equivalent documents are equal.

    IAM treats a single value and a one-element list alike (``"Action": "x"`` and
    ``["x"]``, ``"Statement": {...}`` and ``[{...}]``), ignores the order of list elements
    and statements, and may return either form; so every value of every key becomes a
    sorted tuple of distinct canonical elements.
    """
    return tuple(sorted((str(key), _values(value)) for key, value in document.items()))


def _values(value: Any) -> tuple[Any, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(sorted({_element(item) for item in items}, key=repr))


def _element(item: Any) -> Any:
    if isinstance(item, Mapping):
        return canonical(item)
    if isinstance(item, list):
        return _values(item)
    return item


def same_policy(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Return whether two policy documents grant the same thing (see ``canonical``)."""
    if a is None or b is None:
        return a is b
    return bool(canonical(a) == canonical(b))


def decode_document(document: Any) -> dict[str, Any] | None:
    """Return a policy document as a dict, whether boto3 decoded it already or not."""
    if document is None:
        return None
    if isinstance(document, str):
        from urllib.parse import unquote

        text = document if document.lstrip().startswith("{") else unquote(document)
        decoded = json.loads(text)
        return decoded if isinstance(decoded, dict) else None
    return dict(document)


def trust_summary(document: Mapping[str, Any] | None) -> str:
    """Return one line telling who may assume the role, for tables."""
    if document is None:
        return "none"
    statements = document.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    parts = []
    for statement in statements:
        if not isinstance(statement, Mapping):
            continue
        principal = statement.get("Principal", {})
        who: list[str] = []
        if isinstance(principal, Mapping):
            for kind, value in sorted(principal.items()):
                who.extend(f"{kind}:{v}" if kind != "Service" else str(v) for v in _listed(value))
        else:
            who.append(str(principal))
        actions = ",".join(str(a) for a in _listed(statement.get("Action", "?")))
        condition = " if ..." if statement.get("Condition") else ""
        effect = statement.get("Effect", "?")
        parts.append(f"{effect} {' '.join(who) or '?'} {actions}{condition}")
    return "; ".join(parts) or "no statements"


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
