"""The actions on a role's tags."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from qbroles.model.actions.base import IamCall, RoleAction, tag_list, tag_params

if TYPE_CHECKING:
    from qbroles.model.actions import Action


@dataclass(frozen=True)
class TagRole(RoleAction):
    NAME: ClassVar[str] = "tag_role"
    STAGE: ClassVar[int] = 1
    SIGN: ClassVar[str] = "+"
    tags: Mapping[str, str]
    # The values these keys had, for keys that were there already (IAM replaces them).
    before: Mapping[str, str] = field(default_factory=dict, compare=False)

    def call(self) -> IamCall:
        return IamCall("TagRole", {"RoleName": self.role, "Tags": tag_params(self.tags)})

    def describe(self) -> str:
        was = f" (was {tag_list(self.before)})" if self.before else ""
        return f"tag {self.role} with {self.target}{was}"

    @property
    def target(self) -> str | None:
        return tag_list(self.tags)

    def removed(self) -> Any:
        return dict(self.before) or None

    def inverse(self) -> tuple[Action, ...]:
        return (TagRole(self.role, dict(self.before)),) if self.before else ()


@dataclass(frozen=True)
class UntagRole(RoleAction):
    NAME: ClassVar[str] = "untag_role"
    STAGE: ClassVar[int] = 3
    SIGN: ClassVar[str] = "-"
    keys: tuple[str, ...]
    values: Mapping[str, str] = field(default_factory=dict, compare=False)  # what goes

    def call(self) -> IamCall:
        return IamCall("UntagRole", {"RoleName": self.role, "TagKeys": list(self.keys)})

    def describe(self) -> str:
        shown = tag_list(self.values) if self.values else self.target
        return f"untag {self.role}: {shown}"

    @property
    def target(self) -> str | None:
        return ", ".join(self.keys)

    def removed(self) -> Any:
        return dict(self.values) or None

    def inverse(self) -> tuple[Action, ...]:
        return (TagRole(self.role, dict(self.values)),) if self.values else ()
