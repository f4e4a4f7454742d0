"""The commands that change IAM: create (and plan, its dry run), delete, restore."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from qbroles import session
from qbroles.commands import live_regions_option, summary
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


def _restore_files(_: Any, __: Any, incomplete: str) -> list[Any]:
    """Complete a restore file: the folder's own (.qbroles/backup-*.json), newest first,
    else any file, as the shell completes paths."""
    from glob import glob

    from click.shell_completion import CompletionItem

    from qbroles.reconcile.backup import FOLDER

    found = sorted(glob(f"{FOLDER}/backup-*.json"), reverse=True)
    mine = [CompletionItem(path) for path in found if path.startswith(incomplete)]
    return mine or [CompletionItem(incomplete, type="file")]


# The restore file, for the commands that may remove or replace something.
backup_option = click.option(
    "--backup",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Write the restore file here (default: .qbroles/backup-<UTC time>.json), before "
    "anything is removed or replaced; qbroles restore FILE puts it back.",
)


@click.command(short_help=summary("create"))
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

    \b
    Examples:
      qbroles create --dry-run
      qbroles create
      qbroles --app Billing create --prune
      qbroles -o json create | jq '.roles[].arn'
    """
    if detailed_exitcode and not dry_run:
        raise InputError(
            "--detailed-exitcode goes with --dry-run (or use qbroles plan); "
            "a create that applies exits 0 when the roles match."
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


@click.command(short_help=summary("plan"))
@_plan_options
@click.pass_obj
def plan(
    settings: Settings,
    adopt: bool,
    prune: bool,
    detailed_exitcode: bool,
    check_live: bool,
    live_regions: tuple[str, ...],
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
    )


@click.command(short_help=summary("delete"))
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (for scripts).")
@click.option("--dry-run", is_flag=True, help="Show what would be removed; change nothing.")
@click.option(
    "--adopt",
    is_flag=True,
    help="Also delete qbroles' roles that another spec (preset or file) made; without it they "
    "are refused (exit 4).",
)
@backup_option
@click.pass_obj
def delete(settings: Settings, yes: bool, dry_run: bool, adopt: bool, backup: str | None) -> int:
    """Delete the roles of the spec that qbroles owns.

    In the order IAM requires: removes each role from its instance profiles, detaches its
    managed policies, deletes its inline policies, then deletes it. A role without the
    ManagedBy=qbroles tag is refused (exit 4) and nothing is deleted. A role that is
    already gone is fine. Asks first on a terminal; elsewhere --yes is required (exit 4).
    Each role is read again just before its first write, and the restore file (see
    --backup) written from that read: qbroles restore FILE creates the roles again as
    they were. A role that changed hands since it was read is not touched (exit 4).

    \b
    Examples:
      qbroles delete --dry-run
      qbroles delete --yes
    """
    from qbroles.reconcile import engine

    spec = settings.spec()
    if not (yes or dry_run or session.interactive()):
        raise SafetyError(
            "delete needs confirmation and there is no terminal to ask on; "
            "pass --yes to delete, or --dry-run to see what would go."
        )

    return settings.change(
        "qbroles: deleting",
        lambda gateway, progress: engine.delete_plan(
            gateway, spec, adopt=adopt, workers=settings.workers, progress=progress
        ),
        yes=yes,
        dry_run=dry_run,
        backup=backup,
    )


@click.command(short_help=summary("restore"))
@click.argument("file", type=click.Path(dir_okay=False), shell_complete=_restore_files)
@click.option("--dry-run", is_flag=True, help="Show what would be put back; change nothing.")
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Go ahead without asking: needed off a terminal when the file grants access (a "
    "role made again, a trust, a policy attached or put, a boundary, an instance profile).",
)
@click.pass_obj
def restore(settings: Settings, file: str, dry_run: bool, yes: bool) -> int:
    """Put back what a create or delete removed or replaced, from the restore file it wrote.

    Re-creates deleted roles as they were (tagged as qbroles' own), re-attaches managed
    policies, puts inline policies, a permissions boundary, tag values, the trust policy
    and description back. It only adds and rewrites, and only what IAM does not hold
    already: what was added since stays, and a file with nothing left to do changes
    nothing. The whole file is checked before any AWS call (exit 2), as a spec is. It is
    shown as a plan; whatever in it grants access (a role made again, a trust, a policy,
    a boundary, an instance profile) is asked about on a terminal and needs --yes off one
    (exit 4 without), as a hand-edited file may grant more than was removed. A role that
    exists but is not qbroles', or a file of another account or partition, is refused
    (exit 4).

    \b
    Examples:
      qbroles restore .qbroles/backup-20261128T101500Z.json --dry-run
      qbroles restore .qbroles/backup-20261128T101500Z.json --yes
    """
    from qbroles.reconcile import backup, engine

    restoring = backup.load(file)
    return settings.change(
        "qbroles: restoring",
        lambda gateway, progress: engine.restore_plan(
            gateway, restoring, workers=settings.workers, progress=progress
        ),
        yes=yes,
        dry_run=dry_run,
    )
