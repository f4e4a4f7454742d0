"""A small local evaluator of identity policies: may this role do this action on this resource?

It follows IAM's evaluation logic for one principal's identity policies: an explicit Deny
wins, then an Allow, else the request is implicitly denied; a permissions boundary must
allow it too. Action/NotAction and Resource/NotResource with * and ? wildcards are
honoured (actions case-insensitively). Conditions are not evaluated: a statement that
decides only under a condition makes the answer "depends on condition". Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any

from qbroles.policy.documents import statements


class Outcome(Enum):
    ALLOWED = "allowed"
    DENIED = "denied"  # an explicit Deny
    NOT_ALLOWED = "not allowed"  # no statement allows it (implicit deny)
    CONDITIONAL = "depends on condition"
    UNKNOWN = "not known"  # a policy that decides could not be read


@dataclass(frozen=True)
class Policy:
    """A policy document and the name it is reported by."""

    name: str
    document: Mapping[str, Any]


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    by: str | None = None  # the statement that decided: "policy NAME statement SID-or-number"

    def __str__(self) -> str:
        return self.outcome.value + (f" by {self.by}" if self.by else "")


def evaluate(
    policies: Sequence[Policy],
    action: str,
    resource: str,
    *,
    boundary: Policy | None = None,
) -> Decision:
    """Return whether the policies allow ``action`` on ``resource``, and which statement decided."""
    decision = decide(policies, action, resource)
    if boundary is None or decision.outcome in (Outcome.DENIED, Outcome.NOT_ALLOWED):
        return decision
    capped = decide([boundary], action, resource)
    if capped.outcome is Outcome.ALLOWED:
        return decision
    if capped.outcome is Outcome.NOT_ALLOWED:
        return Decision(Outcome.NOT_ALLOWED, f"permissions boundary {boundary.name}")
    return capped


def decide(policies: Sequence[Policy], action: str, resource: str) -> Decision:
    allow: Decision | None = None
    allow_if: Decision | None = None  # an Allow under a condition
    deny_if: Decision | None = None  # a Deny under a condition
    for policy in policies:
        for number, statement in enumerate(statements(policy.document), start=1):
            if not applies(statement, action, resource):
                continue
            decided = f"policy {policy.name} statement {statement.get('Sid') or number}"
            conditional = bool(statement.get("Condition"))
            if statement.get("Effect") == "Deny":
                if not conditional:
                    return Decision(Outcome.DENIED, decided)
                deny_if = deny_if or Decision(Outcome.CONDITIONAL, decided)
            elif conditional:
                allow_if = allow_if or Decision(Outcome.CONDITIONAL, decided)
            else:
                allow = allow or Decision(Outcome.ALLOWED, decided)
    return deny_if or allow or allow_if or Decision(Outcome.NOT_ALLOWED)


def applies(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    if "Action" in statement:
        acts = _any(statement["Action"], action, fold=True)
    else:
        acts = not _any(statement.get("NotAction", []), action, fold=True)
    if "Resource" in statement:
        on = _any(statement["Resource"], resource, fold=False)
    else:
        on = not _any(statement.get("NotResource", []), resource, fold=False)
    return acts and on


def _any(patterns: Any, value: str, *, fold: bool) -> bool:
    listed: Iterable[Any] = patterns if isinstance(patterns, list) else [patterns]
    return any(wildcard(str(p), fold).fullmatch(value) for p in listed)


@lru_cache(maxsize=1024)
def wildcard(pattern: str, fold: bool) -> re.Pattern[str]:
    """Return the regex of an IAM wildcard pattern: * any run of characters, ? any one."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE if fold else 0)
