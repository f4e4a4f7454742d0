"""qbroles stackset: the roles in many accounts through a CloudFormation stack set."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from qbroles import session
from qbroles.catalog import ASSUME_ROLE
from qbroles.commands import comma_list, summary
from qbroles.errors import ExitCode, InputError, SafetyError
from qbroles.session import Settings

if TYPE_CHECKING:
    from qbroles.iam.gateway import Gateway
    from qbroles.stackset.model import StackSetPlan, Target


def _ids(_: Any, __: Any, value: str | None) -> tuple[str, ...]:
    return comma_list(value)


def _targets(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the options that name the stack set and where its instances go."""
    options = [
        click.option("--name", required=True, help="The stack set's name (letters, digits, -)."),
        click.option(
            "--ou", "ous", metavar="OU[,OU]", callback=_ids,
            help="The organizational units whose accounts get the roles (service-managed; the "
            "units under them too). Accounts that join one later get them (auto-deployment).",
        ),
        click.option(
            "--accounts", metavar="ID[,ID]", callback=_ids,
            help="The accounts that get the roles (with --self-managed).",
        ),
        click.option(
            "--regions", metavar="REGION", callback=_ids,
            help="The region the stacks are made in (default: the run's region); one, as IAM "
            "roles are global and named: a second region's stack would collide.",
        ),
        click.option(
            "--self-managed", is_flag=True,
            help="Self-managed permissions: CloudFormation reaches the accounts through "
            "--admin-role-arn and --execution-role-name, not through Organizations.",
        ),
        click.option(
            "--admin-role-arn", metavar="ARN",
            help="(--self-managed) The administration role CloudFormation uses.",
        ),
        click.option(
            "--execution-role-name", metavar="NAME",
            help="(--self-managed) The role CloudFormation assumes in each account.",
        ),
        click.option(
            "--delegated-admin", is_flag=True,
            help="Run from a delegated administrator account (CallAs DELEGATED_ADMIN), not the "
            "management account.",
        ),
        click.option(
            "--max-concurrent-percentage", type=click.IntRange(1, 100), default=25,
            show_default=True, help="Of a region's accounts, the share worked on at once.",
        ),
        click.option(
            "--failure-tolerance-percentage", type=click.IntRange(0, 100), default=0,
            show_default=True,
            help="Of a region's accounts, the share that may fail before CloudFormation stops.",
        ),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _target(gateway: Gateway, given: dict[str, Any]) -> Target:
    from qbroles.stackset.model import Target

    return Target(
        name=given["name"],
        regions=given["regions"] or (str(gateway.region),),
        ous=given["ous"],
        accounts=given["accounts"],
        self_managed=given["self_managed"],
        admin_role_arn=given["admin_role_arn"],
        execution_role_name=given["execution_role_name"],
        delegated_admin=given["delegated_admin"],
        max_concurrent=given["max_concurrent_percentage"],
        failure_tolerance=given["failure_tolerance_percentage"],
    )


def _check(given: dict[str, Any], *, delete: bool = False) -> None:
    """Refuse, before any AWS call, targets that do not fit the permission model."""
    import re

    from qbroles.accounts import check_ids

    check_ids(given["accounts"], given["ous"])
    if not re.fullmatch(r"[a-zA-Z][-a-zA-Z0-9]{0,127}", given["name"]):
        raise InputError(
            f"--name {given['name']!r}: a stack set's name is a letter, then letters, digits "
            "and hyphens, at most 128 (CreateStackSet, StackSetName)."
        )
    if len(given["regions"]) > 1:
        raise InputError(
            f"--regions {','.join(given['regions'])}: IAM roles are global and the template "
            "names them, so a second region's stack in the same account fails (already "
            "exists); give one region."
        )
    if given["self_managed"]:
        if given["ous"]:
            raise InputError("--self-managed targets accounts: give --accounts, not --ou.")
        if not (given["accounts"] or delete):
            raise InputError("--self-managed needs --accounts ID[,ID]: where the roles go.")
    elif given["accounts"] or given["admin_role_arn"] or given["execution_role_name"]:
        raise InputError(
            "--accounts, --admin-role-arn and --execution-role-name go with --self-managed; "
            "the default, service-managed, targets --ou."
        )
    elif not (given["ous"] or delete):
        raise InputError(
            "give --ou OU[,OU]: the organizational units whose accounts get the roles."
        )


@click.group(short_help=summary("stackset"))
def stackset() -> None:
    """Deploy, check and delete the roles in many accounts through a CloudFormation stack
    set whose template is qbroles export's (docs/many-accounts.md).

    \b
    Examples:
      qbroles stackset plan   --name questionbank-roles --ou ou-ab12-cdef3456
      qbroles stackset deploy --name questionbank-roles --ou ou-ab12-cdef3456 --yes
      qbroles stackset status --name questionbank-roles
      qbroles stackset delete --name questionbank-roles --yes
    """


def _planned(
    settings: Settings, given: dict[str, Any], *, prune: bool, delete: bool
) -> StackSetPlan:
    """Read what is deployed and make the plan (the spec's template, the targets' accounts)."""
    from qbroles.accounts import listed
    from qbroles.export import cloudformation, one_account_warnings
    from qbroles.stackset.cloud import observe
    from qbroles.stackset.model import plan

    spec = settings.spec()
    if not delete:
        for warning in one_account_warnings(spec, "stackset"):
            settings.say(warning)

    def work(gateway: Gateway, _: Any) -> StackSetPlan:
        target = _target(gateway, given)
        deployed = observe(gateway, target)
        accounts = list(target.accounts) or listed(gateway, target.ous)
        template = cloudformation(spec)
        owner = spec.identity
        return plan(deployed, target, template, accounts, owner=owner, prune=prune, delete=delete)

    found, _ = settings.run("qbroles: reading the stack set", work)
    return found


@stackset.command(name="plan")
@_targets
@click.option("--prune", is_flag=True, help="Also remove the instances outside the targets.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 1 when there are changes to deploy.")
@click.pass_obj
def plan_command(settings: Settings, /, prune: bool, detailed_exitcode: bool, **given: Any) -> int:
    """Show what deploy would do: the template's diff against the deployed stack set, and
    the accounts and regions that would gain an instance, or lose one (with --prune; kept
    without it). Read only."""
    from qbroles.commands.stackset_report import show_plan

    _check(given)
    found = _planned(settings, given, prune=prune, delete=False)
    show_plan(settings, found, err=False)
    if found.refusal:
        return ExitCode.SAFETY
    return ExitCode.DIFFERENCES if detailed_exitcode and found.changes else ExitCode.OK


@stackset.command()
@_targets
@click.option("--prune", is_flag=True, help="Also remove the instances outside the targets.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask (needed off a terminal).")
@click.pass_obj
def deploy(settings: Settings, /, prune: bool, yes: bool, **given: Any) -> int:
    """Create the stack set (service-managed, auto-deployment on) or update its template,
    then add the missing instances; wait on each operation and report each account's
    result. The plan is shown and asked about on a terminal; off one, --yes is needed (exit
    4). A stack set qbroles did not create is refused (exit 4). Exit 1 if an account's
    instance failed, with CloudFormation's reason."""
    _check(given)
    found = _planned(settings, given, prune=prune, delete=False)
    return _apply(settings, found, yes, "deploy")


@stackset.command()
@_targets
@click.option("--yes", "-y", is_flag=True, help="Do not ask (needed off a terminal).")
@click.pass_obj
def delete(settings: Settings, /, yes: bool, **given: Any) -> int:
    """Delete every instance of the stack set (their stacks, so the roles in each account),
    then the stack set. Asks on a terminal; off one, --yes is needed (exit 4). A stack set
    qbroles did not create is refused (exit 4)."""
    _check(given, delete=True)
    found = _planned(settings, given, prune=False, delete=True)
    return _apply(settings, found, yes, "delete")


def _apply(settings: Settings, found: StackSetPlan, yes: bool, command: str) -> int:
    from qbroles.commands.stackset_report import show_done, show_plan
    from qbroles.stackset.cloud import apply

    if found.refusal:  # said once, as the error
        raise SafetyError(found.refusal)
    show_plan(settings, found, err=True)
    if not found.changes:
        return ExitCode.OK
    question = f"{command} stack set {found.target.name} as shown"
    if not yes:
        if not session.interactive():
            raise SafetyError(
                f"stackset {command} writes in every account of the stack set; nobody is at a "
                "terminal to agree: review the plan (qbroles stackset plan), then give --yes."
            )
        if not session.ask(question, settings.console(stderr=True)):
            raise SafetyError(f"stackset {command} not confirmed; nothing was changed.")
    done, _ = settings.run(f"qbroles: {command}", lambda gateway, _: apply(gateway, found))
    show_done(settings, found, done, command)
    return ExitCode.OK if done.ok else ExitCode.DIFFERENCES


@stackset.command()
@click.option("--name", required=True, help="The stack set's name.")
@click.option("--delegated-admin", is_flag=True, help="Run from a delegated administrator account.")
@click.option(
    "--drift/--no-drift",
    default=True,
    show_default=True,
    help="Run CloudFormation's drift detection.",
)
@click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="Also verify each account's roles and live task definitions, through --assume-role.",
)
@click.option(
    "--assume-role",
    default=ASSUME_ROLE,
    show_default=True,
    help="The role assumed in each account to verify it.",
)
@click.pass_obj
def status(
    settings: Settings,
    name: str,
    delegated_admin: bool,
    drift: bool,
    verify: bool,
    assume_role: str,
) -> int:
    """List the stack set's instances and their status; run CloudFormation's drift detection
    (it sees only what the template sets); and verify each account's roles directly, every
    live task definition included, for what drift cannot see (a policy added by hand, a task
    definition the roles cannot start). Read only (drift detection is an operation of its
    own). Exit 1 if an instance is not current, one drifted, or an account's verify fails."""
    from qbroles.commands.stackset_report import show_status
    from qbroles.stackset.cloud import drift as detect
    from qbroles.stackset.cloud import observe
    from qbroles.stackset.model import Target

    spec = settings.spec()

    def work(gateway: Gateway, _: Any) -> tuple[Any, Any]:
        target = Target(name, (str(gateway.region),), delegated_admin=delegated_admin)
        deployed = observe(gateway, target)
        return deployed, (detect(gateway, target) if drift and deployed.instances else None)

    (deployed, drifted), _ = settings.run("qbroles: reading the stack set", work)
    if deployed.template is None:
        raise InputError(
            f"no stack set {name} in {settings.aws.region or 'the region'}; check --name and "
            "--region."
        )
    outcomes = []
    if verify and deployed.instances:
        from dataclasses import replace

        from qbroles import accounts
        from qbroles.reconcile import engine

        ids = tuple(sorted({i.account for i in deployed.instances}))
        there = replace(settings, accounts=accounts.Targets(ids, role_name=assume_role))
        outcomes = accounts.each(
            there, "verify", "qbroles: verifying",
            lambda gateway, progress: engine.verify(
                gateway, spec, kms_key_arn=settings.scope.kms_key_arn, live=True,
                workers=settings.workers, progress=progress,
            ),
        )  # fmt: skip
    return show_status(settings, name, deployed, drifted, outcomes)
