"""The actions on a role's policies: inline, managed attachments, permissions boundary."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from qbroles.model.actions.base import GONE, IamCall, RoleAction, document_lines
from qbroles.spec.model import policy_label

if TYPE_CHECKING:
    from qbroles.model.actions import Action


@dataclass(frozen=True)
class PutInlinePolicy(RoleAction):
    NAME: ClassVar[str] = "put_inline_policy"
    READS: ClassVar[frozenset[str]] = frozenset({"inline"})
    SIGN: ClassVar[str] = "+"
    policy: str
    document: Mapping[str, Any]
    before: Mapping[str, Any] | None = field(default=None, compare=False)  # None: a new policy

    @property
    def sign(self) -> str:
        return self.SIGN if self.before is None else "~"

    def call(self) -> IamCall:
        return IamCall(
            "PutRolePolicy",
            {
                "RoleName": self.role,
                "PolicyName": self.policy,
                "PolicyDocument": json.dumps(self.document),
            },
        )

    def describe(self) -> str:
        verb = "put" if self.before is None else "update"
        return f"{verb} inline policy {self.policy} on {self.role}"

    def change(self) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
        return None if self.before is None else (self.before, self.document)

    def details(self) -> list[str]:
        """A new policy's document in full: what it will grant."""
        return document_lines(self.document, "+") if self.before is None else super().details()

    def removed(self) -> Any:
        return self.before

    def inverse(self) -> tuple[Action, ...]:
        if self.before is None:
            return ()
        return (PutInlinePolicy(self.role, self.policy, self.before),)

    @property
    def target(self) -> str | None:
        return self.policy


@dataclass(frozen=True)
class DeleteInlinePolicy(RoleAction):
    NAME: ClassVar[str] = "delete_inline_policy"
    STAGE: ClassVar[int] = 3
    READS: ClassVar[frozenset[str]] = frozenset({"inline"})
    SIGN: ClassVar[str] = "-"
    policy: str
    document: Mapping[str, Any] | None = field(default=None, compare=False)  # what goes

    def call(self) -> IamCall:
        return IamCall(
            "DeleteRolePolicy", {"RoleName": self.role, "PolicyName": self.policy}, done_if=GONE
        )

    def describe(self) -> str:
        return f"delete inline policy {self.policy} of {self.role}"

    @property
    def target(self) -> str | None:
        return self.policy

    def removed(self) -> Any:
        return self.document

    def details(self) -> list[str]:
        """The document that goes, in full: what the role will no longer be granted."""
        return [] if self.document is None else document_lines(self.document, "-")

    def inverse(self) -> tuple[Action, ...]:
        if self.document is None:
            return ()
        return (PutInlinePolicy(self.role, self.policy, self.document),)


@dataclass(frozen=True)
class AttachPolicy(RoleAction):
    NAME: ClassVar[str] = "attach_policy"
    READS: ClassVar[frozenset[str]] = frozenset({"managed"})
    SIGN: ClassVar[str] = "+"
    policy_arn: str

    def call(self) -> IamCall:
        return IamCall("AttachRolePolicy", {"RoleName": self.role, "PolicyArn": self.policy_arn})

    def describe(self) -> str:
        return f"attach {self.target} to {self.role}"

    @property
    def target(self) -> str | None:
        return policy_label(self.policy_arn)


@dataclass(frozen=True)
class DetachPolicy(RoleAction):
    NAME: ClassVar[str] = "detach_policy"
    STAGE: ClassVar[int] = 3
    READS: ClassVar[frozenset[str]] = frozenset({"managed"})
    SIGN: ClassVar[str] = "-"
    policy_arn: str

    def call(self) -> IamCall:
        return IamCall(
            "DetachRolePolicy", {"RoleName": self.role, "PolicyArn": self.policy_arn}, done_if=GONE
        )

    def describe(self) -> str:
        return f"detach {self.target} from {self.role}"

    @property
    def target(self) -> str | None:
        return policy_label(self.policy_arn)

    def removed(self) -> Any:
        return self.policy_arn

    def inverse(self) -> tuple[Action, ...]:
        return (AttachPolicy(self.role, self.policy_arn),)


@dataclass(frozen=True)
class PutBoundary(RoleAction):
    NAME: ClassVar[str] = "put_permissions_boundary"
    SIGN: ClassVar[str] = "+"
    policy_arn: str
    before: str | None = field(default=None, compare=False)  # the boundary it replaces

    @property
    def sign(self) -> str:
        return self.SIGN if self.before is None else "~"

    def call(self) -> IamCall:
        return IamCall(
            "PutRolePermissionsBoundary",
            {"RoleName": self.role, "PermissionsBoundary": self.policy_arn},
        )

    def describe(self) -> str:
        was = f" (was {policy_label(self.before)})" if self.before else ""
        return f"set the permissions boundary of {self.role} to {self.target}{was}"

    @property
    def target(self) -> str | None:
        return policy_label(self.policy_arn)

    def removed(self) -> Any:
        return self.before

    def inverse(self) -> tuple[Action, ...]:
        return () if self.before is None else (PutBoundary(self.role, self.before),)


@dataclass(frozen=True)
class DeleteBoundary(RoleAction):
    NAME: ClassVar[str] = "delete_permissions_boundary"
    STAGE: ClassVar[int] = 3
    SIGN: ClassVar[str] = "-"
    policy_arn: str | None = field(default=None, compare=False)  # the boundary removed

    def call(self) -> IamCall:
        return IamCall("DeleteRolePermissionsBoundary", {"RoleName": self.role}, done_if=GONE)

    def describe(self) -> str:
        which = f" {policy_label(self.policy_arn)}" if self.policy_arn else ""
        return f"remove the permissions boundary{which} of {self.role} (widens what it may do)"

    @property
    def target(self) -> str | None:
        return None if self.policy_arn is None else policy_label(self.policy_arn)

    def removed(self) -> Any:
        return self.policy_arn

    def inverse(self) -> tuple[Action, ...]:
        return () if self.policy_arn is None else (PutBoundary(self.role, self.policy_arn),)
