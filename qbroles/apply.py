"""Apply: the only code that changes IAM. Executes one role's actions in order."""

from __future__ import annotations

from qbroles.aws import Gateway
from qbroles.errors import SafetyError
from qbroles.model import (
    Action,
    AttachPolicy,
    CreateRole,
    DeleteBoundary,
    DeleteInlinePolicy,
    DeleteRole,
    DetachPolicy,
    PutBoundary,
    PutInlinePolicy,
    RemoveFromInstanceProfile,
    RolePlan,
    TagRole,
    UntagRole,
    UpdateRole,
    UpdateTrustPolicy,
)
from qbroles.plan import unowned_refusal


def apply_role(gateway: Gateway, plan: RolePlan) -> tuple[Action, ...]:
    """Execute one role's actions in order and return them; the caller has checked refusals."""
    fresh = False  # the role was created moments ago: IAM may not see it everywhere yet
    for action in plan.actions:
        gateway.progress.working(plan.role, action.describe())
        match action:
            case CreateRole(role=role):
                if not gateway.create_role(action):
                    _confirm_ours(gateway, role)
                fresh = True
            case UpdateTrustPolicy(role=role, trust=trust):
                gateway.update_trust(role, dict(trust), fresh=fresh)
            case UpdateRole(role=role, description=description, max_session_duration=duration):
                gateway.update_role(role, description, duration, fresh=fresh)
            case PutInlinePolicy(role=role, policy=policy, document=document):
                gateway.put_inline_policy(role, policy, dict(document), fresh=fresh)
            case PutBoundary(role=role, policy_arn=arn):
                gateway.put_boundary(role, arn, fresh=fresh)
            case DeleteBoundary(role=role):
                gateway.delete_boundary(role)
            case TagRole(role=role, tags=tags):
                gateway.tag_role(role, dict(tags), fresh=fresh)
            case UntagRole(role=role, keys=keys):
                gateway.untag_role(role, keys)
            case AttachPolicy(role=role, policy_arn=arn):
                gateway.attach_policy(role, arn, fresh=fresh)
            case DetachPolicy(role=role, policy_arn=arn):
                gateway.detach_policy(role, arn)
            case RemoveFromInstanceProfile(role=role, profile=profile):
                gateway.remove_from_instance_profile(role, profile)
            case DeleteInlinePolicy(role=role, policy=policy):
                gateway.delete_inline_policy(role, policy)
            case DeleteRole(role=role):
                gateway.delete_role(role)
        gateway.progress.done(action)
    return plan.actions


def reads(action: Action) -> frozenset[str]:
    """Return what an action changes, and so what must be read again to verify it.

    "role" is GetRole (trust, description, tags, boundary, session); "managed" and
    "inline" are the two kinds of policy listings.
    """
    match action:
        case AttachPolicy() | DetachPolicy():
            return frozenset({"managed"})
        case PutInlinePolicy() | DeleteInlinePolicy():
            return frozenset({"inline"})
        case CreateRole():
            return frozenset({"role", "managed", "inline"})
        case _:
            return frozenset({"role"})


def _confirm_ours(gateway: Gateway, role: str) -> None:
    """After CreateRole met EntityAlreadyExists: go on only if the role that exists is ours.

    It is ours when our own create went through but its answer was lost, or when another
    qbroles run created it at the same moment; both carry the ownership tag.
    """
    state = gateway.observe(role)
    if state is not None and not state.owned:
        remedy = "someone created it while qbroles ran; rerun with --adopt to take it over"
        raise SafetyError(unowned_refusal(state, "modify", remedy))
