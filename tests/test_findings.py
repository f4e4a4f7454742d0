"""Security findings: pure tests per finding, and verify --strict on moto."""

from __future__ import annotations

from typing import Any

import pytest

from qbroles.iam.gateway import Gateway
from qbroles.model.checks import Severity
from qbroles.model.state import RoleState
from qbroles.policy.documents import SourceScope, trust_policy
from qbroles.reconcile import engine
from qbroles.reconcile.findings import findings
from qbroles.spec.presets import Scope, preset_spec
from tests.conftest import EXEC_ROLE, MANAGED, TASK_ROLE

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SCOPED = trust_policy("ecs-tasks.amazonaws.com", source=SourceScope("aws", "1" * 12, "eu-west-1"))


def role(**changes: Any) -> RoleState:
    fields: dict[str, Any] = {
        "name": "R",
        "arn": "arn:aws:iam::123456789012:role/R",
        "trust": SCOPED,
        "description": "",
        "tags": {},
        "managed_policies": frozenset(),
    }
    return RoleState(**{**fields, **changes})


def names(state: RoleState, **options: Any) -> list[str]:
    return [check.check for check in findings("R", state, **options)]


def test_a_narrow_scoped_role_has_no_findings() -> None:
    assert names(role()) == []


def test_trust_without_source_conditions() -> None:
    assert names(role(trust=trust_policy("ecs-tasks.amazonaws.com"))) == [
        "finding: confused deputy"
    ]


@pytest.mark.parametrize(
    "policy", ["SecretsManagerReadWrite", "CloudWatchLogsFullAccess", "AmazonSSMReadOnlyAccess"]
)
def test_broad_managed_policies_say_why_and_what_instead(policy: str) -> None:
    (check,) = findings("R", role(managed_policies=frozenset({MANAGED + policy})))
    assert check.check == f"finding: broad policy {policy}"
    assert check.severity is Severity.WARNING
    assert "least-privilege" in check.message
    assert " grant" in check.message


def test_narrow_managed_policy_is_not_a_finding() -> None:
    narrow = MANAGED + "service-role/AmazonECSTaskExecutionRolePolicy"
    assert names(role(managed_policies=frozenset({narrow}))) == []


def test_star_star_inline_policy() -> None:
    everything = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    assert names(role(inline_policies={"all": everything})) == ["finding: broad inline policy all"]


def inline(*actions: str, resource: str = "*") -> dict[str, Any]:
    statement = {"Effect": "Allow", "Action": list(actions), "Resource": resource}
    return {"Version": "2012-10-17", "Statement": [statement]}


def test_secrets_without_decrypt_only_when_a_key_is_given() -> None:
    reader = role(inline_policies={"p": inline("secretsmanager:GetSecretValue", resource="x")})
    assert names(reader) == []
    assert names(reader, kms_key_arn=KEY) == ["finding: secrets without kms:Decrypt"]
    decrypting = role(
        inline_policies={
            "p": inline("secretsmanager:GetSecretValue", resource="x"),
            "k": inline("kms:Decrypt", resource=KEY),
        }
    )
    assert names(decrypting, kms_key_arn=KEY) == []
    broad = role(managed_policies=frozenset({MANAGED + "SecretsManagerReadWrite"}))
    assert "finding: secrets without kms:Decrypt" in names(broad, kms_key_arn=KEY)


def test_strict_makes_findings_errors() -> None:
    (check,) = findings("R", role(trust=trust_policy("ecs-tasks.amazonaws.com")), strict=True)
    assert check.severity is Severity.ERROR
    assert check.failed


def test_verify_shows_the_workshop_findings_as_warnings(gateway: Gateway) -> None:
    workshop = preset_spec("workshop", None, Scope())
    engine.create(gateway, workshop)
    report = engine.verify(gateway, workshop)
    assert report.ok  # warnings only
    warned = {(r.name, c.check) for r in report.roles for c in r.checks if not c.ok}
    # No confused-deputy finding on the execution role: AWS documents the conditions for
    # the task role's trust only.
    assert warned == {
        (EXEC_ROLE, "finding: broad policy CloudWatchLogsFullAccess"),
        (EXEC_ROLE, "finding: broad policy SecretsManagerReadWrite"),
        (TASK_ROLE, "finding: confused deputy"),
        (TASK_ROLE, "finding: broad policy AmazonSSMReadOnlyAccess"),
        (TASK_ROLE, "finding: broad policy CloudWatchLogsFullAccess"),
        (TASK_ROLE, "finding: broad policy SecretsManagerReadWrite"),
    }
    assert not engine.verify(gateway, workshop, strict=True).ok


def test_least_privilege_passes_strict(gateway: Gateway) -> None:
    narrow = preset_spec("least-privilege", None, Scope(kms_key_arn=KEY))
    engine.create(gateway, narrow)
    report = engine.verify(gateway, narrow, strict=True, kms_key_arn=KEY)
    assert report.ok
    assert all(c.ok for r in report.roles for c in r.checks)


def trust_of(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


ASSUME = {"Effect": "Allow", "Action": "sts:AssumeRole"}


@pytest.mark.parametrize(
    ("statement", "finding"),
    [
        ({**ASSUME, "Principal": "*"}, "finding: anyone may assume it"),
        ({**ASSUME, "Principal": {"AWS": "*"}}, "finding: anyone may assume it"),
        (
            {**ASSUME, "Principal": {"AWS": "arn:aws:iam::999999999999:root"}},
            "finding: another account may assume it",
        ),
        (
            {
                **ASSUME,
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Condition": {"StringEquals": {"aws:SourceAccount": "*"}},
            },
            "finding: aws:SourceAccount is *",
        ),
    ],
)
def test_a_trust_anyone_or_another_account_can_use_is_a_finding(
    statement: dict[str, Any], finding: str
) -> None:
    assert finding in names(role(trust=trust_of(statement)))


def test_conditions_are_asked_of_the_task_role_and_reported_on_the_execution_role() -> None:
    scoped = SCOPED
    bare = trust_policy("ecs-tasks.amazonaws.com")
    assert "finding: confused deputy" in names(role(trust=bare), kind="task")
    assert "finding: confused deputy" not in names(role(trust=bare), kind="execution")
    assert "finding: conditions on the execution role's trust" in names(
        role(trust=scoped), kind="execution"
    )
    assert names(role(trust=scoped), kind="task") == []


def test_an_empty_sid_is_no_sid() -> None:
    from qbroles.policy.documents import same_policy

    bare = trust_policy("ecs-tasks.amazonaws.com")
    with_sid = trust_of({**bare["Statement"][0], "Sid": ""})
    assert same_policy(bare, with_sid)
    assert not same_policy(bare, trust_of({**bare["Statement"][0], "Sid": "Named"}))
