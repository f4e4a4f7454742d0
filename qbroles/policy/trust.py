"""Trust policies read from a file: what IAM would refuse in one, and whom it trusts outside
the account."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qbroles.policy.documents import listed, policy_problem, statements


def trust_problem(document: Any) -> str | None:
    """Return what is wrong with a role's trust policy, or None if IAM would take it.

    A trust policy is a resource-based policy: each statement names whom it trusts
    (Principal or NotPrincipal) and no Resource, the role itself being the resource ("IAM
    JSON policy elements: Principal", https://docs.aws.amazon.com/IAM/latest/UserGuide/
    reference_policies_elements_principal.html). The rest is checked as for any policy.
    """
    if not isinstance(document, Mapping) or not isinstance(
        document.get("Statement"), list | Mapping
    ):
        return policy_problem(document)
    as_identity = []
    for number, statement in enumerate(listed(document["Statement"]), start=1):
        if not isinstance(statement, Mapping):
            return f"statement {number}: must be a JSON object"
        if ("Principal" in statement) == ("NotPrincipal" in statement):
            return f"statement {number}: needs exactly one of 'Principal' and 'NotPrincipal'"
        if "Resource" in statement or "NotResource" in statement:
            return f"statement {number}: a trust policy names no Resource (the role is it)"
        rest = {k: v for k, v in statement.items() if k not in ("Principal", "NotPrincipal")}
        as_identity.append({**rest, "Resource": "*"})
    return policy_problem({**document, "Statement": as_identity})


def outside_principals(document: Mapping[str, Any], account: str | None) -> list[str]:
    """Return whom an Allow of the trust policy trusts outside ``account`` (None: any
    account is outside): "*" (anyone), other accounts' ARNs or ids; services are not.

    An AWS principal is an account id, or an ARN whose fifth field is the account
    (IAM identifiers, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html).
    """
    found = []
    for statement in statements(document):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal", statement.get("NotPrincipal", {}))
        if principal == "*" or "NotPrincipal" in statement:
            found.append('anyone ("*")' if principal == "*" else "everyone but NotPrincipal")
            continue
        if not isinstance(principal, Mapping):
            continue
        for kind in ("AWS", "Federated", "CanonicalUser"):
            for value in listed(principal.get(kind, [])):
                text = str(value)
                owner = text if text.isdigit() else (text.split(":") + [""] * 5)[4]
                if text == "*":
                    found.append(f'anyone ("{kind}": "*")')
                elif account is None or owner != account:
                    found.append(text)
    return found
