"""Saved plans (issue 23, §3), as terraform plan -out: plan --out writes the plan with
what it was made from, create PLAN applies exactly it, or refuses if IAM changed since.

Run through the installed qbroles against the moto server, the AWS CLI as the witness of
what IAM holds, and the server's recorder as the witness of what qbroles wrote.
"""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from qbroles.reconcile.replay import changed
from qbroles.reconcile.saved import _digest, load
from tests.conftest import EXEC_ROLE, MANAGED, TASK_ROLE, TRUST
from tests.servers import MotoServer, tool

pytestmark = pytest.mark.e2e

WRITES = ("Create", "Attach", "Detach", "Put", "Delete", "Tag", "Untag", "Update", "Remove")


def qbroles(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed qbroles in ``cwd`` with no terminal, as a pipeline does."""
    return subprocess.run(
        [tool("qbroles"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def aws(env: dict[str, str], *args: str) -> Any:
    done = subprocess.run(
        [tool("aws"), "--output", "json", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def attached(env: dict[str, str], role: str) -> set[str]:
    answer = aws(env, "iam", "list-attached-role-policies", "--role-name", role)
    return {policy["PolicyArn"] for policy in answer["AttachedPolicies"]}


def writes(server: MotoServer) -> list[str]:
    return [action for action in server.recorded_actions() if action.startswith(WRITES)]


def test_a_saved_plan_is_reviewed_then_applied_exactly_and_only_once(
    env: dict[str, str], server: MotoServer, tmp_path: Path
) -> None:
    made = qbroles(env, tmp_path, "-o", "json", "plan", "--out", "plan.json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["plan_file"] == "plan.json"
    assert ", saved in plan.json; nothing was changed" in made.stderr
    saved = tmp_path / "plan.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600  # it holds what the roles may do
    data = json.loads(saved.read_text())
    assert data["format"] == "qbroles-plan/1"
    assert data["account"] == "123456789012"
    assert data["partition"] == "aws"
    assert data["spec"]["source"] == "preset workshop"
    assert len(data["spec"]["digest"]) == 16
    planned = {entry["role"]: entry for entry in data["roles"]}
    assert planned[EXEC_ROLE]["read"] is None  # made from IAM without the role
    assert [a["action"] for a in planned[TASK_ROLE]["actions"]].count("attach_policy") == 4
    assert "qbroles create FILE" in data["apply with"]

    server.start_recording()
    applied = qbroles(env, tmp_path, "create", "plan.json")
    assert applied.returncode == 0, applied.stderr
    assert "10 changes applied to 2 roles from plan.json" in applied.stderr
    assert ") (" not in applied.stderr  # one bracket: the warnings'
    # Exactly the plan's writes: two roles made, eight policies attached, nothing else.
    assert sorted(writes(server)) == sorted(["CreateRole"] * 2 + ["AttachRolePolicy"] * 8)
    assert MANAGED + "AmazonSSMReadOnlyAccess" in attached(env, TASK_ROLE)
    assert qbroles(env, tmp_path, "verify").returncode == 0

    again = qbroles(env, tmp_path, "create", "plan.json")  # made from IAM before the roles
    assert again.returncode == 4
    assert f"role {EXEC_ROLE}: it was created since" in again.stderr
    assert "nothing was changed" in again.stderr


def test_a_saved_plan_is_refused_when_iam_changed_since_it_was_made(
    env: dict[str, str], server: MotoServer, tmp_path: Path
) -> None:
    assert qbroles(env, tmp_path, "create").returncode == 0
    made = qbroles(
        env, tmp_path, "--preset", "least-privilege", "plan", "--prune", "--out", "tight.json"
    )
    assert made.returncode == 0, made.stderr
    assert "qbroles create tight.json applies exactly this plan" in " ".join(made.stdout.split())
    by_hand = MANAGED + "ReadOnlyAccess"
    aws(env, "iam", "attach-role-policy", "--role-name", TASK_ROLE, "--policy-arn", by_hand)

    server.start_recording()
    refused = qbroles(env, tmp_path, "create", "tight.json")
    assert refused.returncode == 4
    said = " ".join(refused.stderr.split())
    assert f"role {TASK_ROLE}: {by_hand} was attached" in said
    assert EXEC_ROLE + ":" not in said  # the role that did not change is not named
    assert "qbroles plan --prune --out tight.json" in said  # how to make it again
    assert "preset least-privilege" in said
    assert writes(server) == []
    assert {by_hand, MANAGED + "AmazonSSMReadOnlyAccess"} <= attached(env, TASK_ROLE)

    # Made again from IAM as it is, the plan applies, the hand-made policy pruned with it.
    remade = qbroles(env, tmp_path, "--preset", "least-privilege", "plan", "--prune",
                     "--out", "tight.json")  # fmt: skip
    assert remade.returncode == 0, remade.stderr
    applied = qbroles(env, tmp_path, "create", "tight.json")
    assert applied.returncode == 0, applied.stderr
    assert "qbroles restore" in applied.stderr  # what it removed was kept first
    assert attached(env, TASK_ROLE) == set()
    assert qbroles(env, tmp_path, "--preset", "least-privilege", "verify").returncode == 0


def test_a_plan_file_is_checked_before_any_aws_call(
    env: dict[str, str], server: MotoServer, tmp_path: Path
) -> None:
    assert qbroles(env, tmp_path, "plan", "--out", "plan.json").returncode == 0
    path = tmp_path / "plan.json"
    data = json.loads(path.read_text())
    server.start_recording()

    edited = {**data, "roles": data["roles"][:1]}  # a merge that lost a role
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    done = qbroles(env, tmp_path, "create", "edited.json")
    assert done.returncode == 2
    assert "was changed after qbroles wrote it" in done.stderr

    other = {**data, "account": "210987654321"}
    (tmp_path / "other.json").write_text(json.dumps({**other, "digest": _digest(other)}))
    done = qbroles(env, tmp_path, "create", "other.json")
    assert done.returncode == 4
    assert "is for account 210987654321" in done.stderr

    done = qbroles(env, tmp_path, "create", "plan.json", "--prune")
    assert done.returncode == 2
    assert "--prune cannot change a saved plan" in done.stderr
    done = qbroles(env, tmp_path, "--preset", "least-privilege", "create", "plan.json")
    assert done.returncode == 4
    assert "was made from preset workshop" in done.stderr
    done = qbroles(env, tmp_path, "--preset", "workshop", "create", "plan.json", "--dry-run")
    assert done.returncode == 0, done.stderr  # the spec it was made from: fine
    assert "from plan.json" in done.stderr
    unknown = {**data, "format": "qbroles-plan/2"}
    (tmp_path / "newer.json").write_text(json.dumps(unknown))
    done = qbroles(env, tmp_path, "create", "newer.json")
    assert done.returncode == 2
    assert "is of format qbroles-plan/2, and this qbroles" in done.stderr
    assert writes(server) == []


def test_plan_out_never_replaces_what_is_not_a_plan_nor_saves_a_refused_plan(
    env: dict[str, str], tmp_path: Path
) -> None:
    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": true}\n')
    done = qbroles(env, tmp_path, "plan", "--out", "notes.json")
    assert done.returncode == 4
    assert "is not a qbroles plan file" in done.stderr
    assert notes.read_text() == '{"mine": true}\n'

    aws(env, "iam", "create-role", "--role-name", TASK_ROLE,
        "--assume-role-policy-document", TRUST)  # fmt: skip
    done = qbroles(env, tmp_path, "plan", "--out", "refused.json")
    assert done.returncode == 4  # as create would: a plan create refuses is no plan to apply
    assert not (tmp_path / "refused.json").exists()
    adopting = qbroles(env, tmp_path, "plan", "--adopt", "--out", "adopt.json")
    assert adopting.returncode == 0, adopting.stderr
    assert load(str(tmp_path / "adopt.json")).options.adopt is True
    applied = qbroles(env, tmp_path, "create", "adopt.json")
    assert applied.returncode == 0, applied.stderr
    assert "ManagedBy" in json.dumps(aws(env, "iam", "get-role", "--role-name", TASK_ROLE))


@pytest.mark.parametrize(
    ("before", "now", "said"),
    [
        (None, None, []),
        (None, {"role_id": "A"}, ["it was created since"]),
        ({"role_id": "A"}, None, ["it was deleted since"]),
        (
            {"role_id": "A"},
            {"role_id": "B"},
            ["it was deleted and created again under the same name"],
        ),
        (
            {"role_id": "A", "managed_policies": ["x"], "tags": {"K": "1"}},
            {"role_id": "A", "managed_policies": ["y"], "tags": {"K": "2", "L": "3"}},
            ["y was attached", "x was detached", "its tag K was changed", "its tag L was added"],
        ),
        (
            {"role_id": "A", "trust": {}, "inline_policies": {"p": {}}},
            {"role_id": "A", "trust": {"a": 1}, "inline_policies": {}},
            ["its inline policy p was removed", "its trust policy changed"],
        ),
    ],
)
def test_what_changed_since_the_plan_is_said_part_by_part(
    before: Any, now: Any, said: list[str]
) -> None:
    assert changed(before, now) == said
