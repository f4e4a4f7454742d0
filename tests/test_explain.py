"""qbroles explain: what the roles are for and what each policy grants, without AWS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from qbroles.catalog import POLICIES, PRESETS, UNKNOWN_GRANTS, broad, grants
from qbroles.cli import cli
from qbroles.errors import ExitCode
from qbroles.explain import explanation
from qbroles.spec.load import load_spec
from qbroles.spec.presets import Scope, preset_spec


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_policy_of_the_presets_has_a_summary(preset: str) -> None:
    spec = preset_spec(preset, None, Scope(kms_key_arn=None))
    for role in spec.roles:
        for ref in role.managed_policies:
            assert ref in POLICIES, ref


def test_explain_makes_no_aws_call_and_names_every_role_and_policy(calls: list[str]) -> None:
    result = run("explain")
    assert result.exit_code == ExitCode.OK, result.stderr
    assert calls == []
    text = " ".join(result.stdout.split())
    for title in ("Task Execution Role", "Task Role", "executionRoleArn", "taskRoleArn"):
        assert title in text
    for role in preset_spec("workshop", None, Scope()).roles:
        assert role.name in text
        for ref in role.managed_policies:
            assert f"managed policy {ref}" in text
            assert " ".join(grants(ref).split()) in text
    assert "Security notes" in text
    assert "SecretsManagerReadWrite (broad)" in text


def test_json_has_the_same_content_as_data() -> None:
    result = run("-o", "json", "explain")
    assert result.exit_code == ExitCode.OK
    document = json.loads(result.stdout)
    spec = preset_spec("workshop", None, Scope())
    assert document["preset"] == "workshop"
    assert [role["name"] for role in document["roles"]] == list(spec.names)
    assert [role["kind"] for role in document["roles"]] == ["execution", "task"]
    for role, spec_role in zip(document["roles"], spec.roles, strict=True):
        assert [p["name"] for p in role["policies"]] == list(spec_role.managed_policies)
        assert [p["broad"] for p in role["policies"]] == [
            broad(ref) is not None for ref in spec_role.managed_policies
        ]
    too_broad = {
        ref for role in spec.roles for ref in role.managed_policies if broad(ref) is not None
    }
    assert len(document["notes"]) == len(too_broad) + 2  # + confused deputy + the guide's advice


def test_the_least_privilege_preset_explains_its_inline_statements_and_has_no_notes() -> None:
    document = json.loads(run("--preset", "least-privilege", "-o", "json", "explain").stdout)
    assert document["notes"] == []
    execution, task = document["roles"][:2]
    assert "only for this account's tasks" in task["trust"]
    assert "documents confused-deputy conditions for the task role" in execution["trust"]
    inline = execution["policies"][1]
    assert (inline["type"], inline["name"]) == ("inline", "qbroles-execution")
    assert inline["grants"][0] == (
        "Allow secretsmanager:GetSecretValue on "
        "arn:{partition}:secretsmanager:{region}:{account}:secret:questionbank/*"
    )


def test_a_custom_spec_explains_unknown_policies_and_conditions(tmp_path: Path) -> None:
    spec_file = tmp_path / "roles.toml"
    spec_file.write_text(
        """
[[role]]
name = "Worker"
managed_policies = ["arn:aws:iam::123456789012:policy/Mine"]
[role.inline_policies.deny]
Version = "2012-10-17"
[[role.inline_policies.deny.Statement]]
Effect = "Deny"
NotAction = ["s3:*"]
Resource = "*"
Condition = { Bool = { "aws:SecureTransport" = "false" } }
"""
    )
    document = explanation(load_spec(spec_file))
    role = document["roles"][0]
    assert role["title"] == "role"
    assert role["policies"][0]["grants"] == [UNKNOWN_GRANTS]
    assert role["policies"][1]["grants"] == ["Deny everything but s3:* on * if its conditions hold"]
    assert "on behalf of any account" in role["trust"]


def test_explain_fits_a_narrow_terminal() -> None:
    result = run("explain", env={"COLUMNS": "60"})
    assert result.exit_code == ExitCode.OK
    assert max(len(line) for line in result.stdout.splitlines()) <= 60


def test_explain_reports_a_bad_spec_like_every_command(tmp_path: Path) -> None:
    result = run("--spec", str(tmp_path / "missing.toml"), "explain")
    assert result.exit_code == ExitCode.USAGE
    assert "does not exist" in result.stderr
