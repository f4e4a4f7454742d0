"""What people read: one line per role, each difference and warning whole, said once."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from click.testing import CliRunner

from qbroles.cli import cli
from qbroles.errors import ExitCode
from tests.conftest import EXEC_ROLE, MANAGED, TASK_ROLE
from tests.servers import tool
from tests.test_progress import answer_on_terminal

WIDE = {"COLUMNS": "200"}


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env)


def role_lines(stdout: str) -> list[str]:
    """Return the lines of the Roles section."""
    lines = stdout.splitlines()
    start = lines.index("Roles") + 1
    return lines[start : lines.index("", start) if "" in lines[start:] else None]


@pytest.mark.usefixtures("moto_iam")
def test_verify_shows_one_line_per_role_then_each_difference_in_full(iam: Any) -> None:
    assert run("create").exit_code == ExitCode.OK
    iam.detach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "SecretsManagerReadWrite")
    result = run("verify", env=WIDE)
    assert result.exit_code == ExitCode.DIFFERENCES
    lines = role_lines(result.stdout)
    assert [line.split()[0] for line in lines] == [EXEC_ROLE, TASK_ROLE]
    exec_line, task_line = (" ".join(line.split()) for line in lines)
    arn = "arn:aws:iam::123456789012:role/"
    assert exec_line == f"{EXEC_ROLE} in sync, 2 warnings {arn}{EXEC_ROLE}"
    assert task_line == f"{TASK_ROLE} 1 difference, 3 warnings {arn}{TASK_ROLE}"
    text = result.stdout
    # The difference is named once, in full, under the roles; passing checks are not shown.
    assert text.count(f"x {TASK_ROLE}: policy SecretsManagerReadWrite") == 1
    assert "ok" not in text.split()
    # A broad policy appears once, as its finding naming both roles: not also as a passing
    # check, nor once per role.
    said = " ".join(text.split())
    both = f"! {EXEC_ROLE}, {TASK_ROLE}: finding: broad policy CloudWatchLogsFullAccess"
    assert said.count(both) == 1
    assert said.count("CloudWatchLogsFullAccess grants logs:*") == 1
    assert "Next: qbroles plan shows the repair; qbroles create applies it." in text
    # -v adds every check, the passing ones too, as a table per role.
    verbose = run("-v", "verify", env=WIDE)
    assert verbose.stdout.count(" ok ") >= 10
    assert "Expected" in verbose.stdout


@pytest.mark.usefixtures("moto_iam")
def test_a_create_with_nothing_to_do_prints_one_line() -> None:
    assert run("create").exit_code == ExitCode.OK
    again = run("create")
    assert again.exit_code == ExitCode.OK
    assert again.stdout == ""
    assert again.stderr.splitlines() == [
        "qbroles create: No changes. 2 roles in sync (spec: preset workshop, app "
        "QuestionBank; 6 warnings, qbroles verify lists them)."
    ]


@pytest.mark.usefixtures("moto_iam")
def test_after_create_and_verify_the_arns_and_the_next_step(iam: Any) -> None:
    created = run("create", env=WIDE)
    assert created.exit_code == ExitCode.OK
    for name in (EXEC_ROLE, TASK_ROLE):
        assert f"arn:aws:iam::123456789012:role/{name}" in created.stdout
    assert "Next: qbroles outputs --merge taskdef.json" in created.stdout
    iam.detach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "SecretsManagerReadWrite")
    iam.detach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonRDSReadOnlyAccess")
    iam.detach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonSSMReadOnlyAccess")
    iam.detach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "CloudWatchLogsFullAccess")
    iam.delete_role(RoleName=TASK_ROLE)
    missing = run("verify", env=WIDE)
    assert missing.exit_code == ExitCode.DIFFERENCES
    assert f"{TASK_ROLE} missing" in " ".join(missing.stdout.split())
    assert "Next: qbroles create makes the missing roles." in missing.stdout


@pytest.mark.usefixtures("moto_iam")
def test_the_plan_shows_what_a_new_role_and_a_new_inline_policy_will_grant(tmp_path: Any) -> None:
    spec = tmp_path / "roles.toml"
    spec.write_text(
        'app = "Shop"\n[[role]]\nname = "Shop-Task"\ndescription = "The shop task."\n'
        'tags = { Team = "web" }\n[role.inline_policies.read]\nVersion = "2012-10-17"\n'
        '[[role.inline_policies.read.Statement]]\nEffect = "Allow"\n'
        'Action = "s3:GetObject"\nResource = "arn:aws:s3:::shop-assets/*"\n'
    )
    result = run("--spec", str(spec), "plan", env=WIDE)
    assert result.exit_code == ExitCode.OK, result.stderr
    text = result.stdout
    assert "description: The shop task." in text
    assert "tags: ManagedBy=qbroles, Team=web" in text
    # The trust in full, not summarised; the new policy's document, resource and all.
    assert '+      "Principal": {' in text
    assert '+        "Service": "ecs-tasks.amazonaws.com"' in text
    assert '+      "Resource": "arn:aws:s3:::shop-assets/*"' in text
    assert "qbroles plan: 2 changes planned for 1 role" in result.stderr


@pytest.mark.usefixtures("moto_iam")
def test_plan_names_its_security_findings_and_reports_itself_as_plan() -> None:
    result = run("plan")
    assert result.exit_code == ExitCode.OK
    summary = result.stderr.splitlines()[-1]
    assert summary.startswith("qbroles plan: 10 changes planned for 2 roles")
    for finding in (
        "broad policy SecretsManagerReadWrite",
        "broad policy CloudWatchLogsFullAccess",
        "broad policy AmazonSSMReadOnlyAccess",
        "confused deputy",
    ):
        assert finding in summary
    assert json.loads(run("-o", "json", "plan").stdout)["command"] == "plan"
    # The least-privilege preset has none to name.
    narrow = run("--preset", "least-privilege", "--region", "us-east-1", "plan")
    assert "security findings" not in narrow.stderr


@pytest.mark.usefixtures("moto_iam")
def test_the_count_of_roles_changed_counts_only_those_that_changed(iam: Any) -> None:
    assert run("create").exit_code == ExitCode.OK
    iam.detach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "SecretsManagerReadWrite")
    assert "1 change planned for 1 role;" in run("plan").stderr
    assert "qbroles create: 1 change applied to 1 role" in run("create").stderr


def test_quiet_explain_still_explains() -> None:
    quiet = run("-q", "explain", env=WIDE)
    assert quiet.exit_code == ExitCode.OK
    assert quiet.stdout == run("explain", env=WIDE).stdout
    assert "Task Execution Role" in quiet.stdout


@pytest.mark.usefixtures("moto_iam")
def test_a_task_definition_without_a_region_is_not_said_to_scope_the_workshop_roles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    from tests.test_taskdefs import TASKDEFS

    result = run("verify", "--task-definition", str(TASKDEFS / "ssm-parameter.json"))
    assert result.exit_code == ExitCode.USAGE
    assert "these roles are scoped" not in result.stderr
    assert "the task definition names its secrets, parameters and log groups" in result.stderr


@pytest.mark.e2e
def test_delete_on_a_terminal_shows_its_plan_once(env: dict[str, str]) -> None:
    """Through a pseudo-terminal: the plan at the question, then the result, not the plan again."""
    assert subprocess.run([tool("qbroles"), "create"], env=env, capture_output=True).returncode == 0
    code, terminal = answer_on_terminal(["delete"], env, b"y\n")
    assert code == ExitCode.OK, terminal
    assert "Delete these roles? [y/N]" in terminal
    assert terminal.count(f"detach AmazonRDSReadOnlyAccess from {TASK_ROLE}") == 1
    assert f"delete role {TASK_ROLE}" in terminal
    assert "deleted" in terminal


@pytest.mark.e2e
def test_create_on_a_terminal_asks_before_it_removes_and_not_for_additions(
    env: dict[str, str],
) -> None:
    """Through a pseudo-terminal, as terraform apply: the plan in full, then the question."""
    code, terminal = answer_on_terminal(["create"], env, b"")
    assert code == ExitCode.OK, terminal
    assert "[y/N]" not in terminal  # additions need no question
    extra = f"{MANAGED}AmazonS3FullAccess"
    attach = [tool("aws"), "iam", "attach-role-policy", "--role-name", TASK_ROLE]
    done = subprocess.run([*attach, "--policy-arn", extra], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    code, terminal = answer_on_terminal(["create", "--prune"], env, b"n\n")
    assert code == ExitCode.SAFETY, terminal
    assert "Apply this plan, which removes or replaces 1 thing? [y/N]" in terminal
    assert f"- detach AmazonS3FullAccess from {TASK_ROLE}" in terminal
    code, terminal = answer_on_terminal(["create", "--prune"], env, b"y\n")
    assert code == ExitCode.OK, terminal
    assert terminal.count(f"detach AmazonS3FullAccess from {TASK_ROLE}") == 1  # shown once
