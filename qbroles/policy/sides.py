"""What a resource's own policy (a secret's, a repository's, a key policy) says of a role,
and the decision of that policy and the role's together, as IAM's evaluation logic has it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qbroles.partitions import arn_field
from qbroles.policy.documents import statements
from qbroles.policy.evaluate import Decision, Outcome, Policy, decide


@dataclass(frozen=True)
class Side:
    """A resource-based policy that has a say in one need (action on resource)."""

    label: str  # "the key policy of arn:…", "the resource policy of secret arn:…"
    owner: str  # the account the resource belongs to
    document: Mapping[str, Any] | None  # None: the resource has none
    unknown: str | None = None  # why it could not be read, and what would settle it
    required: bool = False  # a key policy: nothing it does not allow is allowed


def combine(
    identity: Decision, side: Side | None, role_arn: str, action: str, resource: str
) -> Decision:
    """Return the decision of the role's policies and a resource's own policy together.

    IAM's policy evaluation logic: an explicit Deny in either wins; in one account an
    Allow in either suffices, across accounts both must allow
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html);
    a key policy must always allow, itself naming the role or handing the decision to the
    account's IAM policies (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).
    """
    if side is None or identity.outcome is Outcome.DENIED:
        return identity
    cross = side.owner != arn_field(role_arn, "account")
    if side.unknown:
        if cross and identity.outcome is Outcome.NOT_ALLOWED:
            return identity  # across accounts the role's own policies must allow it too
        return Decision(Outcome.UNKNOWN, side.unknown)
    direct, via = resource_decisions(side.document or {}, role_arn, action, resource)
    direct, via = (_by(side, d) for d in (direct, via))
    for decision in (direct, via):
        if decision.outcome is Outcome.DENIED:
            return decision
    if side.required or cross:
        if side.required and not cross and direct.outcome is Outcome.ALLOWED:
            return direct  # a key policy naming the role grants by itself in its account
        grant = direct if direct.outcome is Outcome.ALLOWED else via
        if side.document is None or grant.outcome is Outcome.NOT_ALLOWED:
            return Decision(
                Outcome.NOT_ALLOWED, f"{side.label}, which allows neither the role nor its account"
            )
        return min((identity, grant), key=_rank)
    if Outcome.CONDITIONAL in (direct.outcome, via.outcome):
        return Decision(Outcome.CONDITIONAL, direct.by or via.by)
    return max((identity, direct), key=_rank)


def _by(side: Side, decision: Decision) -> Decision:
    """Return a resource policy's decision naming the policy, not "resource policy"."""
    by = decision.by.replace("policy resource policy", side.label) if decision.by else None
    return Decision(decision.outcome, by)


_RANKS = (
    Outcome.DENIED,
    Outcome.NOT_ALLOWED,
    Outcome.UNKNOWN,
    Outcome.CONDITIONAL,
    Outcome.ALLOWED,
)


def _rank(decision: Decision) -> int:
    return _RANKS.index(decision.outcome)


def resource_decisions(
    document: Mapping[str, Any], role_arn: str, action: str, resource: str
) -> tuple[Decision, Decision]:
    """Return what a resource-based policy (a secret's, a repository's, a key policy) says
    of the role: the statements that name it (or everyone), and those that name its
    account, which only hand the decision to the account's own IAM policies.

    "Policy evaluation logic", resource-based policies and the account as principal:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
    """
    partition, account = arn_field(role_arn, "partition"), arn_field(role_arn, "account")
    root = f"arn:{partition}:iam::{account}:root"
    direct: list[Mapping[str, Any]] = []
    via_account: list[Mapping[str, Any]] = []
    for statement in statements(document):
        if "NotPrincipal" in statement:  # every principal but those listed
            named = _principals(statement["NotPrincipal"])
            if not named & {role_arn, root, account, "*"}:
                direct.append(statement)
            continue
        named = _principals(statement.get("Principal"))
        if named & {role_arn, "*"}:
            direct.append(statement)
        elif named & {root, account}:
            via_account.append(statement)
    return (
        decide([Policy("resource policy", {"Statement": direct})], action, resource),
        decide([Policy("resource policy", {"Statement": via_account})], action, resource),
    )


def _principals(principal: Any) -> set[str]:
    """Return the AWS principals a Principal element names ("*" for everyone)."""
    if principal == "*":
        return {"*"}
    if not isinstance(principal, Mapping):
        return set()
    value = principal.get("AWS", [])
    return {str(v) for v in (value if isinstance(value, list) else [value])}
