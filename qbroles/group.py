"""The qbroles group: commands loaded when used, global options anywhere, one error boundary."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from qbroles.commands import COMMANDS
from qbroles.errors import ExitCode, QbrolesError
from qbroles.streams import settle

MAX_HELP_WIDTH = 100


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

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self.hoisted(ctx, args))

    def hoisted(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Return the arguments with the global options given after the command moved before
        it: qbroles create --profile prod is qbroles --profile prod create, as the AWS CLI,
        kubectl and gh accept. An option of the command itself, --help and what follows --
        stay where they are."""
        takes_value = {
            name: not (option.is_flag or option.count)
            for option in self.params
            if isinstance(option, click.Option)
            for name in option.opts
            if name not in ("-h", "--help")
        }
        index, at = 0, None
        while index < len(args):  # find the command: the first word not an option's value
            word = args[index]
            if word == "--":
                return args
            if word in COMMANDS:
                at = index
                break
            index += 2 if takes_value.get(word, False) else 1
        if at is None:
            return args
        command = self.get_command(ctx, args[at])
        # A group's (stackset's) own are its subcommands' too: --ou after stackset deploy is
        # the stack set's target, not the global --ou.
        commands = [command] if command else []
        if isinstance(command, click.Group):
            commands += list(command.commands.values())
        own = {name for each in commands for param in each.params for name in param.opts}
        before, after = list(args[:at]), []
        rest = iter(args[at + 1 :])
        for word in rest:
            name = word.split("=", 1)[0]
            if word == "--":
                after += [word, *rest]
                break
            if name in takes_value and name not in own:
                before.append(word)
                if takes_value[name] and "=" not in word:
                    value = next(rest, None)
                    if value is None:
                        raise click.UsageError(f"Option '{name}' requires an argument.", ctx)
                    before.append(value)
            else:
                after.append(word)
        return [*before, args[at], *after]

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
        # Every option also from the environment: QBROLES_PRESET, QBROLES_SPEC, QBROLES_APP,
        # QBROLES_CREATE_PRUNE... (--region keeps AWS_REGION). An option given wins.
        extra.setdefault("auto_envvar_prefix", "QBROLES")
        try:
            code = super().main(args=args, prog_name=prog_name or "qbroles", **extra)
            settle()  # a signal from now on does not change the answer
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
