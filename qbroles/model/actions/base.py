"""What every action is: the IAM call it makes, its plan sign and JSON name, what it reads back."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from qbroles.policy.documents import document_diff

if TYPE_CHECKING:
    from qbroles.model.actions import Action


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

# The parts of a role that are read: "role" (GetRole: trust, description, tags, boundary,
# session) and its policies, "managed" and "inline" (the listings).
ALL_PARTS = frozenset({"role", "managed", "inline"})


@dataclass(frozen=True)
class RoleAction:
    role: str
    # The stable name in JSON output and restore files.
    NAME: ClassVar[str]
    # How a plan shows it: + adds (create, attach, put, tag), - removes, ~ changes in place.
    SIGN: ClassVar[str] = "~"
    # What it changes, and so what is read again to verify it (parts of ALL_PARTS).
    READS: ClassVar[frozenset[str]] = frozenset({"role"})
    # When it goes among the role's writes (see ``stages``): 0 makes the role, 1 marks it,
    # 2 adds and changes, 3 removes, 4 deletes the role.
    STAGE: ClassVar[int] = 2

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

    def details(self) -> list[str]:
        """Return the lines a plan shows under the action: what it grants or takes, in full.

        A rewritten document is shown as a diff from what IAM holds to what it will hold.
        """
        pair = self.change()
        return [] if pair is None else document_diff(*pair)

    def inverse(self) -> tuple[Action, ...]:
        """Return the actions that put back what this one removes or replaces.

        Empty when nothing is lost (additions). The restore file holds these.
        """
        return ()


def document_lines(document: Mapping[str, Any], sign: str = "") -> list[str]:
    """Return a policy document as indented JSON lines, each led by ``sign`` (+ new, - gone)."""
    return [f"{sign}{line}" for line in json.dumps(document, indent=2, default=str).splitlines()]


def tag_params(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def tag_list(tags: Mapping[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(tags.items()))


def stages(actions: Sequence[Action]) -> list[list[Action]]:
    """Return a role's actions in the rounds they go out in: each round's writes at the same
    time, once the round before has answered (its order within a round kept).

    0 CreateRole: the rest needs the role. 1 TagRole: a role being adopted is marked as
    qbroles' before anything else changes. 2 additions and in-place changes, then 3 the
    removals: a role being changed never lacks what its old or its new policies grant
    (as Terraform's create_before_destroy). 4 DeleteRole, once nothing holds it: IAM
    requires a role out of its instance profiles, detached and without inline policies
    ("Before attempting to delete a role, remove the following attached items",
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteRole.html).
    """
    rounds: dict[int, list[Action]] = {}
    for action in actions:
        rounds.setdefault(action.STAGE, []).append(action)
    return [rounds[stage] for stage in sorted(rounds)]
