"""Ownership at the moment of each write: races with a colleague, tag case, other specs.

The installed qbroles runs against a moto server behind a proxy that holds chosen requests,
so the test can act in between as a colleague (or another tool) would. What IAM holds is
checked directly on the server.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chaos import ChaosProxy
from tests.conftest import EXEC_ROLE, MANAGED, TASK_ROLE, TRUST, server_client
from tests.figures import count
from tests.servers import MotoServer, qbroles, tool

pytestmark = pytest.mark.e2e

ONE_ROLE = '[[role]]\nname = "Raced"\nmanaged_policies = ["AmazonS3ReadOnlyAccess"]\n'
S3_READ = MANAGED + "AmazonS3ReadOnlyAccess"
INLINE = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
)


@pytest.fixture
def iam(server: MotoServer, env: dict[str, str]) -> Any:
    """A client straight to the moto server: the colleague, and the judge of what IAM holds."""
    return server_client(server)


@pytest.fixture
def spec(tmp_path: Path) -> str:
    path = tmp_path / "raced.toml"
    path.write_text(ONE_ROLE)
    return str(path)


@pytest.fixture
def proxy_for(server: MotoServer) -> Iterator[Any]:
    made: list[ChaosProxy] = []

    def make(*holds: str) -> ChaosProxy:
        made.append(ChaosProxy(server.url, hold_actions=holds))
        return made[-1]

    yield make
    for proxy in made:
        proxy.stop()


def start(env: dict[str, str], proxy: ChaosProxy, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [tool("qbroles"), *args],
        env={**env, "AWS_ENDPOINT_URL": proxy.url},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def tags(iam: Any, role: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in iam.get_role(RoleName=role)["Role"].get("Tags", [])}


def attached(iam: Any, role: str) -> set[str]:
    answer = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    return {policy["PolicyArn"] for policy in answer}


def disown(iam: Any) -> None:
    """The colleague takes the role: removes qbroles' mark, detaches the policy again."""
    iam.untag_role(RoleName="Raced", TagKeys=["ManagedBy"])
    iam.detach_role_policy(RoleName="Raced", PolicyArn=S3_READ)


def replace_role(iam: Any) -> None:
    """The colleague deletes the role and makes another of the same name, marked as qbroles'."""
    iam.detach_role_policy(RoleName="Raced", PolicyArn=S3_READ)
    iam.delete_role(RoleName="Raced")
    iam.create_role(
        RoleName="Raced",
        AssumeRolePolicyDocument=TRUST,
        Tags=[{"Key": "ManagedBy", "Value": "qbroles"}],
    )


@pytest.mark.parametrize("colleague", [disown, replace_role], ids=["disowned", "replaced"])
def test_delete_reads_the_role_again_before_each_retry_and_stops_if_it_changed_hands(
    env: dict[str, str], iam: Any, spec: str, proxy_for: Any, colleague: Any
) -> None:
    assert qbroles(env, "--spec", spec, "create").returncode == 0
    proxy = proxy_for("DeleteRole", "GetRole")
    run = start(env, proxy, "--spec", spec, "delete", "--yes")
    assert proxy.wait_for_hold()  # DeleteRole, after qbroles detached the policy
    iam.attach_role_policy(RoleName="Raced", PolicyArn=S3_READ)  # DeleteConflict now
    proxy.go_on()
    proxy.wait_for_hold(timeout=15)  # the read before the retry (none on a careless tool)
    colleague(iam)
    proxy.go_on()
    _, stderr = run.communicate(timeout=120)
    count("races: ownership changes caught before a retried delete")
    assert run.returncode == 4, stderr
    assert "changed while qbroles waited to delete it" in stderr
    assert "Traceback" not in stderr
    assert iam.get_role(RoleName="Raced")["Role"]  # the colleague's role is still there


def test_delete_names_what_blocks_it_while_it_waits(
    env: dict[str, str], iam: Any, spec: str, proxy_for: Any
) -> None:
    """A policy attached meanwhile blocks DeleteRole; qbroles waits, then gives up naming it."""
    assert qbroles(env, "--spec", spec, "create").returncode == 0
    proxy = proxy_for("DeleteRole")
    run = start(env, proxy, "--spec", spec, "delete", "--yes")
    assert proxy.wait_for_hold()
    iam.attach_role_policy(RoleName="Raced", PolicyArn=MANAGED + "AmazonSQSFullAccess")
    proxy.go_on()
    # It waits while the role is still ours; once the colleague detaches, it deletes.
    iam.detach_role_policy(RoleName="Raced", PolicyArn=MANAGED + "AmazonSQSFullAccess")
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert "Raced" not in {role["RoleName"] for role in iam.list_roles()["Roles"]}


def test_adopt_reads_the_tags_again_before_its_first_write(
    env: dict[str, str], iam: Any, spec: str, proxy_for: Any
) -> None:
    """Another tool claims the role between qbroles' read and its first write: nothing changes."""
    iam.create_role(RoleName="Raced", AssumeRolePolicyDocument=TRUST)
    iam.put_role_policy(RoleName="Raced", PolicyName="terraform-made", PolicyDocument=INLINE)
    proxy = proxy_for("GetRolePolicy")
    run = start(env, proxy, "--spec", spec, "create", "--adopt", "--prune")
    assert proxy.wait_for_hold()  # qbroles has read the role: no owner yet
    iam.tag_role(RoleName="Raced", Tags=[{"Key": "ManagedBy", "Value": "Terraform"}])
    proxy.go_on()
    _, stderr = run.communicate(timeout=120)
    count("races: owners appearing before an adoption caught")
    assert run.returncode == 4, stderr
    assert "its ManagedBy tag is now Terraform" in stderr
    assert tags(iam, "Raced") == {"ManagedBy": "Terraform"}
    assert iam.list_role_policies(RoleName="Raced")["PolicyNames"] == ["terraform-made"]
    assert attached(iam, "Raced") == set()


@pytest.mark.parametrize("key", ["managedby", "MANAGEDBY", "Managedby"])
def test_another_tools_mark_in_any_case_is_never_adopted(
    env: dict[str, str], iam: Any, spec: str, key: str
) -> None:
    iam.create_role(
        RoleName="Raced", AssumeRolePolicyDocument=TRUST, Tags=[{"Key": key, "Value": "terraform"}]
    )
    for command in (("create", "--adopt", "--prune"), ("delete", "--yes")):
        done = qbroles(env, "--spec", spec, *command)
        assert done.returncode == 4, done.stderr
        assert "managed by terraform" in done.stderr
        # The tag named as IAM holds it: the key to remove by hand is this one.
        assert f"(tag {key}=terraform)" in done.stderr
        # Only create takes a role over: delete's --adopt is for another spec's roles.
        hint = f"remove the tag {key} by hand, then use --adopt"
        assert (hint in done.stderr) == (command[0] == "create")
    assert tags(iam, "Raced") == {key: "terraform"}
    assert attached(iam, "Raced") == set()


def test_qbroles_mark_in_another_case_is_its_own(env: dict[str, str], iam: Any, spec: str) -> None:
    iam.create_role(
        RoleName="Raced",
        AssumeRolePolicyDocument=TRUST,
        Tags=[{"Key": "managedby", "Value": "qbroles"}],
    )
    done = qbroles(env, "--spec", spec, "create")
    assert done.returncode == 0, done.stderr
    assert "ManagedBy" not in tags(iam, "Raced")  # not tagged again under another case
    assert attached(iam, "Raced") == {S3_READ}


def test_a_record_on_a_role_qbroles_did_not_own_removes_no_tag(
    env: dict[str, str], iam: Any, spec: str
) -> None:
    iam.create_role(
        RoleName="Raced",
        AssumeRolePolicyDocument=TRUST,
        Tags=[
            {"Key": "CostCenter", "Value": "42"},
            {"Key": "Owner", "Value": "ana"},
            {"Key": "qbroles:tags", "Value": "CostCenter Owner"},
        ],
    )
    done = qbroles(env, "--spec", spec, "create", "--adopt")
    assert done.returncode == 0, done.stderr
    found = tags(iam, "Raced")
    assert found["CostCenter"] == "42"
    assert found["Owner"] == "ana"
    assert found["ManagedBy"] == "qbroles"


def test_roles_another_spec_made_are_not_pruned_unasked_or_deleted_without_adopt(
    env: dict[str, str], iam: Any
) -> None:
    """create --prune of another spec's roles is a change of spec: --yes off a terminal
    (or --adopt, the same yes); delete of them needs --adopt."""
    assert qbroles(env, "create").returncode == 0  # the workshop preset's roles
    before = {role: attached(iam, role) for role in (EXEC_ROLE, TASK_ROLE)}
    narrow = ("--preset", "least-privilege")
    for command, said in (
        (("create", "--prune"), "last set by another spec"),
        (("delete", "--yes"), "made by another spec"),
    ):
        done = qbroles(env, *narrow, *command)
        assert done.returncode == 4, done.stderr
        assert said in done.stderr
        assert "preset=workshop app=QuestionBank" in done.stderr
    assert {role: attached(iam, role) for role in (EXEC_ROLE, TASK_ROLE)} == before
    handed = qbroles(env, *narrow, "create", "--prune", "--adopt")
    assert handed.returncode == 0, handed.stderr
    assert tags(iam, TASK_ROLE)["qbroles:spec"] == "preset=least-privilege app=QuestionBank"
    assert qbroles(env, *narrow, "delete", "--yes").returncode == 0
