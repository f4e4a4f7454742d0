"""What every action is: the IAM call it makes, its plan sign and JSON name, what it reads back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from qbroles.reconcile.actions import Action


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
class RoleAction:
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


def tag_params(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def tag_list(tags: Mapping[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(tags.items()))
