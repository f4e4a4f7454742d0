"""What a command found and did: checks, per-role reports and the report of a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from qbroles.reconcile.actions import Action


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"


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

    @property
    def failed(self) -> bool:
        """Return whether this check makes the role differ from the spec (warnings do not)."""
        return not self.ok and self.severity is Severity.ERROR


@dataclass(frozen=True)
class RoleReport:
    """Everything one command found and did for one role."""

    name: str
    arn: str | None
    changes: tuple[Action, ...] = ()
    checks: tuple[Check, ...] = ()

    @property
    def ok(self) -> bool:
        return not any(check.failed for check in self.checks)


@dataclass(frozen=True)
class Report:
    """The result of one command: rendered as a table or as the JSON document."""

    command: str
    dry_run: bool
    roles: tuple[RoleReport, ...] = field(default_factory=tuple)
    # For create/delete: whether the plan had anything to do (done, or pending in a dry run).
    changed: bool = False
    # The restore file written before the run removed or replaced anything, if it did.
    backup: str | None = None

    @property
    def ok(self) -> bool:
        """Return whether the command succeeded: every role matches the spec.

        A dry run succeeds when it could make the plan; its roles' ``ok`` still tell
        whether each matches the spec now.
        """
        return self.dry_run or all(role.ok for role in self.roles)
