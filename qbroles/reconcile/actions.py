"""Actions: one frozen dataclass per IAM write, carrying the call that makes it; RolePlan."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, get_args

from qbroles.policy.documents import trust_summary
from qbroles.reconcile.state import RoleState
from qbroles.spec.model import policy_label


@dataclass(frozen=True)
class IamCall:
    """One IAM write as boto3 makes it: the operation, its parameters, and which answers mean
    "already so" (``done_if``: a retry after a lost answer, a race) or "wait and try again"
    (``retry_if``)."""

    operation: str
    params: Mapping[str, Any]
    done_if: frozenset[str] = frozenset()
    retry_if: frozenset[str] = frozenset()


GONE = frozenset({"NoSuchEntity"})  # a removal that finds nothing to remove is done


@dataclass(frozen=True)
class _RoleAction:
    role: str
    # The stable name in JSON output and restore files.
    NAME: ClassVar[str]
    # How a plan shows it: + adds (create, attach, put, tag), - removes, ~ changes in place.
    SIGN: ClassVar[str] = "~"
    # What it changes, and so what is read again to verify it: "role" (GetRole: trust,
    # description, tags, boundary, session), "managed" and "inline" (the policy listings).
    READS: ClassVar[frozenset[str]] = frozenset({"role"})

    def call(self) -> IamCall:
        """Return the IAM call that makes this change."""
        raise NotImplementedError

    @property
    def sign(self) -> str:
        """Return +, - or ~: what the action does to the role, as a plan shows it."""
        return self.SIGN

    @property
    def target(self) -> str | None:
        """Return what the action is about besides the role (a policy, a tag), for JSON."""
        return None

    def change(self) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
        """Return (actual, expected) when the action rewrites a document IAM holds now."""
        return None

    def removed(self) -> Any:
        """Return what the action takes away from IAM (a document, an ARN, tags), or None."""
        return None

    def inverse(self) -> tuple[Action, ...]:
        """Return the actions that put back what this one removes or replaces.

        Empty when nothing is lost (additions). The restore file holds these.
        """
        return ()


@dataclass(frozen=True)
class CreateRole(_RoleAction):
    NAME: ClassVar[str] = "create_role"
    READS: ClassVar[frozenset[str]] = frozenset({"role", "managed", "inline"})
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
                "Tags": _tag_params(self.tags),
                **(boundary if self.permissions_boundary else {}),
            },
            done_if=frozenset({"EntityAlreadyExists"}),
        )

    def describe(self) -> str:
        return f"create role {self.role} ({trust_summary(self.trust)})"


@dataclass(frozen=True)
class UpdateTrustPolicy(_RoleAction):
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
class UpdateRole(_RoleAction):
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
class PutInlinePolicy(_RoleAction):
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
class PutBoundary(_RoleAction):
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
class DeleteBoundary(_RoleAction):
    NAME: ClassVar[str] = "delete_permissions_boundary"
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


@dataclass(frozen=True)
class TagRole(_RoleAction):
    NAME: ClassVar[str] = "tag_role"
    SIGN: ClassVar[str] = "+"
    tags: Mapping[str, str]
    # The values these keys had, for keys that were there already (IAM replaces them).
    before: Mapping[str, str] = field(default_factory=dict, compare=False)

    def call(self) -> IamCall:
        return IamCall("TagRole", {"RoleName": self.role, "Tags": _tag_params(self.tags)})

    def describe(self) -> str:
        was = f" (was {_tag_list(self.before)})" if self.before else ""
        return f"tag {self.role} with {self.target}{was}"

    @property
    def target(self) -> str | None:
        return _tag_list(self.tags)

    def removed(self) -> Any:
        return dict(self.before) or None

    def inverse(self) -> tuple[Action, ...]:
        return (TagRole(self.role, dict(self.before)),) if self.before else ()


@dataclass(frozen=True)
class UntagRole(_RoleAction):
    NAME: ClassVar[str] = "untag_role"
    SIGN: ClassVar[str] = "-"
    keys: tuple[str, ...]
    values: Mapping[str, str] = field(default_factory=dict, compare=False)  # what goes

    def call(self) -> IamCall:
        return IamCall("UntagRole", {"RoleName": self.role, "TagKeys": list(self.keys)})

    def describe(self) -> str:
        shown = _tag_list(self.values) if self.values else self.target
        return f"untag {self.role}: {shown}"

    @property
    def target(self) -> str | None:
        return ", ".join(self.keys)

    def removed(self) -> Any:
        return dict(self.values) or None

    def inverse(self) -> tuple[Action, ...]:
        return (TagRole(self.role, dict(self.values)),) if self.values else ()


def _tag_params(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _tag_list(tags: Mapping[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(tags.items()))


@dataclass(frozen=True)
class AttachPolicy(_RoleAction):
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
class DetachPolicy(_RoleAction):
    NAME: ClassVar[str] = "detach_policy"
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
class RemoveFromInstanceProfile(_RoleAction):
    NAME: ClassVar[str] = "remove_from_instance_profile"
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
class AddToInstanceProfile(_RoleAction):
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


@dataclass(frozen=True)
class DeleteInlinePolicy(_RoleAction):
    NAME: ClassVar[str] = "delete_inline_policy"
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

    def inverse(self) -> tuple[Action, ...]:
        if self.document is None:
            return ()
        return (PutInlinePolicy(self.role, self.policy, self.document),)


@dataclass(frozen=True)
class DeleteRole(_RoleAction):
    NAME: ClassVar[str] = "delete_role"
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
