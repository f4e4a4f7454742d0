"""What a command found and did: per-role reports and the report of a run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from qbroles.errors import ExitCode
from qbroles.model.actions import Action
from qbroles.model.checks import FINDING, TASK_KINDS, Check, CheckKind
from qbroles.model.verdict import TaskVerdict, Verdict


@dataclass(frozen=True)
class RoleReport:
    """Everything one command found and did for one role."""

    name: str
    arn: str | None
    changes: tuple[Action, ...] = ()
    checks: tuple[Check, ...] = ()
    # A plan's role that create refuses, and why; its changes are what the option named
    # (--adopt) would make of it, if any would.
    refusal: str | None = None
    allowed_by: str | None = None

    @property
    def ok(self) -> bool:
        return not any(check.failed for check in self.checks)

    @property
    def kept(self) -> list[Check]:
        """Return what the role has that the spec does not list: a difference that create
        keeps without --prune (and exits 1, as verify does), and --prune removes."""
        return [check for check in self.checks if not check.ok and check.kind is CheckKind.EXTRA]


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
    # verify --task-definition / --live-task-definitions: the verdict on each one.
    tasks: tuple[TaskVerdict, ...] = ()
    # verify --strict: a task definition that starts only if its unknowns hold fails too.
    strict: bool = False
    # --check-live-task-definitions: the live task definitions checked (None: not asked).
    live: tuple[str, ...] | None = None
    # A plan: what in it create asks a yes for (--yes off a terminal), if anything.
    needs_yes: str | None = None
    # The plan file: a plan saved there (plan --out), or a create applying the one saved.
    plan_file: str | None = None
    # A create's plan: the options it was made with, as typed (" --prune"): what applies it.
    flags: str = ""

    @property
    def ok(self) -> bool:
        """Return whether the command succeeded: every role matches the spec, and every
        task definition checked starts (with ``strict``, without an unknown).

        A dry run succeeds when it could make the plan; its roles' ``ok`` still tell
        whether each matches the spec now.
        """
        unsettled = self.strict and any(t.verdict is Verdict.STARTS_IF for t in self.tasks)
        if self.dry_run:  # a plan create would refuse is no plan to apply
            return not self.refused
        return all(role.ok for role in self.roles) and not unsettled

    @property
    def spec_label(self) -> str | None:
        """Return which spec the report is of, for people: "preset workshop, app Billing"."""
        return f"{self.spec['source']}, app {self.spec['app']}" if self.spec else None

    def to_read(self, check: Check) -> bool:
        """Return whether a failing check is one people must read. A dry run's checks
        describe the roles before the plan, which it would fix: of those only what the plan
        would break in live task definitions, and what it keeps that the spec lacks."""
        return check.failed and (
            not self.dry_run or check.kind in (CheckKind.LIVE, CheckKind.EXTRA)
        )

    @property
    def planned(self) -> bool:
        """Return whether this is a create's plan: qbroles plan, or create --dry-run (the
        same, reported the same but for the command's name)."""
        return self.dry_run and self.command in ("create", "plan")

    @property
    def noop(self) -> bool:
        """Return whether this is a create or plan with nothing to do and nothing to say but
        its summary line: no change, no difference left, nothing kept the spec lacks."""
        failed = any(check.failed for role in self.roles for check in role.checks)
        return self.command in ("create", "plan", "delete") and not (
            self.changed or failed or self.kept or self.refused
        )

    @property
    def shows_changes(self) -> bool:
        """Return whether there are changes to list: to make or made, or what --adopt would
        make of a role create refuses (``changed`` counts only what create would do)."""
        return any(role.changes for role in self.roles)

    @property
    def refused(self) -> list[RoleReport]:
        """Return the roles of a plan that create refuses (it exits 4, and so does plan)."""
        return [role for role in self.roles if role.refusal]

    @property
    def kept(self) -> list[Check]:
        """Return what roles have that the spec does not list, kept without --prune."""
        return [check for role in self.roles for check in role.kept]

    def exit_code(self, *, detailed: bool = False) -> ExitCode:
        """Return the exit code the report means: 0 every check passes, 1 some fail.

        ``detailed`` (plan --detailed-exitcode): 1 also when changes are pending, or
        something the spec does not list is kept (--prune would remove it).
        """
        if self.refused or (detailed and self.breaks):  # create would refuse this plan
            return ExitCode.SAFETY
        if (detailed and (self.changed or self.kept)) or not self.ok:
            return ExitCode.DIFFERENCES
        return ExitCode.OK

    @property
    def breaks(self) -> list[str]:
        """Return the live task definitions the plan would break (--check-live-...)."""
        found = [c.check for role in self.roles for c in role.checks if c.kind is CheckKind.LIVE]
        return sorted({name.split()[1] for name in found if name.startswith("live ")})

    def summary(self, *, with_failures: bool = False) -> str:
        """Return the one line for people, on stderr, that ends every command.

        ``with_failures``: each failure in full under it, for when no report for people was
        printed (-o json): which secret, which log group, which bucket.
        """
        if self.noop:  # like terraform: one line, naming the spec and what else to read
            return self._no_changes()
        head = self._head() + self._tasks_clause() + self._live_clause() + self._kept_clause()
        head += self._warnings_clause() + self._refused_clause()
        shown = [check for check in self._checks("failed") if self.to_read(check)]
        lines = [f"  {check.message}" for check in shown] if with_failures else []
        return "\n".join([f"qbroles {self.command}: {head}.", *lines])

    def _checks(self, which: str) -> list[Check]:
        """Return the roles' checks that fail ("failed") or warn ("warns")."""
        return [c for role in self.roles for c in role.checks if getattr(c, which)]

    def _no_changes(self) -> str:
        """Return the line of a create, plan or delete with nothing to do."""
        warned = self._checks("warns")
        spec = f"spec: {self.spec_label}" if self.spec_label else ""
        also = f"{plural(len(warned), 'warning')}, qbroles verify lists them" if warned else ""
        said = "; ".join(part for part in (spec, also) if part)
        said = f" ({said})" if said else ""
        roles = plural(len(self.roles), "role")
        if self.command == "delete":
            return f"qbroles delete: nothing to delete: none of the {roles} exists{said}."
        return f"qbroles {self.command}: No changes. {roles} in sync{said}."

    def _head(self) -> str:
        """Return what the command found or did: differences, changes planned or applied."""
        failed = self._checks("failed")
        roles = plural(len(self.roles), "role")
        if self.command == "verify":  # a task definition's needs are its verdict's
            failed = [check for check in failed if check.kind not in TASK_KINDS]
            differing = sum(
                1
                for role in self.roles
                if any(c.failed and c.kind not in TASK_KINDS for c in role.checks)
            )
            return (
                f"{plural(len(failed), 'difference')} in {differing} of {roles}"
                if failed
                else f"{roles} {'matches' if len(self.roles) == 1 else 'match'} the spec"
            )
        count = plural(sum(len(role.changes) for role in self.roles), "change")
        touched = plural(sum(1 for role in self.roles if role.changes), "role")
        # The plan file: saved there (plan --out), or the saved plan create applies.
        # Said without brackets: the warnings' count may follow in its own.
        filed = f"{', saved in' if self.command == 'plan' else ' from'} {self.plan_file}"
        filed = filed if self.plan_file else ""
        if self.dry_run:
            return (
                f"{count} planned for {touched}{filed}; nothing was changed"
                if self.shows_changes
                else "no changes planned"
            )
        head = f"{count} applied to {touched}{filed}" if self.changed else "no changes"
        failed = [check for check in failed if check.kind is not CheckKind.EXTRA]  # said below
        return head + (f", but {plural(len(failed), 'check')} still fail" if failed else "")

    def _tasks_clause(self) -> str:
        """Return the verdicts on the task definitions checked: each, or how many of each."""
        if not self.tasks:
            return ""
        alone = "; roles only, the resources were not read" if not self.tasks[0].resources else ""
        if len(self.tasks) <= 3:
            return "; " + "; ".join(task.said() for task in self.tasks) + alone
        counts = {
            verdict.value: sum(1 for task in self.tasks if task.verdict is verdict)
            for verdict in Verdict
        }
        said = ", ".join(f"{n} {verdict}" for verdict, n in counts.items() if n)
        return f"; of {plural(len(self.tasks), 'task definition')}: {said}" + alone

    def _live_clause(self) -> str:
        """Return what --check-live-task-definitions found: which would break, or which
        were checked and start as well after the change."""
        if self.live is None:
            return ""
        if self.breaks and not self.dry_run:  # applied with --force
            return (
                f"; applied with --force, it breaks live task definitions {', '.join(self.breaks)}"
            )
        if self.breaks:
            return (
                f"; the change would break live task definitions {', '.join(self.breaks)} "
                "(create refuses it, exit 4, unless --force)"
            )
        if not self.live:
            return "; no live task definition uses the roles"
        return f"; live task definitions checked, none would break: {', '.join(self.live)}"

    def _refused_clause(self) -> str:
        """Return what create would say of this plan: which roles it refuses (the run exits
        4), else what it asks a yes for first (--yes off a terminal)."""
        if self.refused:
            refuses = "delete refuses" if self.command == "delete" else "create refuses"
            return f"; {refuses} {', '.join(role.name for role in self.refused)} (exit 4)"
        if self.needs_yes:
            return f"; create asks first: {self.needs_yes} (--yes off a terminal)"
        return ""

    def _kept_clause(self) -> str:
        """Return what only --prune removes, kept: pending for --detailed-exitcode too."""
        kept = len(self.kept)
        if not kept:
            return ""
        return (
            f"; {plural(kept, 'thing')} not in the spec {'is' if kept == 1 else 'are'} kept "
            f"(create --prune removes {'it' if kept == 1 else 'them'})"
        )

    def _warnings_clause(self) -> str:
        """Return the warnings: a change of spec in a plan, the findings named in a create's
        plan, else how many."""
        warned = [c for c in self._checks("warns") if not (self.tasks and c.kind in TASK_KINDS)]
        clause = ""
        other = sum(1 for c in warned if c.kind is CheckKind.OTHER_SPEC)
        if other and self.dry_run:  # a change of mind, said in the summary too
            clause += (
                f"; {plural(other, 'role')} set by another spec or an earlier version of this "
                "one (create asks first)"
            )
        findings = [c.check.removeprefix(FINDING) for c in warned if c.kind is CheckKind.FINDING]
        if self.planned and findings:  # named, not only counted
            return clause + f"; security findings: {', '.join(sorted(set(findings)))}"
        return clause + (f" ({plural(len(warned), 'warning')})" if warned else "")


# One account's result, for the reports of many: its ID (None: the one account of a run),
# and its report, or why it could not be read.
AccountReport = tuple[str | None, Report | None, Exception | None]


def plural(number: int, noun: str) -> str:
    """Return "1 role", "2 roles": a count and its noun."""
    return f"{number} {noun}{'' if number == 1 else 's'}"
