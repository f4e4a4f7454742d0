"""The commands that take roles away and put them back: delete, restore."""

from __future__ import annotations

from typing import Any

import click

from qbroles import session
from qbroles.commands import backup_option, summary
from qbroles.errors import SafetyError
from qbroles.session import Settings


def _restore_files(_: Any, __: Any, incomplete: str) -> list[Any]:
    """Complete a restore file: the folder's own (.qbroles/backup-*.json), newest first,
    else any file, as the shell completes paths."""
    from glob import glob

    from click.shell_completion import CompletionItem

    from qbroles.reconcile.backup import FOLDER

    found = sorted(glob(f"{FOLDER}/backup-*.json"), reverse=True)
    mine = [CompletionItem(path) for path in found if path.startswith(incomplete)]
    return mine or [CompletionItem(incomplete, type="file")]


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
            gateway,
            spec,
            adopt=adopt,
            workers=settings.workers,
            progress=progress,
            dry_run=dry_run,
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
    from qbroles.reconcile import backup
    from qbroles.reconcile.restore import restore_plan

    restoring = backup.load(file)
    return settings.change(
        "qbroles: restoring",
        lambda gateway, progress: restore_plan(
            gateway, restoring, workers=settings.workers, progress=progress
        ),
        yes=yes,
        dry_run=dry_run,
    )
