"""--accounts and --ou: verify and plan read every account of an Organization through the
role assumed there, one report for all; writes refuse them (moto keeps each account's
IAM apart, behind the credentials of the role assumed into it)."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree

import boto3
import pytest
from click.testing import CliRunner

from qbroles.cli import cli
from qbroles.errors import ExitCode
from tests.conftest import MANAGED, TASK_ROLE
from tests.test_sarif import log_of


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def into(account: str) -> dict[str, str]:
    """The environment of the role Organizations made in the account, assumed."""
    held = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
        RoleSessionName="test-setup",
    )["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": held["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": held["SecretAccessKey"],
        "AWS_SESSION_TOKEN": held["SessionToken"],
    }


def session(environment: dict[str, str]) -> dict[str, str]:
    """A boto3 session's arguments from an environment (boto3's default one is cached)."""
    return {
        "aws_access_key_id": environment["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": environment["AWS_SECRET_ACCESS_KEY"],
        "aws_session_token": environment["AWS_SESSION_TOKEN"],
        "region_name": "us-east-1",
    }


def three_accounts() -> dict[str, Any]:
    """An Organization: OU prod with two member accounts and OU prod/eu under it with a
    third; no roles in them yet."""
    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    prod = org.create_organizational_unit(ParentId=root, Name="prod")["OrganizationalUnit"]["Id"]
    eu = org.create_organizational_unit(ParentId=prod, Name="eu")["OrganizationalUnit"]["Id"]
    accounts = []
    for number, parent in enumerate((prod, prod, eu)):
        made = org.create_account(AccountName=f"app{number}", Email=f"app{number}@example.com")
        account = made["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=parent)
        accounts.append(account)
    # Each account's OUs, its own first, then those above it.
    ous = dict(zip(accounts, ([prod], [prod], [eu, prod]), strict=True))
    return {"ou": prod, "eu": eu, "accounts": accounts, "ous": ous}


@pytest.fixture
def organization(moto_iam: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """three_accounts, with the guide's roles made in each by qbroles create run there."""
    made = three_accounts()
    for account in made["accounts"]:
        with monkeypatch.context() as there:
            for key, value in into(account).items():
                there.setenv(key, value)
            assert run("create").exit_code == 0
    return made


def test_verify_across_an_ou_names_the_one_account_that_drifted(
    organization: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    drifted = organization["accounts"][1]
    with monkeypatch.context() as there:
        for key, value in into(drifted).items():
            there.setenv(key, value)
        iam = boto3.Session(**session(into(drifted))).client("iam")
        iam.attach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonS3ReadOnlyAccess")
    result = run("-o", "json", "--ou", organization["ou"], "verify")
    assert result.exit_code == ExitCode.DIFFERENCES, result.stderr
    document = json.loads(result.stdout)
    assert set(document["accounts"]) == set(organization["accounts"])
    failing = {a for a, d in document["accounts"].items() if not d["ok"]}
    assert failing == {drifted}
    print(result.stderr)


def refusing(monkeypatch: pytest.MonkeyPatch, account: str, seen: list[str]) -> None:
    """Make STS refuse AssumeRole into ``account`` (as an account without the role, or
    whose role does not trust the caller, answers); record every role asked for."""
    from botocore.awsrequest import AWSResponse

    from qbroles.iam.gateway import Gateway

    made = Gateway.service
    denied = {
        "Error": {"Code": "AccessDenied", "Message": "not authorized to perform sts:AssumeRole"}
    }

    def service(self: Gateway, name: str, region: str | None = None) -> Any:
        client = made(self, name, region)
        if name == "sts":

            def answer(model: Any, params: dict[str, Any], **_: Any) -> Any:
                if model.name != "AssumeRole":
                    return None
                arn = params["body"]["RoleArn"]  # the query request, serialized
                seen.append(arn)
                if f":{account}:" in arn:
                    return AWSResponse("", 403, {}, None), denied
                return None

            client.meta.events.register_last("before-call", answer, unique_id="refusing")
        return client

    monkeypatch.setattr(Gateway, "service", service)


def test_an_account_that_cannot_be_assumed_is_reported_and_the_others_still_read(
    organization: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, third = organization["accounts"]
    seen: list[str] = []
    refusing(monkeypatch, second, seen)
    pattern = "arn:aws:iam::{account}:role/Auditor"
    listed = ",".join(organization["accounts"])
    result = run("--accounts", listed, "--assume-role-arn", pattern, "verify")
    assert result.exit_code == ExitCode.AWS, result.stderr
    assert sorted(seen) == sorted(pattern.replace("{account}", a) for a in (first, second, third))
    out = result.stdout
    assert all(f"Account {account}" in out for account in (first, second, third))
    assert f"qbroles verify {second}: not read: " in result.stderr
    assert "sts:AssumeRole" in result.stderr
    assert f"qbroles verify {first}: 2 roles match the spec" in result.stderr
    assert f"qbroles verify {third}: 2 roles match the spec" in result.stderr


def test_plan_and_junit_across_accounts(organization: dict[str, Any]) -> None:
    ou = organization["ou"]
    planned = run("--ou", ou, "plan", "--detailed-exitcode")
    assert planned.exit_code == ExitCode.OK, planned.stderr
    assert planned.stderr.count(": No changes. 2 roles in sync") == 3
    report = ElementTree.fromstring(run("-o", "junit", "--ou", ou, "verify").stdout)
    suites = report.findall("testsuite")
    assert [s.get("name", "").split()[2] for s in suites] == organization["accounts"]
    assert report.get("failures") == "0"
    assert int(report.get("tests", "0")) == sum(int(s.get("tests", "0")) for s in suites) > 0
    sarif = log_of(run("-o", "sarif", "--ou", ou, "verify").stdout)
    (one_run,) = sarif["runs"]  # GitHub takes 20 runs a file: the accounts share one
    named = {r["properties"]["account"] for r in one_run["results"]}
    assert named == set(organization["accounts"])  # the guide's findings, in each
    assert all(
        r["message"]["text"].startswith(r["properties"]["account"] + ": ")
        for r in one_run["results"]
    )


@pytest.mark.parametrize(
    "command", [("create",), ("delete", "--yes"), ("restore", "x.json"), ("tighten",)]
)
def test_writes_refuse_many_accounts_before_any_call(
    command: tuple[str, ...], calls: list[str]
) -> None:
    result = run("--accounts", "111111111111", *command)
    assert result.exit_code == ExitCode.USAGE
    assert "use qbroles stackset deploy" in result.stderr
    assert calls == []


def test_outputs_across_an_ou_prints_each_accounts_arns_and_names_the_one_without(
    organization: dict[str, Any], monkeypatch: pytest.MonkeyPatch, calls: list[str]
) -> None:
    ou, accounts = organization["ou"], organization["accounts"]
    result = run("--ou", ou, "outputs")
    assert result.exit_code == ExitCode.OK, result.stderr
    document = json.loads(result.stdout)
    assert list(document) == accounts
    for account, arns in document.items():
        assert arns == {
            "executionRoleArn": f"arn:aws:iam::{account}:role/QuestionBank-ECS-TaskExecutionRole",
            "taskRoleArn": f"arn:aws:iam::{account}:role/QuestionBank-ECS-TaskRole",
        }
    with monkeypatch.context() as there:
        for key, value in into(accounts[2]).items():
            there.setenv(key, value)
        assert run("delete", "--yes").exit_code == ExitCode.OK
    result = run("--ou", ou, "outputs")
    assert result.exit_code == ExitCode.DIFFERENCES
    document = json.loads(result.stdout)
    assert document[accounts[2]]["exit_code"] == ExitCode.DIFFERENCES
    assert "taskRoleArn" in document[accounts[0]]
    assert f"account {accounts[2]}:" in result.stderr
    calls.clear()
    for refused in (("--format", "env"), ("--merge", "taskdef.json")):
        said = run("--ou", ou, "outputs", *refused)
        assert said.exit_code == ExitCode.USAGE
        assert "each account's ARNs as one JSON document" in said.stderr
    assert calls == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--accounts", "1234"), "is not a 12-digit AWS account ID"),
        (("--ou", "r-abcd"), "is not an organizational unit ID"),
        (
            ("--accounts", "111111111111", "--assume-role-arn", "arn:aws:iam::111111111111:role/x"),
            "with {account}",
        ),
    ],
)
def test_malformed_targets_are_refused_before_any_call(
    args: tuple[str, ...], said: str, calls: list[str]
) -> None:
    result = run(*args, "verify")
    assert result.exit_code == ExitCode.USAGE
    assert said in result.stderr
    assert "Traceback" not in result.stderr
    assert calls == []


def test_permissions_prints_what_the_caller_of_a_many_account_read_needs(
    organization: dict[str, Any], monkeypatch: pytest.MonkeyPatch, calls: list[str]
) -> None:
    from qbroles.policy.evaluate import Outcome, Policy, evaluate

    seen: list[str] = []
    refusing(monkeypatch, "000000000000", seen)  # refuses none of these: records the asks
    targets = ("--ou", organization["ou"], "--assume-role", "Auditor")
    assert run(*targets, "verify").exit_code == ExitCode.OK
    calls.clear()
    printed = json.loads(run(*targets, "permissions", "verify").stdout)
    assert calls == []  # no AWS call, as ever
    caller = Policy("caller", printed["caller_policy"])
    assert len(seen) == 3
    for arn in seen:
        assert evaluate([caller], "sts:AssumeRole", arn).outcome is Outcome.ALLOWED, arn
    for action in ("organizations:ListAccountsForParent", "organizations:ListChildren"):
        assert evaluate([caller], action, "*").outcome is Outcome.ALLOWED
    alone = json.loads(run("permissions", "verify").stdout)
    assert printed["policy"] == alone  # what the role assumed in each account needs
    named = json.loads(run("--accounts", organization["accounts"][0], "permissions").stdout)
    (statement,) = named["caller_policy"]["Statement"]
    assert statement["Resource"] == [
        f"arn:aws:iam::{organization['accounts'][0]}:role/OrganizationAccountAccessRole"
    ]
