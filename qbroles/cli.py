"""The command line: click commands and their options. No AWS logic here."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn

import click

from qbroles import __version__, session
from qbroles.catalog import (
    DEFAULT_APP,
    DEFAULT_WORKERS,
    EXPORT_FORMATS,
    OUTPUT_FORMATS,
    OUTPUTS,
    PRESETS,
)
from qbroles.errors import ExitCode, InputError, QbrolesError, SafetyError
from qbroles.iam.pacing import DEFAULT_BUDGET
from qbroles.iam.partitions import PARTITION
from qbroles.session import Finished, Settings

if TYPE_CHECKING:  # imported where used, so that --help and usage errors stay instant
    from qbroles.reconcile.actions import RolePlan
    from qbroles.report.report import Report


EXIT_CODES_HELP = """\b
Exit codes:
  0    success; the roles match the spec
  1    verify found differences (create: the result still differs;
       plan --detailed-exitcode: changes pending; outputs: a role is
       missing or not the spec's own)
  2    usage error or invalid input (bad option, bad spec, invalid name,
       a malformed input file; stdout closed or full)
  3    AWS refused or could not be reached (credentials, profile, access
       denied, network, retries exhausted, an answer IAM never gives)
  4    refused for safety (role not owned by qbroles or made by another
       spec, changed hands meanwhile; delete or a risky change unconfirmed)
  70   internal error (a bug: please report it with the traceback)
  130  interrupted
"""


# A task definition in ECS: family, family:revision, or its ARN (RegisterTaskDefinition:
# a family is up to 255 letters, digits, hyphens and underscores).
TASK_REFERENCE = re.compile(
    rf"(arn:{PARTITION}:ecs:[a-z0-9-]+:\d{{12}}:task-definition/)?[A-Za-z0-9_-]{{1,255}}(:\d+)?"
)


class QbrolesGroup(click.Group):
    """The one error boundary: every command's result or error becomes an exit code here."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> NoReturn:
        extra["standalone_mode"] = False
        try:
            code = super().main(args=args, prog_name=prog_name or "qbroles", **extra)
            Finished.done = True  # a signal from now on does not change the answer
            sys.stdout.flush()  # a full or closed stdout is reported here, not at exit
        except QbrolesError as exc:
            click.echo(f"qbroles: error: {exc}", err=True)
            code = exc.exit_code
        except click.exceptions.Abort:
            click.echo("qbroles: interrupted; rerun the same command to finish.", err=True)
            code = ExitCode.INTERRUPTED
        except KeyboardInterrupt:
            click.echo("qbroles: interrupted; rerun the same command to finish.", err=True)
            code = ExitCode.INTERRUPTED
        except click.ClickException as exc:
            exc.show()
            code = ExitCode.USAGE
        except Exception:
            traceback.print_exc()
            click.echo(
                "qbroles: internal error (a bug in qbroles); please report it with the "
                "traceback above.",
                err=True,
            )
            code = ExitCode.BUG
        sys.exit(int(code or 0))


@click.group(
    name="qbroles",
    cls=QbrolesGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_CODES_HELP,
)
@click.version_option(__version__, "--version", prog_name="qbroles")
@click.option(
    "--profile", metavar="NAME", help="AWS named profile (default: AWS_PROFILE, else default)."
)
@click.option(
    "--region",
    metavar="NAME",
    envvar="AWS_REGION",
    show_envvar=True,
    help="AWS region (else AWS_DEFAULT_REGION or the profile's). IAM is global; the region "
    "picks the partition (every one botocore knows: aws, aws-cn, aws-us-gov, aws-iso*, "
    "aws-eusc).",
)
@click.option(
    "--endpoint-url",
    metavar="URL",
    help="Send every AWS call to this endpoint, e.g. a moto server "
    "(default: AWS_ENDPOINT_URL_IAM / AWS_ENDPOINT_URL).",
)
@click.option(
    "--app",
    metavar="NAME",
    help="Application name in the role names, {app}-ECS-TaskRole etc. (default: "
    f"{DEFAULT_APP}, or the spec's app).",
)
@click.option(
    "--spec",
    "spec_path",
    metavar="FILE",
    type=click.Path(),
    help=f"TOML file describing the roles (default: the built-in {DEFAULT_APP} roles).",
)
@click.option(
    "--preset",
    type=click.Choice(PRESETS),
    help="Built-in roles: workshop (the deployment guide's broad managed policies; the default) "
    "or least-privilege (narrow inline policies scoped to the app's secrets, parameters and "
    "logs, and a trust limited to this account and region).",
)
@click.option(
    "--secret-arn",
    "secret_arns",
    multiple=True,
    metavar="ARN",
    help="least-privilege: a secret the app reads, by its full ARN (ending in -XXXXXX) or a "
    "pattern (NAME-??????); a partial ARN, which IAM never matches, is refused (repeatable; "
    "default: the secrets named {app-lower}/* in the account and region).",
)
@click.option(
    "--ssm-path",
    metavar="PATH",
    help="least-privilege: the app's SSM parameter path (default: /{app-lower}/).",
)
@click.option(
    "--log-group",
    metavar="NAME",
    help="least-privilege: the app's log group (default: /ecs/{app-lower}).",
)
@click.option(
    "--kms-key-arn",
    metavar="ARN",
    help="least-privilege: the customer KMS key of the app's secrets, if any (adds kms:Decrypt).",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(OUTPUTS),
    default="table",
    show_default=True,
    help="A table for people, or one JSON document on stdout for scripts.",
)
@click.option(
    "--no-color",
    is_flag=True,
    help="No colours in tables and plans (also when NO_COLOR is set; off a terminal there are "
    "none anyway).",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Print only errors: no table, plan, progress or summary line; the exit code is the "
    "answer (-o json still writes its document).",
)
@click.option(
    "--retry-budget",
    type=float,
    metavar="SECONDS",
    default=DEFAULT_BUDGET,
    show_default=True,
    help="Seconds the run may spend, in all, waiting to retry calls AWS throttled or failed "
    "(5xx, lost answers); each wait grows exponentially, with jitter, up to 20 s. Once spent, "
    "the call fails (exit 3) and a rerun resumes. 0: no retries.",
)
@click.option(
    "--max-attempts",
    type=int,
    metavar="N",
    help="At most N attempts per AWS call (1-100; default: AWS_MAX_ATTEMPTS or the profile's "
    "max_attempts, else as many as the retry budget allows).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 16),
    metavar="N",
    default=DEFAULT_WORKERS,
    show_default=True,
    help="Roles worked on at the same time, at most (the calls for one role stay in order); "
    "fewer while AWS throttles, then more again.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    profile: str | None,
    region: str | None,
    endpoint_url: str | None,
    app: str | None,
    spec_path: str | None,
    preset: str | None,
    secret_arns: tuple[str, ...],
    ssm_path: str | None,
    log_group: str | None,
    kms_key_arn: str | None,
    output: str,
    no_color: bool,
    quiet: bool,
    retry_budget: float,
    max_attempts: int | None,
    workers: int,
) -> None:
    """Create, verify and delete the two IAM roles of an Amazon ECS / Fargate application.

    The Task Execution Role is what ECS needs to run the container (pull the image, ship the
    logs, inject secrets); the Task Role is what the application needs to do its job.

    \b
    Examples:
      qbroles demo                                  # the whole story on a local emulator
      qbroles explain                               # what the roles are for and grant
      qbroles plan                                  # what would change, changing nothing
      qbroles create                                # create or repair the two roles
      qbroles outputs                               # QB_EXECUTION_ROLE_ARN=... for scripts
      qbroles --preset least-privilege create       # narrow policies instead of broad ones
      qbroles -o json verify > state.json           # exit 0 in sync, 1 differences
      qbroles --endpoint-url http://127.0.0.1:5000 verify
    """
    from qbroles.iam.connect import AwsOptions
    from qbroles.spec.presets import Scope

    ctx.obj = Settings(
        aws=AwsOptions(
            profile=profile,
            region=region,
            endpoint_url=endpoint_url,
            max_attempts=max_attempts,
            retry_budget=retry_budget,
        ),
        app=app,
        spec_path=spec_path,
        preset=preset,
        scope=Scope(secret_arns, ssm_path, log_group, kms_key_arn),
        output=output,
        workers=workers,
        color=not no_color,
        quiet=quiet,
    )


def _plan_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options create and plan share."""
    for option in reversed(
        [
            click.option(
                "--adopt",
                is_flag=True,
                help="Take over same-named roles that have no ManagedBy tag (tags and "
                "converges them), and qbroles' roles another spec made (needed to --prune "
                "them); a role another tool's ManagedBy tag claims is never taken.",
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
                help="With a dry run: exit 0 if there is nothing to do, 1 if changes are pending "
                "(errors keep their own codes).",
            ),
            click.option(
                "--check-live-task-definitions",
                "check_live",
                is_flag=True,
                help="Check every ACTIVE task definition that uses the roles against the roles "
                "as the plan would leave them, and name each one the change would break; "
                "create then refuses (exit 4) before any write, unless --force.",
            ),
        ]
    ):
        command = option(command)
    return command


BACKUP_HELP = (
    "Write the restore file here (default: .qbroles/backup-<UTC time>.json), before anything "
    "is removed or replaced; qbroles restore FILE puts it back."
)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Show the plan as a diff per role; change nothing.")
@_plan_options
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Go ahead without asking where a question is due: removing a permissions boundary, "
    "rewriting the trust policy of an adopted role (needed off a terminal).",
)
@click.option("--backup", metavar="FILE", type=click.Path(dir_okay=False), help=BACKUP_HELP)
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
    yes: bool,
    backup: str | None,
    force: bool,
) -> int:
    """Create or repair every role of the spec, then verify it.

    Creates a missing role (trust policy, description, tags), updates a trust policy that
    differs and a description or maximum session the spec states, adds missing tags and
    attaches missing managed policies.
    Running it again changes nothing. A role of the same name that qbroles does not own
    is refused (exit 4) unless --adopt is given; nothing is changed then. Before it removes
    or replaces anything it writes a restore file (see --backup). Removing a permissions
    boundary, or rewriting the trust policy of a role being adopted, asks first on a
    terminal and needs --yes elsewhere (exit 4 without).

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
        force=force,
    )


@cli.command(short_help="Show what create would change, as a diff per role.")
@_plan_options
@click.pass_obj
def plan(
    settings: Settings, adopt: bool, prune: bool, detailed_exitcode: bool, check_live: bool
) -> int:
    """Show what create would change, as a diff per role; change nothing (create --dry-run).

    Each role's changes are grouped under it: + adds (create, attach, put, tag), ~ changes
    in place, - removes; a trust or inline policy that differs is shown as a JSON diff from
    what IAM holds to what the spec asks for. With -o json, each change also carries its
    "actual" and "expected" documents.

    \b
    Examples:
      qbroles plan
      qbroles --preset least-privilege plan --prune
      qbroles plan --detailed-exitcode || echo "changes pending"   # 0 none, 1 pending
      qbroles -o json plan | jq '.roles[].changes[].description'
    """
    return _create(
        settings,
        dry_run=True,
        adopt=adopt,
        prune=prune,
        detailed=detailed_exitcode,
        check_live=check_live,
    )


def _create(
    settings: Settings,
    *,
    dry_run: bool,
    adopt: bool,
    prune: bool,
    detailed: bool,
    yes: bool = False,
    backup: str | None = None,
    check_live: bool = False,
    force: bool = False,
) -> int:
    from qbroles.reconcile import engine

    if force and not check_live:
        raise InputError("--force goes with --check-live-task-definitions; drop it, or add that.")

    spec = settings.spec()
    saved: list[str] = []
    report = settings.run(
        "qbroles: planning" if dry_run else "qbroles: creating",
        lambda gateway, progress: engine.create(
            gateway,
            spec,
            adopt=adopt,
            prune=prune,
            dry_run=dry_run,
            approve=settings.approval(
                "create", yes=yes, backup=backup, progress=progress, question=_risky, saved=saved
            ),
            check_live=check_live,
            force=force,
            kms_key_arn=settings.scope.kms_key_arn,
            workers=settings.workers,
            progress=progress,
        ),
    )
    return settings.show(replace(report, backup=saved[0] if saved else None), detailed=detailed)


def _risky(plans: Sequence[RolePlan]) -> str | None:
    """Return what in a create's plan needs a yes: widening a role, changing whom it trusts."""
    from qbroles.reconcile.actions import DeleteBoundary, UpdateTrustPolicy

    risky = [
        action.describe()
        for plan in plans
        for action in plan.actions
        if isinstance(action, DeleteBoundary)
        or (plan.adopting and isinstance(action, UpdateTrustPolicy))
    ]
    return "; ".join(risky) if risky else None


@cli.command()
@click.option(
    "--strict", is_flag=True, help="Security findings fail the check (exit 1) instead of warning."
)
@click.option(
    "--task-definition",
    "task_definition",
    metavar="FILE|FAMILY[:REV]|ARN",
    help="Also check that the roles can start this ECS task: a JSON file (as register- or "
    "describe-task-definition has it), or, if no such file exists, a task definition read "
    "from ECS in the run's region. Image pulls, logs, secrets, files, role ARNs.",
)
@click.option(
    "--live-task-definitions",
    is_flag=True,
    help="Also check every ACTIVE task definition of the region whose execution or task role "
    "is one of the spec's roles, one verdict each (ListTaskDefinitions, "
    "DescribeTaskDefinition).",
)
@click.option(
    "--exec",
    "exec_",
    is_flag=True,
    help="The tasks run with ECS Exec turned on (it is switched on at run time, not in the "
    "task definition): also check the task role's ssmmessages permissions.",
)
@click.pass_obj
def verify(
    settings: Settings,
    strict: bool,
    task_definition: str | None,
    live_task_definitions: bool,
    exec_: bool,
) -> int:
    """Compare the roles in IAM with the spec, check by check. Read only.

    Checks for each role: it exists; its trust policy equals the spec's (compared by meaning);
    its description and maximum session, where the spec states them; each expected managed
    policy is attached; no other managed policy is attached; the spec's tags; the ownership
    tag (a warning only). Then security findings (warnings; failures with --strict): a
    trust policy without confused-deputy conditions (on the execution role, their presence
    is reported instead), one anyone or another account may use, broad managed policies,
    *:* grants, secrets readable but not decryptable under --kms-key-arn. Exit 0 in sync,
    1 not.

    \b
    Examples:
      qbroles verify
      qbroles --preset least-privilege verify --strict
      qbroles verify --task-definition taskdef.json    # before deploying: can it start?
      qbroles verify --task-definition questionbank:7  # read from ECS
      qbroles verify --live-task-definitions           # every task definition using them
      if qbroles -o json verify > state.json; then echo in sync; fi
    """
    from qbroles.reconcile import engine
    from qbroles.reconcile.taskdef import load_task_definition

    spec = settings.spec()
    task, reference = None, None
    if task_definition and (
        os.path.exists(task_definition) or not TASK_REFERENCE.fullmatch(task_definition)
    ):
        task = load_task_definition(task_definition)
    elif task_definition:
        reference = task_definition  # read from ECS once connected
    report = settings.run(
        "qbroles: verifying",
        lambda gateway, progress: engine.verify(
            gateway,
            spec,
            strict=strict,
            kms_key_arn=settings.scope.kms_key_arn,
            task=task,
            task_reference=reference,
            live=live_task_definitions,
            exec_=exec_,
            workers=settings.workers,
            progress=progress,
        ),
    )
    return settings.show(report)


@cli.command()
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (for scripts).")
@click.option("--dry-run", is_flag=True, help="Show what would be removed; change nothing.")
@click.option(
    "--adopt",
    is_flag=True,
    help="Also delete qbroles' roles that another spec (preset or file) made; without it they "
    "are refused (exit 4).",
)
@click.option("--backup", metavar="FILE", type=click.Path(dir_okay=False), help=BACKUP_HELP)
@click.pass_obj
def delete(settings: Settings, yes: bool, dry_run: bool, adopt: bool, backup: str | None) -> int:
    """Delete the roles of the spec that qbroles owns.

    In the order IAM requires: removes each role from its instance profiles, detaches its
    managed policies, deletes its inline policies, then deletes it. A role without the
    ManagedBy=qbroles tag is refused (exit 4) and nothing is deleted. A role that is
    already gone is fine. Asks first on a terminal; elsewhere --yes is required (exit 4).
    Before deleting, writes a restore file (see --backup): qbroles restore FILE creates
    the roles again as they were.

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

    saved: list[str] = []
    report = settings.run(
        "qbroles: deleting",
        lambda gateway, progress: engine.delete(
            gateway,
            spec,
            dry_run=dry_run,
            adopt=adopt,
            approve=settings.approval(
                "delete",
                yes=yes,
                backup=backup,
                progress=progress,
                question=lambda plans: "delete these roles",
                saved=saved,
            ),
            workers=settings.workers,
            progress=progress,
        ),
    )
    return settings.show(replace(report, backup=saved[0] if saved else None))


@cli.command(short_help="Put back what a create or delete removed, from its restore file.")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Show what would be put back; change nothing.")
@click.pass_obj
def restore(settings: Settings, file: str, dry_run: bool) -> int:
    """Put back what a create or delete removed or replaced, from the restore file it wrote.

    Re-creates deleted roles as they were, re-attaches managed policies, puts inline
    policies, a permissions boundary, tag values, the trust policy and description back.
    It only adds and rewrites: what was added since stays. A role that exists but is not
    qbroles' is refused (exit 4). The file is checked before any AWS call (exit 2).

    \b
    Examples:
      qbroles restore .qbroles/backup-20261128T101500Z.json --dry-run
      qbroles restore .qbroles/backup-20261128T101500Z.json
    """
    from qbroles.reconcile import backup, engine

    plans = backup.load(file)
    report = settings.run(
        "qbroles: restoring",
        lambda gateway, progress: engine.restore(
            gateway, plans, dry_run=dry_run, workers=settings.workers, progress=progress
        ),
    )
    return settings.show(report)


@cli.command(short_help="What each role is for and what its policies grant (no AWS call).")
@click.pass_obj
def explain(settings: Settings) -> int:
    """Explain the roles: what each is for, who uses it, what each policy grants. No AWS call.

    First the guide's table (Task Execution Role: what ECS needs to run the container;
    Task Role: what the application needs), then, for each role of the active spec or
    preset, its trust and one line per policy on what it grants, then the security notes
    on broad policies. With -o json, the same as one document.

    \b
    Examples:
      qbroles explain
      qbroles --preset least-privilege explain
      qbroles -o json explain | jq '.roles[].policies[].name'
    """
    from qbroles.explain import explain as explanation
    from qbroles.explain import print_explanation
    from qbroles.report.render import write_json

    preset = settings.preset or (None if settings.spec_path else "workshop")
    document = explanation(settings.spec(), preset)
    if settings.output == "json":
        write_json(document)
    elif not settings.quiet:
        print_explanation(document, settings.console())
    return ExitCode.OK


@cli.command()
@click.option(
    "--format",
    "form",
    type=click.Choice(OUTPUT_FORMATS),
    help="env: KEY=value lines (docker --env-file, $GITHUB_ENV); shell: export lines for "
    "eval; json: keyed like a task definition (default: json with -o json, else env).",
)
@click.option(
    "--merge",
    metavar="TASKDEF",
    type=click.Path(dir_okay=False),
    help="Print this task definition (register input or describe output) with "
    "executionRoleArn and taskRoleArn set to the roles' ARNs, instead of the ARNs alone.",
)
@click.option(
    "--out",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="With --merge: write the merged task definition to FILE instead of stdout.",
)
@click.option("--force", is_flag=True, help="With --out: replace FILE if it exists.")
@click.pass_obj
def outputs(
    settings: Settings, form: str | None, merge: str | None, out: str | None, force: bool
) -> int:
    """Print the role ARNs for the next deployment step. Read only.

    env and shell print QB_EXECUTION_ROLE_ARN and QB_TASK_ROLE_ARN; json prints
    executionRoleArn and taskRoleArn, the keys of an ECS task definition, so jq can merge
    it into one. Only roles that are the spec's own are printed: if one does not exist,
    is not qbroles', was made by another spec or has another path, prints nothing on
    stdout and exits 1 naming it (qbroles verify checks the rest). env values are
    literal, as docker and $GITHUB_ENV read them; an ARN whose path holds other
    characters than letters, digits and _+=,.@/:- is refused there (exit 2): use shell.

    \b
    Examples:
      qbroles outputs >> "$GITHUB_ENV"
      eval "$(qbroles outputs --format shell)"
      qbroles outputs --format json > roles.json
      qbroles outputs --merge taskdef.json --out taskdef-with-roles.json
    """
    from qbroles.catalog import RoleKind
    from qbroles.outputs import render, roles_by_kind
    from qbroles.reconcile import engine

    if (out or force) and not merge:
        raise InputError("--out and --force go with --merge TASKDEF; drop them, or add --merge.")
    if merge and form:
        raise InputError("--merge prints a task definition; drop --format.")
    spec = settings.spec()
    roles = roles_by_kind(spec)
    task = None
    if merge:
        from qbroles.reconcile.taskdef import load_task_definition

        task = load_task_definition(merge)
    arns = settings.run(
        "qbroles: reading",
        lambda gateway, _: engine.role_arns(gateway, roles, spec.identity, settings.workers),
    )
    if task is not None:
        text = json.dumps(task.with_roles(arns), indent=2) + "\n"
        if out:
            from qbroles.files import write_new

            write_new(out, text, force=force)
            settings.say(f"qbroles outputs: wrote {out} with the role ARNs set.")
            return ExitCode.OK
        click.echo(text, nl=False)
        return ExitCode.OK
    click.echo(render(arns, form or ("json" if settings.output == "json" else "env")), nl=False)
    described = ", ".join(
        f"{RoleKind(kind).task_definition_key} {role.name}" for kind, role in roles.items()
    )
    settings.say(f"qbroles outputs: {described}.")
    return ExitCode.OK


@cli.command(short_help="Write the active spec as a commented TOML file to customise.")
@click.argument("path", default="qbroles.toml", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@click.pass_obj
def init(settings: Settings, path: str, force: bool) -> int:
    """Write the active spec (preset and options applied) as a commented TOML file.

    PATH defaults to qbroles.toml; - writes to stdout. An existing file is not replaced
    without --force (exit 4). Edit the file, then pass it with --spec; role names keep
    their {app}, so --app still applies. No AWS call.

    \b
    Examples:
      qbroles init
      qbroles --preset least-privilege --ssm-path /qb/prod/ init prod.toml
      qbroles --spec prod.toml plan
    """
    from qbroles.files import write_new
    from qbroles.spec.write import commented_toml

    spec = settings.spec()
    origin = f"preset {settings.preset or 'workshop'}" if not settings.spec_path else spec.source
    text = commented_toml(spec, origin)
    if path == "-":
        click.echo(text, nl=False)
        return ExitCode.OK
    write_new(path, text, force=force)
    settings.say(f"qbroles init: wrote {path}; use it with qbroles --spec {path} plan.")
    return ExitCode.OK


@cli.command(short_help="Export the spec for CloudFormation StackSets or Terraform.")
@click.option(
    "--format",
    "form",
    type=click.Choice(EXPORT_FORMATS),
    default="cloudformation",
    show_default=True,
    help="cloudformation: a template (JSON or YAML); terraform: a JSON configuration (.tf.json).",
)
@click.option(
    "--out",
    metavar="FILE",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write to FILE instead of stdout; for cloudformation, .json gives JSON and "
    ".yaml/.yml YAML (stdout: YAML, or JSON with -o json).",
)
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.pass_obj
def export(settings: Settings, form: str, out: str | None, force: bool) -> int:
    """Export the active spec for CloudFormation (StackSets) or Terraform. No AWS call.

    The trust conditions, policy ARNs and inline policies use the template's own
    partition, account and region (AWS::Partition, AWS::AccountId, AWS::Region), so one
    template serves every account: roll it out to an organization with StackSets. The
    two role ARNs are stack outputs. The roles carry the spec's tags and
    ManagedBy=CloudFormation (or Terraform): they belong to the stack, and qbroles create
    and delete leave them alone (verify still checks them).

    \b
    Examples:
      qbroles export > roles.yaml
      qbroles --preset least-privilege export --out roles.json
      qbroles export --format terraform --out qbroles.tf.json
    """
    from qbroles import export as exporting
    from qbroles.files import write_new

    spec = settings.spec()
    if form == "terraform":
        if out not in (None, "-") and not str(out).endswith(".tf.json"):
            raise InputError(
                f"--out {out}: Terraform reads JSON configuration only from files ending in "
                ".tf.json; name it so."
            )
        text = json.dumps(exporting.terraform(spec), indent=2) + "\n"
    else:
        stdout = "json" if settings.output == "json" else "yaml"
        text = exporting.render(exporting.cloudformation(spec), out, stdout=stdout)
    if out in (None, "-"):
        click.echo(text, nl=False)
    else:
        write_new(out, text, force=force)
        settings.say(f"qbroles export: wrote {out} ({form}, {len(spec.roles)} role(s)).")
    return ExitCode.OK


@cli.command()
@click.pass_obj
def demo(settings: Settings) -> int:
    """Run the whole story on a local AWS emulator; no account needed.

    Runs in-process on moto, with no network. Creates the roles, verifies them, drifts one
    by hand (detaches a policy, attaches an extra one), shows verify catching it, repairs it
    with create --prune, and deletes the roles. Needs moto: pip install 'qbroles[local]'.
    Honours --app, --spec and --output.

    \b
    Examples:
      qbroles demo
      qbroles --app Billing demo
    """
    from qbroles.demo import run_demo
    from qbroles.report.render import report_document, write_json

    if settings.aws.endpoint_url or settings.aws.profile:
        raise InputError(
            "demo always runs on its own in-process emulator; drop --endpoint-url and --profile "
            "(use create/verify/delete to work on them)."
        )
    spec = settings.spec()
    if settings.output != "json":
        return run_demo(
            spec,
            settings.show,
            announce=lambda step: None if settings.quiet else settings.console().rule(step),
            workers=settings.workers,
        )
    steps: list[dict[str, Any]] = []
    current = [""]

    def record(report: Report) -> int:
        steps.append({"step": current[0], **report_document(report)})
        return report.exit_code()

    def announce(step: str) -> None:
        current[0] = step

    code = run_demo(spec, record, announce=announce, workers=settings.workers)
    write_json({"command": "demo", "ok": code == ExitCode.OK, "steps": steps})
    return code


def main() -> None:
    """Run the qbroles command line (the console script)."""
    _guard_streams()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _interrupt)
    try:
        cli.main()
    except SystemExit as done:
        if done.code == ExitCode.INTERRUPTED:
            # Workers may be blocked in a network read for a while; exiting normally would
            # wait for them. The message is out; leave now (a rerun converges).
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(ExitCode.INTERRUPTED)
        raise


def _interrupt(signum: int, frame: object) -> None:
    if not Finished.done:
        raise KeyboardInterrupt


class OutputError(QbrolesError):
    """Standard output could not be written: the answer did not reach its reader."""

    exit_code = ExitCode.USAGE


class _Guarded(io.TextIOBase):
    """A standard stream whose failures are the command's answer, never a traceback.

    A reader that stops early (``| head``) is no error: the rest is dropped and the exit
    code stays the command's. Any other failure of stdout (closed, full) is an
    OutputError (exit 2) at the write or flush that meets it; of stderr, nothing more can
    be said, so the rest is dropped. Once failed, the descriptor points at /dev/null, so
    the interpreter's last flush cannot fail again.
    """

    def __init__(self, stream: Any, fd: int, *, closed: bool = False) -> None:
        self._stream = stream
        self._fd = fd
        self._failed: str | None = "it is closed" if closed else None
        self._broken = False

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return bool(self._stream is not None and self._stream.isatty())

    def fileno(self) -> int:
        return self._fd

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self._stream, "encoding", None) or "utf-8")

    def write(self, text: str) -> int:
        if self._failed is not None:
            self._refuse()
        elif not self._broken:
            self._guarded(lambda: self._stream.write(text))
        return len(text)

    def flush(self) -> None:
        if self._failed is None and not self._broken:
            self._guarded(self._stream.flush)

    def _guarded(self, act: Callable[[], object]) -> None:
        try:
            act()
        except BrokenPipeError:
            self._broken = True
            self._to_null()
        except (OSError, ValueError) as exc:
            self._failed = getattr(exc, "strerror", None) or str(exc)
            self._to_null()
            self._refuse()

    def _refuse(self) -> None:
        if self._fd == 1:
            raise OutputError(
                f"cannot write to standard output ({self._failed}); what was to be printed "
                "there is lost."
            )

    def _to_null(self) -> None:
        with contextlib.suppress(OSError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._fd)
            os.close(null)


def _guard_streams() -> None:
    """Give closed standard streams /dev/null, and guard stdout and stderr (see _Guarded).

    A closed descriptor 0, 1 or 2 would otherwise be taken by the next file opened, and
    output meant for people or scripts would land in it.
    """
    closed = set()
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed.add(fd)
            os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)  # takes fd
    sys.stdout = _Guarded(sys.stdout, 1, closed=1 in closed)
    sys.stderr = _Guarded(sys.stderr, 2, closed=2 in closed)
