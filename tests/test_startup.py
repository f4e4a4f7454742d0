"""Start-up: help, version, usage and spec errors never load boto3, botocore, moto or rich."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("boto3", "botocore", "moto", "rich")


def imported(*args: str, cwd: Path | None = None) -> tuple[int, set[str]]:
    """Run qbroles in a fresh interpreter; return its exit code and the modules it imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "qbroles", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )
    modules = {
        line.split("|")[-1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return done.returncode, modules


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--help"], 0),
        (["--version"], 0),
        (["create", "--help"], 0),
        (["--output", "yaml", "verify"], 2),
        (["--region", "mars", "verify"], 2),
        (["frobnicate"], 2),
    ],
)
def test_no_heavy_import(args: list[str], code: int) -> None:
    exit_code, modules = imported(*args)
    assert exit_code == code
    assert "click" in modules  # the measurement sees imports at all
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_a_spec_error_is_reported_before_boto3_is_loaded(tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text('[[role]]\nname = "not valid"\n')
    exit_code, modules = imported("--spec", str(spec), "create")
    assert exit_code == 2
    assert not modules & set(HEAVY)


def test_a_real_command_loads_botocore_and_not_boto3(tmp_path: Path) -> None:
    """The same measurement sees botocore when a command needs AWS (so the tests above can
    fail); boto3 itself is not needed (its import, with s3transfer, costs 25 ms a run)."""
    exit_code, modules = imported(
        "--endpoint-url", "http://127.0.0.1:9", "--max-attempts", "1", "verify"
    )
    assert exit_code == 3
    assert "botocore" in modules
    assert "boto3" not in modules


LOADED = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))
sys.argv = ["qbroles", *sys.argv[1:]]
from qbroles.cli import main
main()
"""


def full_names(*args: str) -> set[str]:
    """Return every module a fresh qbroles run had loaded when it exited."""
    done = subprocess.run(
        [sys.executable, "-c", LOADED, *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-500:]
    names: set[str] = set(json.loads(done.stderr.splitlines()[-1]))
    return names


def test_help_lists_the_commands_without_loading_them_or_shutil() -> None:
    """qbroles --help reads the summaries from qbroles.commands; click's shutil (and the
    compression modules it loads) is not needed to find the width."""
    modules = full_names("--help")
    assert "qbroles.commands" in modules  # the measurement sees qbroles' own modules
    loaded = {m for m in modules if m.startswith("qbroles.commands.") or m == "qbroles.session"}
    assert not loaded, sorted(loaded)
    assert "shutil" not in modules
    # A command's own help loads its module, and only it.
    commands = {m for m in full_names("create", "--help") if m.startswith("qbroles.commands.")}
    assert commands == {"qbroles.commands.change"}


def test_the_help_summaries_are_the_commands_own() -> None:
    from click.testing import CliRunner

    from qbroles.cli import cli
    from qbroles.commands import COMMANDS

    listing = CliRunner().invoke(cli, ["--help"]).output
    for name in COMMANDS:
        command = cli.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None
        assert command.name == name
        assert command.get_short_help_str(limit=200) == COMMANDS[name][1]
        assert re.search(rf"^  {name} +{re.escape(COMMANDS[name][1])}$", listing, re.M)


def test_every_command_defined_is_one_the_group_lists() -> None:
    import importlib
    import pkgutil

    import click

    import qbroles.commands
    from qbroles.commands import COMMANDS

    defined = {}
    for found in pkgutil.iter_modules(qbroles.commands.__path__):
        module = importlib.import_module(f"qbroles.commands.{found.name}")
        # A group's subcommands (stackset deploy) are reached through it, not listed.
        under = {
            id(command)
            for value in vars(module).values()
            if isinstance(value, click.Group)
            for command in value.commands.values()
        }
        defined |= {
            name: found.name
            for name, value in vars(module).items()
            if isinstance(value, click.Command) and id(value) not in under
        }
    assert defined == {name: module for name, (module, _) in COMMANDS.items()}
