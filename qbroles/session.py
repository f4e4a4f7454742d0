"""Running a command: the settings, the spec, connecting, asking, showing the result."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import click

from qbroles.catalog import CHECK_OUTPUTS
from qbroles.errors import InputError, Interrupted, SafetyError
from qbroles.streams import settle

if TYPE_CHECKING:  # imported where used, so that --help and usage errors stay instant
    from rich.console import Console

    from qbroles.accounts import Targets
    from qbroles.iam.connect import AwsOptions
    from qbroles.iam.gateway import Gateway
    from qbroles.iam.pacing import Figures
    from qbroles.model.actions import RolePlan
    from qbroles.model.events import Progress
    from qbroles.model.report import Report
    from qbroles.reconcile.path import Plan
    from qbroles.spec.model import Spec
    from qbroles.spec.presets import Scope


T = TypeVar("T")


@dataclass
class Settings:
    """The global options, kept as given; the spec and AWS are reached only when a command runs."""

    aws: AwsOptions
    app: str | None
    spec_path: str | None
    preset: str | None
    scope: Scope
    output: str
    workers: int
    color: bool = True
    verbose: bool = False
    quiet: bool = False
    accounts: Targets | None = None  # --accounts / --ou: many accounts read

    def spec(self, *, folder: bool = True) -> Spec:
        """Load and validate the spec (no AWS call, no boto3 import): --spec, else --preset,
        else (if ``folder``) ./qbroles.toml if there is one, else the workshop preset."""
        from os.path import lexists

        from qbroles.catalog import DEFAULT_SPEC_FILE
        from qbroles.spec.load import load_spec
        from qbroles.spec.presets import Scope, preset_spec

        if self.spec_path is None:
            # Like terraform's *.tf: the spec of this folder, once init wrote it, so a plain
            # qbroles create cannot silently turn its roles back into the preset's.
            chosen = self.preset is not None or self.scope != Scope()
            # Anything by that name (a directory, a device, a broken link) is read, and
            # refused with its reason, rather than silently replaced by a preset.
            if folder and not chosen and lexists(DEFAULT_SPEC_FILE):
                return load_spec(DEFAULT_SPEC_FILE, self.app)
            return preset_spec(self.preset or "workshop", self.app, self.scope)
        if self.preset is not None or self.scope != Scope():
            raise InputError(
                "--spec describes the roles itself; drop --preset and the scope options "
                "(--secret-arn, --ssm-path, --log-group, --kms-key-arn), or drop --spec."
            )
        return load_spec(self.spec_path, self.app)

    def read(self, command: str, title: str, work: Callable[[Gateway, Progress], Report]) -> int:
        """Run a read and show its report; with --accounts or --ou, in every account."""
        if self.accounts is not None:
            from qbroles import accounts

            return accounts.show(self, command, accounts.each(self, command, title, work), False)
        report, figures = self.run(title, work)
        return self.show(report, figures)

    def run(self, title: str, work: Callable[[Gateway, Progress], T]) -> tuple[T, Figures]:
        """Connect, then do the work with progress shown on stderr if it is a terminal;
        return its result and the run's figures (requests, retries, waits).

        If the work fails after changing something, what it changed is listed first.
        """
        from qbroles.iam.connect import connect
        from qbroles.model.events import Progress
        from qbroles.report.progress import TerminalProgress

        shown = sys.stderr.isatty() and not self.quiet
        if shown:  # no live line without colour: --no-color and NO_COLOR mean no escape codes
            out = self.console(stderr=True)
            progress: Progress = TerminalProgress(out, title, live=out.color_system is not None)
        else:
            progress = Progress()
        gateway = connect(self.aws, progress)
        try:
            with progress:
                result = work(gateway, progress)
            settle()  # a signal from now on does not change the answer
            return result, gateway.pacer.figures()
        except (Exception, KeyboardInterrupt):  # errors, bugs and interrupts alike
            if progress.applied:
                from qbroles.report.render import describe_changes

                click.echo(
                    "qbroles: changed before it stopped (rerun the command to finish):\n"
                    + describe_changes(progress.applied),
                    err=True,
                )
            raise

    def change(
        self,
        title: str,
        make: Callable[[Gateway, Progress], Plan],
        *,
        yes: bool = False,
        dry_run: bool = False,
        backup: str | None = None,
        detailed: bool = False,
        save_to: str | None = None,
        saved_from: str | None = None,
    ) -> int:
        """Take a change down the one path and show its report; return the exit code.

        The plan is made (``make``: observe + plan), shown and consented to (a question on
        a terminal, --yes off one, as ``consent.asks`` says); just before the first write
        each role is read again, and if what the plan removes or replaces changed, the new
        plan is asked about again (off a terminal, or with --yes: stop, exit 4); the
        restore file is written from that read; then the writes, and the report.
        ``save_to``: a dry run's plan is saved there (plan --out), unless create would
        refuse it; ``saved_from``: the plan file applied, which was the consent.
        """
        if self.accounts is not None:  # plan only (refuse_writes): each account's report
            from qbroles import accounts
            from qbroles.reconcile import path

            if save_to is not None:
                raise InputError("plan --out saves one account's plan; drop --accounts/--ou.")
            outcomes = accounts.each(
                self, "plan", title, lambda g, p: path.report(make(g, p), dry_run=True)
            )
            return accounts.show(self, "plan", outcomes, detailed)
        from dataclasses import replace

        from qbroles.reconcile import backup as restore_file
        from qbroles.reconcile import path

        def work(gateway: Gateway, progress: Progress) -> tuple[Report, bool]:
            plan = make(gateway, progress)
            if dry_run or not plan.changing:
                pending = path.report(plan, dry_run=dry_run)
                # A plan create would refuse is no plan to apply: it is not saved.
                if save_to is not None and not (pending.refused or pending.breaks):
                    from qbroles.reconcile.saved import save

                    save(save_to, plan, gateway)
                    return replace(pending, plan_file=save_to), False
                return replace(pending, plan_file=saved_from), False
            shown = self._consent(plan, yes=yes, progress=progress)
            while True:
                fresh, drift = path.refresh(gateway, plan, workers=self.workers, progress=progress)
                if not drift:
                    break
                if yes or not interactive():
                    path.stop_if(drift, shown=shown)
                question = f"{'; '.join(drift)}. Apply the plan as it is now"
                self._ask(fresh, question, progress)
                plan, shown = fresh, True
            arns = [state.arn for state in fresh.observed.values() if state]
            saved = restore_file.save(fresh.changing, plan.command, backup, arns)
            if saved:
                self.say(
                    f"qbroles: kept what this run removes or replaces in {saved}; "
                    f"qbroles restore {saved} puts it back."
                )
            applied = path.apply(
                gateway, fresh, workers=self.workers, progress=progress, backup=saved
            )
            return replace(applied, plan_file=saved_from), shown

        (report, shown), figures = self.run(title, work)
        return self.show(report, figures, detailed=detailed, plan_shown=shown)

    def _consent(self, plan: Plan, *, yes: bool, progress: Progress) -> bool:
        """Ask where the plan needs a yes; return whether the plan was shown at a question.

        What ``consent.asks`` says needs a yes: --yes off a terminal (exit 4 without); what
        it asks only on a terminal: nothing off one, the options given being the consent.
        """
        from qbroles.reconcile.consent import asks

        needed, on_terminal = asks(plan)
        asked = needed or (on_terminal if interactive() else None)
        if not asked or yes:
            return False
        if not interactive():
            raise SafetyError(
                f"{asked}, which needs confirmation, and there is no terminal to ask on; pass "
                "--yes to go ahead, or see the plan with --dry-run; nothing was changed."
            )
        self._ask(plan, asked, progress)
        return True

    def _ask(self, plan: Plan, question: str, progress: Progress) -> None:
        """Show the plan and ask on the terminal; a no stops the run before any write."""
        with progress.paused():
            if not confirm(plan.changing, question, self.console(stderr=True)):
                raise SafetyError(f"{plan.command} not confirmed; nothing was changed.")

    def console(self, *, stderr: bool = False) -> Console:
        """Return the console people read, honouring --no-color."""
        from qbroles.report.render import console

        return console(stderr=stderr, color=self.color)

    def say(self, message: str) -> None:
        """Tell people something on stderr, unless --quiet."""
        if not self.quiet:
            click.echo(message, err=True)

    def show(
        self,
        report: Report,
        figures: Figures | None = None,
        *,
        detailed: bool = False,
        plan_shown: bool = False,
    ) -> int:
        """Render a report (JSON on stdout, or a table) and return the exit code it means.

        ``figures``: the run's requests and retries, reported with it. ``detailed``: a dry
        run exits 1 when it has changes pending (--detailed-exitcode). ``plan_shown``:
        people saw the plan at a question, so it is not listed again.
        """
        from qbroles.report.render import report_document, write_json
        from qbroles.report.view import print_report

        if self.output == "json":
            write_json(report_document(report, figures))
        elif self.output in CHECK_OUTPUTS:
            from qbroles.report.ci import ci_report

            click.echo(ci_report(self.output, [(None, report, None)]), nl=False)
        elif not self.quiet:
            out = self.console()
            print_report(report, out, verbose=self.verbose, plan_shown=plan_shown)
        retried = figures.line() if figures else None
        if retried:
            self.say(retried)
        self.say(report.summary(with_failures=self.output == "json"))
        return report.exit_code(detailed=detailed)


def interactive() -> bool:
    """Return whether someone is at a terminal to answer a question."""
    return sys.stdin.isatty()


def confirm(plans: Sequence[RolePlan], question: str, out: Console) -> bool:
    """Show the plan in full on ``out`` (stderr) and ask on the terminal; end of input is a
    no, Ctrl-C an interruption."""
    from qbroles.report.view import print_plans

    out.print("qbroles will:", markup=False)
    print_plans(((plan.role, plan.actions) for plan in plans), out)
    return ask(question, out)


def ask(question: str, out: Console) -> bool:
    """Ask a yes/no question on the terminal, wrapped at spaces to ``out``'s width; end of
    input is a no, Ctrl-C an interruption."""
    asked = f"{question[0].upper()}{question[1:]}? [y/N]:"
    wrapped = textwrap.fill(
        asked, max(out.width, 40), break_long_words=False, break_on_hyphens=False
    )
    click.echo(wrapped + " ", nl=False, err=True)  # at spaces; an ARN stays whole
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:  # Ctrl-C at the question: before any write
        click.echo("", err=True)
        raise Interrupted("interrupted at the question; nothing was changed.") from None
    if not answer:
        click.echo("", err=True)  # end of input: not confirmed
    return answer.strip().lower() in ("y", "yes")
