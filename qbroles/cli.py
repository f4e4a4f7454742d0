"""The command line: the qbroles group's global options, its exit codes, main()."""

from __future__ import annotations

import os
import signal
import sys

import click

from qbroles import __version__
from qbroles.catalog import (
    ASSUME_ROLE,
    CHECK_OUTPUTS,
    DEFAULT_APP,
    DEFAULT_BUDGET,
    DEFAULT_SPEC_FILE,
    DEFAULT_WORKERS,
    OUTPUTS,
    PRESETS,
)
from qbroles.errors import ExitCode
from qbroles.group import MAX_HELP_WIDTH, QbrolesGroup
from qbroles.streams import guard_streams, interrupt

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
  4    refused for safety (role not owned by qbroles, made by another spec
       for delete, changed hands meanwhile; delete or a risky change
       unconfirmed; plan: after the whole plan, what create would refuse)
  70   internal error (a bug: please report it with the traceback)
  130  interrupted
"""


@click.group(
    name="qbroles",
    cls=QbrolesGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": MAX_HELP_WIDTH},
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
    help=f"TOML file describing the roles (default: ./{DEFAULT_SPEC_FILE} when there is one "
    f"and no --preset or scope option is given, else the built-in {DEFAULT_APP} roles).",
)
@click.option(
    "--preset",
    type=click.Choice(PRESETS),
    help="Built-in roles: workshop (the deployment guide's broad managed policies; the default) "
    "or least-privilege (narrow inline policies scoped to the app's secrets, parameters and "
    "logs, and a trust that lets ECS assume the task role only on behalf of this account, "
    "in any region).",
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
    help="A table for people, one JSON document on stdout for scripts, or (verify and plan) "
    "a report for CI: junit, a test case per role and check; sarif (2.1.0, for code "
    "scanning), a result per difference, warning or unknown, on the line of the spec "
    "file or task definition file it comes from.",
)
@click.option(
    "--no-color",
    is_flag=True,
    help="No colours in tables and plans (also when NO_COLOR is set; off a terminal there are "
    "none anyway).",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Show every check of every role as a table, the passing ones too (by default: one "
    "line per role, then each difference and warning in full).",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Print only errors: no table, plan, progress or summary line; the exit code is the "
    "answer (-o json still writes its document; explain, outputs and export still print "
    "what they are asked for).",
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
    help="Roles worked on at the same time, at most, and as many of one role's independent "
    "writes; fewer while AWS throttles, then more again.",
)
@click.option(
    "--accounts",
    metavar="ID,ID...",
    help="verify, plan and outputs: read these accounts (12-digit IDs), each through "
    "--assume-role, and report them together; the exit code is the worst account's.",
)
@click.option(
    "--ou",
    "ous",
    metavar="OU,OU...",
    help="verify, plan and outputs: read every active account of these organizational units "
    "and the units under them (AWS Organizations, from the management or a delegated "
    "administrator account).",
)
@click.option(
    "--assume-role",
    "assume_role",
    metavar="NAME",
    default=ASSUME_ROLE,
    show_default=True,
    help="With --accounts or --ou: the role assumed in each account.",
)
@click.option(
    "--assume-role-arn",
    metavar="PATTERN",
    help="With --accounts or --ou: the role to assume, as an ARN with {account} for the "
    "account ID (arn:aws:iam::{account}:role/Auditor); instead of --assume-role.",
)
@click.option(
    "--account-workers",
    type=click.IntRange(1, 16),
    metavar="N",
    default=4,
    show_default=True,
    help="With --accounts or --ou: accounts read at the same time (each with its own retry "
    "budget and pacing: IAM's quotas are per account).",
)
@click.option(
    "--debug",
    is_flag=True,
    help="Print each AWS request to stderr as it is answered: service, operation, role or "
    "policy, status, attempt, time. Never a credential or a request body.",
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
    verbose: bool,
    quiet: bool,
    retry_budget: float,
    max_attempts: int | None,
    workers: int,
    accounts: str | None,
    ous: str | None,
    assume_role: str,
    assume_role_arn: str | None,
    account_workers: int,
    debug: bool,
) -> None:
    """Create, verify and delete the two IAM roles of an Amazon ECS / Fargate application.

    The Task Execution Role is what ECS needs to run the container (pull the image, ship the
    logs, inject secrets); the Task Role is what the application needs to do its job.

    The options below may also come after the command (qbroles create --profile prod), and
    each may be set in the environment as QBROLES_ and its name (QBROLES_PRESET,
    QBROLES_APP, QBROLES_OUTPUT=json; --region: AWS_REGION); an option given wins.

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
    from qbroles.session import Settings
    from qbroles.spec.presets import Scope

    targets = None
    if accounts or ous or assume_role_arn:  # the accounts module only when asked for
        from qbroles.accounts import Targets, refuse_writes
        from qbroles.commands import comma_list

        ids = (comma_list(accounts), comma_list(ous))
        targets = Targets(*ids, assume_role, assume_role_arn, account_workers)
        refuse_writes(ctx.invoked_subcommand or "", targets)
    if output in CHECK_OUTPUTS and ctx.invoked_subcommand not in (None, "verify", "plan"):
        raise click.UsageError(
            f"-o {output} reports checks, for verify and plan; {ctx.invoked_subcommand} has "
            "table and json."
        )

    ctx.obj = Settings(
        aws=AwsOptions(
            profile=profile,
            region=region,
            endpoint_url=endpoint_url,
            max_attempts=max_attempts,
            retry_budget=retry_budget,
            debug=debug,
        ),
        app=app,
        spec_path=spec_path,
        preset=preset,
        scope=Scope(secret_arns, ssm_path, log_group, kms_key_arn),
        output=output,
        workers=workers,
        color=not no_color,
        verbose=verbose,
        quiet=quiet,
        accounts=targets if targets is not None and targets.given else None,
    )


def main() -> None:
    """Run the qbroles command line (the console script)."""
    guard_streams()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, interrupt)
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
