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
    assert json.loads(planned.stdout)["live_task_definitions"] == [name]
    human = run(*narrow, "plan", "--prune", "--adopt", "--check-live-task-definitions")
    said = " ".join(human.stdout.split())  # the report for people, its lines joined again
    assert f"live task definition {name} would no longer start:" in said
    # Visible both ways (issue 23, §2): the summary names it, the next step is no "apply".
    assert f"the change would break live task definitions {name}" in human.stderr
    assert "Next: qbroles create refuses this plan (exit 4)" in said
    assert "qbroles create applies this plan" not in said
    detailed = run(
        *narrow,
        "plan",
        "--prune",
        "--adopt",
        "--check-live-task-definitions",
        "--detailed-exitcode",
    )
    assert detailed.exit_code == ExitCode.SAFETY
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
    looked = run(*narrow[:2], "plan", "--prune", "--adopt", "--check-live-task-definitions")
    assert f"live task definitions checked, none would break: {shared}" in looked.stderr
    moved = run(*narrow, "--yes", "--check-live-task-definitions")
    assert moved.exit_code == ExitCode.OK, moved.stderr
    assert attached(iam, EXEC_ROLE) == {MANAGED + "service-role/AmazonECSTaskExecutionRolePolicy"}


def register_in(region: str, family: str, value_from: str) -> str:
    """Register, in a region, a task definition of our roles that injects one parameter."""
    document = json.loads((TASKDEFS / "ssm-parameter.json").read_text())
    document["family"] = family
    document["containerDefinitions"][0]["secrets"][0]["valueFrom"] = value_from
    ecs = boto3.client("ecs", region_name=region)
    done = ecs.register_task_definition(**document)["taskDefinition"]
    boto3.client("ssm", region_name=region).put_parameter(Name=value_from, Value="v", Type="String")
    return f"{done['family']}:{done['revision']}"


@pytest.mark.usefixtures("moto_iam")
def test_live_task_definitions_are_read_in_every_enabled_region(calls: list[str]) -> None:
    """IAM roles serve every region: a task definition in eu-west-1 uses the same roles
    (issue 22, §3); --live-regions narrows the read."""
    narrow = ("--preset", "least-privilege")
    assert run(*narrow, "create").exit_code == 0
    resources.push_image("questionbank", "1.4.2")
    resources.push_image("questionbank", "1.4.2", region="eu-west-1")
    here = register_in("us-east-1", "api", "/questionbank/db-host")
    there = register_in("eu-west-1", "api-eu", "/questionbank/db-host")
    calls.clear()
    checked = run(*narrow, "-o", "json", "verify", "--live-task-definitions")
    assert "DescribeRegions" in calls
    verdicts = {
        t["task_definition"]: t["verdict"] for t in json.loads(checked.stdout)["task_definitions"]
    }
    # The roles grant the app's parameters in the region they were made for only.
    assert verdicts == {here: "starts", f"{there}@eu-west-1": "cannot start"}
    assert checked.exit_code == ExitCode.DIFFERENCES
    only = run(
        *narrow, "-o", "json", "verify", "--live-task-definitions", "--live-regions", "us-east-1"
    )
    assert [t["task_definition"] for t in json.loads(only.stdout)["task_definitions"]] == [here]
    assert only.exit_code == ExitCode.OK, only.stderr
    wrong = run("verify", "--live-task-definitions", "--live-regions", "eu-west-1,moon-1")
    assert wrong.exit_code == ExitCode.USAGE
    assert "'moon-1' is not an AWS region" in wrong.stderr


@pytest.mark.usefixtures("moto_iam")
def test_moving_the_roles_to_another_regions_resources_is_asked_and_the_gate_sees_the_old_region(
    iam: Any,
) -> None:
    """The least-privilege preset run with another --region rewrites both policies to that
    region's resources: the tasks of the first region would stop (issue 22, §3)."""
    narrow = ("--preset", "least-privilege")
    assert run(*narrow, "create").exit_code == 0
    resources.push_image("questionbank", "1.4.2")
    here = register_in("us-east-1", "api", "/questionbank/db-host")
    moved = ("--region", "eu-west-1", *narrow)
    planned = run(*moved, "-o", "json", "plan", "--check-live-task-definitions")
    breaks = {
        c["check"].split()[1]
        for r in json.loads(planned.stdout)["roles"]
        for c in r["checks"]
        if c["check"].startswith("live ") and not c["ok"]
    }
    assert breaks == {f"{here}@us-east-1"}
    before = iam.get_role_policy(RoleName=EXEC_ROLE, PolicyName="qbroles-execution")
    refused = run(*moved, "create")  # off a terminal, without --yes
    assert refused.exit_code == ExitCode.SAFETY
    assert "from the resources of us-east-1 to those of eu-west-1" in refused.stderr
    after = iam.get_role_policy(RoleName=EXEC_ROLE, PolicyName="qbroles-execution")
    assert after["PolicyDocument"] == before["PolicyDocument"]
    gated = run(*moved, "create", "--yes", "--check-live-task-definitions")
    assert gated.exit_code == ExitCode.SAFETY
    assert f"{here}@us-east-1" in gated.stderr


@pytest.mark.usefixtures("moto_iam")
def test_each_managed_policy_document_is_read_once_for_all_live_task_definitions(
    calls: list[str],
) -> None:
    """Three live task definitions, checked now and as the plan leaves the roles: the
    documents of the roles' managed policies are read once a run, not once per task."""
    assert run("create").exit_code == 0
    resources.push_image("questionbank", "1.4.2")
    for family in ("one", "two", "three"):
        register("ecr-awslogs-fargate.json", family=family)
    calls.clear()
    planned = run("--preset", "least-privilege", "plan", "--prune", "--check-live-task-definitions")
    assert planned.exit_code == 0, planned.stderr
    # The workshop roles' managed policies, six distinct: the plan keeps one of them.
    iam = boto3.client("iam", region_name="us-east-1")
    distinct = {
        policy["PolicyArn"]
        for role in (EXEC_ROLE, TASK_ROLE)
        for policy in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    }
    assert len(distinct) == 6
    assert calls.count("GetPolicyVersion") == len(distinct)
