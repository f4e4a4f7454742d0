"""Actions: one frozen dataclass per IAM write, carrying the call that makes it; RolePlan.

To add an IAM write, define its action beside its kin (role, policies, tags) and add it
to ``Action`` below: the planner makes it, ``Gateway.execute`` runs it, JSON names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

from qbroles.model.actions.base import ALL_PARTS, GONE, IamCall, RoleAction, stages
from qbroles.model.actions.policies import (
    AttachPolicy,
    DeleteBoundary,
    DeleteInlinePolicy,
    DetachPolicy,
    PutBoundary,
    PutInlinePolicy,
)
from qbroles.model.actions.role import (
    AddToInstanceProfile,
    CreateRole,
    DeleteRole,
    RemoveFromInstanceProfile,
    UpdateRole,
    UpdateTrustPolicy,
)
from qbroles.model.actions.tags import TagRole, UntagRole

__all__ = [
    "ACTION_NAMES",
    "ALL_PARTS",
    "GONE",
    "Action",
    "AddToInstanceProfile",
    "AttachPolicy",
    "CreateRole",
    "DeleteBoundary",
    "DeleteInlinePolicy",
    "DeleteRole",
    "DetachPolicy",
    "IamCall",
    "PutBoundary",
    "PutInlinePolicy",
    "RemoveFromInstanceProfile",
    "RoleAction",
    "RolePlan",
    "TagRole",
    "UntagRole",
    "UpdateRole",
    "UpdateTrustPolicy",
    "action_name",
    "stages",
]

Action = (
    CreateRole
    | UpdateTrustPolicy
    | UpdateRole
    | PutInlinePolicy
    | PutBoundary
    | DeleteBoundary
    | TagRole
    | UntagRole
    | AttachPolicy
    | DetachPolicy
    | RemoveFromInstanceProfile
    | AddToInstanceProfile
    | DeleteInlinePolicy
    | DeleteRole
)

# The stable names of actions in JSON output, from each action's NAME.
ACTION_NAMES: dict[type[Any], str] = {kind: kind.NAME for kind in get_args(Action)}


def action_name(action: Action) -> str:
    return action.NAME


@dataclass(frozen=True)
class RolePlan:
    """What to do to one role; ``refusal`` says why nothing may be done to it."""

    role: str
    actions: tuple[Action, ...] = ()
    refusal: str | None = None
    # The role as planned on: its IAM id (empty for a role still to be created), and
    # whether qbroles takes it over (--adopt). Ownership is checked again before writing.
    role_id: str = ""
    adopting: bool = False
    # The spec that last set the role, if it said something else of it (None: this one).
    other_spec: str | None = None
    # A refused role: what create would do to it with the option named (plan shows it).
    would: tuple[Action, ...] = ()
    allowed_by: str | None = None
