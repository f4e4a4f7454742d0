"""The local policy evaluator (table-driven) and verify --task-definition on moto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qbroles.errors import InputError
from qbroles.iam.gateway import Gateway
from qbroles.policy.documents import SourceScope
from qbroles.policy.evaluate import Outcome, Policy, evaluate
from qbroles.reconcile import engine
from qbroles.reconcile.needs import requirements
from qbroles.reconcile.taskdef import load_task_definition
from qbroles.spec.load import parse_spec
from qbroles.spec.presets import Scope, preset_spec
from tests.conftest import EXEC_ROLE

TASKDEFS = Path(__file__).parent / "taskdefs"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:questionbank/db-AbCdEf"
BUCKET = "arn:aws:s3:::bucket/key"


def doc(*statements: dict[str, Any]) -> Policy:
    return Policy("p", {"Version": "2012-10-17", "Statement": list(statements)})


def allow(**fields: Any) -> dict[str, Any]:
    return {"Effect": "Allow", **fields}


def deny(**fields: Any) -> dict[str, Any]:
    return {"Effect": "Deny", **fields}


@pytest.mark.parametrize(
    ("statements", "action", "resource", "outcome"),
    [
        ([allow(Action="s3:GetObject", Resource="*")], "s3:GetObject", BUCKET, Outcome.ALLOWED),
        ([allow(Action="s3:GetObject", Resource="*")], "s3:PutObject", BUCKET, Outcome.NOT_ALLOWED),
        ([allow(Action="s3:Get*", Resource="*")], "s3:GetObject", BUCKET, Outcome.ALLOWED),
        ([allow(Action="S3:getobject", Resource="*")], "s3:GetObject", BUCKET, Outcome.ALLOWED),
        ([allow(Action="s3:?etObject", Resource="*")], "s3:GetObject", BUCKET, Outcome.ALLOWED),
        ([allow(Action="*", Resource="*")], "kms:Decrypt", KEY, Outcome.ALLOWED),
        (
            [allow(Action="s3:*", Resource="arn:aws:s3:::bucket/*")],
            "s3:GetObject",
            BUCKET,
            Outcome.ALLOWED,
        ),
        (
            [allow(Action="s3:*", Resource="arn:aws:s3:::other/*")],
            "s3:GetObject",
            BUCKET,
            Outcome.NOT_ALLOWED,
        ),
        (
            [allow(Action="s3:*", Resource="arn:aws:s3:::BUCKET/*")],
            "s3:GetObject",
            BUCKET,
            Outcome.NOT_ALLOWED,
        ),
        (
            [allow(Action="logs:*", Resource="arn:aws:logs:r:1:log-group:/g:*")],
            "logs:PutLogEvents",
            "arn:aws:logs:r:1:log-group:/g:log-stream:x",
            Outcome.ALLOWED,
        ),
        ([allow(NotAction="iam:*", Resource="*")], "s3:GetObject", BUCKET, Outcome.ALLOWED),
        ([allow(NotAction="iam:*", Resource="*")], "iam:PassRole", "*", Outcome.NOT_ALLOWED),
        (
            [allow(Action="s3:*", NotResource="arn:aws:s3:::secret/*")],
            "s3:GetObject",
            BUCKET,
            Outcome.ALLOWED,
        ),
        (
            [allow(Action="s3:*", NotResource="arn:aws:s3:::bucket/*")],
            "s3:GetObject",
            BUCKET,
            Outcome.NOT_ALLOWED,
        ),
        (
            [allow(Action="*", Resource="*"), deny(Action="s3:GetObject", Resource="*")],
            "s3:GetObject",
            BUCKET,
            Outcome.DENIED,
        ),
        (
            [deny(Action="s3:*", Resource="*"), allow(Action="s3:GetObject", Resource=BUCKET)],
            "s3:GetObject",
            BUCKET,
            Outcome.DENIED,
        ),
        (
            [deny(NotAction="s3:*", Resource="*"), allow(Action="*", Resource="*")],
            "s3:GetObject",
            BUCKET,
            Outcome.ALLOWED,
        ),
        (
            [
                allow(
                    Action="s3:GetObject",
                    Resource="*",
                    Condition={"Bool": {"aws:SecureTransport": "true"}},
                )
            ],
            "s3:GetObject",
            BUCKET,
            Outcome.CONDITIONAL,
        ),
        (
            [
                allow(Action="*", Resource="*"),
                deny(Action="*", Resource="*", Condition={"Bool": {"aws:ViaAWSService": "false"}}),
            ],
            "s3:GetObject",
            BUCKET,
            Outcome.CONDITIONAL,
        ),
        (
            [allow(Action=["ec2:*", "s3:GetObject"], Resource=["x", BUCKET])],
            "s3:GetObject",
            BUCKET,
            Outcome.ALLOWED,
        ),
        ([], "s3:GetObject", BUCKET, Outcome.NOT_ALLOWED),
    ],
)
def test_evaluation(
    statements: list[dict[str, Any]], action: str, resource: str, outcome: Outcome
) -> None:
    assert evaluate([doc(*statements)], action, resource).outcome is outcome


def test_the_deciding_statement_is_named() -> None:
    policies = [
        Policy("broad", {"Statement": [allow(Sid="All", Action="*", Resource="*")]}),
        Policy(
            "guard",
            {"Statement": [allow(Action="x:y", Resource="*"), deny(Action="s3:*", Resource="*")]},
        ),
    ]
    decision = evaluate(policies, "s3:GetObject", BUCKET)
    assert decision.outcome is Outcome.DENIED
    assert decision.by == "policy guard statement 2"
    assert evaluate(policies, "ec2:RunInstances", "*").by == "policy broad statement All"


def test_a_boundary_caps_what_is_allowed() -> None:
    everything = [doc(allow(Action="*", Resource="*"))]
    boundary = Policy("cap", {"Statement": [allow(Action="s3:*", Resource="*")]})
    assert (
        evaluate(everything, "s3:GetObject", BUCKET, boundary=boundary).outcome is Outcome.ALLOWED
    )
    capped = evaluate(everything, "kms:Decrypt", KEY, boundary=boundary)
    assert capped.outcome is Outcome.NOT_ALLOWED
    assert capped.by == "permissions boundary cap"


# --- task definitions


def test_requirements_of_the_sample_task_definition() -> None:
    task = load_task_definition(str(TASKDEFS / "questionbank.json"))
    here = SourceScope("aws", "123456789012", "us-east-1")
    needs = {(n.action, n.resource) for n in requirements(task, here)}
    repository = "arn:aws:ecr:us-east-1:123456789012:repository/questionbank"
    group = "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/questionbank"
    assert needs == {
        ("ecr:GetAuthorizationToken", "*"),
        ("ecr:BatchCheckLayerAvailability", repository),
        ("ecr:GetDownloadUrlForLayer", repository),
        ("ecr:BatchGetImage", repository),
        ("logs:CreateLogStream", f"{group}:log-stream:*"),
        ("logs:PutLogEvents", f"{group}:log-stream:*"),
        ("logs:CreateLogGroup", f"{group}:*"),
        ("secretsmanager:GetSecretValue", SECRET),  # the JSON-key suffix is not the secret
    }
    with_key = {(n.action, n.resource) for n in requirements(task, here, kms_key_arn=KEY)}
    assert with_key - needs == {("kms:Decrypt", KEY)}


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "does not exist"),
        ("{nope", "is not valid JSON"),
        ('{"family": "x"}', "has no containerDefinitions list"),
        ("[1, 2]", "has no containerDefinitions list"),
    ],
)
def test_bad_task_definition_files(tmp_path: Path, content: str | None, needle: str) -> None:
    path = tmp_path / "task.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=needle):
        load_task_definition(str(path))


def can(report: Any) -> dict[str, Any]:
    """Return the failing task-definition checks, by action."""
    return {
        c.check.removeprefix("can "): c
        for r in report.roles
        for c in r.checks
        if c.check.startswith("can ") and c.failed
    }


def check_task(gateway: Gateway, preset: str, taskdef: str, key: str | None = None) -> Any:
    spec = preset_spec(preset, None, Scope(kms_key_arn=key))
    engine.create(gateway, spec)
    task = load_task_definition(str(TASKDEFS / taskdef))
    # The roles' side (the resources these files name are not made: test_resources.py).
    return engine.verify(gateway, spec, task=task, kms_key_arn=key, resources=False)


@pytest.mark.parametrize("preset", ["workshop", "least-privilege"])
def test_both_presets_can_start_the_sample_task(gateway: Gateway, preset: str) -> None:
    report = check_task(gateway, preset, "questionbank.json")
    assert can(report) == {}
    assert report.ok
    checks = [c for r in report.roles for c in r.checks if c.check.startswith("can ")]
    assert len(checks) == 8
    arns = [c for r in report.roles for c in r.checks if c.check.startswith("task definition")]
    assert [c.ok for c in arns] == [True, True]


def test_workshop_roles_cannot_decrypt_a_secret_under_a_customer_key(gateway: Gateway) -> None:
    failing = can(check_task(gateway, "workshop", "questionbank.json", KEY))
    assert list(failing) == ["kms:Decrypt"]
    assert failing["kms:Decrypt"].message.startswith(f"{EXEC_ROLE} cannot kms:Decrypt on {KEY}")


def test_least_privilege_roles_with_the_key_can(gateway: Gateway) -> None:
    assert can(check_task(gateway, "least-privilege", "questionbank.json", KEY)) == {}


def test_the_guides_execution_role_cannot_inject_ssm_parameters(gateway: Gateway) -> None:
    failing = can(check_task(gateway, "workshop", "questionbank-ssm.json"))
    assert list(failing) == ["ssm:GetParameters"]
    assert failing["ssm:GetParameters"].expected == (
        "arn:aws:ssm:us-east-1:123456789012:parameter/questionbank/api-url"
    )
    assert can(check_task(gateway, "least-privilege", "questionbank-ssm.json")) == {}


def test_removing_one_statement_names_exactly_what_is_missing(gateway: Gateway, iam: Any) -> None:
    check_task(gateway, "least-privilege", "questionbank.json")
    policy = iam.get_role_policy(RoleName=EXEC_ROLE, PolicyName="qbroles-execution")
    document = policy["PolicyDocument"]
    document["Statement"] = [s for s in document["Statement"] if s["Sid"] != "ReadAppSecrets"]
    iam.put_role_policy(
        RoleName=EXEC_ROLE, PolicyName="qbroles-execution", PolicyDocument=json.dumps(document)
    )
    spec = preset_spec("least-privilege", None, Scope())
    task = load_task_definition(str(TASKDEFS / "questionbank.json"))
    failing = can(engine.verify(gateway, spec, task=task))
    assert list(failing) == ["secretsmanager:GetSecretValue"]
    assert failing["secretsmanager:GetSecretValue"].message == (
        f"{EXEC_ROLE} cannot secretsmanager:GetSecretValue on {SECRET}, needed to inject "
        "DB_PASSWORD into api"
    )


def test_a_task_definition_naming_other_roles_is_caught(gateway: Gateway, tmp_path: Path) -> None:
    data = json.loads((TASKDEFS / "questionbank.json").read_text())
    data["taskRoleArn"] = "arn:aws:iam::123456789012:role/SomeoneElsesRole"
    path = tmp_path / "other.json"
    path.write_text(json.dumps(data))
    spec = preset_spec("workshop", None, Scope())
    engine.create(gateway, spec)
    report = engine.verify(gateway, spec, task=load_task_definition(str(path)), resources=False)
    failed = [c.check for r in report.roles for c in r.checks if c.failed]
    assert failed == ["task definition taskRoleArn"]


def test_task_definition_needs_an_execution_role_in_the_spec(gateway: Gateway) -> None:
    spec = parse_spec({"role": [{"name": "R"}]}, source="test")
    task = load_task_definition(str(TASKDEFS / "questionbank.json"))
    with pytest.raises(InputError, match='kind = "execution"'):
        engine.verify(gateway, spec, task=task)


def test_registry_credentials_ssm_by_arn_and_non_ecr_images() -> None:
    from qbroles.reconcile.taskdef import TaskDefinition

    credentials = "arn:aws:secretsmanager:us-east-1:123456789012:secret:dockerhub-XyZ123"
    parameter = "arn:aws:ssm:eu-west-1:123456789012:parameter/shared/flag"
    task = TaskDefinition(
        "inline",
        {
            "containerDefinitions": [
                {
                    "name": "web",
                    "image": "docker.io/library/nginx:1.27",
                    "repositoryCredentials": {"credentialsParameter": credentials},
                    "secrets": [{"name": "FLAG", "valueFrom": parameter}],
                    "logConfiguration": {"logDriver": "json-file"},
                }
            ]
        },
    )
    here = SourceScope("aws", "123456789012", "us-east-1")
    needs = [(n.action, n.resource, n.why) for n in requirements(task, here)]
    assert needs == [
        ("secretsmanager:GetSecretValue", credentials, "log in to the registry of web"),
        ("ssm:GetParameters", parameter, "inject FLAG into web"),
    ]
