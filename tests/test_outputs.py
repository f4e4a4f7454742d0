"""qbroles outputs: the role ARNs as env lines, shell exports or task-definition JSON."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from qbroles.catalog import OUTPUT_FORMATS as FORMATS
from qbroles.cli import cli
from qbroles.errors import ExitCode
from tests.conftest import EXEC_ROLE, TASK_ROLE, TRUST, all_commands, make_role

TASKDEF = Path(__file__).parent / "taskdefs" / "questionbank.json"


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def arns(iam: Any) -> tuple[str, str]:
    return tuple(iam.get_role(RoleName=name)["Role"]["Arn"] for name in (EXEC_ROLE, TASK_ROLE))


def test_the_format_choices_are_the_formats_outputs_renders() -> None:
    command = all_commands()["outputs"]
    (option,) = [p for p in command.params if p.name == "form"]
    assert tuple(option.type.choices) == FORMATS


@pytest.mark.usefixtures("moto_iam")
def test_env_lines_with_one_read_per_role(iam: Any, calls: list[str]) -> None:
    assert run("create").exit_code == ExitCode.OK
    calls.clear()
    result = run("outputs")
    assert result.exit_code == ExitCode.OK, result.stderr
    execution, task = arns(iam)
    assert result.stdout == f"QB_EXECUTION_ROLE_ARN={execution}\nQB_TASK_ROLE_ARN={task}\n"
    assert calls == ["GetRole", "GetRole"]
    assert "executionRoleArn " + EXEC_ROLE in result.stderr


@pytest.mark.usefixtures("moto_iam")
def test_shell_exports_survive_eval(iam: Any) -> None:
    run("create")
    result = run("outputs", "--format", "shell")
    assert result.exit_code == ExitCode.OK
    assert result.stdout.startswith("export QB_EXECUTION_ROLE_ARN=")
    echoed = subprocess.run(
        [
            "bash",
            "-c",
            'eval "$(cat)"; printf "%s\\n" "$QB_EXECUTION_ROLE_ARN" "$QB_TASK_ROLE_ARN"',
        ],
        input=result.stdout,
        capture_output=True,
        text=True,
        check=True,
    )
    assert tuple(echoed.stdout.split()) == arns(iam)


@pytest.mark.usefixtures("moto_iam")
def test_merge_sets_the_arns_in_either_shape_and_verify_then_accepts(
    iam: Any, tmp_path: Path
) -> None:
    run("create")
    result = run("outputs", "--format", "json")
    roles = json.loads(result.stdout)
    assert roles == dict(zip(("executionRoleArn", "taskRoleArn"), arns(iam), strict=True))
    assert json.loads(run("-o", "json", "outputs").stdout) == roles  # -o json implies it
    taskdef = json.loads(TASKDEF.read_text())
    taskdef.pop("executionRoleArn", None)
    taskdef.pop("taskRoleArn", None)
    for shape in ("register", "describe"):
        source = tmp_path / f"{shape}.json"
        raw = taskdef if shape == "register" else {"taskDefinition": taskdef}
        source.write_text(json.dumps(raw))
        printed = run("outputs", "--merge", str(source))
        assert printed.exit_code == 0, printed.stderr
        document = json.loads(printed.stdout)  # what register-task-definition takes
        assert document == {**taskdef, **roles}
        kept = json.loads(run("outputs", "--merge", str(source), "--keep-shape").stdout)
        inner = kept if shape == "register" else kept["taskDefinition"]
        assert inner == {**taskdef, **roles}
        assert set(kept) == set(raw) | (
            {"executionRoleArn", "taskRoleArn"} if shape == "register" else set()
        )
    merged = tmp_path / "taskdef.json"
    written = run("outputs", "--merge", str(tmp_path / "describe.json"), "--out", str(merged))
    assert written.exit_code == 0, written.stderr
    assert written.stdout == ""
    checked = run("-o", "json", "verify", "--task-definition", str(merged))
    names = {
        check["check"]: check["ok"]
        for role in json.loads(checked.stdout)["roles"]
        for check in role["checks"]
        if check["check"].startswith("task definition")
    }
    assert names == {
        "task definition executionRoleArn": True,
        "task definition taskRoleArn": True,
    }


@pytest.mark.usefixtures("moto_iam")
def test_a_missing_role_is_exit_1_with_nothing_on_stdout(iam: Any) -> None:
    make_role(iam, EXEC_ROLE)
    for form in FORMATS:
        result = run("outputs", "--format", form)
        assert result.exit_code == ExitCode.DIFFERENCES
        assert result.stdout == ""
        assert f"role {TASK_ROLE} does not exist" in result.stderr
        assert "qbroles create" in result.stderr


@pytest.mark.usefixtures("moto_iam")
def test_two_missing_roles_are_both_named() -> None:
    result = run("outputs")
    assert result.exit_code == ExitCode.DIFFERENCES
    assert result.stderr.startswith(
        f"qbroles: error: roles {EXEC_ROLE} and {TASK_ROLE} do not exist, so they have no ARN yet"
    )


@pytest.mark.usefixtures("moto_iam")
def test_quiet_prints_only_the_arns() -> None:
    run("create")
    result = run("-q", "outputs")
    assert result.stderr == ""
    assert result.stdout.count("\n") == 2


@pytest.mark.parametrize(
    ("roles", "needle"),
    [
        ('[[role]]\nname = "A"\n', 'no role has kind = "execution" or "task"'),
        (
            '[[role]]\nname = "A"\nkind = "task"\n[[role]]\nname = "B"\nkind = "task"\n',
            'roles A and B both have kind = "task"',
        ),
    ],
)
def test_a_spec_without_one_role_per_kind_is_exit_2_before_any_call(
    tmp_path: Path, calls: list[str], roles: str, needle: str
) -> None:
    spec = tmp_path / "roles.toml"
    spec.write_text(roles)
    result = run("--spec", str(spec), "outputs")
    assert result.exit_code == ExitCode.USAGE
    assert needle in result.stderr
    assert calls == []


@pytest.mark.usefixtures("moto_iam")
def test_only_the_specs_own_roles_are_printed(iam: Any) -> None:
    """A role of the right name that qbroles does not own, or another spec made: exit 1."""
    make_role(iam, EXEC_ROLE, owned=False)
    make_role(iam, TASK_ROLE)
    iam.tag_role(RoleName=TASK_ROLE, Tags=[{"Key": "qbroles:spec", "Value": "file=x.toml app=Q"}])
    result = run("outputs")
    assert result.exit_code == ExitCode.DIFFERENCES
    assert result.stdout == ""
    assert f"role {EXEC_ROLE} is not managed by qbroles (no tag ManagedBy=qbroles)" in result.stderr
    assert f"role {TASK_ROLE} was made by another spec" in result.stderr


@pytest.mark.usefixtures("moto_iam")
def test_a_role_on_another_path_is_not_printed(iam: Any) -> None:
    iam.create_role(
        RoleName=EXEC_ROLE,
        Path="/elsewhere/",
        AssumeRolePolicyDocument=TRUST,
        Tags=[{"Key": "ManagedBy", "Value": "qbroles"}],
    )
    make_role(iam, TASK_ROLE)
    result = run("outputs", "--format", "json")
    assert result.exit_code == ExitCode.DIFFERENCES
    assert result.stdout == ""
    assert "has the path /elsewhere/, not /" in result.stderr


HOSTILE_PATH = "/$(touch${IFS}pwned)/a\"b'c`d/"


@pytest.mark.usefixtures("moto_iam")
def test_a_path_no_env_line_can_carry_is_refused_and_shell_quotes_it(
    iam: Any, tmp_path: Path
) -> None:
    spec = tmp_path / "odd.toml"
    spec.write_text(
        f'[[role]]\nname = "Odd"\nkind = "execution"\npath = {json.dumps(HOSTILE_PATH)}\n'
    )
    assert run("--spec", str(spec), "create").exit_code == ExitCode.OK
    env = run("--spec", str(spec), "outputs")
    assert env.exit_code == ExitCode.USAGE
    assert env.stdout == ""
    assert "--format shell" in env.stderr
    shell = run("--spec", str(spec), "outputs", "--format", "shell")
    assert shell.exit_code == ExitCode.OK
    done = subprocess.run(
        ["sh", "-c", shell.stdout + 'printf %s "$QB_EXECUTION_ROLE_ARN"'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.endswith(f":role{HOSTILE_PATH}Odd")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.usefixtures("moto_iam")
def test_an_answer_that_is_not_a_role_arn_is_exit_3(iam: Any, monkeypatch: Any) -> None:
    run("create")

    def forged(self: Any, name: str) -> Any:
        role = original(self, name)
        return None if role is None else {**role, "Arn": role["Arn"] + "\nEVIL=1"}

    from qbroles.iam.gateway import Gateway

    original = Gateway.get_role
    monkeypatch.setattr(Gateway, "get_role", forged)
    result = run("outputs")
    assert result.exit_code == ExitCode.AWS
    assert result.stdout == ""
    assert "did not answer like AWS IAM" in result.stderr


@pytest.mark.usefixtures("moto_iam")
def test_describe_then_merge_then_register_works(tmp_path: Path) -> None:
    """aws ecs describe-task-definition --include TAGS > taskdef.json; qbroles outputs
    --merge; register-task-definition --cli-input-json: the output is what register takes
    (issue 23, §1)."""
    import boto3

    assert run("create").exit_code == 0
    ecs = boto3.client("ecs", region_name="us-east-1")
    document = json.loads(TASKDEF.read_text())
    for key in ("executionRoleArn", "taskRoleArn"):
        document.pop(key, None)
    registered = ecs.register_task_definition(**document, tags=[{"key": "team", "value": "qb"}])
    family = registered["taskDefinition"]["family"]
    described = ecs.describe_task_definition(taskDefinition=family, include=["TAGS"])
    described.pop("ResponseMetadata")
    source = tmp_path / "taskdef.json"
    source.write_text(json.dumps(described, default=str))  # as the AWS CLI prints it
    merged = run("outputs", "--merge", str(source))
    assert merged.exit_code == 0, merged.stderr
    document = json.loads(merged.stdout)
    for describe_only in ("taskDefinition", "taskDefinitionArn", "revision", "status"):
        assert describe_only not in document
    assert document["tags"] == [{"key": "team", "value": "qb"}]
    again = ecs.register_task_definition(**document)["taskDefinition"]  # botocore validates
    assert again["revision"] == 2
    assert again["executionRoleArn"].endswith(f"role/{EXEC_ROLE}")
    kept = run("outputs", "--merge", str(source), "--keep-shape")
    assert set(json.loads(kept.stdout)) == {"taskDefinition", "tags"}
