"""The presets: the guide's roles and the least-privilege ones, and their scope options."""

from __future__ import annotations

from typing import Any

import pytest

from qbroles.errors import InputError
from qbroles.iam.gateway import Gateway
from qbroles.policy.documents import SourceScope
from qbroles.reconcile import engine
from qbroles.reconcile.desired import resolve
from qbroles.spec.presets import Scope, preset_spec
from tests.conftest import EXEC_ROLE, MANAGED, TASK_ROLE, attached

HERE = SourceScope("aws", "123456789012", "eu-west-1")
NO_SCOPE = Scope()


def statements(app: str = "QuestionBank", scope: Scope = NO_SCOPE) -> dict[str, dict[str, Any]]:
    """Return the least-privilege statements by role kind and Sid, filled in for HERE."""
    desired = resolve(preset_spec("least-privilege", app, scope), "aws", HERE)
    found: dict[str, dict[str, Any]] = {}
    for role in desired:
        assert role.kind is not None
        (document,) = role.inline_policies.values()
        found[role.kind] = {s["Sid"]: s for s in document["Statement"]}
    return found


def test_least_privilege_defaults_come_from_the_app_name() -> None:
    found = statements("Shop")
    secrets = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/*"
    assert found["execution"]["ReadAppSecrets"]["Resource"] == [secrets]
    assert found["execution"]["ReadAppParameters"]["Resource"] == (
        "arn:aws:ssm:eu-west-1:123456789012:parameter/shop/*"
    )
    assert found["execution"]["CreateAppLogGroup"]["Resource"] == (
        "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/shop:*"
    )
    assert "DecryptAppSecrets" not in found["execution"]
    assert found["task"]["ReadAppSecrets"]["Action"] == [
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
    ]
    assert found["task"]["ReadAppParameters"]["Resource"] == [
        "arn:aws:ssm:eu-west-1:123456789012:parameter/shop/*",
        "arn:aws:ssm:eu-west-1:123456789012:parameter/shop",
    ]
    assert found["task"]["WriteAppLogs"]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]


def test_scope_options_replace_the_defaults() -> None:
    secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf"
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    found = statements(
        scope=Scope((secret,), ssm_path="/prod/app/", log_group="/aws/app", kms_key_arn=key)
    )
    assert found["execution"]["ReadAppSecrets"]["Resource"] == [secret]
    assert found["execution"]["DecryptAppSecrets"] == {
        "Sid": "DecryptAppSecrets",
        "Effect": "Allow",
        "Action": ["kms:Decrypt"],
        "Resource": key,
    }
    assert found["task"]["DecryptAppSecrets"]["Resource"] == key
    assert found["task"]["ReadAppParameters"]["Resource"][0].endswith(":parameter/prod/app/*")
    assert found["task"]["WriteAppLogs"]["Resource"].endswith(":log-group:/aws/app:*")


def test_least_privilege_keeps_only_the_narrow_managed_policy_and_scopes_trust() -> None:
    execution, task = resolve(preset_spec("least-privilege", None, Scope()), "aws", HERE)
    assert execution.managed_policies == (
        MANAGED + "service-role/AmazonECSTaskExecutionRolePolicy",
    )
    assert task.managed_policies == ()
    # Trust conditions on the task role only (AWS documents them there), in every region.
    assert "Condition" not in execution.trust["Statement"][0]
    condition = task.trust["Statement"][0]["Condition"]
    assert condition["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert condition["ArnLike"] == {"aws:SourceArn": "arn:aws:ecs:*:123456789012:*"}


def test_a_partial_secret_arn_is_refused_with_the_pattern_that_works() -> None:
    partial = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db"
    with pytest.raises(InputError, match="partial ARN") as caught:
        preset_spec("least-privilege", None, Scope(secret_arns=(partial,)))
    assert f"{partial}-??????" in str(caught.value)
    for fine in (partial + "-AbCdEf", partial + "-??????", partial + "*"):
        preset_spec("least-privilege", None, Scope(secret_arns=(fine,)))


@pytest.mark.parametrize(
    ("scope", "needle"),
    [
        (Scope(secret_arns=("db-secret",)), "--secret-arn 'db-secret' is not"),
        (Scope(ssm_path="app"), "--ssm-path 'app' is not a parameter path"),
        (Scope(log_group="bad group"), "--log-group 'bad group'"),
        (Scope(kms_key_arn="alias/x"), "--kms-key-arn 'alias/x' is not"),
    ],
)
def test_bad_scope_options(scope: Scope, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        preset_spec("least-privilege", None, scope)


def test_least_privilege_end_to_end_on_moto(gateway: Gateway, iam: Any) -> None:
    spec = preset_spec("least-privilege", None, Scope())
    assert engine.create(gateway, spec).ok
    assert engine.verify(gateway, spec).ok
    assert attached(iam, TASK_ROLE) == set()
    document = iam.get_role_policy(RoleName=EXEC_ROLE, PolicyName="qbroles-execution")
    resources = [s["Resource"] for s in document["PolicyDocument"]["Statement"]]
    assert ["arn:aws:secretsmanager:us-east-1:123456789012:secret:questionbank/*"] in resources


def test_switching_from_workshop_to_least_privilege(gateway: Gateway, iam: Any) -> None:
    engine.create(gateway, preset_spec("workshop", None, Scope()))
    narrow = preset_spec("least-privilege", None, Scope())
    # The roles are the workshop preset's: pruning them is a change of spec, asked first
    # (no --adopt: that is for roles qbroles does not own).
    pruning = engine.create_plan(gateway, narrow, prune=True)
    assert [plan.other_spec for plan in pruning.changing] == [
        "another spec (preset=workshop app=QuestionBank)"
    ] * 2
    # Applying the other spec is a change of mind: the plan says so, for the question to
    # ask; a plan not carried out changes nothing.
    planned = engine.create_plan(gateway, narrow)
    seen = [plan.other_spec for plan in planned.changing]
    assert seen == ["another spec (preset=workshop app=QuestionBank)"] * 2
    assert MANAGED + "SecretsManagerReadWrite" in attached(iam, TASK_ROLE)
    kept = engine.create(gateway, narrow)  # a yes: the roles are handed to this spec
    # The broad policies stay without --prune, kept: create's answer is verify's (exit 1).
    assert not kept.ok
    assert {c.check for c in kept.kept} >= {"unexpected policy SecretsManagerReadWrite"}
    assert MANAGED + "SecretsManagerReadWrite" in attached(iam, TASK_ROLE)
    assert not engine.verify(gateway, narrow).ok
    assert engine.create(gateway, narrow, prune=True).ok  # now this spec's: no --adopt
    assert attached(iam, TASK_ROLE) == set()
    assert engine.verify(gateway, narrow).ok


@pytest.mark.usefixtures("moto_iam")
def test_the_guides_switch_to_least_privilege_is_one_command_asked_once(iam: Any) -> None:
    """--prune and the usual consent, no --adopt (issue 23, §2): off a terminal the yes is
    --yes; without it nothing is written and the message says so."""
    from click.testing import CliRunner

    from qbroles.cli import cli

    runner = CliRunner()
    assert runner.invoke(cli, ["create"]).exit_code == 0
    switch = ["--preset", "least-privilege", "create", "--prune"]
    unasked = runner.invoke(cli, switch)
    assert unasked.exit_code == 4
    assert "last set by another spec (preset=workshop app=QuestionBank)" in unasked.stderr
    assert "--yes" in unasked.stderr
    assert MANAGED + "SecretsManagerReadWrite" in attached(iam, TASK_ROLE)  # nothing written
    switched = runner.invoke(cli, [*switch, "--yes"])
    assert switched.exit_code == 0, switched.stderr
    assert attached(iam, TASK_ROLE) == set()
    assert runner.invoke(cli, ["--preset", "least-privilege", "verify"]).exit_code == 0
