"""What a command found and did: checks, per-role reports and the report of a run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from qbroles.errors import ExitCode
from qbroles.reconcile.actions import Action


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"


# How the checks of what a role has that the spec does not list begin: create keeps it
# (a warning), and only --prune removes it.
EXTRA = "unexpected "


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
    # The active spec: where it came from (a preset, a file) and its app; None for restore.
    spec: Mapping[str, str] | None = None

    @property
    def ok(self) -> bool:
        """Return whether the command succeeded: every role matches the spec.

        A dry run succeeds when it could make the plan; its roles' ``ok`` still tell
        whether each matches the spec now.
        """
        return self.dry_run or all(role.ok for role in self.roles)

    @property
    def kept(self) -> list[Check]:
        """Return what roles have that the spec does not list, kept without --prune."""
        return [
            check
            for role in self.roles
            for check in role.checks
            if not check.ok and check.check.startswith(EXTRA)
        ]

    def exit_code(self, *, detailed: bool = False) -> ExitCode:
        """Return the exit code the report means: 0 every check passes, 1 some fail.

        ``detailed`` (plan --detailed-exitcode): 1 also when changes are pending, or
        something the spec does not list is kept (--prune would remove it).
        """
        if (detailed and (self.changed or self.kept)) or not self.ok:
            return ExitCode.DIFFERENCES
        return ExitCode.OK

    def summary(self) -> str:
        """Return the one line for people, on stderr, that ends every command."""
        roles = len(self.roles)
        failed = [c for role in self.roles for c in role.checks if c.failed]
        warned = [
            c
            for role in self.roles
            for c in role.checks
            if not c.ok and c.severity is Severity.WARNING
        ]
        count = sum(len(role.changes) for role in self.roles)
        if self.command == "verify":
            differing = sum(1 for role in self.roles if not role.ok)
            head = (
                f"{len(failed)} difference(s) in {differing} of {roles} role(s)"
                if failed
                else f"all {roles} role(s) match the spec"
            )
        elif not self.changed and self.command == "delete":
            head = f"nothing to delete: none of the {roles} role(s) exists"
        elif self.dry_run and not self.changed and self.kept:
            head = (
                f"no changes planned, but {len(self.kept)} thing(s) not in the spec are kept "
                "(create --prune removes them; dry run)"
            )
        elif self.dry_run and not self.changed:
            head = f"nothing to do: all {roles} role(s) already as specified (dry run)"
        elif self.dry_run:
            head = f"{count} change(s) planned for {roles} role(s); nothing was changed (dry run)"
        elif not self.changed:
            head = f"no changes: all {roles} role(s) already as specified"
        else:
            head = f"{count} change(s) applied to {roles} role(s)"
            if failed:
                head += f", but {len(failed)} check(s) still fail"
        if warned:
            head += f" ({len(warned)} warning(s))"
        # Each failure in full, whatever the width: which secret, which log group, which bucket.
        # A dry run's checks describe the roles before the plan, which it would fix; of those
        # only what the plan itself would break in live task definitions is listed.
        shown = [c for c in failed if c.check.startswith("live ")] if self.dry_run else failed
        lines = [f"  {check.message}" for check in shown]
        return "\n".join([f"qbroles {self.command}: {head}.", *lines])
