"""The README and docs/ stay true to the code: commands, options, exit codes, JSON names."""

from __future__ import annotations

import re
from pathlib import Path

import click

from qbroles.cli import cli
from qbroles.errors import ExitCode
from qbroles.model.actions import ACTION_NAMES
from tests.conftest import all_commands

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```sh\n(.*?)```", README, flags=re.DOTALL)
COMMANDS = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
JSON_OUTPUT = (ROOT / "docs" / "json-output.md").read_text(encoding="utf-8")


def test_readme_starts_with_one_sentence_then_the_demo_and_the_test_command() -> None:
    first = README.split("\n\n")[1]
    assert first.startswith("`qbroles` gives"), first
    assert ". " not in first, first  # one sentence
    assert first.rstrip().endswith(".")
    demo, tests = BLOCKS[0].strip(), BLOCKS[1].strip()
    assert demo.endswith("qbroles demo")
    assert "pytest" in tests
    assert README.index(BLOCKS[0]) < README.index("---")  # both come first


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    assert BLOCKS[1].strip() in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_global_option_is_documented() -> None:
    for param in cli.params:
        if isinstance(param, click.Option):
            assert any(f"`{opt}" in COMMANDS for opt in param.opts), param.opts


def test_every_command_is_documented() -> None:
    assert isinstance(cli, click.Group)
    assert len(all_commands()) == 14
    for name in all_commands():
        assert f"**`{name}" in COMMANDS, name


def test_every_exit_code_is_documented_in_readme_and_help() -> None:
    help_text = cli.get_help(click.Context(cli))
    for code in ExitCode:
        assert re.search(rf"^\| {code.value} \|", README, flags=re.MULTILINE), code
        assert re.search(rf"^\s+{code.value}\s", help_text, flags=re.MULTILINE), code


def test_every_json_action_name_is_documented() -> None:
    for name in ACTION_NAMES.values():
        assert f"`{name}`" in JSON_OUTPUT, name


def test_every_module_is_in_the_contributing_layout() -> None:
    layout = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    for module in sorted((ROOT / "qbroles").rglob("*.py")):
        if module.name not in ("__init__.py", "__main__.py"):
            path = module.relative_to(ROOT / "qbroles").as_posix()
            assert f"`{path}`" in layout, path
