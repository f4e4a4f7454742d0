"""Nothing lost: removals carry what they remove, a restore file comes first, restore puts back.

Through the CLI on moto in-process; what IAM holds is compared key by key with boto3.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MANAGED, WRITES, attached, writes
from tests.figures import count
from tests.test_cli import document, run

READ = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}
SPEC = """
[[role]]
name = "Kept"
description = "as the spec says"
managed_policies = ["AmazonS3ReadOnlyAccess"]
tags = { Team = "web", Stage = "prod" }
inline_policies = { read = "read.json" }
"""
OTHER_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@pytest.fixture
def spec(tmp_path: Path, moto_iam: None) -> str:
    path = tmp_path / "kept.toml"
    path.write_text(SPEC)
    (tmp_path / "read.json").write_text(json.dumps(READ))
    created = run("--spec", str(path), "create")
    assert created.exit_code == 0, created.stderr
    return str(path)


def snapshot(iam: Any, name: str) -> dict[str, Any]:
    """Return everything IAM holds of a role that qbroles could change, key by key."""
    role = iam.get_role(RoleName=name)["Role"]
    inline = iam.list_role_policies(RoleName=name)["PolicyNames"]
    profiles = iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]
    return {
        "Arn": role["Arn"],
        "Path": role["Path"],
        "Trust": role["AssumeRolePolicyDocument"],
        "Description": role.get("Description"),
        "MaxSessionDuration": role["MaxSessionDuration"],
        "Boundary": role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn"),
        "Tags": {tag["Key"]: tag["Value"] for tag in role.get("Tags", [])},
        "Managed": attached(iam, name),
        "Inline": {
            policy: iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            for policy in inline
        },
        "Profiles": sorted(profile["InstanceProfileName"] for profile in profiles),
    }


def drift(iam: Any) -> None:
    """A colleague's changes by hand: everything create --prune then removes or replaces."""
    iam.attach_role_policy(RoleName="Kept", PolicyArn=MANAGED + "AmazonSQSFullAccess")
    hand = {**READ, "Statement": [{**READ["Statement"][0], "Action": "sqs:*"}]}
    iam.put_role_policy(RoleName="Kept", PolicyName="hand-written", PolicyDocument=json.dumps(hand))
    iam.put_role_policy(
        RoleName="Kept",
        PolicyName="read",
        PolicyDocument=json.dumps(
            {**READ, "Statement": [{**READ["Statement"][0], "Resource": "arn:aws:s3:::a/*"}]}
        ),
    )
    iam.put_role_permissions_boundary(
        RoleName="Kept", PermissionsBoundary=MANAGED + "PowerUserAccess"
    )
    iam.update_assume_role_policy(RoleName="Kept", PolicyDocument=json.dumps(OTHER_TRUST))
    iam.update_role(RoleName="Kept", Description="changed by hand")
    iam.tag_role(RoleName="Kept", Tags=[{"Key": "Team", "Value": "ops"}])


def test_every_removal_carries_what_it_removes_in_the_plan(spec: str, iam: Any) -> None:
    drift(iam)
    planned = run("--spec", spec, "-o", "json", "plan", "--prune")
    assert planned.exit_code == 0, planned.stderr
    changes = {
        c["action"] + ":" + str(c["target"]): c for c in document(planned)["roles"][0]["changes"]
    }
    assert (
        changes["delete_inline_policy:hand-written"]["removed"]["Statement"][0]["Action"] == "sqs:*"
    )
    assert changes["delete_permissions_boundary:PowerUserAccess"]["removed"] == (
        MANAGED + "PowerUserAccess"
    )
    assert (
        changes["detach_policy:AmazonSQSFullAccess"]["removed"] == MANAGED + "AmazonSQSFullAccess"
    )
    assert changes["update_trust_policy:None"]["removed"] == OTHER_TRUST
    assert changes["tag_role:Team=web"]["removed"] == {"Team": "ops"}
    human = (
        run("--spec", spec, "plan", "--prune").stderr
        + run("--spec", spec, "plan", "--prune").stdout
    )
    assert "remove the permissions boundary PowerUserAccess of Kept" in human
    assert '"sqs:*"' in human  # the deleted inline document, line by line


def test_prune_then_restore_gives_back_the_state_before_key_by_key(spec: str, iam: Any) -> None:
    drift(iam)
    before = snapshot(iam, "Kept")
    pruned = run("--spec", spec, "-o", "json", "create", "--prune", "--yes")
    assert pruned.exit_code == 0, pruned.stderr
    backup = document(pruned)["backup"]
    assert backup.startswith(".qbroles/backup-")
    assert f"qbroles restore {backup}" in pruned.stderr
    assert snapshot(iam, "Kept") != before
    restored = run("-o", "json", "restore", backup)
    assert restored.exit_code == 0, restored.stderr
    assert snapshot(iam, "Kept") == before
    again = run("restore", backup)  # idempotent: the same state
    assert again.exit_code == 0, again.stderr
    assert snapshot(iam, "Kept") == before
    count("restore: prune then restore, key by key")


def test_delete_then_restore_makes_the_role_again_as_it_was(
    spec: str, iam: Any, tmp_path: Path
) -> None:
    iam.create_instance_profile(InstanceProfileName="web")
    iam.add_role_to_instance_profile(InstanceProfileName="web", RoleName="Kept")
    iam.tag_role(RoleName="Kept", Tags=[{"Key": "CostCenter", "Value": "42"}])
    before = snapshot(iam, "Kept")
    file = str(tmp_path / "kept-backup.json")
    deleted = run("--spec", spec, "delete", "--yes", "--backup", file)
    assert deleted.exit_code == 0, deleted.stderr
    assert iam.list_roles()["Roles"] == []
    restored = run("restore", file)
    assert restored.exit_code == 0, restored.stderr
    assert snapshot(iam, "Kept") == before
    count("restore: delete then restore, key by key")


def test_no_restore_file_when_nothing_is_removed(spec: str, iam: Any, tmp_path: Path) -> None:
    iam.detach_role_policy(RoleName="Kept", PolicyArn=MANAGED + "AmazonS3ReadOnlyAccess")
    repaired = run("--spec", spec, "-o", "json", "create")
    assert repaired.exit_code == 0, repaired.stderr
    assert "backup" not in document(repaired)
    assert not (tmp_path / ".qbroles").exists()


def test_removing_a_boundary_needs_yes_off_a_terminal(spec: str, iam: Any) -> None:
    iam.put_role_permissions_boundary(
        RoleName="Kept", PermissionsBoundary=MANAGED + "PowerUserAccess"
    )
    refused = run("--spec", spec, "create", "--prune")
    assert refused.exit_code == 4
    assert "remove the permissions boundary PowerUserAccess of Kept" in refused.stderr
    assert "--yes" in refused.stderr
    assert snapshot(iam, "Kept")["Boundary"] == MANAGED + "PowerUserAccess"


def test_removing_a_boundary_asks_on_a_terminal(
    spec: str, iam: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    iam.put_role_permissions_boundary(
        RoleName="Kept", PermissionsBoundary=MANAGED + "PowerUserAccess"
    )
    monkeypatch.setattr("qbroles.session.interactive", lambda: True)
    for answer in ("n\n", ""):  # no, and end of input: not confirmed, not interrupted
        refused = run("--spec", spec, "create", "--prune", stdin=answer)
        assert refused.exit_code == 4, refused.stderr
        assert "not confirmed" in refused.stderr
    assert snapshot(iam, "Kept")["Boundary"] == MANAGED + "PowerUserAccess"
    accepted = run("--spec", spec, "create", "--prune", stdin="y\n")
    assert accepted.exit_code == 0, accepted.stderr
    assert snapshot(iam, "Kept")["Boundary"] is None


def test_rewriting_the_trust_of_an_adopted_role_needs_yes(
    moto_iam: None, iam: Any, tmp_path: Path
) -> None:
    path = tmp_path / "kept.toml"
    path.write_text(SPEC)
    (tmp_path / "read.json").write_text(json.dumps(READ))
    iam.create_role(RoleName="Kept", AssumeRolePolicyDocument=json.dumps(OTHER_TRUST))
    refused = run("--spec", str(path), "create", "--adopt")
    assert refused.exit_code == 4
    assert "update the trust policy of Kept" in refused.stderr
    assert snapshot(iam, "Kept")["Tags"] == {}
    assert run("--spec", str(path), "create", "--adopt", "--yes").exit_code == 0


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{", "not valid JSON"),
        ('{"format": "other"}', "not a qbroles restore file"),
        (
            '{"format": "qbroles-restore/1", "roles": [{"role": "Kept", "restore": '
            '[{"action": "delete_role", "role": "Kept"}]}]}',
            "a restore only adds and rewrites",
        ),
        (
            '{"format": "qbroles-restore/1", "roles": [{"role": "Kept", "restore": '
            '[{"action": "attach_policy", "role": "Kept", "policy_arn": "x"}]}]}',
            "'policy_arn' must be a policy ARN",
        ),
        (
            '{"format": "qbroles-restore/1", "roles": [{"role": "Kept", "restore": '
            '[{"action": "attach_policy", "role": "Other", "policy_arn": "'
            + MANAGED
            + 'AmazonS3ReadOnlyAccess"}]}]}',
            "another role",
        ),
    ],
)
def test_a_bad_restore_file_is_one_line_and_no_request(
    moto_iam: None, tmp_path: Path, calls: list[str], content: str, needle: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = run("restore", str(path))
    assert result.exit_code == 2, result.stderr
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert calls == []
    assert not set(writes(calls)) & WRITES
