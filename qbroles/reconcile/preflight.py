"""What is checked before any write, so a run cannot stop half-way for a reason known upfront."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from qbroles.catalog import POLICIES
from qbroles.errors import InputError, SafetyError
from qbroles.iam.gateway import Gateway
from qbroles.iam.policies import policy_exists
from qbroles.model.actions import Action, AttachPolicy, CreateRole, PutBoundary, RolePlan
from qbroles.spec.model import policy_arn, policy_label


def refuse(plans: Sequence[RolePlan]) -> None:
    """Refuse the whole run, before any write, if any role's plan is refused."""
    refusals = [plan.refusal for plan in plans if plan.refusal]
    if refusals:
        raise SafetyError(" ".join(f"{r[0].upper()}{r[1:]}" for r in refusals))


def policies_exist(gateway: Gateway, plans: Sequence[RolePlan]) -> None:
    """Before any write: every managed policy to attach, and boundary to set, exists.

    Otherwise create would stop half-way, the role made and an attach refused. One
    GetPolicy each, at the same time, for the policies not attached yet; the AWS managed
    policies qbroles documents (catalog.POLICIES) are known to exist and not asked for.
    """
    known = {policy_arn(name, gateway.partition) for name in POLICIES}
    roles: dict[str, list[str]] = {}
    for plan in plans:
        for action in plan.actions:
            arn = _policy_set_by(action)
            if arn and arn not in known:
                roles.setdefault(arn, []).append(plan.role)
    arns = sorted(roles)
    found = gateway.together([partial(policy_exists, gateway, arn) for arn in arns])
    missing = [arn for arn, exists in zip(arns, found, strict=True) if exists is False]
    if missing:
        named = "; ".join(
            f"{policy_label(arn)} (for {', '.join(sorted(set(roles[arn])))}){_maybe(arn)}"
            for arn in missing
        )
        raise InputError(
            f"no such managed policy: {named}; check the name in the spec (AWS managed "
            "policies are named as in the IAM console, some under a path such as "
            "service-role/); nothing was changed."
        )


def _policy_set_by(action: Action) -> str | None:
    """Return the managed policy an action attaches or sets as boundary, if any."""
    match action:
        case CreateRole(permissions_boundary=arn) | PutBoundary(policy_arn=arn):
            return arn
        case AttachPolicy(policy_arn=arn):
            return arn
    return None


def _maybe(arn: str) -> str:
    """Return ", did you mean NAME?" for a near name among the policies qbroles knows."""
    import difflib

    label = policy_label(arn)
    by_base = {name.rsplit("/", 1)[-1].lower(): name for name in POLICIES}
    near = by_base.get(label.rsplit("/", 1)[-1].lower())
    if near is None:
        close = difflib.get_close_matches(label, list(POLICIES), n=1, cutoff=0.85)
        near = close[0] if close else None
    return f", did you mean {near}?" if near and near != label else ""
