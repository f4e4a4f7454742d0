"""What qbroles itself needs: `qbroles permissions`, checked against the calls the commands
really make, and an access denied that names every action denied, not one a run."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.handlers
import pytest
from click.testing import CliRunner

from qbroles.cli import cli
from qbroles.errors import ExitCode
from qbroles.permissions import needed
from qbroles.policy.documents import policy_problem
from tests.conftest import EXEC_ROLE, MANAGED, TASK_ROLE, error_response
from tests.test_taskdefs import TASKDEFS

ECS = {
    "DescribeTaskDefinition", "ListTaskDefinitions", "RegisterTaskDefinition",
    "ListClusters", "ListServices", "DescribeServices",
}  # fmt: skip
# The reads of what task definitions name, and the action that authorises each.
RESOURCE_READS = {
    "DescribeSecret": "secretsmanager:DescribeSecret",
    "GetResourcePolicy": "secretsmanager:GetResourcePolicy",
    "DescribeParameters": "ssm:DescribeParameters",
    "DescribeKey": "kms:DescribeKey",
    "GetKeyPolicy": "kms:GetKeyPolicy",
    "DescribeImages": "ecr:DescribeImages",
    "GetRepositoryPolicy": "ecr:GetRepositoryPolicy",
    "DescribePullThroughCacheRules": "ecr:DescribePullThroughCacheRules",
    "DescribeLogGroups": "logs:DescribeLogGroups",
    "HeadObject": "s3:GetObject",
    "ListBuckets": "s3:ListAllMyBuckets",
    "GetBucketPolicy": "s3:GetBucketPolicy",
    "DescribeRegions": "ec2:DescribeRegions",
}
NARROW = ("--preset", "least-privilege", "--region", "us-east-1")


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def actions_of(calls: list[str]) -> set[str]:
    """Return the IAM actions that authorise the calls (sts:GetCallerIdentity needs none)."""
    return {
        RESOURCE_READS.get(name) or f"{'ecs' if name in ECS else 'iam'}:{name}"
        for name in calls
        if name != "GetCallerIdentity"
    }


def allowed(command: str) -> set[str]:
    return {action for actions in needed([command]).values() for action in actions}


@pytest.mark.usefixtures("moto_iam")
def test_every_call_each_command_makes_is_in_its_policy(
    iam: Any, calls: list[str], tmp_path: Path
) -> None:
    """Fresh, converged, drifted and pruned, with task-definition checks; then delete and
    restore: every call is one the printed policy allows."""
    made: dict[str, set[str]] = {"create": set(), "verify": set(), "delete": set()}

    def step(command: str, *args: str) -> Any:
        calls.clear()
        result = run(*args)
        made[command] = made.get(command, set()) | actions_of(calls)
        return result

    taskdef = str(TASKDEFS / "ssm-parameter.json")
    assert step("create", *NARROW, "create").exit_code == ExitCode.OK
    iam.attach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonS3ReadOnlyAccess")
    iam.put_role_policy(
        RoleName=TASK_ROLE,
        PolicyName="extra",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
        ),
    )
    iam.tag_role(
        RoleName=TASK_ROLE,
        Tags=[{"Key": "qbroles:tags", "Value": "Old"}, {"Key": "Old", "Value": "x"}],
    )
    step("verify", *NARROW, "verify", "--task-definition", taskdef)
    step("create", *NARROW, "create", "--prune", "--check-live-task-definitions")
    step("create", "create", "--adopt", "--prune", "--yes")  # another spec: every kind of write
    backup = tmp_path / "backup.json"
    assert step("delete", "delete", "--yes", "--adopt", "--backup", str(backup)).exit_code == 0
    assert step("restore", "restore", str(backup), "--yes").exit_code == ExitCode.OK
    assert made["create"] >= {"iam:CreateRole", "iam:AttachRolePolicy", "iam:DetachRolePolicy"}
    assert "iam:DeleteRole" in made["delete"]
    for command, actions in made.items():
        assert actions <= allowed(command), (command, actions - allowed(command))
    printed = json.loads(run("permissions").stdout)
    everything = {a for statement in printed["Statement"] for a in statement["Action"]}
    assert set().union(*made.values()) <= everything


def test_the_policy_is_scoped_to_the_spec_roles_and_valid(tmp_path: Path) -> None:
    result = run("--app", "Billing", "permissions", "create")
    assert result.exit_code == ExitCode.OK
    document = json.loads(result.stdout)
    assert policy_problem(document) is None
    (roles,) = [s for s in document["Statement"] if s["Sid"] == "QbrolesRoles"]
    assert roles["Resource"] == [
        "arn:aws:iam::*:role/Billing-ECS-TaskExecutionRole",
        "arn:aws:iam::*:role/Billing-ECS-TaskRole",
    ]
    # CreateRole with tags is authorised as iam:TagRole too: without it no role is made.
    assert {"iam:CreateRole", "iam:TagRole"} <= set(roles["Action"])
    assert "iam:DeleteRole" not in roles["Action"]  # create never deletes a role
    # Whoever registers the task definition needs iam:PassRole; qbroles does not pass them.
    assert "iam:PassRole on arn:aws:iam::*:role/Billing-ECS-TaskExecutionRole" in result.stderr
    assert "iam:PassedToService = ecs-tasks.amazonaws.com" in result.stderr
    assert run("-q", "permissions").stderr == ""

    china = json.loads(
        run("--region", "cn-north-1", "permissions", "delete", "--account", "123456789012").stdout
    )
    (roles,) = [s for s in china["Statement"] if s["Sid"] == "QbrolesRoles"]
    assert (
        roles["Resource"][0]
        == "arn:aws-cn:iam::123456789012:role/QuestionBank-ECS-TaskExecutionRole"
    )
    assert "iam:DeleteRole" in roles["Action"]
    os.chdir(tmp_path)  # the folder's own spec is the one asked about
    Path("qbroles.toml").write_text('app = "Shop"\n[[role]]\nname = "Shop-Task"\n')
    shop = json.loads(run("permissions", "verify").stdout)
    assert shop["Statement"][0]["Resource"] == ["arn:aws:iam::*:role/Shop-Task"]
    bad = run("permissions", "--account", "12")
    assert bad.exit_code == ExitCode.USAGE
    assert "12-digit" in bad.stderr


@pytest.fixture
def reads_denied() -> Iterator[None]:
    """Every client made during the test is denied ListRolePolicies and
    ListAttachedRolePolicies, as a caller with only iam:GetRole is."""

    def denier(name: str) -> Any:
        message = (
            f"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: iam:{name}"
        )
        return lambda **_: error_response("AccessDenied", message, 403)

    hooks = [
        (f"before-send.iam.{name}", denier(name))
        for name in ("ListRolePolicies", "ListAttachedRolePolicies")
    ]
    botocore.handlers.BUILTIN_HANDLERS.extend(hooks)
    yield
    for hook in hooks:
        botocore.handlers.BUILTIN_HANDLERS.remove(hook)


@pytest.mark.usefixtures("moto_iam", "reads_denied")
def test_access_denied_names_every_action_denied_at_once() -> None:
    result = run("verify")
    assert result.exit_code == ExitCode.AWS
    (line,) = result.stderr.splitlines()
    assert line.startswith("qbroles: error: AWS denied iam:")
    for action in ("iam:ListAttachedRolePolicies", "iam:ListRolePolicies"):
        assert line.count(action) >= 2  # named as denied, and as what to grant
    for role in (EXEC_ROLE, TASK_ROLE):
        assert role in line
    assert "qbroles permissions" in line
    assert result.stdout == ""


def test_restore_is_granted_only_what_restore_does() -> None:
    """restore only adds and rewrites: no removal, no delete; iam:PassRole only on the
    spec's roles, for AddRoleToInstanceProfile, and the stderr note says so."""
    result = run("permissions", "restore")
    assert result.exit_code == ExitCode.OK
    document = json.loads(result.stdout)
    granted = {a for statement in document["Statement"] for a in statement["Action"]}
    removals = {
        "iam:DeleteRole",
        "iam:DeleteRolePolicy",
        "iam:DetachRolePolicy",
        "iam:DeleteRolePermissionsBoundary",
        "iam:UntagRole",
        "iam:RemoveRoleFromInstanceProfile",
    }
    assert not granted & removals
    assert {"iam:GetPolicy", "iam:AddRoleToInstanceProfile", "iam:PassRole"} <= granted
    (passing,) = [s for s in document["Statement"] if "iam:PassRole" in s["Action"]]
    assert all(":role/QuestionBank-ECS-" in arn for arn in passing["Resource"])
    assert "restore passes a role only to put it back into an instance profile" in result.stderr
    create = json.loads(run("permissions", "create").stdout)
    assert "iam:PassRole" not in {a for s in create["Statement"] for a in s["Action"]}
    assert "qbroles itself does not pass the roles" in run("permissions", "create").stderr


@pytest.fixture
def enforcing(moto_iam: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """moto with IAM enforced, as AWS does, for a user "ci" whose policy the test sets
    (through an admin client made in the first, unchecked requests); qbroles runs as ci."""
    import boto3
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 5)
    monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)
    setup = boto3.client("iam", region_name="us-east-1")
    setup.create_user(UserName="admin")
    setup.put_user_policy(
        UserName="admin",
        PolicyName="all",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    key = setup.create_access_key(UserName="admin")["AccessKey"]
    setup.create_user(UserName="ci")
    ci = setup.create_access_key(UserName="ci")["AccessKey"]  # the last unchecked request
    admin = boto3.client(
        "iam",
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ci["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ci["SecretAccessKey"])
    return admin


def grant(admin: Any, document: dict[str, Any], without: str | None = None) -> None:
    """Give ci the printed policy (less one action). moto matches a statement's Resource
    only against "*" and checks no condition, so the resources are widened to "*": what
    this proves is the list of actions; the resources are checked against the calls made
    by test_every_call_each_command_makes_is_in_its_policy."""
    statements = [
        {**statement, "Action": [a for a in statement["Action"] if a != without], "Resource": "*"}
        for statement in document["Statement"]
    ]
    admin.put_user_policy(
        UserName="ci",
        PolicyName="qbroles",
        PolicyDocument=json.dumps({**document, "Statement": statements}),
    )


def test_the_printed_policy_is_enough_on_an_iam_that_enforces_it_and_each_action_is_needed(
    enforcing: Any,
) -> None:
    """create, verify and delete as a caller holding only what qbroles permissions prints;
    then, for each action those runs made, the same run without it fails (exit 3, naming
    it). moto checks each request's own action: a dependent one (iam:TagRole for
    CreateRole with tags) it does not ask for, so those are not proven here."""
    admin = enforcing
    document = json.loads(run("permissions", "all").stdout)
    grant(admin, document)
    paths = [("create",), ("verify",), ("delete", "--yes")]
    for path in paths:
        done = run(*path)
        assert done.exit_code == ExitCode.OK, (path, done.stderr)
    used = {
        "create": ["iam:GetRole", "iam:ListAttachedRolePolicies", "iam:CreateRole"],
        "verify": ["iam:ListRolePolicies"],
        "delete": ["iam:ListInstanceProfilesForRole", "iam:DetachRolePolicy", "iam:DeleteRole"],
    }
    for path in paths:
        for action in used[path[0]]:
            grant(admin, document)
            if path[0] != "create":
                assert run("create").exit_code == ExitCode.OK
            grant(admin, document, without=action)
            refused = run(*path)
            assert refused.exit_code == ExitCode.AWS, (path, action, refused.stderr)
            assert action in refused.stderr, (path, action, refused.stderr)
            grant(admin, document)
            run("delete", "--yes")
    # restore, holding only what qbroles permissions restore prints: no removal at all.
    assert run("create").exit_code == ExitCode.OK
    assert run("delete", "--yes", "--backup", "kept.json").exit_code == ExitCode.OK
    grant(admin, json.loads(run("permissions", "restore").stdout))
    restored = run("restore", "kept.json", "--yes")
    assert restored.exit_code == ExitCode.OK, restored.stderr
    # restore's policy removes nothing: a prune under it is denied its detach.
    admin.attach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonS3ReadOnlyAccess")
    pruned = run("create", "--prune")
    assert pruned.exit_code == ExitCode.AWS, pruned.stderr
    assert "iam:DetachRolePolicy" in pruned.stderr


@pytest.mark.usefixtures("moto_iam")
@pytest.mark.parametrize(
    ("who", "subject"),
    [
        ((), "repo:octo-org/questionbank:ref:refs/heads/main"),
        (("--environment", "production"), "repo:octo-org/questionbank:environment:production"),
        (("--ref", "refs/tags/v1.4.2"), "repo:octo-org/questionbank:ref:refs/tags/v1.4.2"),
    ],
)
def test_the_github_pipeline_role_trusts_one_repository_and_iam_takes_it(
    iam: Any, who: tuple[str, ...], subject: str
) -> None:
    from qbroles.policy.trust import outside_principals, trust_problem

    args = ("permissions", "create", "--ci", "github", "--repo", "octo-org/questionbank")
    result = run(*args, "--account", "123456789012", *who)
    assert result.exit_code == ExitCode.OK, result.stderr
    printed = json.loads(result.stdout)
    trust, permissions = printed["trust_policy"], printed["policy"]
    assert permissions == json.loads(
        run("permissions", "create", "--account", "123456789012").stdout
    )
    assert trust_problem(trust) is None
    condition = trust["Statement"][0]["Condition"]["StringEquals"]
    assert condition == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": subject,
    }
    provider = iam.create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com", ClientIDList=["sts.amazonaws.com"]
    )["OpenIDConnectProviderArn"]
    assert trust["Statement"][0]["Principal"] == {"Federated": provider}
    assert outside_principals(trust, "123456789012") == []
    iam.create_role(RoleName="ci-deployer", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(
        RoleName="ci-deployer", PolicyName="qbroles", PolicyDocument=json.dumps(permissions)
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--ci", "github", "--repo", "octo-org/qb"), "needs --account ID"),
        (("--ci", "github", "--account", "123456789012"), "needs --repo OWNER/REPO"),
        (("--ci", "github", "--account", "123456789012", "--repo", "no-slash"), "needs --repo"),
        (("--ci", "github", "--account", "123456789012", "--repo", "o/r", "--ref", "main"),
         "not a full branch or tag ref"),
        (("--ci", "github", "--account", "123456789012", "--repo", "o/r", "--ref",
          "refs/heads/*"), "no wildcards"),
        (("--ci", "github", "--account", "123456789012", "--repo", "o/r", "--ref",
          "refs/heads/main", "--environment", "prod"), "give one"),
        (("--repo", "o/r"), "go with --ci github"),
    ],
)  # fmt: skip
def test_a_github_trust_nobody_should_use_is_refused_in_one_line(
    args: tuple[str, ...], said: str
) -> None:
    result = run("permissions", *args)
    assert result.exit_code == ExitCode.USAGE
    assert said in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
