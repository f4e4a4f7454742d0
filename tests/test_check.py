"""qbroles check: spec and task definition files, offline, FILE:LINE: on each problem; the
pre-commit hook runs it as .pre-commit-hooks.yaml says."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

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


@pytest.mark.e2e
def test_the_workflow_of_docs_ci_runs_its_qbroles_steps_as_written(
    env: dict[str, str], tmp_path: Path
) -> None:
    """docs/ci.md's workflow: each qbroles step, in bash as a runner has it, against the
    moto server standing in for the account the OIDC role is in; the report it publishes
    is JUnit a reader takes."""
    from tests.test_e2e import aws, taskdef_without_roles

    text = (ROOT / "docs" / "ci.md").read_text()
    workflow = yaml.safe_load(text.split("```yaml\n", 1)[1].split("```", 1)[0])
    steps = workflow["jobs"]["verify"]["steps"]
    runs = [step["run"] for step in steps if "run" in step and "qbroles " in step["run"]]
    assert [run.split()[1] for run in runs] == ["check", "-o"]
    assert workflow["permissions"]["id-token"] == "write"
    shell = {**env, "PATH": f"{Path(tool('qbroles')).parent}:{env['PATH']}"}
    for command in (["create"], ["init"]):
        assert subprocess.run([tool("qbroles"), *command], env=env, cwd=tmp_path).returncode == 0
    task = taskdef_without_roles(env, tmp_path)
    for key, role in (("executionRoleArn", "TaskExecutionRole"), ("taskRoleArn", "TaskRole")):
        task[key] = f"arn:aws:iam::123456789012:role/QuestionBank-ECS-{role}"
    (tmp_path / "taskdef.json").write_text(json.dumps(task))
    # Registered: a live task definition, as in the account.
    aws(env, "ecs", "register-task-definition", "--cli-input-json",
        f"file://{tmp_path / 'taskdef.json'}")  # fmt: skip
    for run in runs:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", run],
            env=shell, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, f"{run}\n{done.stderr}"
    report = ElementTree.fromstring((tmp_path / "qbroles-report.xml").read_text())
    assert report.tag == "testsuites"
    assert int(report.get("tests", "0")) > 0
    assert report.get("failures") == "0"
    assert "live questionbank:1" in (tmp_path / "qbroles-report.xml").read_text()
