"""Does a new policy grant anything the current ones do not? Pure: no I/O.

tighten's second proof. Each (action, resource) an Allow statement of the new document
names must be allowed by the current policies, under no condition other than the new
statement's own. A pattern is checked as the widest value it stands for: each ``*`` a
run of characters no policy names, each ``?`` one such character, so ``secret:db-*``
passes only where the current policies allow every such secret, not the one named
``secret:db-x``. An action or resource the new statement names by NotAction or
NotResource cannot be checked this way and counts as new access.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qbroles.policy.documents import listed, statements
from qbroles.policy.evaluate import Policy, applies

# What a wildcard of a new statement is probed with: longer than any run of ``?`` a
# current policy could hold (an ARN is at most 2048 characters), of a character none names.
_RUN = "\x00" * 2049


def probe(pattern: str) -> str:
    """Return the value a pattern is checked as: its widest reading."""
    return pattern.replace("*", _RUN).replace("?", "\x00")


def new_access(current: Sequence[Policy], document: Mapping[str, Any]) -> list[str]:
    """Return each "action on resource" of the document's Allow statements that the current
    policies do not allow, in the document's order."""
    found: list[str] = []
    for statement in statements(document):
        if statement.get("Effect") != "Allow":
            continue
        if "Action" not in statement or "Resource" not in statement:
            found.append(f"statement {statement.get('Sid') or '?'} (NotAction or NotResource)")
            continue
        condition = statement.get("Condition") or None
        for action in listed(statement["Action"]):
            for resource in listed(statement["Resource"]):
                if not _granted(current, probe(str(action)), probe(str(resource)), condition):
                    found.append(f"{action} on {resource}")
    return list(dict.fromkeys(found))


def _granted(current: Sequence[Policy], action: str, resource: str, condition: Any) -> bool:
    """Whether a current statement allows it (unconditionally, or under the very condition
    the new statement carries), and no current Deny applies."""
    allowed = False
    for policy in current:
        for statement in statements(policy.document):
            if not applies(statement, action, resource):
                continue
            if statement.get("Effect") == "Deny":
                return False
            if not statement.get("Condition") or statement.get("Condition") == condition:
                allowed = True
    return allowed


def pairs(documents: Sequence[Mapping[str, Any] | None]) -> int:
    """Return how many (action, resource) pairs the Allow statements of the documents name,
    a pattern counted once ("logs:*" on "*" is one pair)."""
    return sum(
        len(listed(s.get("Action", s.get("NotAction")))) * len(listed(s.get("Resource", "*")))
        for document in documents
        if document
        for s in statements(document)
        if s.get("Effect") == "Allow"
    )
