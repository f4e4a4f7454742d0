"""The JSON documents and exit codes of a whole cycle, key by key, against a recorded copy.

The contract scripts rely on: a refactoring must leave every document and exit code as
it was. ``tests/golden/cycle.json`` was recorded from the code before the layout by stage;
to record it again after a deliberate change of the contract, run
``QBROLES_RECORD_GOLDEN=1 python -m pytest tests/test_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from qbroles.cli import cli
from tests.conftest import MANAGED, TASK_ROLE

GOLDEN = Path(__file__).parent / "golden" / "cycle.json"
# Values that differ from run to run, however right the code: IAM's ids and dates, the
# restore file's time.
VOLATILE = {"RoleId", "CreateDate", "RoleLastUsed"}


def normalised(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<volatile>" if k in VOLATILE else normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(item) for item in value]
    if isinstance(value, str):
        return re.sub(r"backup-\d{8}T\d{6}Z(-\d+)?", "backup-<time>", value)
    return value


def step(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["-o", "json", *args])
    return {"args": list(args), "exit": result.exit_code, "document": json.loads(result.stdout)}


@pytest.mark.usefixtures("moto_iam")
def test_a_whole_cycle_gives_the_recorded_documents_and_exit_codes(iam: Any) -> None:
    cycle = [step("plan"), step("create"), step("create"), step("verify")]
    iam.detach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonRDSReadOnlyAccess")
    iam.attach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonS3FullAccess")
    iam.put_role_policy(
        RoleName=TASK_ROLE,
        PolicyName="sneaky",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    cycle += [
        step("verify"),
        step("plan", "--prune"),
        step("create", "--prune", "--yes"),
        step("verify"),
        step("--preset", "least-privilege", "--region", "eu-west-1", "plan"),
        step("delete", "--dry-run"),
        step("delete", "--yes"),
        step("delete", "--yes"),
        step("verify"),
    ]
    got = normalised(cycle)
    if os.environ.get("QBROLES_RECORD_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    recorded = json.loads(GOLDEN.read_text())
    assert len(got) == len(recorded)
    for mine, theirs in zip(got, recorded, strict=True):
        assert mine == theirs, mine["args"]
