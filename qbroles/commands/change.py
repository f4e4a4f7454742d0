"""The commands that change IAM to match the spec: create, and plan (its dry run)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from qbroles.commands import backup_option, live_regions_option, summary
from qbroles.errors import InputError, SafetyError
from qbroles.session import Settings


def _plan_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options create and plan share."""
    command = live_regions_option(command)  # listed after the others
    for option in reversed(
        [
            click.option(
                "--adopt",
                is_flag=True,
                help="Take over same-named roles that have no ManagedBy tag (tags and "
                "converges them); it is also the yes that applying this spec to qbroles' "
                "roles another spec set needs (--yes is that yes too). A role another "
                "tool's ManagedBy tag claims is never taken.",
            ),
            click.option(
                "--prune",
                is_flag=True,
                help="Also detach managed policies, and delete inline policies and a boundary, "
                "that the spec does not list.",
            ),
            click.option(
                "--detailed-exitcode",
                is_flag=True,
                help="With a dry run: exit 0 if there is nothing to do, 1 if changes are pending, "
                "4 if create would refuse them (a live task definition they would break, with "
                "--check-live-task-definitions); errors keep their own codes.",
            ),
            click.option(
                "--check-live-task-definitions",
                "check_live",
                is_flag=True,
                help="Check every ACTIVE task definition that uses the roles, in every enabled "
                "region (see --live-regions), against the roles as the plan would leave them, "
                "and name each one the change would break; create then refuses (exit 4) "
                "before any write, unless --force.",
            ),
        ]
    ):
        command = option(command)
    return command


@click.command(short_help=summary("create"))
@click.argument("saved", metavar="[PLAN]", required=False, type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Show the plan as a diff per role; change nothing.")
@_plan_options
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Go ahead without asking where a question is due: applying a spec other than the "
    "one that last set a role, removing a permissions boundary, rewriting the trust policy "
    "of an adopted role (needed off a terminal).",
)
@backup_option
@click.option(
    "--force",
    is_flag=True,
    help="With --check-live-task-definitions: apply even if live task definitions would break.",
)
@click.pass_obj
def create(
    settings: Settings,
    saved: str | None,
    dry_run: bool,
    adopt: bool,
    prune: bool,
    detailed_exitcode: bool,
    check_live: bool,
    live_regions: tuple[str, ...],
    yes: bool,
    backup: str | None,
    force: bool,
) -> int:
    """Create or repair every role of the spec, then verify it.

    Creates a missing role (trust, description, tags), updates a trust policy that differs
    and a description or maximum session the spec states, adds missing tags and attaches
    missing managed policies; a policy or boundary that does not exist stops it before any
    write (exit 2). What a role has that the spec does not list is reported and kept, a
    difference as verify says (exit 1); --prune removes it. A rerun changes nothing. A
    same-named role qbroles does not own is refused (exit 4) unless --adopt. Before removing
    or replacing anything it writes a restore file (see --backup). On a terminal it shows
    the plan and asks before removing or replacing anything, as terraform apply does (--yes
    skips it); elsewhere the options given are the consent. Applying a spec other than the
    one that last set a role (another preset or file, or an edited one: each role records a
    digest of what its spec said), removing a boundary, or rewriting an adopted role's trust
    needs --yes off a terminal (exit 4 without). Just before its first write each role is
    read again: one that changed hands since, or whose plan now removes or replaces
    something else, is not written (exit 4; on a terminal the new plan is asked about
    instead).

    With PLAN, a file qbroles plan --out wrote: applies exactly that plan, with the spec
    and options it was made from, and asks nothing (the file, reviewed, is the consent).
    It refuses (exit 4) before any write if IAM no longer holds the roles as the plan
    read them, naming each role and what changed, or if the credentials are of another
    account; a file changed since it was written is refused too (exit 2).

    \b
    Examples:
      qbroles create --dry-run
      qbroles create
      qbroles --app Billing create --prune
      qbroles plan --out plan.json && qbroles create plan.json
      qbroles -o json create | jq '.roles[].arn'
    """
    if detailed_exitcode and not dry_run:
        raise InputError(
            "--detailed-exitcode goes with --dry-run (or use qbroles plan); "
            "a create that applies exits 0 when the roles match."
        )
    if saved is not None:
        given = {"--adopt": adopt, "--prune": prune, "--check-live-task-definitions": check_live}
        given |= {"--live-regions": bool(live_regions), "--force": force}
        return _apply_saved(
            settings,
            saved,
            [name for name, used in given.items() if used],
            dry_run=dry_run,
            detailed=detailed_exitcode,
            backup=backup,
        )
    return _create(
        settings,
        dry_run=dry_run,
        adopt=adopt,
        prune=prune,
        detailed=detailed_exitcode,
        yes=yes,
        backup=backup,
        check_live=check_live,
        live_regions=live_regions,
        force=force,
    )


def _apply_saved(
    settings: Settings,
    file: str,
    options: list[str],
    *,
    dry_run: bool,
    detailed: bool,
    backup: str | None,
) -> int:
    """create PLAN: apply a saved plan, checked against IAM as it is now."""
    from qbroles.reconcile.replay import replay
    from qbroles.reconcile.saved import load
    from qbroles.spec.presets import Scope

    if options:
        raise InputError(
            f"{options[0]} cannot change a saved plan, which keeps the options it was made "
            f"with; drop it, or make the plan again with it (qbroles plan {options[0]} --out "
            f"{file})."
        )
    saved = load(file)
    named = settings.spec_path or settings.preset or settings.app or settings.scope != Scope()
    if named and settings.spec().digest != saved.spec["digest"]:
        raise SafetyError(
            f"plan file {file} was made from {saved.spec['source']} (app {saved.spec['app']}), "
            f"and the spec the options name says otherwise; nothing was changed: make the plan "
            f"again from that spec (qbroles plan --out {file}), or drop the spec options."
        )
    return settings.change(
        "qbroles: applying the saved plan",
        lambda gateway, progress: replay(
            gateway, saved, dry_run=dry_run, workers=settings.workers, progress=progress
        ),
        yes=True,  # the file, reviewed, is the consent; terraform apply PLAN asks nothing
        dry_run=dry_run,
        backup=backup,
        detailed=detailed,
        saved_from=file,
    )


@click.command(short_help=summary("plan"))
@_plan_options
@click.option(
    "--out",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Also save the plan in FILE (JSON, 0600), with what it was made from; qbroles "
    "create FILE applies exactly it, or refuses if IAM changed. A plan create would "
    "refuse is not saved; FILE is replaced only if it is a plan file.",
)
@click.pass_obj
def plan(
    settings: Settings,
    adopt: bool,
    prune: bool,
    detailed_exitcode: bool,
    check_live: bool,
    live_regions: tuple[str, ...],
    out: str | None,
) -> int:
    """Show what create would change, as a diff per role; change nothing (create --dry-run).

    Each role's changes are grouped under it: + adds (create, attach, put, tag), ~ changes
    in place, - removes; a new role's trust, description and tags and a new inline policy
    are shown in full, a trust or inline policy that differs as a JSON diff from what IAM
    holds to what the spec asks for. Then a line per role, what is kept that the spec
    lacks (--prune removes it), a role another spec set, and the security findings of the
    roles as the plan leaves them, named in the summary line. With -o json, each change
    also carries its "actual" and "expected" documents. A role create refuses is shown
    marked (with what --adopt would do, if allowed), then why; plan then exits 4.

    \b
    Examples:
      qbroles plan
      qbroles --preset least-privilege plan --prune
      qbroles plan --detailed-exitcode || echo "changes pending"   # 0 none, 1 pending
      qbroles plan --out plan.json      # review it, then: qbroles create plan.json
      qbroles -o json plan | jq '.roles[].changes[].description'
    """
    return _create(
        settings,
        command="plan",
        dry_run=True,
        adopt=adopt,
        prune=prune,
        detailed=detailed_exitcode,
        check_live=check_live,
        live_regions=live_regions,
        out=out,
    )


def _create(
    settings: Settings,
    *,
    command: str = "create",
    dry_run: bool,
    adopt: bool,
    prune: bool,
    detailed: bool,
    yes: bool = False,
    backup: str | None = None,
    check_live: bool = False,
    live_regions: tuple[str, ...] = (),
    force: bool = False,
    out: str | None = None,
) -> int:
    from qbroles.reconcile import engine

    if force and not check_live:
        raise InputError("--force goes with --check-live-task-definitions; drop it, or add that.")
    if live_regions and not check_live:
        raise InputError(
            "--live-regions goes with --check-live-task-definitions; drop it, or add that."
        )

    spec = settings.spec()
    return settings.change(
        "qbroles: planning" if dry_run else "qbroles: creating",
        lambda gateway, progress: engine.create_plan(
            gateway,
            spec,
            command=command,
            adopt=adopt,
            prune=prune,
            dry_run=dry_run,
            check_live=check_live,
            force=force,
            kms_key_arn=settings.scope.kms_key_arn,
            live_regions=live_regions,
            workers=settings.workers,
            progress=progress,
        ),
        yes=yes,
        dry_run=dry_run,
        backup=backup,
        detailed=detailed,
        save_to=out,
    )
