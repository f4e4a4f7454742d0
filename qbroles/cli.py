"""The command line: the qbroles group, its global options, its exit codes, main()."""

from __future__ import annotations

import importlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from qbroles import __version__
from qbroles.catalog import (
    DEFAULT_APP,
    DEFAULT_BUDGET,
    DEFAULT_WORKERS,
    OUTPUTS,
    PRESETS,
)
from qbroles.commands import COMMANDS
from qbroles.errors import ExitCode, QbrolesError
from qbroles.streams import Finished, guard_streams, interrupt

MAX_HELP_WIDTH = 100

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


def help_width() -> int:
    """Return the width click wraps help to, found as click finds it but without shutil.

    click asks shutil.get_terminal_size(), and importing shutil loads the compression
    modules (zlib, bz2, lzma): a sixth of qbroles --help. Same rule: COLUMNS, else the
    terminal of stdout, else 80 columns; at most 100, less 2, at least 50.
    """
    columns = int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return max(min(columns or 80, MAX_HELP_WIDTH) - 2, 50)


class QbrolesGroup(click.Group):
    """The one error boundary (every command's result or error becomes an exit code here),
    and commands imported only when one runs or shows its own help.

    Lazy commands follow click's "lazily loading subcommands" pattern
    (https://click.palletsprojects.com/en/stable/complex/#lazily-loading-subcommands); the
    summaries qbroles --help lists come from qbroles.commands, so listing imports none.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"qbroles.commands.{COMMANDS[cmd_name][0]}")
        command: click.Command = getattr(module, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> NoReturn:
        extra["standalone_mode"] = False
        extra.setdefault("terminal_width", help_width())
        try:
            code = super().main(args=args, prog_name=prog_name or "qbroles", **extra)
            Finished.done = True  # a signal from now on does not change the answer
            sys.stdout.flush()  # a full or closed stdout is reported here, not at exit
        except QbrolesError as exc:
            click.echo(f"qbroles: {exc.label}{exc}", err=True)
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
            import traceback

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
    help="Roles worked on at the same time, at most, and as many of one role's independent "
    "writes; fewer while AWS throttles, then more again.",
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
    from qbroles.session import Settings
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
