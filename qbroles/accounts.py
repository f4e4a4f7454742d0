"""Many accounts (--accounts, --ou): the same read in each account, one report for all.

For each account qbroles assumes a role there (``--assume-role NAME``, default
OrganizationAccountAccessRole, the role AWS Organizations makes in the accounts it
creates: https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_access-cross-account-role.html;
or ``--assume-role-arn`` with ``{account}``), then runs the command's work there as in
one account, with its own connection, pacer and retry budget: IAM's quotas are per
account. Accounts are worked at the same time (``--account-workers``). --ou lists the
accounts of organizational units through AWS Organizations (ListAccountsForParent,
ListChildren for the units under them), from the management account or a delegated
administrator. Only reads go across accounts: writes are CloudFormation StackSets'.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from qbroles.catalog import ASSUME_ROLE, CHECK_OUTPUTS
from qbroles.errors import ExitCode, InputError, QbrolesError
from qbroles.streams import settle

if TYPE_CHECKING:
    from qbroles.iam.gateway import Gateway
    from qbroles.iam.pacing import Figures
    from qbroles.model.events import Progress
    from qbroles.session import Settings

T = TypeVar("T")
READS = ("verify", "plan", "outputs")  # the commands that take --accounts and --ou
_ACCOUNT = re.compile(r"\d{12}")
_OU = re.compile(r"ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}")


@dataclass(frozen=True)
class Targets:
    """Which accounts a run reads, and how it gets into each."""

    accounts: tuple[str, ...] = ()
    ous: tuple[str, ...] = ()
    role_name: str = ASSUME_ROLE
    role_arn: str | None = None  # a pattern with {account}
    workers: int = 4

    def __post_init__(self) -> None:
        check_ids(self.accounts, self.ous)
        if self.role_arn is not None and not re.fullmatch(
            r"arn:aws[a-z-]*:iam::\{account\}:role/[\w+=,.@/-]{1,512}", self.role_arn
        ):
            raise InputError(
                f"--assume-role-arn {self.role_arn!r} is not a role ARN with {{account}} "
                "for the account ID, such as arn:aws:iam::{account}:role/Auditor."
            )

    @property
    def given(self) -> bool:
        return bool(self.accounts or self.ous)

    def role(self, account: str, partition: str) -> str:
        if self.role_arn:
            return self.role_arn.replace("{account}", account)
        return f"arn:{partition}:iam::{account}:role/{self.role_name}"


@dataclass(frozen=True)
class Outcome:
    """One account's result, or why there is none."""

    account: str
    result: Any = None
    figures: Figures | None = None
    error: QbrolesError | None = None


def check_ids(accounts: Sequence[str], ous: Sequence[str]) -> None:
    """Refuse, before any call, --accounts that are not account IDs and --ou that are not
    organizational unit IDs (the global options, and qbroles stackset's)."""
    for account in accounts:
        if not _ACCOUNT.fullmatch(account):
            raise InputError(f"--accounts: {account!r} is not a 12-digit AWS account ID.")
    for ou in ous:
        if not _OU.fullmatch(ou):
            raise InputError(
                f"--ou: {ou!r} is not an organizational unit ID such as ou-ab12-cdef3456."
            )


def refuse_writes(command: str, targets: Targets | None) -> None:
    """Refuse --accounts and --ou for what they cannot serve: writes go through StackSets."""
    if targets is None or not targets.given or command in (*READS, "permissions"):
        return  # permissions: the policy the caller of a many-account read needs too
    if command == "stackset":
        raise InputError(
            "qbroles stackset takes its targets after the subcommand, as in qbroles stackset "
            "deploy --name NAME --ou OU; drop the --accounts or --ou before stackset."
        )
    raise InputError(
        f"{command} works on one account; --accounts and --ou are for "
        f"{', '.join(READS[:-1])} and {READS[-1]}. To write the roles in many accounts, "
        "use qbroles stackset deploy, a CloudFormation stack set (docs/many-accounts.md)."
    )


def each(
    settings: Settings, command: str, title: str, work: Callable[[Gateway, Progress], T]
) -> list[Outcome]:
    """Run ``work`` in every account the targets name, at the same time; an account that
    cannot be listed or assumed is an Outcome with its error, the others still run."""
    from concurrent.futures import ThreadPoolExecutor  # only when many accounts are read

    from qbroles.iam.connect import connect

    targets = settings.accounts
    assert targets is not None
    base = connect(settings.aws)
    partition = base.partition
    accounts = list(dict.fromkeys([*targets.accounts, *listed(base, targets.ous)]))
    if not accounts:
        raise InputError(f"--ou {', '.join(targets.ous)} holds no active account.")

    def one(account: str) -> Outcome:
        try:
            credentials = assume(base, targets.role(account, partition), command)
            there = replace(
                settings, aws=replace(settings.aws, credentials=credentials), accounts=None,
                quiet=True,
            )  # fmt: skip
            result, figures = there.run(title, work)
            return Outcome(account, result, figures)
        except QbrolesError as exc:
            return Outcome(account, error=exc)

    with ThreadPoolExecutor(max_workers=targets.workers) as pool:
        outcomes = list(pool.map(one, accounts))
    settle()  # every account read: a signal from now on does not change the answer
    return outcomes


def assume(base: Gateway, role_arn: str, command: str) -> tuple[str, str, str]:
    """Return the credentials of the role assumed (a one-line AwsError if refused)."""
    sts = base.service("sts", base.region or "us-east-1")
    with base.translating("AssumeRole", role_arn, client=sts, service="sts"):
        found = sts.assume_role(RoleArn=role_arn, RoleSessionName=f"qbroles-{command}")
    held = found["Credentials"]
    return held["AccessKeyId"], held["SecretAccessKey"], held["SessionToken"]


def listed(base: Gateway, ous: Sequence[str]) -> list[str]:
    """Return the active accounts of the organizational units and the units under them."""
    if not ous:
        return []
    org = base.service("organizations", "us-east-1")  # Organizations' endpoint is global
    found: list[str] = []
    pending = list(ous)
    while pending:
        parent = pending.pop(0)
        with base.translating("ListAccountsForParent", parent, subject="ou", client=org,
                              service="organizations"):  # fmt: skip
            for page in org.get_paginator("list_accounts_for_parent").paginate(ParentId=parent):
                found += [a["Id"] for a in page["Accounts"] if a.get("Status") == "ACTIVE"]
            for page in org.get_paginator("list_children").paginate(
                ParentId=parent, ChildType="ORGANIZATIONAL_UNIT"
            ):
                pending += [child["Id"] for child in page["Children"]]
    return found


def show_outputs(
    settings: Settings, form: str | None, merge: str | None, roles: Any, made_by: str
) -> int:
    """qbroles --accounts/--ou outputs: each account's role ARNs, as one JSON document keyed
    by account ({"executionRoleArn", "taskRoleArn"}, or the account's error and exit code);
    return the worst account's exit code."""
    import json

    import click

    from qbroles.outputs import arns_text, role_arns

    if merge or form not in (None, "json"):
        raise InputError(
            "with --accounts or --ou, outputs prints each account's ARNs as one JSON document; "
            "drop --merge and --format env/shell, or name one account's credentials instead."
        )
    outcomes = each(
        settings, "outputs", "qbroles: reading",
        lambda gateway, _: role_arns(gateway, roles, made_by, settings.workers),
    )  # fmt: skip
    document = {
        o.account: _not_read(o) if o.error is not None else json.loads(arns_text(o.result, "json"))
        for o in outcomes
    }
    click.echo(json.dumps(document, indent=2))
    failed = [o for o in outcomes if o.error is not None]
    for outcome in failed:
        settings.say(f"qbroles outputs: account {outcome.account}: {outcome.error}")
    return max((code(o) for o in failed), default=ExitCode.OK)


def code(outcome: Outcome, detailed: bool = False) -> int:
    """Return the exit code one account's outcome means."""
    if outcome.error is not None:
        return int(outcome.error.exit_code)
    return int(outcome.result.exit_code(detailed=detailed))


def document(outcomes: Sequence[Outcome], detailed: bool = False) -> dict[str, Any]:
    """Return the accounts' part of the JSON document: ok, and each account's report (or
    its error and exit code)."""
    from qbroles.report.render import report_document

    return {
        "ok": all(code(o, detailed) == 0 for o in outcomes),
        "accounts": {
            o.account: _not_read(o) if o.error is not None else report_document(o.result, o.figures)
            for o in outcomes
        },
    }


def _not_read(outcome: Outcome) -> dict[str, Any]:
    """Return what the JSON says of an account that could not be read: why, and its code."""
    return {"error": str(outcome.error), "exit_code": code(outcome)}


def print_accounts(settings: Settings, outcomes: Sequence[Outcome], detailed: bool = False) -> None:
    """Print each account's roles and differences under its ID, for people."""
    from qbroles.report.view import print_report

    out = settings.console()
    for outcome in outcomes:
        out.print(f"Account {outcome.account}", style="bold", markup=False)
        if outcome.error is not None:
            out.print(f"  x not read: {outcome.error}", markup=False)
        else:
            print_report(outcome.result, out, verbose=settings.verbose, steps=False)
        out.print("")
    if any(code(o, detailed) for o in outcomes):
        out.print(
            "An account's roles are mended in that account (with its credentials: qbroles "
            "plan, then create) or through the stack set that deploys them.",
            markup=False,
        )


def show(settings: Settings, command: str, outcomes: Sequence[Outcome], detailed: bool) -> int:
    """Render the accounts' reports as one: JSON keyed by account, or each account's
    roles and differences under its ID, then a summary line each; return the worst code."""
    from qbroles.report.render import write_json

    if settings.output == "json":
        write_json({"command": command, **document(outcomes, detailed)})
    elif settings.output in CHECK_OUTPUTS:
        import click

        from qbroles.report.ci import ci_report

        done = [(o.account, o.result, o.error) for o in outcomes]
        click.echo(ci_report(settings.output, done), nl=False)
    elif not settings.quiet:
        print_accounts(settings, outcomes, detailed)
    for outcome in outcomes:
        said = (
            f"not read: {outcome.error}"
            if outcome.error is not None
            else outcome.result.summary(with_failures=settings.output == "json").removeprefix(
                f"qbroles {command}: "
            )
        )
        settings.say(f"qbroles {command} {outcome.account}: {said}")
    return max((code(o, detailed) for o in outcomes), default=int(ExitCode.OK))
