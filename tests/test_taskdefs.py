"""verify --task-definition on the corpus in tests/taskdefs: real ECS's verdict, per preset.

Each file has its verdict per preset and the AWS page that says why in verdicts.json.
Every file is checked in both shapes (register-task-definition input, and the
describe-task-definition output around it), through the CLI against moto.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from qbroles.cli import cli
from tests.figures import count

TASKDEFS = Path(__file__).parent / "taskdefs"
VERDICTS: dict[str, Any] = json.loads((TASKDEFS / "verdicts.json").read_text())
PRESETS = ("workshop", "least-privilege")


def verdict(checks: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """Return pass, warn or fail from the task definition's checks, and the failing ones."""
    mine = [c for c in checks if c["check"].startswith(("can ", "task definition "))]
    failing = sorted({c["check"] for c in mine if not c["ok"] and c["severity"] == "error"})
    if failing:
        return "fail", failing
    return ("warn" if any(not c["ok"] for c in mine) else "pass"), []


def test_the_corpus_covers_every_case() -> None:
    assert len(VERDICTS) >= 20
    assert {path.name for path in TASKDEFS.glob("*.json")} >= set(VERDICTS)
    for name, case in VERDICTS.items():
        assert case["page"].startswith("https://docs.aws.amazon.com/"), name
        assert set(case["verdict"]) == set(PRESETS), name


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("shape", ["register", "describe"])
def test_each_task_definition_gets_the_verdict_ecs_would_give(
    moto_iam: None, tmp_path: Path, preset: str, shape: str
) -> None:
    runner = CliRunner()
    created = runner.invoke(cli, ["--preset", preset, "create"])
    assert created.exit_code == 0, created.stderr
    wrong = []
    for name, case in sorted(VERDICTS.items()):
        document = json.loads((TASKDEFS / name).read_text())
        if shape == "describe":
            document = {"taskDefinition": {**document, "revision": 3, "status": "ACTIVE"}}
        path = tmp_path / name
        path.write_text(json.dumps(document))
        # The roles' side alone: the resources these files name are not made here
        # (tests/test_resources.py has the resource side).
        result = runner.invoke(
            cli,
            [
                *("--preset", preset, "-o", "json", "verify", "--no-resources"),
                *("--task-definition", str(path)),
            ],
        )
        assert result.exit_code in (0, 1), f"{name}: {result.stderr}"
        report = json.loads(result.stdout)
        got, failing = verdict([c for r in report["roles"] for c in r["checks"]])
        expected = case["verdict"][preset]
        if (got, failing) != (expected, sorted(case["failing"][preset])):
            wrong.append(f"{name}: {got} {failing}, expected {expected} {case['failing'][preset]}")
        assert result.exit_code == (1 if got == "fail" else 0), name
        count(f"task definitions: verdicts checked ({preset})")
    assert wrong == []


def task_checks(result: Any) -> dict[str, tuple[bool, str]]:
    report = json.loads(result.stdout)
    return {
        c["check"]: (c["ok"], c["severity"])
        for r in report["roles"]
        for c in r["checks"]
        if c["check"].startswith("can ")
    }


def test_ecs_exec_needs_the_ssmmessages_channels_of_the_task_role(moto_iam: None) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["create"]).exit_code == 0
    path = str(TASKDEFS / "ecr-awslogs-fargate.json")
    without = runner.invoke(cli, ["-o", "json", "verify", "--task-definition", path])
    assert without.exit_code == 0
    assert not any(name.startswith("can ssmmessages") for name in task_checks(without))
    with_exec = runner.invoke(cli, ["-o", "json", "verify", "--task-definition", path, "--exec"])
    assert with_exec.exit_code == 1
    found = task_checks(with_exec)
    for action in ("CreateControlChannel", "CreateDataChannel", "OpenControlChannel"):
        assert found[f"can ssmmessages:{action}"] == (False, "error")


def test_a_read_only_efs_mount_needs_no_client_write(moto_iam: None, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["create"]).exit_code == 0
    document = json.loads((TASKDEFS / "efs-iam-authorization.json").read_text())
    read_write = runner.invoke(
        cli,
        ["-o", "json", "verify", "--task-definition", str(TASKDEFS / "efs-iam-authorization.json")],
    )
    assert set(task_checks(read_write)) >= {
        "can elasticfilesystem:ClientMount",
        "can elasticfilesystem:ClientWrite",
    }
    document["containerDefinitions"][0]["mountPoints"][0]["readOnly"] = True
    path = tmp_path / "read-only.json"
    path.write_text(json.dumps(document))
    read_only = runner.invoke(cli, ["-o", "json", "verify", "--task-definition", str(path)])
    found = task_checks(read_only)
    assert "can elasticfilesystem:ClientWrite" not in found
    assert found["can elasticfilesystem:ClientMount"] == (False, "unknown")


def test_a_failing_requirement_is_shown_whole_at_any_width(
    moto_iam: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    runner = CliRunner()
    assert runner.invoke(cli, ["--preset", "least-privilege", "create"]).exit_code == 0
    path = str(TASKDEFS / "registry-credentials-by-name.json")
    result = runner.invoke(
        cli, ["--preset", "least-privilege", "verify", "--task-definition", path]
    )
    assert result.exit_code == 1
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:dockerhub-??????"
    # Under the role's line, the failing check whole: the ARN never cut, never folded.
    assert secret in result.stdout.split() or f"{secret}," in result.stdout.split()
    assert "…" not in result.stdout
    verbose = runner.invoke(
        cli, ["--preset", "least-privilege", "-v", "verify", "--task-definition", path]
    )
    # -v at 60 columns lists the checks (no table fits): the ARN whole, on a line of its own.
    words = {word.rstrip(",") for word in verbose.stdout.split()}
    assert secret in words
    assert "┃" not in verbose.stdout
