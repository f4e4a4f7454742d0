"""qbroles tighten: the execution role narrowed to what the live task definitions need,
proven before the spec is offered (moto; IAM's last-accessed data with botocore's Stubber)."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from click.testing import CliRunner

from qbroles.cli import cli
from qbroles.errors import ExitCode
from tests import resources
from tests.conftest import EXEC_ROLE, TASK_ROLE
from tests.servers import qbroles
from tests.test_usage import JOB, report, service

TASKDEFS = Path(__file__).parent / "taskdefs"


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def register(name: str, region: str = "us-east-1", **changes: Any) -> str:
    """Register a corpus task definition in ECS; return family:revision."""
    return register_document({**json.loads((TASKDEFS / name).read_text()), **changes}, region)


def register_document(document: dict[str, Any], region: str = "us-east-1") -> str:
    ecs = boto3.client("ecs", region_name=region)
    done = ecs.register_task_definition(**document)["taskDefinition"]
    return f"{done['family']}:{done['revision']}"


def no_spec(result: Any) -> str:
    """Assert tighten offered no spec (exit 1, nothing on stdout); return what it said."""
    assert result.exit_code == ExitCode.DIFFERENCES, result.stderr
    assert result.stdout == ""
    return str(result.stderr)


def api_with_secret(secret: str) -> dict[str, Any]:
    """The corpus' questionbank task definition, injecting ``secret`` (name or ARN)."""
    document = json.loads((TASKDEFS / "questionbank.json").read_text())
    document["containerDefinitions"][0]["secrets"][0]["valueFrom"] = f"{secret}"
    return document


def answering(
    monkeypatch: pytest.MonkeyPatch, services: list[dict[str, Any]], status: str = "COMPLETED"
) -> None:
    """Make IAM's last-accessed calls of every gateway meet these answers (the API
    reference's shapes, as test_usage checks them against botocore's model): moto has none."""
    from qbroles.iam.gateway import Gateway

    made = getattr(Gateway.__init__, "unwrapped", Gateway.__init__)  # answered once

    def init(self: Gateway, client: Any, **options: Any) -> None:
        made(self, client, **options)
        answers = {
            "GenerateServiceLastAccessedDetails": {"JobId": JOB},
            "GetServiceLastAccessedDetails": report(
                status, services, JobCompletionDate=datetime.now(UTC), Error={"Message": "busy"}
            ),
        }
        client.meta.events.register_last(  # after the calls fixture's recorder
            "before-call",
            lambda model, **_: (
                (AWSResponse("", 200, {}, None), answers[model.name])
                if model.name in answers
                else None
            ),
        )

    init.unwrapped = made  # type: ignore[attr-defined]
    monkeypatch.setattr(Gateway, "__init__", init)


def age(role: str, days: int) -> None:
    """Backdate a role in moto: IAM's report judges only a role older than its window."""
    from moto.iam.models import iam_backends

    backend = iam_backends[resources.ACCOUNT]["global"]
    found = next(r for r in backend.roles.values() if r.name == role)
    found.create_date = datetime.now(UTC) - timedelta(days=days)


def one_live_task(task_role_age: int | None = None) -> None:
    """The guide's roles, made; one live task definition using them, whose image exists;
    the task role made ``task_role_age`` days ago."""
    assert run("create").exit_code == 0
    resources.push_image("questionbank", "1.4.2")
    register("ecr-awslogs-fargate.json")
    if task_role_age is not None:
        age(TASK_ROLE, task_role_age)


def put_inline(iam: Any, role: str, name: str, statement: dict[str, Any]) -> None:
    """Put a one-statement inline policy on the role by hand (not in the spec)."""
    document = {"Version": "2012-10-17", "Statement": [statement]}
    iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))


def answer_service(
    monkeypatch: pytest.MonkeyPatch, name: str, answers: dict[str, tuple[int, dict[str, Any]]]
) -> None:
    """Make every gateway's client of the service ``name`` meet these answers (status,
    parsed body) for those operations; the rest go to moto."""
    from qbroles.iam.gateway import Gateway

    made = Gateway.service

    def service(self: Gateway, wanted: str, region: str | None = None) -> Any:
        client = made(self, wanted, region)
        if wanted == name:
            client.meta.events.register_last(
                "before-call",
                lambda model, **_: (
                    (AWSResponse("", answers[model.name][0], {}, None), answers[model.name][1])
                    if model.name in answers
                    else None
                ),
            )
        return client

    monkeypatch.setattr(Gateway, "service", service)


@pytest.mark.usefixtures("moto_iam")
def test_the_task_role_loses_what_iam_shows_unused_and_keeps_what_it_cannot_judge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one_live_task(task_role_age=200)
    now, long_ago = datetime.now(UTC), datetime.now(UTC) - timedelta(days=150)
    answering(
        monkeypatch,
        [
            service("secretsmanager", now),
            service("logs", now),
            service("rds", long_ago),
            service("ssm", None),
            service("ec2", None),
        ],
    )
    result = run("-o", "json", "tighten")
    assert result.exit_code == ExitCode.OK, result.stderr
    document = json.loads(result.stdout)
    assert document["ok"]
    assert document["task_role"]["left_out"]
    left = "\n".join(document["task_role"]["left_out"])
    assert "rds: not used since" in left
    assert "ssm: not used since" in left
    spec = tomllib.loads(document["spec"])
    task = next(role for role in spec["role"] if role["kind"] == "task")
    assert "CloudWatchLogsFullAccess" in task["managed_policies"]  # lost nothing: kept whole
    assert "SecretsManagerReadWrite" not in task["managed_policies"]  # lost rds:, ssm:
    assert "AmazonSSMReadOnlyAccess" not in task["managed_policies"]
    narrowed = task["inline_policies"].get("qbroles-task", {"Statement": []})["Statement"]
    actions = {a for s in narrowed for a in s["Action"]}
    assert "secretsmanager:*" in actions  # used: kept, and the same statement's resources
    assert not any(a.startswith(("rds:", "ssm:")) for a in actions)
    assert task["source_conditions"] is True
    before, after = (document["pairs"][TASK_ROLE][k] for k in ("before", "after"))
    assert after < before
    assert document["proof"]["new_access"] == []


@pytest.mark.usefixtures("moto_iam")
def test_every_call_tighten_makes_is_in_the_policy_permissions_prints(
    monkeypatch: pytest.MonkeyPatch, calls: list[str]
) -> None:
    from tests.test_permissions import actions_of, allowed

    assert run("create").exit_code == 0
    resources.push_image("questionbank", "1.4.2")
    arn = resources.secret("questionbank/db")
    register_document(api_with_secret(arn))
    age(TASK_ROLE, 200)
    answering(monkeypatch, [service("rds", None)])
    calls.clear()
    assert run("tighten").exit_code == ExitCode.OK
    made = actions_of(calls)
    assert "iam:GenerateServiceLastAccessedDetails" in made
    assert "secretsmanager:DescribeSecret" in made
    assert made <= allowed("tighten"), made - allowed("tighten")


@pytest.mark.usefixtures("moto_iam")
def test_a_task_role_younger_than_the_window_is_no_evidence_of_disuse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one_live_task(task_role_age=30)
    answering(monkeypatch, [service("rds", None)])
    young = no_spec(run("tighten"))
    assert "exists for 30 days, fewer than --usage-days 90" in young
    assert "--usage-days 30" in young
    assert "--keep-task-role" in young
    answering(monkeypatch, [], status="FAILED")
    failed = no_spec(run("tighten", "--usage-days", "30"))
    assert "IAM's report job failed (busy) for the task role" in failed
    answering(monkeypatch, [service("rds", None)])
    judged = run("tighten", "--usage-days", "30")
    assert judged.exit_code == ExitCode.OK, judged.stderr
    assert '"rds:Describe*"' not in judged.stdout
    assert '"ec2:DescribeSubnets"' in judged.stdout  # not in IAM's report: kept


@pytest.mark.usefixtures("moto_iam")
def test_no_task_definition_using_the_role_is_no_evidence_and_no_spec() -> None:
    assert run("create").exit_code == 0
    register(
        "ecr-awslogs-fargate.json", executionRoleArn=f"arn:aws:iam::{resources.ACCOUNT}:role/Other"
    )
    said = no_spec(run("tighten", "--keep-task-role"))
    assert "no task definition in " in said
    assert "uses the execution role QuestionBank-ECS-TaskExecutionRole" in said


@pytest.mark.usefixtures("moto_iam")
def test_a_task_definition_naming_the_role_in_another_account_is_not_evidence() -> None:
    assert run("create").exit_code == 0
    resources.push_image("questionbank", "1.4.2")
    other = str(TASKDEFS / "execution-role-other-account.json")
    said = no_spec(run("tighten", "--keep-task-role", "--task-definition", other))
    assert "not evidence, the whole-ARN rule" in said
    assert "999999999999" in said
    assert "no task definition among those given" in said


@pytest.mark.usefixtures("moto_iam")
def test_one_secret_named_by_name_and_by_arn_is_one_grant() -> None:
    assert run("create").exit_code == 0
    resources.push_image("questionbank", "1.4.2")
    arn = resources.secret("questionbank/db")
    partial = arn.rsplit("-", 1)[0]  # by name: the ARN without the suffix Secrets Manager adds
    Path("by-name.json").write_text(json.dumps(api_with_secret(partial)))
    Path("by-arn.json").write_text(json.dumps(api_with_secret(arn)))
    result = run(
        "-o", "json", "tighten", "--keep-task-role",
        "--task-definition", "by-name.json", "--task-definition", "by-arn.json",
    )  # fmt: skip
    assert result.exit_code == ExitCode.OK, result.stderr
    grants = json.loads(result.stdout)["grants"]
    secrets = [g for g in grants if "secretsmanager:GetSecretValue" in g["actions"]]
    assert [g["resources"] for g in secrets] == [[arn]]
    assert secrets[0]["evidence"] == ["by-name.json, by-arn.json: inject DB_PASSWORD into api"]


@pytest.mark.usefixtures("moto_iam")
def test_a_task_definition_that_cannot_start_is_no_proof_and_no_spec() -> None:
    assert run("create").exit_code == 0
    resources.push_image("questionbank", "1.4.1")
    register("ecr-awslogs-fargate.json")  # its image, 1.4.2, was never pushed
    said = no_spec(run("tighten", "--keep-task-role"))
    assert "proof: ecr-awslogs:1 cannot start with the tightened roles" in said
    assert "the proof does not hold; no spec is offered" in said


@pytest.mark.usefixtures("moto_iam")
def test_write_keeps_the_users_comments_and_asks_off_a_terminal_for_yes(
    calls: list[str],
) -> None:
    assert run("create").exit_code == 0
    assert run("init").exit_code == 0
    resources.push_image("questionbank", "1.4.2")
    register("ecr-awslogs-fargate.json")
    mine = (
        Path("qbroles.toml")
        .read_text()
        .replace('app = "QuestionBank"', '# our billing app\napp = "QuestionBank"')
    )
    Path("qbroles.toml").write_text(mine)
    calls.clear()
    refused = run("tighten", "--keep-task-role", "--write")
    assert refused.exit_code == ExitCode.SAFETY
    assert "needs --yes" in refused.stderr
    assert Path("qbroles.toml").read_text() == mine
    assert calls == []  # refused before the evidence is read: nobody could answer
    done = run("tighten", "--keep-task-role", "--write", "--yes")
    assert done.exit_code == ExitCode.OK, done.stderr
    assert "+managed_policies = []" in done.stderr  # the diff, shown before
    written = Path("qbroles.toml").read_text()
    assert "# our billing app" in written
    assert "ecr-awslogs:1: pull the image of api" in written
    planned = run("plan", "--detailed-exitcode")  # the file is read, and differs from IAM
    assert planned.exit_code == ExitCode.DIFFERENCES, planned.stderr  # changes pending
    assert "put inline policy qbroles-execution" in planned.stdout


@pytest.mark.e2e
def test_the_guides_roles_tightened_from_three_live_task_definitions_then_applied(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The migration docs/tighten.md tells: tighten --write, plan, create --prune, verify."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", env["AWS_ENDPOINT_URL"])  # the test's own reads
    assert qbroles(env, "create").returncode == 0
    secret = resources.secret("questionbank/db")
    resources.push_image("questionbank", "1.4.2")
    resources.push_image("questionbank", "1.4.2", region="eu-west-1")
    resources.log_group("/ecs/questionbank", region="eu-west-1")
    api = json.loads((TASKDEFS / "questionbank.json").read_text())
    api["containerDefinitions"][0]["secrets"][0]["valueFrom"] = f"{secret}:password::"
    register_document(api)
    register("ecr-awslogs-fargate.json")
    worker = json.loads((TASKDEFS / "ecr-awslogs-fargate.json").read_text())
    container = worker["containerDefinitions"][0]
    container["image"] = container["image"].replace("us-east-1", "eu-west-1")
    container["logConfiguration"]["options"] = {
        "awslogs-group": "/ecs/questionbank",
        "awslogs-region": "eu-west-1",
        "awslogs-stream-prefix": "worker",
    }
    register_document({**worker, "family": "worker"}, region="eu-west-1")

    tightened = qbroles(env, "tighten", "--write", "--yes")
    assert tightened.returncode == 0, tightened.stderr
    written = Path("qbroles.toml").read_text()
    assert "# questionbank:1: inject DB_PASSWORD into api" in written
    assert f'Resource = "{secret}"' in written
    assert "arn:aws:ecr:eu-west-1:123456789012:repository/questionbank" in written
    assert "proof: worker:1@eu-west-1 starts with the tightened roles" in tightened.stderr

    planned = qbroles(env, "plan", "--prune", "--check-live-task-definitions")
    assert planned.returncode == 0, planned.stderr
    assert "AmazonECSTaskExecutionRolePolicy" in planned.stdout + planned.stderr
    assert "cannot start" not in planned.stdout + planned.stderr
    applied = qbroles(env, "create", "--prune", "--yes")
    assert applied.returncode == 0, applied.stderr
    verified = qbroles(env, "verify", "--live-task-definitions")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # The grant is exact: a task definition that reads a secret none of them read cannot start.
    other = resources.secret("questionbank/other")
    api["containerDefinitions"][0]["secrets"][0]["valueFrom"] = f"{other}:password::"
    Path("other.json").write_text(json.dumps(api))
    refused = qbroles(env, "verify", "--task-definition", "other.json")
    assert refused.returncode == 1
    assert "secretsmanager:GetSecretValue" in refused.stdout + refused.stderr


@pytest.mark.usefixtures("moto_iam")
def test_a_refused_secret_read_is_missing_evidence_and_keeps_todays_decrypt_grant(
    monkeypatch: pytest.MonkeyPatch, iam: Any
) -> None:
    assert run("create").exit_code == 0
    resources.push_image("questionbank", "1.4.2")
    decrypt = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}
    put_inline(iam, EXEC_ROLE, "keys", decrypt)
    arn = resources.secret("questionbank/db")
    Path("api.json").write_text(json.dumps(api_with_secret(arn.rsplit("-", 1)[0])))
    denied = {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}
    answer_service(monkeypatch, "secretsmanager", {"DescribeSecret": (400, denied)})
    result = run("-o", "json", "tighten", "--keep-task-role", "--task-definition", "api.json")
    document = json.loads(result.stdout)
    assert any("secretsmanager:DescribeSecret" in line for line in document["missing"])
    kept = [g for g in document["grants"] if "kms:Decrypt" in g["actions"]]
    assert [g["resources"] for g in kept] == [["*"]]
    assert any(
        line.startswith("kept as today, the evidence is missing: api.json")
        for line in kept[0]["evidence"]
    )
    # The secret itself is granted by its name's pattern, one character per unknown suffix one.
    secrets = [g for g in document["grants"] if "secretsmanager:GetSecretValue" in g["actions"]]
    assert secrets[0]["resources"] == [arn.rsplit("-", 1)[0] + "-??????"]


@pytest.mark.usefixtures("moto_iam")
def test_ecs_exec_is_evidence_for_the_task_role_and_findings_of_the_result_are_said(
    monkeypatch: pytest.MonkeyPatch, iam: Any
) -> None:
    one_live_task(task_role_age=200)
    exec_ = {"Effect": "Allow", "Action": "ssmmessages:*", "Resource": "*"}
    put_inline(iam, TASK_ROLE, "exec", exec_)
    answering(monkeypatch, [service("ssmmessages", None), service("rds", None)])
    result = run("-o", "json", "tighten", "--exec")
    assert result.exit_code == ExitCode.OK, result.stderr
    document = json.loads(result.stdout)
    assert not any(line.startswith("ssmmessages:") for line in document["task_role"]["left_out"])
    spec = tomllib.loads(document["spec"])
    task = next(role for role in spec["role"] if role["kind"] == "task")
    assert task["inline_policies"]["exec"]["Statement"] == [exec_]  # lost nothing: kept
    findings = document["proof"]["findings"]
    assert any("TaskRole: broad policy AmazonSSMReadOnlyAccess" in f for f in findings), findings
    assert "finding of the tightened roles: " in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--access-analyzer", "arn:aws:s3:::trail",
         "--access-analyzer-role", "arn:aws:iam::123456789012:role/a"),
        ("--access-analyzer", "arn:aws:cloudtrail:us-east-1:123456789012:trail/t"),
    ],
)  # fmt: skip
def test_access_analyzer_options_are_checked_before_any_aws_call(
    args: tuple[str, ...], calls: list[str]
) -> None:
    result = run("tighten", *args)
    assert result.exit_code == ExitCode.USAGE
    assert "--access-analyzer" in result.stderr
    assert "Traceback" not in result.stderr
    assert calls == []


@pytest.mark.usefixtures("moto_iam")
def test_what_access_analyzer_saw_the_task_role_use_stays_whatever_last_accessed_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.test_usage import ACCESS, TRAIL, policy_job

    one_live_task(task_role_age=200)
    answering(monkeypatch, [service("rds", None), service("ec2", None)])
    seen = {"Effect": "Allow", "Action": "rds:DescribeDBInstances", "Resource": "*"}
    used = {"Version": "2012-10-17", "Statement": [seen]}
    answers = {
        "StartPolicyGeneration": (200, {"jobId": JOB}),
        "GetGeneratedPolicy": (200, policy_job("SUCCEEDED", (used,))),
    }
    answer_service(monkeypatch, "accessanalyzer", answers)
    result = run(
        "-o", "json", "tighten", "--access-analyzer", TRAIL, "--access-analyzer-role", ACCESS
    )
    assert result.exit_code == ExitCode.OK, result.stderr
    spec = tomllib.loads(json.loads(result.stdout)["spec"])
    task = next(role for role in spec["role"] if role["kind"] == "task")
    statements = task["inline_policies"]["qbroles-task"]["Statement"]
    rds = [s for s in statements if "rds:Describe*" in s["Action"]]
    assert rds, statements  # the pattern that covers what Access Analyzer saw stays
    assert not any("ec2:DescribeSubnets" in s["Action"] for s in statements)  # ec2: unused


@pytest.mark.usefixtures("moto_iam")
def test_parameters_and_the_customer_key_under_them_are_granted_exactly_and_nothing_new() -> None:
    key = resources.customer_key()
    narrow = ("--preset", "least-privilege", "--kms-key-arn", key)
    assert run(*narrow, "create").exit_code == 0
    resources.push_image("questionbank", "1.4.2")
    resources.parameter("/questionbank/db-host", secure=True, key=key)
    register("ssm-parameter.json")
    result = run(*narrow, "-o", "json", "tighten", "--keep-task-role")
    assert result.exit_code == ExitCode.OK, result.stderr
    document = json.loads(result.stdout)
    granted = {(a, r) for g in document["grants"] for a in g["actions"] for r in g["resources"]}
    parameter = f"arn:aws:ssm:us-east-1:{resources.ACCOUNT}:parameter/questionbank/db-host"
    assert ("ssm:GetParameters", parameter) in granted
    assert ("kms:Decrypt", key) in granted
    assert not any(r == "*" for a, r in granted if a != "ecr:GetAuthorizationToken")
    # An environment file today's role cannot read: granting it would be new access.
    resources.s3_object("questionbank-config", "api.env", key=key)
    register("environment-file-s3.json")
    wider = no_spec(run(*narrow, "tighten", "--keep-task-role"))
    assert "would grant what today's does not: QuestionBank-ECS-TaskExecutionRole: " in wider
    assert "s3:GetObject on arn:aws:s3:::questionbank-config/api.env" in wider


@pytest.mark.usefixtures("moto_iam")
def test_a_service_that_turns_ecs_exec_on_is_evidence_for_its_task_role(
    monkeypatch: pytest.MonkeyPatch, iam: Any
) -> None:
    """ECS Exec is switched on per service, not in the task definition: tighten reads the
    services, and the task role of a task definition run with it keeps ssmmessages."""
    one_live_task(task_role_age=200)
    put_inline(
        iam, TASK_ROLE, "exec", {"Effect": "Allow", "Action": "ssmmessages:*", "Resource": "*"}
    )
    ecs = boto3.client("ecs", region_name="us-east-1")
    ecs.create_cluster(clusterName="prod")
    answering(monkeypatch, [service("ssmmessages", None), service("rds", None)])
    without = json.loads(run("-o", "json", "tighten", "--live-regions", "us-east-1").stdout)
    assert any(
        line.startswith("ssmmessages: not used") for line in without["task_role"]["left_out"]
    )
    ecs.create_service(
        cluster="prod", serviceName="api", taskDefinition="ecr-awslogs:1", desiredCount=1,
        enableExecuteCommand=True,
    )  # fmt: skip
    # moto keeps the service but leaves enableExecuteCommand out of DescribeServices: the
    # answer as the ECS API reference has it.
    arn = f"arn:aws:ecs:us-east-1:{resources.ACCOUNT}:task-definition/ecr-awslogs:1"
    described = {"services": [{"serviceName": "api", "taskDefinition": arn,
                               "enableExecuteCommand": True}], "failures": []}  # fmt: skip
    answer_service(monkeypatch, "ecs", {"DescribeServices": (200, described)})
    with_exec = json.loads(run("-o", "json", "tighten", "--live-regions", "us-east-1").stdout)
    assert not any(line.startswith("ssmmessages:") for line in with_exec["task_role"]["left_out"])
    task = next(r for r in tomllib.loads(with_exec["spec"])["role"] if r["kind"] == "task")
    assert "exec" in task["inline_policies"]  # lost nothing: kept as it is


def test_a_task_definition_file_that_is_not_there_is_refused_before_any_call(
    calls: list[str],
) -> None:
    """As verify reads --task-definition: a name that is no file and no family is a file."""
    result = run("tighten", "--task-definition", "taskdf.json")
    assert result.exit_code == ExitCode.USAGE
    assert "taskdf.json" in result.stderr
    assert "Traceback" not in result.stderr
    assert calls == []


@pytest.mark.usefixtures("moto_iam")
def test_roles_another_tool_owns_leave_nothing_to_prove_and_are_refused(iam: Any) -> None:
    """The tightened spec could not be applied to them (create refuses another tool's
    role), so no proof is taken on roles left as they are: exit 4, create's reason."""
    trust = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
         "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]}
    )  # fmt: skip
    for role in (EXEC_ROLE, TASK_ROLE):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust,
                        Tags=[{"Key": "ManagedBy", "Value": "Terraform"}])  # fmt: skip
    resources.push_image("questionbank", "1.4.2")
    register("ecr-awslogs-fargate.json")
    result = run("tighten", "--keep-task-role", "--out", "t.toml")
    assert result.exit_code == ExitCode.SAFETY, result.stderr
    assert "managed by Terraform" in result.stderr
    assert "proof: " not in result.stderr
    assert not Path("t.toml").exists()
