"""The commands of qbroles: where each lives and its summary, read without importing it.

``qbroles --help`` lists the summaries from here, so it loads none of the commands (click's
"lazily loading subcommands" pattern); a command is imported when it runs or shows its
own help, and takes its short help from here too.
"""

from collections.abc import Callable
from typing import Any

# name -> (module, summary); the function in the module has the command's name.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("look", "Check spec and task definition files offline, no AWS call."),
    "create": ("change", "Create or repair every role of the spec, then verify it."),
    "delete": ("undo", "Delete the roles of the spec that qbroles owns."),
    "demo": ("look", "Run the whole story on a local AWS emulator; no account needed."),
    "explain": ("look", "What each role is for and what its policies grant; no AWS call."),
    "export": ("files", "Export the spec for CloudFormation StackSets or Terraform."),
    "init": ("files", "Write the active spec as a commented TOML file to customise."),
    "outputs": ("files", "Print the role ARNs for the next deployment step."),
    "permissions": ("files", "Print the IAM policy qbroles' caller needs; no AWS call."),
    "plan": ("change", "Show what create would change, as a diff per role."),
    "stackset": ("stackset", "Deploy, check or delete the roles in many accounts (StackSets)."),
    "restore": ("undo", "Put back what a create or delete removed, from its backup."),
    "tighten": ("tighten", "Narrow both roles to what the tasks use, proven; read only."),
    "verify": ("look", "Compare the roles in IAM with the spec, check by check."),
}


def summary(name: str) -> str:
    """Return a command's one-line summary, as qbroles --help shows it."""
    return COMMANDS[name][1]


def exec_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --exec (verify, tighten): the tasks run with ECS Exec turned on."""
    import click

    return click.option(
        "--exec",
        "exec_",
        is_flag=True,
        help="The tasks run with ECS Exec turned on (it is switched on at run time, not in "
        "the task definition): the task role needs its ssmmessages permissions.",
    )(command)


def comma_list(value: str | None) -> tuple[str, ...]:
    """Return the items of an option given as A,B,C, each stripped, the empty ones left out."""
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def live_regions_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --live-regions (verify, plan, create): where live task definitions are read."""
    import click

    def regions(_: Any, __: Any, value: str | None) -> tuple[str, ...]:
        import re

        from qbroles.partitions import partition_of

        given = comma_list(value)
        for region in given:
            if not re.fullmatch(r"[a-z]{2}(-[a-z0-9]+)+-\d+", region) or not partition_of(region):
                raise click.BadParameter(
                    f"{region!r} is not an AWS region such as eu-west-1; give regions "
                    "separated by commas."
                )
        return given

    return click.option(
        "--live-regions",
        metavar="REGION[,REGION]",
        callback=regions,
        help="Read live task definitions in these regions only (default: every region the "
        "account has enabled, from EC2 DescribeRegions: IAM roles serve every region).",
    )(command)


def backup_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --backup (create, delete): where the restore file is written."""
    import click

    return click.option(
        "--backup",
        metavar="FILE",
        type=click.Path(dir_okay=False),
        help="Write the restore file here (default: .qbroles/backup-<UTC time>.json), before "
        "anything is removed or replaced; qbroles restore FILE puts it back.",
    )(command)
