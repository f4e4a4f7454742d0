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


@pytest.mark.e2e
def test_each_warning_heading_says_what_its_text_says(env: dict[str, str]) -> None:
    """Issue 23, §4: the heading of a warning is what was found ("no tag ManagedBy=qbroles",
    "managed by Terraform", "last set by another spec (...)"), not the name of the check it
    failed ("owned by qbroles", "made by this spec"), and its text does not say it twice."""

    def aws(*args: str) -> None:
        done = subprocess.run([tool("aws"), *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr

    def headings(*args: str) -> list[str]:
        done = subprocess.run(
            [tool("qbroles"), *args], env=env, capture_output=True, text=True,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        lines = done.stdout.splitlines()
        return [
            f"{line.strip()} | {lines[number + 1].strip()}"
            for number, line in enumerate(lines)
            if line.startswith(("  ! ", "  x ")) and "finding: " not in line
        ]

    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action":
        "sts:AssumeRole", "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]})  # fmt: skip
    aws("iam", "create-role", "--role-name", EXEC_ROLE, "--assume-role-policy-document", trust)
    aws("iam", "create-role", "--role-name", TASK_ROLE, "--assume-role-policy-document", trust,
        "--tags", "Key=ManagedBy,Value=Terraform")  # fmt: skip
    said = headings("verify")
    assert f"! {EXEC_ROLE}: no tag ManagedBy=qbroles | create refuses to change it" in " ".join(
        said
    ), said
    assert f"! {TASK_ROLE}: managed by Terraform (ManagedBy=Terraform) | create and delete" in (
        " ".join(said)
    ), said
    for name in (EXEC_ROLE, TASK_ROLE):
        aws("iam", "delete-role", "--role-name", name)
    made = subprocess.run([tool("qbroles"), "--preset", "least-privilege", "create"], env=env)
    assert made.returncode == 0
    said = headings("plan")
    other = "last set by another spec (preset=least-privilege app=QuestionBank)"
    assert f"! {EXEC_ROLE}, {TASK_ROLE}: {other} | not by this spec" in " ".join(said), said
    assert not [line for line in said if "owned by qbroles" in line or "made by this" in line]


@pytest.mark.e2e
def test_at_80_columns_every_check_and_the_question_keep_their_words_whole(
    env: dict[str, str],
) -> None:
    """Issue 23, §4: -v at 80 columns lists each check with its values wrapped at spaces
    (no table cell folds "AmazonE|CSTaskExecutionRoleP|olicy"); where the width holds a
    table, a table; the yes/no question on an 80-column terminal wraps at spaces too."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    from tests.test_progress import read_terminal

    def verbose(columns: int) -> list[str]:
        done = subprocess.run(
            [tool("qbroles"), "-v", "verify"], env={**env, "COLUMNS": str(columns)},
            capture_output=True, text=True, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    assert subprocess.run([tool("qbroles"), "create"], env=env).returncode == 0
    narrow = verbose(80)
    assert all(len(line) <= 80 or len(line.split()) == 1 for line in narrow), narrow
    words = {word for line in narrow for word in line.split()}
    for name in ("service-role/AmazonECSTaskExecutionRolePolicy", "AmazonRDSReadOnlyAccess",
                 "AmazonEC2ContainerRegistryReadOnly", "ecs-tasks.amazonaws.com"):  # fmt: skip
        assert name in words, name
    assert not any("┃" in line for line in narrow)
    wide = verbose(200)
    assert any(line.startswith("┃ Check") for line in wide)
    assert "service-role/AmazonECSTaskExecutionRolePolicy" in {w for x in wide for w in x.split()}

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 80, 0, 0))
    process = subprocess.Popen(
        [tool("qbroles"), "--preset", "least-privilege", "create", "--prune"],
        env={k: v for k, v in env.items() if k != "COLUMNS"},
        stdin=follower, stdout=follower, stderr=follower,
    )  # fmt: skip
    os.close(follower)
    os.write(leader, b"n\n")
    terminal = read_terminal(leader)
    assert process.wait(timeout=60) == ExitCode.SAFETY, terminal
    lines = [line for line in terminal.replace("\r", "").split("\n") if line]
    start = next(n for n, line in enumerate(lines) if line.startswith("Apply this spec to"))
    end = next(n for n, line in enumerate(lines) if "[y/N]:" in line)
    question = [*lines[start:end], lines[end].split("[y/N]:")[0] + "[y/N]:"]
    assert all(len(line) <= 80 for line in question), question
    said = " ".join(" ".join(question).split())
    assert f"Apply this spec to {EXEC_ROLE}, last set by another spec" in said, said
