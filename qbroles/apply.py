"""Apply: the only code that changes IAM. Executes one role's actions in order."""

from __future__ import annotations

from qbroles.aws import Gateway
from qbroles.errors import SafetyError
from qbroles.model import (
    Action,
    AttachPolicy,
    CreateRole,
    DeleteInlinePolicy,
    DeleteRole,
    DetachPolicy,
    RemoveFromInstanceProfile,
    RolePlan,
    TagRole,
    UpdateDescription,
    UpdateTrustPolicy,
)
from qbroles.plan import unowned_refusal


def apply_role(gateway: Gateway, plan: RolePlan) -> tuple[Action, ...]:
    """Execute one role's actions in order and return them; the caller has checked refusals."""
    fresh = False  # the role was created moments ago: IAM may not see it everywhere yet
    for action in plan.actions:
        match action:
            case CreateRole(role=role, trust=trust, description=description, tags=tags):
                created = gateway.create_role(role, dict(trust), description, dict(tags))
                if not created:
                    _confirm_ours(gateway, role)
                fresh = True
            case UpdateTrustPolicy(role=role, trust=trust):
                gateway.update_trust(role, dict(trust), fresh=fresh)
            case UpdateDescription(role=role, description=description):
                gateway.update_description(role, description, fresh=fresh)
            case TagRole(role=role, tags=tags):
                gateway.tag_role(role, dict(tags), fresh=fresh)
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
    return plan.actions


def _confirm_ours(gateway: Gateway, role: str) -> None:
    """After CreateRole met EntityAlreadyExists: go on only if the role that exists is ours.

    It is ours when our own create went through but its answer was lost, or when another
    qbroles run created it at the same moment; both carry the ownership tag.
    """
    state = gateway.observe(role)
    if state is not None and not state.owned:
        remedy = "someone created it while qbroles ran; rerun with --adopt to take it over"
        raise SafetyError(unowned_refusal(role, "modify", remedy))
