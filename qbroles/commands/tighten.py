"""qbroles tighten: a spec narrowed to what the task definitions need, proven first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from qbroles.commands import exec_option, live_regions_option, summary
from qbroles.errors import ExitCode, SafetyError
from qbroles.files import write_new
from qbroles.model.report import plural
from qbroles.report.render import write_json
from qbroles.session import Settings, ask, interactive
from qbroles.spec.write import commented_toml

if TYPE_CHECKING:
    from qbroles.reconcile.tighten import Tightened


@click.command(short_help=summary("tighten"))
@click.option(
    "--task-definition",
    "task_definitions",
    multiple=True,
    metavar="FILE|FAMILY[:REV]|ARN",
    help="Evidence: a task definition that uses the execution role, as a JSON file or read "
    "from ECS in the run's region; repeat for more. Without it, the live ones are read.",
)
@click.option(
    "--live/--no-live",
    default=None,
    help="Read as evidence every ACTIVE task definition, in every enabled region (see "
    "--live-regions), that names the spec's execution role by its whole ARN (default: on "
    "when no --task-definition is given).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Write the tightened spec to this file (default: standard output). Never replaces "
    "a file unless --force.",
)
@click.option("--force", is_flag=True, help="Let --out replace a file that exists.")
@click.option(
    "--write",
    is_flag=True,
    help="Replace ./qbroles.toml (or the --spec file) with the tightened spec, after showing "
    "the difference and asking (--yes off a terminal); its comments and layout are kept.",
)
@click.option(
    "--usage-days",
    type=click.IntRange(1, 400),
    default=90,
    show_default=True,
    help="The task role's window: what IAM's last-accessed data shows unused for this many "
    "days is left out (IAM keeps 400 days). A role younger than this is not judged.",
)
@click.option(
    "--keep-task-role",
    is_flag=True,
    help="Leave the task role's grants as they are (its trust still gains the confused-deputy "
    "conditions): narrow the execution role only.",
)
@click.option(
    "--check-no-new-access",
    is_flag=True,
    help="Also ask IAM Access Analyzer (CheckNoNewAccess, on a real account) that each "
    "tightened document grants nothing today's policies do not.",
)
@click.option(
    "--access-analyzer",
    "trail_arn",
    metavar="TRAIL_ARN",
    help="Also ask IAM Access Analyzer which actions the task role used, from this CloudTrail "
    "trail (at most 90 days; evidence of use only: what it does not show is not taken as "
    "unused). Needs --access-analyzer-role.",
)
@click.option(
    "--access-analyzer-role",
    "access_role",
    metavar="ROLE_ARN",
    help="The service role Access Analyzer reads the trail with.",
)
@click.option("--yes", "-y", is_flag=True, help="With --write: replace the file without asking.")
@exec_option
@live_regions_option
@click.pass_obj
def tighten(
    settings: Settings,
    task_definitions: tuple[str, ...],
    live: bool | None,
    out: str | None,
    force: bool,
    write: bool,
    usage_days: int,
    keep_task_role: bool,
    check_no_new_access: bool,
    trail_arn: str | None,
    access_role: str | None,
    yes: bool,
    exec_: bool,
    live_regions: tuple[str, ...],
) -> int:
    """Narrow both roles to what the evidence shows they need, and prove it. Read only.

    The execution role: what the task definitions that use it need (image pulls on their
    ECR repositories, their log groups, each secret and parameter by full ARN, the
    customer KMS keys found under them, their S3 objects), as verify --task-definition
    checks it, read the same way; one inline policy, no managed one. The task role:
    today's statements, resources and conditions, less what IAM's last-accessed data
    shows unused for --usage-days (services, and the actions IAM tracks). What IAM does
    not track stays, marked unproven; what the task definitions show (FireLens, EFS; ECS
    Exec where a service turns it on, or --exec) and what Access Analyzer saw
    (--access-analyzer) stay. Its trust gains the confused-deputy conditions. Where a
    read is refused, the evidence is named as missing and today's grant kept.

    The result is a spec in the format init writes, each statement under a comment naming
    its evidence, offered only when the proof holds: each evidence task definition starts
    with the roles as create --prune would leave them, and the tightened roles grant
    nothing today's do not. The findings of the result, the plan against IAM and the
    difference from the active spec are shown on stderr. Else exit 1, naming the task
    definition or the grant. No evidence is exit 1 too: a role granting nothing would stop
    every task, and a role younger than --usage-days has not shown what it does not use.

    \b
    Examples:
      qbroles tighten --out tightened.toml
      qbroles tighten --write                 # replace ./qbroles.toml, after asking
      qbroles tighten --task-definition taskdef.json --no-live --keep-task-role
      qbroles --spec tightened.toml plan --prune --check-live-task-definitions
    """
    from qbroles.reconcile.taskdef import file_or_reference
    from qbroles.reconcile.tightening import TightenOptions
    from qbroles.reconcile.tightening import tighten as work

    spec = settings.spec()
    read = {name: file_or_reference(name) for name in task_definitions}
    files = [(name, task) for name, (task, _) in read.items() if task is not None]
    references = [reference for _, reference in read.values() if reference is not None]
    options = TightenOptions(
        live=live if live is not None else not task_definitions,
        regions=live_regions,
        kms_key_arn=settings.scope.kms_key_arn,
        usage_days=usage_days,
        keep_task_role=keep_task_role,
        check_no_new_access=check_no_new_access,
        exec_=exec_,
        trail_arn=_arn(trail_arn, "--access-analyzer", "cloudtrail", "trail/"),
        access_role=_arn(access_role, "--access-analyzer-role", "iam", "role/"),
    )
    if bool(trail_arn) != bool(access_role):
        raise click.UsageError("--access-analyzer and --access-analyzer-role go together.")

    def run(gateway: Any, progress: Any) -> Tightened | str:
        from qbroles.reconcile.taskcheck import from_ecs

        given = [*files, *((name, from_ecs(gateway, name)) for name in references)]
        return work(gateway, spec, given, options, workers=settings.workers, progress=progress)

    if write and out is not None:
        raise click.UsageError("--write replaces the spec file; --out writes another: give one.")
    path, old = _active(settings)
    if write and not yes and not interactive():  # before the run: nobody can answer
        raise SafetyError(
            f"--write replaces {path}; off a terminal that needs --yes; nothing was written."
        )
    result, _ = settings.run("qbroles: reading the evidence", run)
    if isinstance(result, str):
        settings.say(f"qbroles tighten: {result}")
        return ExitCode.DIFFERENCES
    for line in _proof_lines(result):
        settings.say(line)
    if not settings.quiet:
        from qbroles.report.view import print_plans

        settings.say("qbroles tighten: against the roles in IAM, create --prune would:")
        print_plans(result.changes, settings.console(stderr=True))
    text = commented_toml(result.spec, spec.source, result.notes, writer="qbroles tighten")
    if settings.output == "json":
        write_json(_document(result, text if result.proven else None))
    if not result.proven:
        settings.say("qbroles tighten: the proof does not hold; no spec is offered.")
        return ExitCode.DIFFERENCES
    shown = old or commented_toml(spec, spec.source)  # the active spec, as a file
    if write:
        where = _write(settings, path, old, shown, result, text, yes)
    else:
        if not settings.quiet and settings.output != "json":
            _show_difference(shown, text, path)
        where = f" (written to {out})" if out not in (None, "-") else ""
        if where:
            write_new(str(out), text, force=force)
        elif settings.output != "json":
            click.echo(text, nl=False)
    counts = "; ".join(
        f"{role} from {before} to {after}" if after is not None else f"{role} kept ({before})"
        for role, (before, after) in result.pairs.items()
    )
    settings.say(
        f"qbroles tighten: (action, resource) pairs granted: {counts}{where}, proven on "
        f"{plural(len(result.evidence), 'task definition')}; next: "
        f"{_next(where, out)} shows what it removes, then qbroles create --prune applies it."
    )
    return ExitCode.OK


def _arn(value: str | None, option: str, service: str, kind: str) -> str | None:
    """Return the ARN given, checked before any AWS call (InputError names the option)."""
    import re

    from qbroles.errors import InputError

    pattern = rf"arn:aws[a-z-]*:{service}:[a-z0-9-]*:\d{{12}}:{kind}.+"
    if value is not None and not re.fullmatch(pattern, value):
        raise InputError(
            f"{option} {value} is not an ARN of the form arn:aws:{service}:…:{kind}NAME; "
            "give the whole ARN."
        )
    return value


def _next(where: str, out: str | None) -> str:
    spec = "" if where.startswith(" (written to ./") else f"--spec {out or 'FILE'} "
    return f"qbroles {spec}plan --prune --check-live-task-definitions"


def _write(
    settings: Settings, path: str, old: str, shown: str, result: Tightened, text: str, yes: bool
) -> str:
    """Replace the spec file ``path`` (its text ``old``; none for a preset, then written as
    ./qbroles.toml) with the tightened spec, edited in place where its layout allows, after
    showing the difference from the active spec (``shown``) and asking; return where."""
    from qbroles.spec.edit import edited

    written, kept = edited(old, result.spec, result.notes, "qbroles tighten") if old else (
        text, False
    )  # fmt: skip
    _show_difference(shown, written, path)
    if old and not kept:
        settings.say(f"qbroles tighten: {path} is written whole (its layout could not be kept).")
    if not yes and not ask(
        f"replace {path} with the tightened spec", settings.console(stderr=True)
    ):
        raise SafetyError(f"{path} was not replaced.")
    write_new(path, written, force=True)
    return f" (written to {'./' if '/' not in path else ''}{path})"


def _active(settings: Settings) -> tuple[str, str]:
    """Return the active spec's file (./qbroles.toml for a preset) and its text, if any."""
    from pathlib import Path

    from qbroles.catalog import DEFAULT_SPEC_FILE

    path = settings.spec_path or DEFAULT_SPEC_FILE
    return path, Path(path).read_text() if Path(path).is_file() else ""


def _show_difference(old: str, new: str, path: str) -> None:
    """Show on stderr the tightened spec against the active one, as a unified diff."""
    import difflib

    diff = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), path, f"{path} (tightened)"
    )
    click.echo("".join(diff), err=True, nl=False)


def _proof_lines(result: Tightened) -> list[str]:
    lines = [f"evidence: {one.label}" for one in result.evidence]
    lines += [f"not evidence: {why}" for why in result.skipped]
    lines += [f"evidence missing: {why}" for why in result.missing]
    if result.task is not None:
        lines += [f"task role, left out: {why}" for why in result.task.left_out]
        lines += [f"task role, kept unproven: {why}" for why in result.task.unproven]
    lines += [
        f"proof: {verdict.task} {verdict.verdict.value} with the tightened roles"
        + (f" ({'; '.join(verdict.because)})" if verdict.because else "")
        for verdict in result.starts
    ]
    lines += [
        f"proof fails: the tightened role would grant what today's does not: {wider}"
        for wider in result.wider
    ]
    lines += [f"finding of the tightened roles: {finding}" for finding in result.findings]
    return lines


def _document(result: Tightened, text: str | None) -> dict[str, Any]:
    return {
        "command": "tighten",
        "ok": result.proven,
        "evidence": [one.label for one in result.evidence],
        "not_evidence": list(result.skipped),
        "grants": [
            {
                "sid": g.sid,
                "actions": list(g.actions),
                "resources": list(g.resources),
                "evidence": list(g.why),
            }
            for g in result.grants
        ],
        "proof": {
            "task_definitions": [verdict.document() for verdict in result.starts],
            "new_access": list(result.wider),
            "findings": list(result.findings),
        },
        "task_role": None
        if result.task is None
        else {"left_out": list(result.task.left_out), "unproven": list(result.task.unproven)},
        "missing": list(result.missing),
        "pairs": {role: {"before": b, "after": a} for role, (b, a) in result.pairs.items()},
        "spec": text,
    }
