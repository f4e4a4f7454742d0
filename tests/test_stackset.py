"""qbroles stackset: the roles in every account of an OU through a service-managed stack
set, on moto's CloudFormation and Organizations (each member account's IAM apart), and
CloudFormation's answers moto does not give (a failed instance, drift) as the API
reference has them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from click.testing import CliRunner

from qbroles.cli import cli
from qbroles.errors import ExitCode
from qbroles.iam.gateway import Gateway
from tests.conftest import MANAGED, TASK_ROLE
from tests.test_accounts import into, session, three_accounts

NAME = "questionbank-roles"
EXECUTION_ROLE = "QuestionBank-ECS-TaskExecutionRole"
WORKSHOP = {  # the guide's managed policies, by role
    EXECUTION_ROLE: [
        "service-role/AmazonECSTaskExecutionRolePolicy",
        "AmazonEC2ContainerRegistryReadOnly",
        "CloudWatchLogsFullAccess",
        "SecretsManagerReadWrite",
    ],
    TASK_ROLE: [
        "AmazonRDSReadOnlyAccess",
        "AmazonSSMReadOnlyAccess",
        "CloudWatchLogsFullAccess",
        "SecretsManagerReadWrite",
    ],
}


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def iam_of(account: str) -> Any:
    return boto3.Session(**session(into(account))).client("iam")


@pytest.fixture
def organization(moto_iam: None) -> dict[str, Any]:
    """OU prod with two member accounts and prod/eu under it with a third; no roles yet."""
    return three_accounts()


Answer = Callable[[dict[str, Any]], dict[str, Any] | None]


@pytest.fixture
def cloudformation(monkeypatch: pytest.MonkeyPatch, organization: dict[str, Any]) -> dict[str, Any]:
    """Record every CloudFormation call qbroles makes (its parameters, as given), answer
    those the test names as CloudFormation would, and mend two moto gaps as AWS documents
    them: moto's ListStackInstances names no OrganizationalUnitId (AWS gives the OU the
    instance was deployed through, for a service-managed stack set), and its
    DeleteStackInstances ignores DeploymentTargets, so moto is handed the accounts they
    select (INTERSECTION: those named; else every account in or under the OUs)."""
    from botocore.awsrequest import AWSResponse

    made = Gateway.service
    state: dict[str, Any] = {"calls": [], "answers": {}}
    ous_of, targeted = organization["ous"], []

    def given(params: dict[str, Any], model: Any, **_: Any) -> None:
        state["calls"].append((model.name, dict(params)))
        targets = params.get("DeploymentTargets")
        if model.name == "CreateStackInstances" and targets:
            targeted.extend(targets["OrganizationalUnitIds"])
        if model.name == "DeleteStackInstances" and targets:
            del params["DeploymentTargets"]
            ous = set(targets["OrganizationalUnitIds"])
            chosen = targets.get("Accounts") if targets.get("AccountFilterType") else None
            params["Accounts"] = chosen or [a for a, its in ous_of.items() if ous & set(its)]

    def placed(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "ListStackInstances":
            for summary in parsed.get("Summaries", []):
                through = [ou for ou in ous_of.get(summary["Account"], []) if ou in targeted]
                summary.setdefault("OrganizationalUnitId", (through or [None])[0])

    def answer(model: Any, params: dict[str, Any], **_: Any) -> Any:
        chosen = state["answers"].get(model.name)
        found = chosen(params["body"]) if chosen else None
        if found is None:
            return None
        return AWSResponse("", 400 if "Error" in found else 200, {}, None), found

    def service(self: Gateway, name: str, region: str | None = None) -> Any:
        client = made(self, name, region)
        if name == "cloudformation":
            events = client.meta.events
            events.register_last("before-parameter-build.cloudformation", given, unique_id="rec")
            events.register_last("before-call.cloudformation", answer, unique_id="answers")
            events.register_last("after-call.cloudformation", placed, unique_id="placed")
        return client

    monkeypatch.setattr(Gateway, "service", service)
    return state


def named(state: dict[str, Any], operation: str) -> list[dict[str, Any]]:
    return [params for name, params in state["calls"] if name == operation]


WRITES = ("CreateStackSet", "UpdateStackSet", "CreateStackInstances", "DeleteStackInstances",
          "DeleteStackSet")  # fmt: skip


def test_deploy_to_an_ou_makes_the_roles_in_each_account_then_update_status_and_delete(
    organization: dict[str, Any], cloudformation: dict[str, Any]
) -> None:
    ou, accounts = organization["ou"], organization["accounts"]
    target = ("--name", NAME, "--ou", ou)
    planned = run("-o", "json", "stackset", "plan", *target)
    assert planned.exit_code == ExitCode.OK, planned.stderr
    document = json.loads(planned.stdout)
    assert document["create"] is True
    assert {g["account"] for g in document["gains"]} == set(accounts)  # prod/eu's too
    refused = run("stackset", "deploy", *target)  # off a terminal, without --yes
    assert refused.exit_code == ExitCode.SAFETY
    assert "give --yes" in refused.stderr
    assert not any(named(cloudformation, write) for write in WRITES)

    deployed = run("-o", "json", "stackset", "deploy", *target, "--yes")
    assert deployed.exit_code == ExitCode.OK, deployed.stderr
    document = json.loads(deployed.stdout)
    assert document["ok"] is True
    assert {(i["account"], i["status"]) for i in document["instances"]} == {
        (account, "CURRENT") for account in accounts
    }
    (created,) = named(cloudformation, "CreateStackSet")
    assert created["PermissionModel"] == "SERVICE_MANAGED"
    assert created["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert created["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    assert created["Tags"] == [
        {"Key": "qbroles:stackset", "Value": "preset=workshop app=QuestionBank"}
    ]
    (instances,) = named(cloudformation, "CreateStackInstances")
    assert instances["DeploymentTargets"] == {"OrganizationalUnitIds": [ou]}
    assert instances["OperationPreferences"] == {
        "MaxConcurrentPercentage": 25, "FailureTolerancePercentage": 0,
    }  # fmt: skip
    for account in accounts:  # the stacks made the roles in each member account
        role = iam_of(account).get_role(RoleName=TASK_ROLE)["Role"]
        assert role["Arn"] == f"arn:aws:iam::{account}:role/{TASK_ROLE}"
        assert {"Key": "ManagedBy", "Value": "CloudFormation"} in role["Tags"]

    cloudformation["calls"].clear()
    again = run("stackset", "deploy", *target, "--yes")
    assert again.exit_code == ExitCode.OK
    assert "no changes" in again.stderr
    assert not any(named(cloudformation, write) for write in WRITES)

    # status: moto's CloudFormation does not attach a role's ManagedPolicyArns (AWS does):
    # attached here as CloudFormation would, then one policy added by hand in one account.
    for account in accounts:
        iam = iam_of(account)
        for role, policies in WORKSHOP.items():
            for policy in policies:
                iam.attach_role_policy(RoleName=role, PolicyArn=MANAGED + policy)
    iam_of(accounts[1]).attach_role_policy(
        RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonS3ReadOnlyAccess"
    )
    unavailable = {"Error": {"Code": "ValidationError", "Message": "drift is not available"}}
    cloudformation["answers"]["DetectStackSetDrift"] = lambda _: unavailable
    status = run("-o", "json", "stackset", "status", "--name", NAME)
    assert status.exit_code == ExitCode.DIFFERENCES, status.stderr
    document = json.loads(status.stdout)
    assert "drift is not available" in document["drift_unknown"]  # unknown, not "in sync"
    failing = {a for a, report in document["accounts"].items() if not report["ok"]}
    assert failing == {accounts[1]}
    assert f"verify fails in {accounts[1]}" in status.stderr

    update = ("--preset", "least-privilege", "stackset")
    pending = run(*update, "plan", *target, "--detailed-exitcode")
    assert pending.exit_code == ExitCode.DIFFERENCES
    assert "the template changes, in every instance" in pending.stdout
    assert run(*update, "deploy", *target, "--yes").exit_code == ExitCode.OK
    (updated,) = named(cloudformation, "UpdateStackSet")
    assert "preset least-privilege" in updated["TemplateBody"]
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    body = cfn.describe_stack_set(StackSetName=NAME)["StackSet"]["TemplateBody"]
    assert json.loads(body) == json.loads(updated["TemplateBody"])

    assert run("stackset", "delete", "--name", NAME).exit_code == ExitCode.SAFETY  # no --yes
    for account in accounts:  # what CloudFormation detaches as it deletes (moto does not)
        iam = iam_of(account)
        for role in WORKSHOP:
            for policy in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=role, PolicyArn=policy["PolicyArn"])
    gone = run("stackset", "delete", "--name", NAME, "--yes")
    assert gone.exit_code == ExitCode.OK, gone.stderr
    (removed,) = named(cloudformation, "DeleteStackInstances")
    assert removed["RetainStacks"] is False
    order = [name for name, _ in cloudformation["calls"] if name in WRITES]
    assert order[-2:] == ["DeleteStackInstances", "DeleteStackSet"]  # instances first
    with pytest.raises(cfn.exceptions.StackSetNotFoundException):
        cfn.describe_stack_set(StackSetName=NAME)
    for account in accounts:  # the stacks went, and the roles with them
        iam = iam_of(account)
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.get_role(RoleName=TASK_ROLE)


def test_an_account_that_fails_is_reported_with_cloudformations_reason(
    organization: dict[str, Any], cloudformation: dict[str, Any]
) -> None:
    failed_account = organization["accounts"][0]
    reason = "Account should have 'AWSCloudFormationStackSetExecutionRole' role with trust"

    def operation(body: dict[str, Any]) -> dict[str, Any] | None:
        op = {"OperationId": body["OperationId"], "Action": "CREATE", "Status": "FAILED"}
        return {"StackSetOperation": op}

    def results(body: dict[str, Any]) -> dict[str, Any] | None:
        return {
            "Summaries": [
                {"Account": a, "Region": "us-east-1", "Status": "SUCCEEDED"}
                for a in organization["accounts"][1:]
            ]
            + [{"Account": failed_account, "Region": "us-east-1", "Status": "FAILED",
                "StatusReason": reason}]
        }  # fmt: skip

    cloudformation["answers"].update(
        DescribeStackSetOperation=operation, ListStackSetOperationResults=results
    )
    result = run("-o", "json", "stackset", "deploy", "--name", NAME, "--ou", organization["ou"],
                 "--yes")  # fmt: skip
    assert result.exit_code == ExitCode.DIFFERENCES, result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is False
    (failed,) = [r for r in document["results"] if r["status"] == "FAILED"]
    assert (failed["account"], failed["reason"]) == (failed_account, reason)
    assert "1 failed" in result.stderr


def test_a_stack_set_qbroles_did_not_create_is_refused(
    organization: dict[str, Any], cloudformation: dict[str, Any]
) -> None:
    boto3.client("cloudformation", region_name="us-east-1").create_stack_set(
        StackSetName=NAME, TemplateBody='{"Resources": {}}', PermissionModel="SERVICE_MANAGED",
        AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
    )  # fmt: skip
    for command in (("plan",), ("deploy", "--yes"), ("delete", "--yes")):
        where = ("--ou", organization["ou"]) if command[0] != "delete" else ()
        result = run("stackset", *command, "--name", NAME, *where)
        assert result.exit_code == ExitCode.SAFETY, result.stderr
        assert "qbroles did not create it" in result.stdout + result.stderr
    assert not any(named(cloudformation, write) for write in WRITES)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("deploy", "--name", "1roles", "--ou", "ou-ab12-cdef3456"), "a stack set's name is"),
        (("deploy", "--name", NAME), "give --ou"),
        (("deploy", "--name", NAME, "--accounts", "111111111111"), "go with --self-managed"),
        (("plan", "--name", NAME, "--self-managed", "--ou", "ou-ab12-cdef3456"), "not --ou"),
        (("plan", "--name", NAME, "--self-managed"), "needs --accounts"),
        (("deploy", "--name", NAME, "--ou", "r-abcd"), "is not an organizational unit ID"),
        (("plan", "--name", NAME, "--self-managed", "--accounts", "1234"), "12-digit"),
        (
            (
                "deploy",
                "--name",
                NAME,
                "--ou",
                "ou-ab12-cdef3456",
                "--regions",
                "us-east-1,eu-west-1",
            ),
            "IAM roles are global",
        ),
    ],
)
def test_targets_that_do_not_fit_are_refused_before_any_call(
    args: tuple[str, ...], said: str, calls: list[str]
) -> None:
    result = run("stackset", *args)
    assert result.exit_code == ExitCode.USAGE
    assert said in result.stderr
    assert calls == []
    before = run("--ou", "ou-ab12-cdef3456", "stackset", "plan", "--name", NAME)
    assert before.exit_code == ExitCode.USAGE
    assert "takes its targets after the subcommand" in before.stderr


def test_drift_detection_is_waited_on_and_each_instances_drift_read() -> None:
    """DetectStackSetDrift is not in moto: the Stubber answers as the API reference has it."""
    from qbroles.stackset.cloud import drift
    from qbroles.stackset.model import Target

    client = boto3.client("cloudformation", region_name="us-east-1")
    slept: list[float] = []
    iam = boto3.client("iam", region_name="us-east-1")
    gateway = Gateway(iam, region="us-east-1", clients=lambda *_: client, sleep=slept.append)
    target = Target(NAME, ("us-east-1",), ous=("ou-ab12-cdef3456",))
    stub = Stubber(client)
    common = {"StackSetName": NAME, "CallAs": "SELF"}
    stub.add_response(
        "detect_stack_set_drift", {"OperationId": "drift-1"},
        {**common, "OperationPreferences": target.preferences()},
    )  # fmt: skip
    for status in ("RUNNING", "SUCCEEDED"):
        stub.add_response(
            "describe_stack_set_operation",
            {"StackSetOperation": {"OperationId": "drift-1", "Status": status}},
            {**common, "OperationId": "drift-1"},
        )
    stub.add_response(
        "list_stack_set_operation_results", {"Summaries": []}, {**common, "OperationId": "drift-1"}
    )
    stub.add_response(
        "describe_stack_set",
        {"StackSet": {"StackSetName": NAME, "Status": "ACTIVE", "TemplateBody": "{}",
                      "PermissionModel": "SERVICE_MANAGED",
                      "Tags": [{"Key": "qbroles:stackset", "Value": "preset=workshop"}]}},
        common,
    )  # fmt: skip
    checked = datetime(2026, 12, 3, tzinfo=UTC)
    stub.add_response(
        "list_stack_instances",
        {"Summaries": [
            {"Account": "111111111111", "Region": "us-east-1", "Status": "CURRENT",
             "DriftStatus": "DRIFTED", "LastDriftCheckTimestamp": checked},
            {"Account": "222222222222", "Region": "us-east-1", "Status": "CURRENT",
             "DriftStatus": "IN_SYNC", "LastDriftCheckTimestamp": checked},
        ]},
        common,
    )  # fmt: skip
    with stub:
        found = drift(gateway, target)
    stub.assert_no_pending_responses()
    assert found == {
        ("111111111111", "us-east-1"): "DRIFTED",
        ("222222222222", "us-east-1"): "IN_SYNC",
    }
    assert len(slept) == 1  # one wait while the operation ran


@pytest.mark.e2e
def test_the_installed_qbroles_reads_an_ou_and_deploys_a_stack_set(env: dict[str, str]) -> None:
    """As a user runs it, in its own process (where each account's read runs in a worker
    thread and signals are qbroles' own): --ou verify names the account that drifted, and
    a stack set deploys to the same OU, against the moto server."""
    from tests.servers import qbroles

    def client(service: str, environment: dict[str, str]) -> Any:
        keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
        given = {key.lower(): environment[key] for key in keys if key in environment}
        return boto3.client(service, endpoint_url=env["AWS_ENDPOINT_URL"],
                            region_name="us-east-1", **given)  # fmt: skip

    org = client("organizations", env)
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root, Name="prod")["OrganizationalUnit"]["Id"]
    accounts = []
    for number in range(3):
        made = org.create_account(AccountName=f"app{number}", Email=f"app{number}@example.com")
        accounts.append(made["CreateAccountStatus"]["AccountId"])
        org.move_account(AccountId=accounts[-1], SourceParentId=root, DestinationParentId=ou)
    for account in accounts:
        held = client("sts", env).assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
            RoleSessionName="test-setup",
        )["Credentials"]
        there = {**env, "AWS_ACCESS_KEY_ID": held["AccessKeyId"],
                 "AWS_SECRET_ACCESS_KEY": held["SecretAccessKey"],
                 "AWS_SESSION_TOKEN": held["SessionToken"]}  # fmt: skip
        assert qbroles(there, "create").returncode == ExitCode.OK
        if account == accounts[1]:
            client("iam", there).attach_role_policy(
                RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonS3ReadOnlyAccess"
            )
    read = qbroles(env, "--ou", ou, "verify")
    assert read.returncode == ExitCode.DIFFERENCES, read.stderr
    assert "Traceback" not in read.stderr
    for account in accounts:
        assert f"Account {account}" in read.stdout
    (drifted,) = [line for line in read.stderr.splitlines() if "difference" in line]
    assert drifted.startswith(f"qbroles verify {accounts[1]}: ")

    deployed = qbroles(env, "--app", "Billing", "stackset", "deploy", "--name", "billing-roles",
                       "--ou", ou, "--yes")  # fmt: skip
    assert deployed.returncode == ExitCode.OK, deployed.stderr
    for account in accounts:
        assert f"ok {account} us-east-1 CURRENT" in deployed.stdout
    assert "3 instances current" in deployed.stderr


def test_deploy_prunes_only_the_instances_outside_the_targets_and_only_with_prune(
    organization: dict[str, Any], cloudformation: dict[str, Any]
) -> None:
    first, second, nested = organization["accounts"]
    assert (
        run("stackset", "deploy", "--name", NAME, "--ou", organization["ou"], "--yes").exit_code
        == 0
    )
    narrower = ("--name", NAME, "--ou", organization["eu"])
    planned = run("-o", "json", "stackset", "plan", *narrower)
    document = json.loads(planned.stdout)
    assert (document["gains"], document["changes"]) == ([], False)
    assert {i["account"] for i in document["loses"]} == {first, second}
    kept = run("stackset", "deploy", *narrower, "--yes")  # without --prune: nothing removed
    assert kept.exit_code == ExitCode.OK
    assert "kept (outside the targets; --prune removes it)" in kept.stderr
    assert not named(cloudformation, "DeleteStackInstances")
    pruned = run("stackset", "deploy", *narrower, "--prune", "--yes")
    assert pruned.exit_code == ExitCode.OK, pruned.stderr
    (removed,) = named(cloudformation, "DeleteStackInstances")
    assert removed["DeploymentTargets"] == {
        "OrganizationalUnitIds": [organization["ou"]],  # the OU they were deployed through
        "Accounts": sorted([first, second]),
        "AccountFilterType": "INTERSECTION",  # only these; without it, every account of it
    }
    assert removed["RetainStacks"] is False
    for account, stays in ((first, False), (second, False), (nested, True)):
        iam = iam_of(account)
        names = {role["RoleName"] for role in iam.list_roles()["Roles"]}
        assert (TASK_ROLE in names) is stays, account


def test_self_managed_deploys_to_the_accounts_through_the_roles_given(
    organization: dict[str, Any], cloudformation: dict[str, Any]
) -> None:
    first, second, other = organization["accounts"]
    admin = "arn:aws:iam::123456789012:role/AWSCloudFormationStackSetAdministrationRole"
    result = run("stackset", "deploy", "--name", NAME, "--self-managed", "--accounts",
                 f"{first},{second}", "--admin-role-arn", admin, "--yes")  # fmt: skip
    assert result.exit_code == ExitCode.OK, result.stderr
    (created,) = named(cloudformation, "CreateStackSet")
    assert (created["PermissionModel"], created["AdministrationRoleARN"]) == ("SELF_MANAGED", admin)
    assert "AutoDeployment" not in created
    (instances,) = named(cloudformation, "CreateStackInstances")
    assert instances["Accounts"] == sorted([first, second])
    assert all("CallAs" not in params for _, params in cloudformation["calls"])
    for account, has in ((first, True), (second, True), (other, False)):
        names = {role["RoleName"] for role in iam_of(account).list_roles()["Roles"]}
        assert (TASK_ROLE in names) is has, account
    # delete takes the model the stack set has: no --self-managed needed to remove it.
    gone = run("stackset", "delete", "--name", NAME, "--yes")
    assert gone.exit_code == ExitCode.OK, gone.stderr
    (removed,) = named(cloudformation, "DeleteStackInstances")
    assert removed["Accounts"] == sorted([first, second])
    for account in (first, second):
        names = {role["RoleName"] for role in iam_of(account).list_roles()["Roles"]}
        assert TASK_ROLE not in names, account


def test_a_stack_set_changed_between_the_question_and_the_write_is_not_written(
    organization: dict[str, Any], cloudformation: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A colleague updates the stack set's template while the question is asked: the fresh
    read before the first write sees it, and nothing is written (exit 4)."""
    from qbroles import session as session_module

    target = ("--name", NAME, "--ou", organization["ou"])
    assert run("stackset", "deploy", *target, "--yes").exit_code == ExitCode.OK
    cfn = boto3.client("cloudformation", region_name="us-east-1")

    def colleague_edits_then_yes(question: str, out: Any) -> bool:
        cfn.update_stack_set(
            StackSetName=NAME,
            TemplateBody='{"Resources": {}}',
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        return True

    monkeypatch.setattr(session_module, "interactive", lambda: True)
    monkeypatch.setattr(session_module, "ask", colleague_edits_then_yes)
    cloudformation["calls"].clear()
    result = run("--preset", "least-privilege", "stackset", "deploy", *target)
    assert result.exit_code == ExitCode.SAFETY, result.stderr
    assert "changed since the plan was made" in result.stderr
    assert not any(named(cloudformation, write) for write in WRITES)
    body = cfn.describe_stack_set(StackSetName=NAME)["StackSet"]["TemplateBody"]
    assert body == '{"Resources": {}}'  # the colleague's, not overwritten
