"""Live task definitions: read from ECS (moto's), checked against the roles as they are and
as a plan would leave them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from qbroles.cli import cli
from qbroles.errors import ExitCode
from tests import resources
from tests.conftest import EXEC_ROLE, MANAGED, TASK_ROLE, attached, writes

TASKDEFS = Path(__file__).parent / "taskdefs"


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def register(name: str, **changes: Any) -> str:
    """Register a corpus task definition in moto's ECS; return family:revision."""
    document = {**json.loads((TASKDEFS / name).read_text()), **changes}
    ecs = boto3.client("ecs", region_name="us-east-1")
    done = ecs.register_task_definition(**document)["taskDefinition"]
    return f"{done['family']}:{done['revision']}"


@pytest.mark.usefixtures("moto_iam")
def test_a_task_definition_by_family_is_read_from_ecs_and_gets_the_files_verdict(
    tmp_path: Path,
) -> None:
    assert run("create").exit_code == 0
    name = register("ssm-parameter.json")
    from_ecs = run("-o", "json", "verify", "--task-definition", name)
    from_file = run(
        "-o", "json", "verify", "--task-definition", str(TASKDEFS / "ssm-parameter.json")
    )
    assert from_ecs.exit_code == from_file.exit_code == ExitCode.DIFFERENCES
    checks = [
        [(c["check"], c["ok"]) for r in json.loads(result.stdout)["roles"] for c in r["checks"]]
        for result in (from_ecs, from_file)
    ]
    assert checks[0] == checks[1]
    missing = run("verify", "--task-definition", "no-such-family:7")
    assert missing.exit_code == ExitCode.USAGE
    assert "no-such-family:7" in missing.stderr


@pytest.mark.usefixtures("moto_iam")
def test_every_live_task_definition_using_the_roles_gets_its_verdict(calls: list[str]) -> None:
    assert run("create").exit_code == 0
    resources.push_image("questionbank", "1.4.2")
    resources.parameter("/questionbank/db-host")
    fine = register("ecr-awslogs-fargate.json")
    broken = register("ssm-parameter.json")
    register(
        "ecr-awslogs-fargate.json",
        family="someone-else",
        executionRoleArn="arn:aws:iam::123456789012:role/Other",
        taskRoleArn="arn:aws:iam::123456789012:role/Other",
    )
    calls.clear()
    result = run("-o", "json", "verify", "--live-task-definitions")
    assert result.exit_code == ExitCode.DIFFERENCES, result.stderr
    checks = [c for r in json.loads(result.stdout)["roles"] for c in r["checks"]]
    labelled = {c["check"].split(": ", 1)[0] for c in checks if c["check"].startswith("live ")}
    assert labelled == {f"live {fine}", f"live {broken}"}
    failing = [c["check"] for c in checks if not c["ok"] and c["severity"] == "error"]
    assert failing == [f"live {broken}: can ssm:GetParameters"]
    verdicts = {
        t["task_definition"]: t["verdict"] for t in json.loads(result.stdout)["task_definitions"]
    }
    assert verdicts == {fine: "starts", broken: "cannot start"}
    assert f"{fine} starts; {broken} cannot start" in result.stderr
    assert not writes(calls)


@pytest.mark.usefixtures("moto_iam")
def test_plan_names_the_live_task_definitions_a_change_would_break(iam: Any) -> None:
    """The workshop roles can log in to a registry by secret name; the narrow ones cannot."""
    assert run("create").exit_code == 0
    name = register("registry-credentials-by-name.json")
    narrow = ("--preset", "least-privilege")
    planned = run(
        *narrow, "-o", "json", "plan", "--prune", "--adopt", "--check-live-task-definitions"
    )
    assert planned.exit_code == 0, planned.stderr
    breaks = [
        c
        for r in json.loads(planned.stdout)["roles"]
        for c in r["checks"]
        if c["check"].startswith(f"live {name} after the change")
    ]
    assert [c["ok"] for c in breaks] == [False]
    assert "secretsmanager:GetSecretValue" in breaks[0]["message"]
    human = run(*narrow, "plan", "--prune", "--adopt", "--check-live-task-definitions")
    said = " ".join(human.stdout.split())  # the report for people, its lines joined again
    assert f"live task definition {name} would no longer start:" in said
    assert "is attached but not in the spec" not in said
    refused = run(*narrow, "create", "--prune", "--adopt", "--check-live-task-definitions")
    assert refused.exit_code == ExitCode.SAFETY
    assert name in refused.stderr
    assert attached(iam, TASK_ROLE) == {
        MANAGED + policy
        for policy in (
            "AmazonRDSReadOnlyAccess",
            "AmazonSSMReadOnlyAccess",
            "CloudWatchLogsFullAccess",
            "SecretsManagerReadWrite",
        )
    }
    forced = run(
        *narrow, "create", "--prune", "--adopt", "--check-live-task-definitions", "--force"
    )
    assert forced.exit_code == 0, forced.stderr
    assert attached(iam, EXEC_ROLE) == {MANAGED + "service-role/AmazonECSTaskExecutionRolePolicy"}


@pytest.mark.usefixtures("moto_iam")
def test_a_task_definition_naming_only_our_task_role_is_not_charged_to_our_execution_role(
    iam: Any,
) -> None:
    """Another app's execution role starts it: what that role lacks is not ours to report,
    and it blocks no change of ours (issue 22, §2)."""
    assert run("create").exit_code == 0
    theirs = "arn:aws:iam::123456789012:role/Other-ExecutionRole"
    ours = f"arn:aws:iam::123456789012:role/{TASK_ROLE}"
    shared = register(
        "registry-credentials-by-name.json", executionRoleArn=theirs, taskRoleArn=ours
    )
    checked = run("-o", "json", "verify", "--live-task-definitions")
    assert checked.exit_code == ExitCode.OK, checked.stderr
    by_role = {r["name"]: r["checks"] for r in json.loads(checked.stdout)["roles"]}
    assert not [c for c in by_role[EXEC_ROLE] if c["check"].startswith(f"live {shared}")]
    assert [c["check"] for c in by_role[TASK_ROLE] if c["check"].startswith(f"live {shared}")] == [
        f"live {shared}: task definition taskRoleArn"
    ]
    narrow = ("--preset", "least-privilege", "create", "--prune", "--adopt")
    moved = run(*narrow, "--yes", "--check-live-task-definitions")
    assert moved.exit_code == ExitCode.OK, moved.stderr
    assert attached(iam, EXEC_ROLE) == {MANAGED + "service-role/AmazonECSTaskExecutionRolePolicy"}
