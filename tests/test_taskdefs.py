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
        result = runner.invoke(
            cli, ["--preset", preset, "-o", "json", "verify", "--task-definition", str(path)]
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
