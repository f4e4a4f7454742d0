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
    # What it puts back grants access (a policy, the trust): off a terminal, --yes.
    unasked = run("-o", "json", "restore", backup)
    assert unasked.exit_code == 4, unasked.stderr
    assert "restore what grants access: attach AmazonSQSFullAccess to Kept" in unasked.stderr
    restored = run("-o", "json", "restore", backup, "--yes")
    assert restored.exit_code == 0, restored.stderr
    assert document(restored)["changed"] is True
    assert snapshot(iam, "Kept") == before
    again = run("-o", "json", "restore", backup)  # nothing left to put back: no question
    assert again.exit_code == 0, again.stderr
    assert document(again)["changed"] is False
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
    restored = run("restore", file, "--yes")
    assert restored.exit_code == 0, restored.stderr
    assert snapshot(iam, "Kept") == before
    # Made again as qbroles' own: delete knows it as the role it deleted.
    assert run("--spec", spec, "delete", "--yes").exit_code == 0
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


def _attach(role: str) -> dict[str, str]:
    return {
        "action": "attach_policy",
        "role": role,
        "policy_arn": MANAGED + "AmazonS3ReadOnlyAccess",
    }


def _file(*roles: Any) -> str:
    return json.dumps({"format": "qbroles-restore/1", "roles": list(roles)})


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
        (_file({"restore": [_attach("Kept")]}), "'role' must be an IAM role name"),
        (_file({"role": "../../etc", "restore": [_attach("Kept")]}), "'role' must be"),
        (_file({"role": "Kept", "restore": []}), "its 'restore' list is empty"),
        (_file(), "'roles' must be a non-empty list"),
        (
            _file(
                {"role": "Kept", "restore": [_attach("Kept")]},
                {"role": "KEPT", "restore": [_attach("KEPT")]},
            ),
            "role KEPT is listed already as role 1",
        ),
        (
            _file(
                {
                    "role": "Kept",
                    "restore": [
                        {
                            "action": "update_trust_policy",
                            "role": "Kept",
                            "trust": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {
                                        "Effect": "Allow",
                                        "Principal": {"AWS": "*"},
                                        "Action": "sts:AssumeRole",
                                        "Resource": "*",
                                    }
                                ],
                            },
                        }
                    ],
                }
            ),
            "a trust policy names no Resource",
        ),
        (
            _file(
                {
                    "role": "Kept",
                    "restore": [
                        {
                            "action": "put_inline_policy",
                            "role": "Kept",
                            "policy": "p",
                            "document": {"Version": "2012-10-17", "Statement": []},
                        }
                    ],
                }
            ),
            "'Statement' must be a statement or a non-empty list",
        ),
        (
            _file(
                {
                    "role": "Kept",
                    "restore": [
                        {
                            "action": "attach_policy",
                            "role": "Kept",
                            "policy_arn": f"{MANAGED}Policy{number}",
                        }
                        for number in range(21)
                    ],
                }
            ),
            "21 managed policies to attach, but IAM allows at most 20",
        ),
        (
            '{"format": "qbroles-restore/1", "roles": [{"role": "Kept", "restore": [{"action": '
            '"update_role", "role": "Kept", "description": "d", "max_session_duration": NaN}]}]}',
            "NaN is not a JSON number",
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
    count("restore: hostile files refused")


# --- a restore file is input: edited by hand, copied, or left where someone else writes


def _deleted(spec: str, tmp_path: Path) -> dict[str, Any]:
    """Delete the role with a restore file; return the file's content, to edit."""
    file = tmp_path / "kept-backup.json"
    assert run("--spec", spec, "delete", "--yes", "--backup", str(file)).exit_code == 0
    content: dict[str, Any] = json.loads(file.read_text())
    return content


def _widened(content: dict[str, Any]) -> dict[str, Any]:
    """The file as an attacker edits it: AdministratorAccess, and a trust of anyone."""
    (entry,) = content["roles"]
    for action in entry["restore"]:
        if action["action"] == "create_role":
            action["trust"]["Statement"].append(
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
            )
            action["tags"] = {"Team": "web"}  # and no ManagedBy tag
    entry["restore"].append(
        {"action": "attach_policy", "role": "Kept", "policy_arn": MANAGED + "AdministratorAccess"}
    )
    return content


def test_a_hand_edited_file_that_widens_is_asked_about_and_refused_without_yes(
    spec: str, iam: Any, tmp_path: Path, calls: list[str]
) -> None:
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(_widened(_deleted(spec, tmp_path))))
    calls.clear()
    refused = run("restore", str(edited))
    assert refused.exit_code == 4, refused.stderr
    said = refused.stderr
    assert 'trusting anyone ("AWS": "*") outside this account' in said
    assert "attach AdministratorAccess to Kept" in said
    assert "pass --yes" in said
    assert not set(writes(calls)) & WRITES
    count("restore: hostile files refused")
    assert iam.list_roles()["Roles"] == []
    # With the yes it is done, tagged as qbroles' own, and what it grants is reported.
    done = run("-o", "json", "restore", str(edited), "--yes")
    assert done.exit_code == 0, done.stderr
    assert snapshot(iam, "Kept")["Tags"]["ManagedBy"] == "qbroles"
    found = {c["check"] for r in document(done)["roles"] for c in r["checks"]}
    assert "finding: broad policy AdministratorAccess" in found
    assert run("--spec", spec, "delete", "--yes").exit_code == 0  # delete knows it


def _claimed_by_another_account(spec: str, tmp_path: Path) -> Path:
    """Delete the role with a restore file, then make the file's header name another account."""
    content = _deleted(spec, tmp_path)
    assert content["account"] == "123456789012"  # the restore file says whose it is
    content["account"] = "999999999999"
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps(content))
    return moved


def test_a_file_of_another_account_is_refused_naming_both(
    spec: str, iam: Any, tmp_path: Path, calls: list[str]
) -> None:
    moved = _claimed_by_another_account(spec, tmp_path)
    calls.clear()
    refused = run("restore", str(moved), "--yes")
    assert refused.exit_code == 4, refused.stderr
    assert "is of account 999999999999" in refused.stderr
    assert "of account 123456789012" in refused.stderr
    assert not set(writes(calls)) & WRITES
    count("restore: hostile files refused")


def test_a_customer_policy_of_another_account_in_the_file_is_refused(
    spec: str, iam: Any, tmp_path: Path
) -> None:
    content = _deleted(spec, tmp_path)
    del content["account"]  # an older file: its ARNs still say whose it is
    content["roles"][0]["restore"].append(
        {
            "action": "attach_policy",
            "role": "Kept",
            "policy_arn": "arn:aws:iam::111122223333:policy/Theirs",
        }
    )
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps(content))
    refused = run("restore", str(moved), "--yes")
    assert refused.exit_code == 4, refused.stderr
    assert "is of account 111122223333" in refused.stderr


def test_restore_refuses_another_tools_role_naming_only_its_own_options(
    moto_iam: None, iam: Any, tmp_path: Path
) -> None:
    iam.create_role(
        RoleName="Kept",
        AssumeRolePolicyDocument=json.dumps(OTHER_TRUST),
        Tags=[{"Key": "ManagedBy", "Value": "Terraform"}],
    )
    file = tmp_path / "file.json"
    file.write_text(_file({"role": "Kept", "restore": [_attach("Kept")]}))
    refused = run("restore", str(file), "--yes")
    assert refused.exit_code == 4, refused.stderr
    assert "managed by Terraform" in refused.stderr
    assert "--adopt" not in refused.stderr  # restore has no such option
    assert attached(iam, "Kept") == set()


def test_a_file_naming_an_account_is_not_restored_blind_when_no_role_says_whose_these_are(
    spec: str, iam: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: list[str]
) -> None:
    """Every role of the file is gone, so no ARN says which account this is; without a
    region STS cannot be asked: refused (exit 2, no write) rather than taken as the same."""
    moved = _claimed_by_another_account(spec, tmp_path)
    monkeypatch.delenv("AWS_REGION")
    calls.clear()
    refused = run("restore", str(moved), "--yes")
    assert refused.exit_code == 2, refused.stderr
    assert "names its account" in refused.stderr
    assert "no region is set" in refused.stderr
    assert not set(writes(calls)) & WRITES
