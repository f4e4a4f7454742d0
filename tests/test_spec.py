"""Spec loading and validation, and semantic policy comparison. Pure: no AWS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qbroles.errors import ExitCode, InputError
from qbroles.policy.documents import same_policy, trust_policy
from qbroles.spec.load import load_spec
from qbroles.spec.model import policy_arn, policy_label
from tests.conftest import default_spec

GOOD = """
app = "Shop"

[[role]]
name = "{app}-ECS-TaskRole"
description = "Task role of {app}"
managed_policies = ["AmazonRDSReadOnlyAccess", "arn:aws:iam::123456789012:policy/team/Custom"]
tags = { Team = "web" }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "roles.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_spec_is_the_deployment_guide() -> None:
    spec = default_spec()
    execution, task = spec.roles
    assert execution.name == "QuestionBank-ECS-TaskExecutionRole"
    assert task.name == "QuestionBank-ECS-TaskRole"
    assert execution.trusted_service == task.trusted_service == "ecs-tasks.amazonaws.com"
    assert execution.policy_arns("aws") == (
        "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
        "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess",
        "arn:aws:iam::aws:policy/SecretsManagerReadWrite",
    )
    assert task.policy_arns("aws") == (
        "arn:aws:iam::aws:policy/AmazonRDSReadOnlyAccess",
        "arn:aws:iam::aws:policy/AmazonSSMReadOnlyAccess",
        "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess",
        "arn:aws:iam::aws:policy/SecretsManagerReadWrite",
    )
    assert execution.all_tags("preset=workshop app=QuestionBank") == {
        "ManagedBy": "qbroles",
        "qbroles:spec": "preset=workshop app=QuestionBank",
        "qbroles:digest": execution.digest,
    }
    assert re.fullmatch("[0-9a-f]{16}", execution.digest)
    assert default_spec().identity == "preset=workshop app=QuestionBank"
    assert "QuestionBank" in execution.description


def test_app_names_the_roles() -> None:
    assert default_spec("Billing").names == (
        "Billing-ECS-TaskExecutionRole",
        "Billing-ECS-TaskRole",
    )


def test_spec_file_is_read(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, GOOD))
    (role,) = spec.roles
    assert spec.app == "Shop"
    assert role.name == "Shop-ECS-TaskRole"
    assert role.description == "Task role of Shop"
    assert role.tags == (("Team", "web"),)
    assert role.all_tags(spec.identity) == {
        "Team": "web",
        "ManagedBy": "qbroles",
        "qbroles:tags": "Team",
        "qbroles:spec": f"file={Path(spec.source).name} app=Shop",
        "qbroles:digest": role.digest,
    }
    assert role.policy_arns("aws-us-gov") == (
        "arn:aws-us-gov:iam::aws:policy/AmazonRDSReadOnlyAccess",
        "arn:aws:iam::123456789012:policy/team/Custom",
    )


def test_app_option_overrides_the_file(tmp_path: Path) -> None:
    assert load_spec(write(tmp_path, GOOD), app="Other").names == ("Other-ECS-TaskRole",)


ROLE = '[[role]]\nname = "R"\n'
INLINE = "[role.inline_policies.read]\n"
STATEMENT = (
    'Version = "2012-10-17"\n[[role.inline_policies.read.Statement]]\n'
    'Effect = "Allow"\nAction = "s3:GetObject"\nResource = "*"\n'
)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('colour = "red"\n' + ROLE, "unknown key 'colour'"),
        (ROLE + 'colour = "red"\n', "role 1 (R): unknown key 'colour'"),
        ("app = 3\n" + ROLE, "key 'app' must be a string"),
        ('app = "bad app"\n' + ROLE, "'bad app' is not a valid application name"),
        ("", "at least one [[role]]"),
        ('role = "R"\n', "at least one [[role]]"),
        ('[[role]]\ndescription = "d"\n', "role 1: key 'name' is required"),
        ('[[role]]\nname = "has space"\n', "'has space' is not a valid IAM role name"),
        ('[[role]]\nname = "' + "x" * 65 + '"\n', "is not a valid IAM role name"),
        ('[[role]]\nname = "Rôle"\n', "is not a valid IAM role name"),
        (ROLE + ROLE, "role name 'R' appears twice"),
        (ROLE + "description = 5\n", "key 'description' must be a string"),
        (ROLE + 'description = "' + "d" * 1001 + '"\n', "key 'description' must be at most"),
        (ROLE + 'trusted_service = "ecs tasks"\n', "'ecs tasks' is not an AWS service principal"),
        (ROLE + 'managed_policies = "ReadOnlyAccess"\n', "must be a list"),
        (ROLE + "managed_policies = [1]\n", "1 is not a string"),
        (ROLE + 'managed_policies = ["arn:aws:iam::aws:polcy/X"]\n', "not a valid IAM policy ARN"),
        (ROLE + 'managed_policies = ["arn:aws:iam::12:policy/X"]\n', "not a valid IAM policy ARN"),
        (ROLE + 'managed_policies = ["Read Only"]\n', "not a valid AWS managed policy name"),
        (
            ROLE
            + 'managed_policies = ["ReadOnlyAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess"]\n',
            "listed twice",
        ),
        (
            ROLE + "managed_policies = [" + ", ".join(f'"P{i}"' for i in range(21)) + "]\n",
            "IAM allows at most 20",
        ),
        (ROLE + "tags = [1]\n", "key 'tags' must be a table"),
        (ROLE + "tags = { Team = 1 }\n", "the value of 'Team' must be a string"),
        (ROLE + 'tags = { "aws:x" = "y" }\n', "the aws: prefix is AWS's"),
        (ROLE + 'tags = { ManagedBy = "me" }\n', "set by qbroles itself"),
        (ROLE + 'tags = { "qbroles:tags" = "me" }\n', "set by qbroles itself"),
        (ROLE + 'tags = { "Cost Center" = "1" }\n', "a key cannot hold white space"),
        (ROLE + 'tags = { "a;b" = "y" }\n', "is not a valid IAM tag"),
        (ROLE + "[role.tags]\n" + "".join(f'k{i} = "v"\n' for i in range(47)), "at most 46 tags"),
        (ROLE + '[role.tags]\nTeam = "a"\nteam = "b"\n', "are one key to IAM"),
        (ROLE + '[role.tags]\nmanagedby = "me"\n', "set by qbroles itself"),
        (ROLE + '[role.tags]\n"QBROLES:TAGS" = "x"\n', "set by qbroles itself"),
        (ROLE + '[role.tags]\n"qbroles:spec" = "x"\n', "set by qbroles itself"),
        (ROLE + 'kind = "web"\n', "key 'kind' must be execution or task"),
        (ROLE + 'path = "ecs"\n', "key 'path': 'ecs' must start and end with /"),
        (ROLE + "max_session_duration = 100\n", "from 3600 to 43200"),
        (ROLE + 'max_session_duration = "3600"\n', "from 3600 to 43200"),
        (ROLE + "max_session_duration = true\n", "from 3600 to 43200"),
        (ROLE + 'source_conditions = "yes"\n', "key 'source_conditions' must be true or false"),
        (ROLE + 'permissions_boundary = "arn:bad"\n', "not a valid IAM policy ARN"),
        (ROLE + "inline_policies = []\n", "key 'inline_policies' must be a table"),
        (ROLE + INLINE + 'Version = "2012-10-17"\n', "'Statement' must be"),
        (ROLE + INLINE + STATEMENT.replace("2012-10-17", "2020"), "'Version' must be"),
        (ROLE + INLINE + STATEMENT.replace('"Allow"', '"Permit"'), "'Effect' must be"),
        (ROLE + INLINE + STATEMENT + 'NotAction = "s3:*"\n', "exactly one of 'Action'"),
        (ROLE + INLINE + STATEMENT.replace('Resource = "*"\n', ""), "exactly one of 'Resource'"),
        (ROLE + INLINE + STATEMENT.replace("s3:GetObject", "s3 get"), "not an action"),
        (ROLE + INLINE + STATEMENT + 'Principal = "*"\n', "an identity policy has no Principal"),
        (
            ROLE + INLINE + STATEMENT.replace('"*"', '"arn:aws:s3:::{acount}"'),
            "unknown placeholder {acount}",
        ),
        (
            ROLE + INLINE + STATEMENT.replace('"*"', '"arn:aws:s3:::' + "x" * 10300 + '"'),
            "IAM allows 10240",
        ),
        (ROLE + INLINE + STATEMENT.replace('"*"', '"bucket"'), "must be an ARN"),
        (ROLE + INLINE + "Id = 7\n" + STATEMENT, "'Id' must be a string"),
        (ROLE + '[role.inline_policies]\n"bad name" = "x.json"\n', "the name must be"),
        (ROLE + '[role.inline_policies]\nfile = "missing.json"\n', "does not exist"),
    ],
)
def test_invalid_spec_is_one_clear_line_naming_file_and_key(
    tmp_path: Path, text: str, needle: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert needle in message
    assert message.startswith(str(path)), message
    assert "\n" not in message
    assert caught.value.exit_code == ExitCode.USAGE


def test_every_new_key_is_read_and_json_files_are_relative_to_the_spec(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "read.json").write_text(
        '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject",'
        ' "Resource": "arn:{partition}:s3:::{app}-bucket/*"}}'
    )
    path = write(
        tmp_path,
        ROLE
        + 'kind = "task"\npath = "/ecs/"\nmax_session_duration = 7200\n'
        + 'permissions_boundary = "PowerUserAccess"\nsource_conditions = true\n'
        + '[role.inline_policies]\nread = "policies/read.json"\n',
    )
    (role,) = load_spec(path, app="Shop").roles
    assert (role.kind, role.path, role.max_session_duration) == ("task", "/ecs/", 7200)
    assert role.permissions_boundary == "PowerUserAccess"
    assert role.source_conditions
    ((name, document),) = role.inline_policies
    assert name == "read"
    assert document["Statement"]["Resource"] == "arn:{partition}:s3:::Shop-bucket/*"
    assert role.needs_account  # source conditions need the account


def test_broken_json_policy_file(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text("{not json")
    path = write(tmp_path, ROLE + '[role.inline_policies]\np = "p.json"\n')
    with pytest.raises(InputError, match=r"p.json is not valid JSON"):
        load_spec(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_spec(tmp_path / "nope.toml")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        load_spec(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[[role]]\nname = "R"\ndescription = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(InputError, match="is not UTF-8"):
        load_spec(path)


def test_not_toml(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"is not valid TOML: .*line 1"):
        load_spec(write(tmp_path, "[[role]\n"))


def test_unreadable(tmp_path: Path) -> None:
    import os

    path = write(tmp_path, GOOD)
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: make reading fail another way
        path.chmod(0o644)
        path.unlink()
        path.symlink_to(path)  # a loop: reading raises OSError (ELOOP)
    with pytest.raises(InputError, match="cannot be read"):
        load_spec(path)


def test_default_spec_data_is_not_mutated_by_parsing() -> None:
    from qbroles.spec.presets import WORKSHOP

    before = repr(WORKSHOP)
    default_spec("X")
    assert repr(WORKSHOP) == before


# --- policy names and documents


def test_policy_arn_and_label() -> None:
    assert policy_arn("service-role/X", "aws-cn") == "arn:aws-cn:iam::aws:policy/service-role/X"
    assert policy_label("arn:aws-cn:iam::aws:policy/service-role/X") == "service-role/X"
    custom = "arn:aws:iam::123456789012:policy/Custom"
    assert policy_arn(custom, "aws-cn") == custom
    assert policy_label(custom) == custom


def test_same_policy_ignores_shape_and_order() -> None:
    a = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "a.amazonaws.com"},
                "Action": "sts:AssumeRole",
            },
            {"Effect": "Allow", "Principal": {"Service": ["c", "b"]}, "Action": ["x", "y"]},
        ],
    }
    b = {
        "Statement": [
            {"Action": ["y", "x", "x"], "Principal": {"Service": ["b", "c"]}, "Effect": "Allow"},
            {
                "Action": ["sts:AssumeRole"],
                "Effect": "Allow",
                "Principal": {"Service": ["a.amazonaws.com"]},
            },
        ],
        "Version": "2012-10-17",
    }
    assert same_policy(a, b)


@pytest.mark.parametrize(
    "changed",
    [
        {"Effect": "Deny"},
        {"Principal": {"Service": "ec2.amazonaws.com"}},
        {"Action": ["sts:AssumeRole", "sts:TagSession"]},
        {"Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}},
    ],
)
def test_same_policy_sees_real_differences(changed: dict[str, object]) -> None:
    wanted = trust_policy("ecs-tasks.amazonaws.com")
    other = {**wanted, "Statement": [{**wanted["Statement"][0], **changed}]}
    assert not same_policy(wanted, other)
    assert not same_policy(wanted, None)
