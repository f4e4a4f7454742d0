"""The call budget: exactly which AWS calls each command makes for the two roles.

The table in docs/aws-calls.md is this one. The floor IAM allows: one read per kind of attribute per
role, no read repeated unless a write changed what it reads, no write in a dry run.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from qbroles.iam.gateway import Gateway
from qbroles.outputs import role_arns, roles_by_kind
from qbroles.reconcile import engine
from qbroles.spec.presets import Scope, preset_spec
from tests.conftest import EXEC_ROLE, MANAGED, WRITES
from tests.resources import materialize

G, LA, LR, GRP = "GetRole", "ListAttachedRolePolicies", "ListRolePolicies", "GetRolePolicy"
STS = "GetCallerIdentity"

# (preset, situation) -> the calls, by name
BUDGET: dict[tuple[str, str], dict[str, int]] = {
    # GetRole and the listings go out together: for a missing role the listings are wasted
    # (NoSuchEntity), for an existing one (every rerun) a round trip is saved.
    ("workshop", "dry run, fresh account"): {G: 2, LA: 2, LR: 2},
    ("workshop", "create, fresh account"): {
        G: 4,
        "CreateRole": 2,
        "AttachRolePolicy": 8,
        LA: 4,
        LR: 2,
    },
    # The inline policies too, though the spec has none: plan and create report every
    # difference verify would (one round trip with GetRole all the same).
    ("workshop", "create, converged"): {G: 2, LA: 2, LR: 2},
    ("workshop", "verify, converged"): {G: 2, LA: 2, LR: 2},
    ("workshop", "outputs"): {G: 2},
    # The role changed is read again just before its first write (GetRole: its owner, its
    # id; the policies too where the plan removes or replaces something).
    ("workshop", "create, one policy detached by hand"): {
        G: 3,
        LA: 3,
        LR: 2,
        "AttachRolePolicy": 1,
    },
    # Read in full twice: for the plan, and again just before the first write, so that
    # what is removed and kept in the restore file is what IAM holds then.
    ("workshop", "delete"): {
        G: 4,
        LA: 4,
        LR: 4,
        "ListInstanceProfilesForRole": 4,
        "DetachRolePolicy": 8,
        "DeleteRole": 2,
    },
    ("least-privilege", "dry run, fresh account"): {STS: 1, G: 2, LA: 2, LR: 2},
    ("least-privilege", "create, fresh account"): {
        STS: 1,
        G: 4,
        "CreateRole": 2,
        "PutRolePolicy": 2,
        "AttachRolePolicy": 1,
        LA: 3,  # read back: only the role a policy was attached to
        LR: 4,
        GRP: 2,
    },
    ("least-privilege", "create, converged"): {STS: 1, G: 2, LA: 2, LR: 2, GRP: 2},
    ("least-privilege", "verify, converged"): {STS: 1, G: 2, LA: 2, LR: 2, GRP: 2},
    ("least-privilege", "outputs"): {G: 2},
    ("least-privilege", "create, one policy detached by hand"): {
        STS: 1,
        G: 3,
        LA: 3,
        LR: 2,
        GRP: 2,
        "AttachRolePolicy": 1,
    },
    ("least-privilege", "delete"): {
        G: 4,
        LA: 4,
        LR: 4,
        GRP: 4,  # what is deleted is kept in the restore file first
        "ListInstanceProfilesForRole": 4,
        "DetachRolePolicy": 1,
        "DeleteRolePolicy": 2,
        "DeleteRole": 2,
    },
}
SITUATIONS = [
    "dry run, fresh account",
    "create, fresh account",
    "create, converged",
    "verify, converged",
    "outputs",
    "create, one policy detached by hand",
    "delete",
]


def run() -> Gateway:
    """Return a new gateway, as every run of the command line builds its own."""
    import boto3

    return Gateway(
        boto3.client("iam", region_name="us-east-1"),
        region="us-east-1",
        sts=lambda: boto3.client("sts", region_name="us-east-1"),
    )


@pytest.mark.parametrize("preset", ["workshop", "least-privilege"])
def test_the_call_budget(moto_iam: None, calls: list[str], iam: Any, preset: str) -> None:
    spec = preset_spec(preset, None, Scope())
    steps = {
        "dry run, fresh account": lambda: engine.create(run(), spec, dry_run=True),
        "create, fresh account": lambda: engine.create(run(), spec),
        "create, converged": lambda: engine.create(run(), spec),
        "verify, converged": lambda: engine.verify(run(), spec),
        "outputs": lambda: role_arns(run(), roles_by_kind(spec), spec.identity, 4),
        "create, one policy detached by hand": lambda: engine.create(run(), spec),
        "delete": lambda: engine.delete(run(), spec),
    }
    for situation in SITUATIONS:
        if situation == "create, one policy detached by hand":
            iam.detach_role_policy(
                RoleName=EXEC_ROLE,
                PolicyArn=MANAGED + "service-role/AmazonECSTaskExecutionRolePolicy",
            )
        calls.clear()
        result = steps[situation]()
        assert len(result) == 2 if isinstance(result, dict) else result.ok
        assert dict(Counter(calls)) == BUDGET[(preset, situation)], situation
        if situation.startswith(("dry run", "verify", "outputs")) or "converged" in situation:
            assert not [c for c in calls if c in WRITES]


def test_budget_table_in_the_docs_matches() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "docs" / "aws-calls.md").read_text()
    for (preset, situation), budget in BUDGET.items():
        row = f"| {preset} | {situation} | {sum(budget.values())} |"
        assert row in readme, row


def test_the_caller_is_asked_once_even_when_two_steps_need_it(
    moto_iam: None, calls: list[str], tmp_path: Path
) -> None:
    from qbroles.reconcile.taskdef import load_task_definition

    spec = preset_spec("least-privilege", None, Scope())
    engine.create(run(), spec)
    calls.clear()
    path = Path(__file__).parent / "taskdefs" / "questionbank.json"
    made = tmp_path / "questionbank.json"
    made.write_text(json.dumps(materialize(json.loads(path.read_text()))))
    calls.clear()
    task = load_task_definition(str(made))
    assert engine.verify(run(), spec, task=task).ok  # resolving and the task check need it
    assert calls.count("GetCallerIdentity") == 1


# What verify --task-definition adds to "verify, converged" for questionbank-ssm.json with
# its resources made (an ECR image, a secret, a parameter, an awslogs group it does not
# create), least-privilege: the roles' managed policy documents, then the resource reads,
# each round's reads together.
TASK_DEFINITION_READS = {
    "GetPolicy": 1,
    "GetPolicyVersion": 1,
    "DescribeImages": 1,
    "DescribeSecret": 1,
    "GetResourcePolicy": 1,
    "DescribeParameters": 1,
    "DescribeLogGroups": 1,
}


def test_what_a_task_definition_check_costs(
    moto_iam: None, calls: list[str], tmp_path: Path
) -> None:
    from qbroles.reconcile.taskdef import load_task_definition

    spec = preset_spec("least-privilege", None, Scope())
    engine.create(run(), spec)
    path = Path(__file__).parent / "taskdefs" / "questionbank-ssm.json"
    made = tmp_path / "questionbank-ssm.json"
    made.write_text(json.dumps(materialize(json.loads(path.read_text()))))
    task = load_task_definition(str(made))
    calls.clear()
    assert engine.verify(run(), spec, task=task).tasks[0].verdict.value == "starts"
    verified = BUDGET[("least-privilege", "verify, converged")]
    added = Counter(calls) - Counter(verified)
    assert dict(added) == TASK_DEFINITION_READS
    calls.clear()
    engine.verify(run(), spec, task=task, resources=False)
    assert not set(calls) & {"DescribeSecret", "DescribeParameters", "DescribeImages"}


def test_the_reads_of_one_task_definition_go_out_together(moto_iam: None, tmp_path: Path) -> None:
    """The first round's reads (image, secret, parameter, log group) are in flight at once:
    each waits at a barrier the four must reach together, which sequential reads never do
    (the barrier breaks, and the run fails)."""
    import threading

    import botocore.handlers

    from qbroles.reconcile.taskdef import load_task_definition

    first_round = {"DescribeImages", "DescribeSecret", "DescribeParameters", "DescribeLogGroups"}
    barrier = threading.Barrier(len(first_round), timeout=10)
    armed = threading.Event()
    reached: list[str] = []

    def together(model: Any, **_: Any) -> None:
        if armed.is_set() and model.name in first_round:
            reached.append(model.name)
            barrier.wait()

    handler = ("before-call", together)  # before any client is made: every one gets it
    botocore.handlers.BUILTIN_HANDLERS.append(handler)
    try:
        spec = preset_spec("least-privilege", None, Scope())
        engine.create(run(), spec)
        path = Path(__file__).parent / "taskdefs" / "questionbank-ssm.json"
        made = tmp_path / "questionbank-ssm.json"
        made.write_text(json.dumps(materialize(json.loads(path.read_text()))))
        armed.set()
        report = engine.verify(run(), spec, task=load_task_definition(str(made)))
    finally:
        botocore.handlers.BUILTIN_HANDLERS.remove(handler)
    assert report.tasks[0].verdict.value == "starts"
    assert sorted(reached) == sorted(first_round)  # each read met the others there
    assert not barrier.broken
