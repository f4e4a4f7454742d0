"""What actions do to a role: the role as IAM would hold it once they are applied. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import assert_never

from qbroles.model.actions import (
    Action,
    AddToInstanceProfile,
    AttachPolicy,
    CreateRole,
    DeleteBoundary,
    DeleteInlinePolicy,
    DeleteRole,
    DetachPolicy,
    PutBoundary,
    PutInlinePolicy,
    RemoveFromInstanceProfile,
    TagRole,
    UntagRole,
    UpdateRole,
    UpdateTrustPolicy,
)
from qbroles.model.state import RoleState


def after(state: RoleState | None, actions: Sequence[Action]) -> RoleState | None:
    """Return the role as IAM would hold it once the actions are applied. Pure.

    What checks of "the roles as the plan would leave them" evaluate; a role created by
    the plan has no ARN yet (its account is not known here).
    """
    for action in actions:
        if isinstance(action, CreateRole):
            state = RoleState(
                name=action.role,
                arn="",
                trust=action.trust,
                description=action.description,
                tags=dict(action.tags),
                managed_policies=frozenset(),
                permissions_boundary=action.permissions_boundary,
                max_session_duration=action.max_session_duration,
                path=action.path,
            )
        elif isinstance(action, DeleteRole):
            state = None
        elif state is not None:
            state = _applied(state, action)
    return state


def _applied(state: RoleState, action: Action) -> RoleState:
    """Return the role with one in-place action applied."""
    match action:
        case UpdateTrustPolicy(trust=trust):
            return replace(state, trust=trust)
        case UpdateRole(description=description, max_session_duration=duration):
            return replace(state, description=description, max_session_duration=duration)
        case PutInlinePolicy(policy=policy, document=document):
            return replace(state, inline_policies={**state.inline_policies, policy: document})
        case DeleteInlinePolicy(policy=policy):
            kept = {k: v for k, v in state.inline_policies.items() if k != policy}
            return replace(state, inline_policies=kept)
        case PutBoundary(policy_arn=arn):
            return replace(state, permissions_boundary=arn)
        case DeleteBoundary():
            return replace(state, permissions_boundary=None)
        case TagRole(tags=tags):
            return replace(state, tags={**state.tags, **tags})
        case UntagRole(keys=keys):
            return replace(state, tags={k: v for k, v in state.tags.items() if k not in keys})
        case AttachPolicy(policy_arn=arn):
            return replace(state, managed_policies=state.managed_policies | {arn})
        case DetachPolicy(policy_arn=arn):
            return replace(state, managed_policies=state.managed_policies - {arn})
        case RemoveFromInstanceProfile(profile=profile):
            kept_profiles = tuple(p for p in state.instance_profiles if p != profile)
            return replace(state, instance_profiles=kept_profiles)
        case AddToInstanceProfile(profile=profile):
            return replace(state, instance_profiles=(*state.instance_profiles, profile))
        case CreateRole() | DeleteRole():
            return state
        case _:
            assert_never(action)
