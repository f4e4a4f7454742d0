"""The actions on a role itself: create, update, delete, and its instance profiles."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from qbroles.model.actions.base import (
    GONE,
    IamCall,
    RoleAction,
    document_lines,
    tag_list,
    tag_params,
)
from qbroles.model.state import RoleState
from qbroles.policy.documents import trust_summary

if TYPE_CHECKING:
    from qbroles.model.actions import Action


@dataclass(frozen=True)
class CreateRole(RoleAction):
    NAME: ClassVar[str] = "create_role"
    STAGE: ClassVar[int] = 0
    # A new role has no policies but those its plan adds; reads them all if it existed.
    READS: ClassVar[frozenset[str]] = frozenset({"role"})
    SIGN: ClassVar[str] = "+"
    trust: Mapping[str, Any]
    description: str
    tags: Mapping[str, str]
    path: str = "/"
    max_session_duration: int = 3600
    permissions_boundary: str | None = None

    def call(self) -> IamCall:
        boundary = {"PermissionsBoundary": self.permissions_boundary}
        return IamCall(
            "CreateRole",
            {
                "RoleName": self.role,
                "Path": self.path,
                "AssumeRolePolicyDocument": json.dumps(self.trust),
                "Description": self.description,
                "MaxSessionDuration": self.max_session_duration,
                "Tags": tag_params(self.tags),
                **(boundary if self.permissions_boundary else {}),
            },
            done_if=frozenset({"EntityAlreadyExists"}),
        )

    def describe(self) -> str:
        return f"create role {self.role} ({trust_summary(self.trust)})"

    def details(self) -> list[str]:
        """Everything the new role is made with: its trust in full, not summarised."""
        lines = [f"description: {self.description}", f"tags: {tag_list(self.tags)}"]
        if self.path != "/":
            lines.append(f"path: {self.path}")
        if self.max_session_duration != 3600:
            lines.append(f"maximum session: {self.max_session_duration} s")
        if self.permissions_boundary:
            lines.append(f"permissions boundary: {self.permissions_boundary}")
        return [*lines, "trust policy:", *document_lines(self.trust, "+")]


@dataclass(frozen=True)
class UpdateTrustPolicy(RoleAction):
    NAME: ClassVar[str] = "update_trust_policy"
    trust: Mapping[str, Any]
    # What IAM holds now, for showing the change; not part of what the action does.
    before: Mapping[str, Any] | None = field(default=None, compare=False)

    def call(self) -> IamCall:
        return IamCall(
            "UpdateAssumeRolePolicy",
            {"RoleName": self.role, "PolicyDocument": json.dumps(self.trust)},
        )

    def describe(self) -> str:
        return f"update the trust policy of {self.role} to: {trust_summary(self.trust)}"

    def change(self) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
        return None if self.before is None else (self.before, self.trust)

    def removed(self) -> Any:
        return self.before

    def inverse(self) -> tuple[Action, ...]:
        return () if self.before is None else (UpdateTrustPolicy(self.role, self.before),)


@dataclass(frozen=True)
class UpdateRole(RoleAction):
    NAME: ClassVar[str] = "update_role"
    description: str
    max_session_duration: int
    before: tuple[str, int] | None = field(default=None, compare=False)  # as IAM has them now

    def call(self) -> IamCall:
        return IamCall(
            "UpdateRole",
            {
                "RoleName": self.role,
                "Description": self.description,
                "MaxSessionDuration": self.max_session_duration,
            },
        )

    def describe(self) -> str:
        return (
            f"update the description and maximum session ({self.max_session_duration} s) "
            f"of {self.role}"
        )

    def change(self) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
        if self.before is None:
            return None
        keys = ("Description", "MaxSessionDuration")
        return dict(zip(keys, self.before, strict=True)), dict(
            zip(keys, (self.description, self.max_session_duration), strict=True)
        )

    def removed(self) -> Any:
        pair = self.change()
        return None if pair is None else pair[0]

    def inverse(self) -> tuple[Action, ...]:
        return () if self.before is None else (UpdateRole(self.role, *self.before),)


@dataclass(frozen=True)
class DeleteRole(RoleAction):
    NAME: ClassVar[str] = "delete_role"
    STAGE: ClassVar[int] = 4
    SIGN: ClassVar[str] = "-"
    # The role as it was (trust, description, tags, ...): what creating it again needs.
    was: RoleState | None = field(default=None, compare=False)

    def call(self) -> IamCall:
        # DeleteConflict: something still holds the role (a policy attached meanwhile,
        # IAM catching up); the caller reads the role again before each retry.
        return IamCall(
            "DeleteRole",
            {"RoleName": self.role},
            done_if=GONE,
            retry_if=frozenset({"DeleteConflict"}),
        )

    def describe(self) -> str:
        return f"delete role {self.role}"

    def removed(self) -> Any:
        if self.was is None:
            return None
        return {
            "Arn": self.was.arn,
            "RoleId": self.was.role_id,
            "Path": self.was.path,
            "AssumeRolePolicyDocument": self.was.trust,
            "Description": self.was.description,
            "MaxSessionDuration": self.was.max_session_duration,
            "PermissionsBoundary": self.was.permissions_boundary,
            "Tags": dict(self.was.tags),
        }

    def inverse(self) -> tuple[Action, ...]:
        was = self.was
        if was is None or was.trust is None:
            return ()
        return (
            CreateRole(
                self.role,
                was.trust,
                was.description,
                dict(was.tags),
                path=was.path,
                max_session_duration=was.max_session_duration,
                permissions_boundary=was.permissions_boundary,
            ),
        )


@dataclass(frozen=True)
class RemoveFromInstanceProfile(RoleAction):
    NAME: ClassVar[str] = "remove_from_instance_profile"
    STAGE: ClassVar[int] = 3
    SIGN: ClassVar[str] = "-"
    profile: str

    def call(self) -> IamCall:
        return IamCall(
            "RemoveRoleFromInstanceProfile",
            {"RoleName": self.role, "InstanceProfileName": self.profile},
            done_if=GONE,
        )

    def describe(self) -> str:
        return f"remove {self.role} from instance profile {self.profile}"

    @property
    def target(self) -> str | None:
        return self.profile

    def removed(self) -> Any:
        return self.profile

    def inverse(self) -> tuple[Action, ...]:
        return (AddToInstanceProfile(self.role, self.profile),)


@dataclass(frozen=True)
class AddToInstanceProfile(RoleAction):
    """Only ``qbroles restore`` adds a role to an instance profile: the one it was taken out of."""

    NAME: ClassVar[str] = "add_to_instance_profile"
    SIGN: ClassVar[str] = "+"
    profile: str

    def call(self) -> IamCall:
        return IamCall(
            "AddRoleToInstanceProfile", {"RoleName": self.role, "InstanceProfileName": self.profile}
        )

    def describe(self) -> str:
        return f"add {self.role} to instance profile {self.profile}"

    @property
    def target(self) -> str | None:
        return self.profile
