"""qbroles check: spec and task definition files, offline, FILE:LINE: on each problem; the
pre-commit hook runs it as .pre-commit-hooks.yaml says."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from qbroles.cli import cli
from qbroles.errors import ExitCode
from tests.servers import tool

ROOT = Path(__file__).parent.parent
TASKDEFS = Path(__file__).parent / "taskdefs"
SPEC = """app = "QuestionBank"

[[role]]
name = "{app}-ECS-TaskExecutionRole"
kind = "execution"

[[role]]
name = "{app}-ECS-TaskRole"
kind = "task"
# a comment
max_session_duration = 99
"""


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_each_problem_is_one_line_at_the_line_it_is_about(calls: list[str]) -> None:
    Path("qbroles.toml").write_text(SPEC)
    task = json.loads((TASKDEFS / "questionbank.json").read_text())
    task["containerDefinitions"][0]["secrets"][0]["valueFrom"] = 7
    Path("taskdef.json").write_text(json.dumps(task, indent=2))
    Path("broken-taskdef.json").write_text('{\n  "family": "x",\n  oops\n}\n')
    result = run("check", "qbroles.toml", "taskdef.json", "broken-taskdef.json")
    assert result.exit_code == ExitCode.USAGE
    lines = result.stderr.splitlines()
    assert lines[0].startswith("qbroles.toml:11: role 2 (QuestionBank-ECS-TaskRole): key ")
    text = Path("taskdef.json").read_text().splitlines()
    number = next(i for i, line in enumerate(text, 1) if '"secrets"' in line) + 1  # its "{"
    assert lines[1].startswith(f"taskdef.json:{number}: containerDefinitions[0].secrets[0]")
    assert lines[2].startswith("broken-taskdef.json:3: not valid JSON")
    assert lines[3] == "qbroles check: 3 problems in 3 files."
    assert calls == []  # offline: not one AWS call


def test_valid_files_and_the_active_spec_pass(calls: list[str]) -> None:
    assert run("check").exit_code == ExitCode.OK  # the preset
    assert run("init").exit_code == 0
    done = run("check", "qbroles.toml", str(TASKDEFS / "questionbank.json"))
    assert done.exit_code == ExitCode.OK, done.stderr
    assert "2 files checked, no problem found" in done.stderr
    Path("qbroles.toml").write_text(SPEC)
    active = run("check")
    assert active.exit_code == ExitCode.USAGE
    assert active.stderr.startswith("qbroles.toml:11: ")
    assert calls == []


@pytest.mark.e2e
def test_the_pre_commit_hook_runs_its_entry_on_the_files_it_matches(tmp_path: Path) -> None:
    """pre-commit passes the staged files its pattern matches to the entry: the same here,
    with no AWS configuration at all."""
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["pass_filenames"] is True
    names = ["qbroles.toml", "deploy/taskdef.json", "deploy/api-task-def.json", "README.md"]
    matched = [name for name in names if re.search(hook["files"], name)]
    assert matched == names[:3]
    (tmp_path / "deploy").mkdir()
    (tmp_path / "qbroles.toml").write_text(SPEC.replace("99", "3600"))
    (tmp_path / "deploy/taskdef.json").write_text((TASKDEFS / "questionbank.json").read_text())
    (tmp_path / "deploy/api-task-def.json").write_text('{"family": 1}')
    entry = shlex.split(hook["entry"])
    env = {"PATH": str(Path(tool("qbroles")).parent), "HOME": str(tmp_path)}
    done = subprocess.run(
        [tool(entry[0]), *entry[1:], *matched],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert done.stderr.startswith("deploy/api-task-def.json: has no containerDefinitions")
