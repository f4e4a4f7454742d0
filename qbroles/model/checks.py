"""Checks: one verified property of one role, its severity and its kind."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"
    # What qbroles could not read or evaluate (a key policy of another account, a
    # condition): named with what would settle it, never taken as allowed (--strict: error).
    UNKNOWN = "unknown"


class CheckKind(Enum):
    """What a check is about: the readers ask this, never the check's name."""

    SPEC = "spec"  # what the spec says of the role (the default)
    EXTRA = "extra"  # something the role has that the spec does not list (--prune removes it)
    OTHER_SPEC = "other spec"  # whether this spec, or another, last set the role
    FINDING = "finding"  # a security finding: what the role may do that it should not need to
    TASK = "task"  # what starting a task definition needs of the role, or of a resource
    APP = "app"  # what the running task needs (FireLens output, ECS Exec): not a start condition
    LIVE = "live"  # a live task definition the planned change would break


# The kinds of what a task definition needs: said as its verdict, not as differences of
# the roles from their spec.
TASK_KINDS = (CheckKind.TASK, CheckKind.APP)

# How the checks of what a role has that the spec does not list begin: create keeps it
# (a difference, exit 1), and only --prune removes it.
EXTRA = "unexpected "
# The check that a role was last set by this spec (its identity and digest).
OTHER_SPEC = "made by this spec"
# The check of a role's ownership tag: its actual is None where no tool's tag claims it.
OWNED = "owned by qbroles"
# How security findings begin (broad policies, a trust open to confused deputies).
FINDING = "finding: "


@dataclass(frozen=True)
class Check:
    """One verified property of one role."""

    check: str
    ok: bool
    expected: Any
    actual: Any
    message: str
    severity: Severity = Severity.ERROR
    arn: str | None = None  # the full ARN of the policy checked, in its partition
    kind: CheckKind = CheckKind.SPEC
    # What a failing or warning check is read as, where its name says what holds when it
    # passes ("owned by qbroles" fails as "no tag ManagedBy=qbroles"); None: its name.
    heading: str | None = None
    # Where in the task definition the check comes from, as a JSON path
    # ("containerDefinitions[0]"): what the CI reports anchor it to; None: the role.
    at: str | None = None

    @property
    def failed(self) -> bool:
        """Return whether this check makes the role differ from the spec (warnings do not)."""
        return not self.ok and self.severity is Severity.ERROR

    @property
    def warns(self) -> bool:
        """Return whether this check is a warning to read (a finding, something kept, an
        unknown)."""
        return not self.ok and self.severity is not Severity.ERROR

    @property
    def unknown(self) -> bool:
        """Return whether this check could not be settled (see Severity.UNKNOWN)."""
        return not self.ok and self.severity is Severity.UNKNOWN
