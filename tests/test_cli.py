"""The command line through click's CliRunner on moto in-process: options, exit codes, JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from qbroles import __version__
from qbroles.cli import cli
from qbroles.errors import ExitCode
from tests.conftest import EXEC_ROLE, MANAGED, TASK_ROLE, all_commands, attached, make_role, writes


def run(*args: str, stdin: str | None = None) -> Any:
    """Run qbroles in-process; stdout and stderr are kept apart, as a shell sees them."""
    return CliRunner().invoke(cli, list(args), input=stdin)


def document(result: Any) -> dict[str, Any]:
    """Return stdout parsed as the one JSON document it must be."""
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_version_and_help() -> None:
    assert run("--version").stdout.strip() == f"qbroles, version {__version__}"
    result = run("--help")
    assert result.exit_code == 0
    for word in ("create", "verify", "delete", "demo", "--endpoint-url", "Exit codes", "130"):
        assert word in result.stdout


@pytest.mark.parametrize("command", sorted(all_commands()))
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.stdout
    assert f"qbroles {command}" in result.stdout or "qbroles " in result.stdout


@pytest.mark.usefixtures("moto_iam")
def test_create_then_verify_json(calls: list[str]) -> None:
    result = run("-o", "json", "create")
    assert result.exit_code == ExitCode.OK, result.stderr
    doc = document(result)
    assert set(doc) == {"command", "spec", "ok", "changed", "dry_run", "roles", "retries"}
    assert doc["spec"] == {"source": "preset workshop", "app": "QuestionBank"}
    # Every request counted once; nothing throttled, nothing retried, nothing said of it.
    assert doc["retries"]["requests"] == len(calls)
    assert doc["retries"]["throttled"] == doc["retries"]["retries"] == 0
    assert "throttled" not in result.stderr
    assert (doc["command"], doc["ok"], doc["changed"], doc["dry_run"]) == (
        "create",
        True,
        True,
        False,
    )
    names = [role["name"] for role in doc["roles"]]
    assert names == [EXEC_ROLE, TASK_ROLE]
    for role in doc["roles"]:
        assert set(role) == {"name", "arn", "ok", "changes", "checks"}
        assert role["arn"] == f"arn:aws:iam::123456789012:role/{role['name']}"
        assert role["changes"][0]["action"] == "create_role"
        assert {c["action"] for c in role["changes"][1:]} == {"attach_policy"}
        for check in role["checks"]:
            keys = {"check", "ok", "severity", "expected", "actual", "message"}
            # a managed policy's check also names its full ARN
            assert set(check) == keys | ({"arn"} if check["check"].startswith("policy ") else set())
            # Passing, or a security finding of the workshop's broad policies (a warning).
            assert check["ok"] or check["check"].startswith("finding: "), check
            assert check["ok"] or check["severity"] == "warning"
    assert "10 changes applied" in result.stderr

    calls.clear()
    again = run("-o", "json", "create")
    assert again.exit_code == 0
    assert document(again)["changed"] is False
    assert all(role["changes"] == [] for role in document(again)["roles"])
    assert writes(calls) == []
    assert "No changes. 2 roles in sync" in again.stderr

    verified = run("-o", "json", "verify")
    assert verified.exit_code == ExitCode.OK
    assert document(verified)["ok"] is True


@pytest.mark.usefixtures("moto_iam")
def test_verify_exit_1_names_missing_and_unexpected_policies(iam: Any) -> None:
    run("create")
    iam.detach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "SecretsManagerReadWrite")
    iam.attach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonS3FullAccess")

    table = run("verify")
    assert table.exit_code == ExitCode.DIFFERENCES
    assert "SecretsManagerReadWrite" in table.stdout
    assert "AmazonS3FullAccess" in table.stdout
    assert "x QuestionBank-ECS-TaskRole: policy SecretsManagerReadWrite" in table.stdout
    assert "x QuestionBank-ECS-TaskRole: unexpected policy AmazonS3FullAccess" in table.stdout
    assert "2 differences in 1 of 2 roles" in table.stderr

    doc = document(run("-o", "json", "verify"))
    assert doc["ok"] is False
    (task,) = [role for role in doc["roles"] if role["name"] == TASK_ROLE]
    failed = {c["check"]: c for c in task["checks"] if not c["ok"] and c["severity"] == "error"}
    assert set(failed) == {"policy SecretsManagerReadWrite", "unexpected policy AmazonS3FullAccess"}
    assert failed["policy SecretsManagerReadWrite"]["actual"] == "not attached"


@pytest.mark.usefixtures("moto_iam")
def test_verify_when_nothing_exists_is_exit_1() -> None:
    result = run("-o", "json", "verify")
    assert result.exit_code == ExitCode.DIFFERENCES
    assert [c["actual"] for r in document(result)["roles"] for c in r["checks"]] == ["missing"] * 2


@pytest.mark.usefixtures("moto_iam")
def test_dry_run_json_lists_the_plan_and_changes_nothing(iam: Any, calls: list[str]) -> None:
    result = run("-o", "json", "create", "--dry-run")
    assert result.exit_code == 0
    doc = document(result)
    assert doc["dry_run"] is True
    assert doc["ok"] is True
    assert doc["changed"] is True
    assert [r["ok"] for r in doc["roles"]] == [False, False]  # as things are now
    assert sum(len(r["changes"]) for r in doc["roles"]) == 10
    assert writes(calls) == []
    assert iam.list_roles()["Roles"] == []


@pytest.mark.usefixtures("moto_iam")
def test_create_prune_and_adopt(iam: Any) -> None:
    make_role(iam, TASK_ROLE, owned=False, policies=("AmazonS3FullAccess",))
    refused = run("create", "--prune")
    assert refused.exit_code == ExitCode.SAFETY
    assert "--adopt" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert refused.stdout == ""
    assert iam.list_roles()["Roles"][0]["RoleName"] == TASK_ROLE
    assert len(iam.list_roles()["Roles"]) == 1  # nothing created either: no partial change

    adopted = run("create", "--adopt", "--prune")
    assert adopted.exit_code == 0, adopted.stderr
    assert MANAGED + "AmazonS3FullAccess" not in attached(iam, TASK_ROLE)


@pytest.mark.usefixtures("moto_iam")
def test_plan_shows_every_role_marks_what_create_refuses_and_exits_as_create_would(
    iam: Any, calls: list[str]
) -> None:
    """As terraform shows an import: the refused role's plan under --adopt, then why."""
    make_role(iam, TASK_ROLE, owned=False, policies=("AmazonS3FullAccess",))
    shown = run("plan", "--prune")
    assert shown.exit_code == ExitCode.SAFETY == run("create", "--prune").exit_code
    out = shown.stdout
    assert f"{TASK_ROLE} (create refuses it)" in out
    assert f"- detach AmazonS3FullAccess from {TASK_ROLE}" in out  # what --adopt would do
    assert f"+ create role {EXEC_ROLE}" in out  # the other role's plan, in full
    assert out.index("Roles") < out.index("Refused") < out.index("Next:")
    assert "changes with --adopt)" in out
    assert "Next: qbroles create --prune --adopt applies this plan" in " ".join(out.split())
    assert f"create refuses {TASK_ROLE} (exit 4)" in shown.stderr
    doc = document(run("-o", "json", "plan", "--prune"))
    roles = {role["name"]: role for role in doc["roles"]}
    assert doc["ok"] is False
    assert roles[TASK_ROLE]["allowed_by"] == "--adopt"
    assert "--adopt" in roles[TASK_ROLE]["refusal"]
    assert "refusal" not in roles[EXEC_ROLE]
    assert writes(calls) == []
    assert run("create", "--adopt", "--prune").exit_code == ExitCode.OK  # where Next: led
    assert run("plan", "--detailed-exitcode").exit_code == ExitCode.OK


@pytest.mark.usefixtures("moto_iam")
def test_plan_shows_a_role_no_option_lets_create_change_and_says_what_to_do(iam: Any) -> None:
    make_role(iam, TASK_ROLE, owned=False)
    iam.tag_role(RoleName=TASK_ROLE, Tags=[{"Key": "ManagedBy", "Value": "CloudFormation"}])
    shown = run("plan")
    assert shown.exit_code == ExitCode.SAFETY
    said = " ".join(shown.stdout.split())
    assert "change it through CloudFormation" in said
    assert "Next: qbroles create refuses this plan (exit 4): do what Refused says" in said
    assert f"+ create role {EXEC_ROLE}" in shown.stdout


@pytest.mark.usefixtures("moto_iam")
def test_the_guides_hand_made_roles_next_steps_lead_to_the_arns_not_round_in_a_circle(
    iam: Any,
) -> None:
    """verify -> Next -> outputs -> its remedy -> outputs: each step names one that works."""
    from qbroles.spec.presets import Scope, preset_spec

    for role in preset_spec("workshop", None, Scope()).roles:  # as the guide's console steps
        make_role(iam, role.name, owned=False, policies=role.managed_policies)
    verified = run("verify")
    assert verified.exit_code == ExitCode.OK
    step = " ".join(verified.stdout.split("Next:")[1].split())
    assert step.startswith(f"qbroles create --adopt takes over {EXEC_ROLE}, {TASK_ROLE}")
    refused = run("outputs")
    assert refused.exit_code == ExitCode.DIFFERENCES
    assert "run qbroles create --adopt first" in refused.stderr
    assert run("create", "--adopt").exit_code == ExitCode.OK
    printed = run("outputs")
    assert printed.exit_code == ExitCode.OK, printed.stderr
    assert f"role/{TASK_ROLE}" in printed.stdout


@pytest.mark.usefixtures("moto_iam")
def test_a_role_at_another_path_is_planned_refused_and_its_remedy_works(iam: Any) -> None:
    """IAM cannot move a role: Refused says delete and create again; doing so converges."""
    from tests.conftest import OWNER, TRUST

    iam.create_role(RoleName=TASK_ROLE, Path="/team/", AssumeRolePolicyDocument=TRUST, Tags=OWNER)
    shown = run("plan")
    assert shown.exit_code == ExitCode.SAFETY
    said = " ".join(shown.stdout.split())
    assert "has the path /team/, not /, and IAM cannot move a role" in said
    assert "do what Refused says" in said
    assert run("delete", "--yes").exit_code == ExitCode.OK  # the remedy Refused names
    assert run("create").exit_code == ExitCode.OK
    assert iam.get_role(RoleName=TASK_ROLE)["Role"]["Path"] == "/"
    assert run("plan", "--detailed-exitcode").exit_code == ExitCode.OK


@pytest.mark.usefixtures("moto_iam")
def test_delete_needs_yes_without_a_terminal(iam: Any, calls: list[str]) -> None:
    run("create")
    calls.clear()
    refused = run("delete")
    assert refused.exit_code == ExitCode.SAFETY
    assert "--yes" in refused.stderr
    assert calls == []  # refused before any AWS call
    assert len(iam.list_roles()["Roles"]) == 2

    planned = run("-o", "json", "delete", "--dry-run")
    assert planned.exit_code == 0
    assert document(planned)["changed"] is True
    assert len(iam.list_roles()["Roles"]) == 2

    done = run("-o", "json", "delete", "--yes")
    assert done.exit_code == 0, done.stderr
    doc = document(done)
    assert doc["command"] == "delete"
    assert all(r["checks"][0]["check"] == "deleted" and r["checks"][0]["ok"] for r in doc["roles"])
    assert iam.list_roles()["Roles"] == []

    again = run("delete", "--yes")
    assert again.exit_code == 0
    assert "nothing to delete" in again.stderr


@pytest.mark.usefixtures("moto_iam")
def test_delete_asks_on_a_terminal(monkeypatch: pytest.MonkeyPatch, iam: Any) -> None:
    run("create")
    monkeypatch.setattr("qbroles.session.interactive", lambda: True)
    answered_no = run("delete", stdin="n\n")
    assert answered_no.exit_code == ExitCode.SAFETY
    assert "Delete these roles?" in answered_no.stderr
    assert "delete role QuestionBank-ECS-TaskRole" in answered_no.stderr
    assert len(iam.list_roles()["Roles"]) == 2

    answered_yes = run("delete", stdin="y\n")
    assert answered_yes.exit_code == 0, answered_yes.stderr
    assert iam.list_roles()["Roles"] == []


@pytest.mark.usefixtures("moto_iam")
def test_delete_refuses_unowned(iam: Any) -> None:
    make_role(iam, EXEC_ROLE, owned=False)
    result = run("delete", "--yes")
    assert result.exit_code == ExitCode.SAFETY
    assert "will not delete" in result.stderr
    assert len(iam.list_roles()["Roles"]) == 1


@pytest.mark.usefixtures("moto_iam")
def test_app_and_spec_options(tmp_path: Path, iam: Any) -> None:
    spec = tmp_path / "roles.toml"
    spec.write_text(
        '[[role]]\nname = "{app}-Worker"\nmanaged_policies = ["AmazonS3ReadOnlyAccess"]\n'
        'tags = { Team = "data" }\n'
    )
    result = run("--app", "Shop", "--spec", str(spec), "-o", "json", "create")
    assert result.exit_code == 0, result.stderr
    assert [r["name"] for r in document(result)["roles"]] == ["Shop-Worker"]
    role = iam.get_role(RoleName="Shop-Worker")["Role"]
    assert {"Key": "Team", "Value": "data"} in role["Tags"]
    assert attached(iam, "Shop-Worker") == {MANAGED + "AmazonS3ReadOnlyAccess"}
    assert run("--app", "Billing", "create").exit_code == 0
    assert {r["RoleName"] for r in iam.list_roles()["Roles"]} >= {
        "Billing-ECS-TaskRole",
        "Billing-ECS-TaskExecutionRole",
    }


@pytest.mark.usefixtures("moto_iam")
def test_demo_tells_the_whole_story() -> None:
    result = run("-o", "json", "demo")
    assert result.exit_code == 0, result.stderr
    doc = document(result)
    assert doc["command"] == "demo"
    steps = [(s["command"], s["ok"]) for s in doc["steps"]]
    assert steps == [
        ("create", True),
        ("verify", True),
        ("verify", False),
        ("create", True),
        ("delete", True),
    ]
    caught = doc["steps"][2]
    failed = [
        c["check"]
        for r in caught["roles"]
        for c in r["checks"]
        if not c["ok"] and c["severity"] == "error"
    ]
    assert failed == ["policy AmazonRDSReadOnlyAccess", "unexpected policy AmazonS3FullAccess"]


def test_demo_with_the_least_privilege_preset() -> None:
    result = run("--preset", "least-privilege", "-o", "json", "demo")
    assert result.exit_code == 0, result.stderr
    assert [s["ok"] for s in document(result)["steps"]] == [True, True, False, True, True]


def test_demo_table_runs_without_moto_already_active() -> None:
    result = run("demo")
    assert result.exit_code == 0, result.stderr
    assert "verify catches the drift" in result.stdout
    # It ends with what to run against a real account, each of them a command that exists.
    ending = result.stdout[result.stdout.index("Against a real account") :].splitlines()[1:]
    assert max(map(len, ending)) <= 80
    commands = [line.split("#")[0].split() for line in ending]
    assert [words[0] for words in commands] == ["qbroles"] * 5
    names = [
        next(word for word in words[1:] if not word.startswith("-") and word != "NAME")
        for words in commands
    ]
    assert names == ["permissions", "init", "plan", "create", "outputs"]
    assert set(names) <= set(all_commands())


def test_demo_refuses_an_endpoint() -> None:
    result = run("--endpoint-url", "http://127.0.0.1:1", "demo")
    assert result.exit_code == ExitCode.USAGE
    assert "in-process emulator" in result.stderr


# --- bad input: one clear line, the documented exit code, no traceback, no request


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--output", "yaml", "verify"], ExitCode.USAGE, "'yaml' is not one of"),
        (["verify", "--bogus"], ExitCode.USAGE, "No such option"),
        (["frobnicate"], ExitCode.USAGE, "No such command 'frobnicate'"),
        (["--app", "no spaces", "verify"], ExitCode.USAGE, "--app 'no spaces' is not a valid"),
        (["--app", "x" * 60, "verify"], ExitCode.USAGE, "IAM allows 64; use an application"),
        (
            ["--region", "mars", "verify"],
            ExitCode.USAGE,
            "region 'mars' (--region or AWS_REGION) is not",
        ),
        (["--endpoint-url", "localhost:5000", "verify"], ExitCode.USAGE, "is not an http(s) URL"),
        (["--endpoint-url", "http://h:99999", "verify"], ExitCode.USAGE, "invalid port"),
        (["--max-attempts", "0", "verify"], ExitCode.USAGE, "--max-attempts must be"),
        (["--max-attempts", "101", "verify"], ExitCode.USAGE, "--max-attempts must be"),
        (["--retry-budget", "-1", "verify"], ExitCode.USAGE, "--retry-budget must be from 0"),
        (["--retry-budget", "soon", "verify"], ExitCode.USAGE, "is not a valid float"),
        (["--workers", "0", "verify"], ExitCode.USAGE, "0 is not in the range"),
        (["--spec", "/nonexistent/roles.toml", "verify"], ExitCode.USAGE, "does not exist"),
        (["--profile", "nobody", "verify"], ExitCode.AWS, "AWS profile 'nobody' is not in"),
    ],
)
def test_bad_input(args: list[str], code: int, needle: str, calls: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == code, result.output
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert calls == []


@pytest.mark.parametrize(
    ("variable", "value", "needle"),
    [
        (
            "AWS_ENDPOINT_URL",
            "localhost:5000",
            "AWS_ENDPOINT_URL 'localhost:5000' is not an http(s)",
        ),
        ("AWS_ENDPOINT_URL_IAM", "http://h:x", "AWS_ENDPOINT_URL_IAM 'http://h:x' has an invalid"),
        ("AWS_MAX_ATTEMPTS", "abc", "AWS_MAX_ATTEMPTS must be a whole number from 1 to 100"),
        ("QBROLES_RETRY_SCALE", "fast", "QBROLES_RETRY_SCALE must be a number from 0 to 1"),
        ("AWS_REGION", "not a region", "region 'not a region' (--region or AWS_REGION)"),
        ("AWS_DEFAULT_REGION", "eu_west_1", "region 'eu_west_1' (AWS_DEFAULT_REGION)"),
    ],
)
def test_bad_settings_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, calls: list[str], variable: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(variable, value)
    result = run("verify")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert calls == []


def test_unknown_profile_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, calls: list[str]
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "ghost")
    result = run("verify")
    assert result.exit_code == ExitCode.AWS
    assert "AWS profile 'ghost' is not in the AWS config" in result.stderr
    assert calls == []


def test_bad_spec_is_reported_before_any_call(tmp_path: Path, calls: list[str]) -> None:
    spec = tmp_path / "roles.toml"
    spec.write_text('[[role]]\nname = "R"\nmanaged_policies = ["arn:aws:iam::aws:nope"]\n')
    result = run("--spec", str(spec), "create")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.count("\n") == 1
    assert f"{spec}: role 1 (R): key 'managed_policies'" in result.stderr
    assert calls == []


def test_missing_credentials(monkeypatch: pytest.MonkeyPatch, calls: list[str]) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = run("verify")
    assert result.exit_code == ExitCode.AWS
    assert "no AWS credentials found" in result.stderr
    assert calls == []


def test_unreachable_endpoint_is_exit_3() -> None:
    import socket

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    result = run("--endpoint-url", f"http://127.0.0.1:{port}", "verify")
    assert result.exit_code == ExitCode.AWS
    # Not the whole retry budget: an endpoint that is not there is a setup error.
    assert f"could not reach IAM at http://127.0.0.1:{port} (tried 3 times)" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.usefixtures("moto_iam")
def test_a_bug_keeps_its_traceback_and_exit_70(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("qbroles.reconcile.engine.verify", broken)
    result = run("verify")
    assert result.exit_code == ExitCode.BUG
    assert "Traceback" in result.stderr
    assert "ZeroDivisionError" in result.stderr


@pytest.mark.usefixtures("moto_iam")
def test_interrupt_is_exit_130_without_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_: Any, **__: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("qbroles.reconcile.engine.create_plan", interrupted)
    result = run("create")
    assert result.exit_code == ExitCode.INTERRUPTED
    assert "interrupted" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_without_moto_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "moto", None)  # import moto -> ImportError
    result = run("demo")
    assert result.exit_code == ExitCode.USAGE
    assert "pip install 'qbroles[local]'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--spec", "roles.toml", "--preset", "workshop", "verify"],
        ["--spec", "roles.toml", "--ssm-path", "/x/", "verify"],
    ],
)
def test_spec_and_preset_exclude_each_other(args: list[str], calls: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == ExitCode.USAGE
    assert "--spec describes the roles itself" in result.stderr
    assert calls == []


@pytest.mark.usefixtures("moto_iam")
def test_least_privilege_preset_through_the_cli(iam: Any) -> None:
    result = run("--preset", "least-privilege", "-o", "json", "create")
    assert result.exit_code == 0, result.stderr
    names = {c["target"] for r in document(result)["roles"] for c in r["changes"]}
    assert {"qbroles-execution", "qbroles-task"} <= names
    assert run("--preset", "least-privilege", "verify").exit_code == 0
    assert run("verify").exit_code == ExitCode.DIFFERENCES  # the workshop roles differ


@pytest.mark.parametrize(
    ("content", "needle"),
    [(None, "does not exist"), ("{", "is not valid JSON"), ("{}", "no containerDefinitions")],
)
def test_bad_task_definition_is_exit_2_before_any_call(
    tmp_path: Path, calls: list[str], content: str | None, needle: str
) -> None:
    path = tmp_path / "task.json"
    if content is not None:
        path.write_text(content)
    result = run("verify", "--task-definition", str(path))
    assert result.exit_code == ExitCode.USAGE
    assert needle in result.stderr
    assert calls == []


SSO_CONFIG = """
[profile legacy]
sso_start_url = https://example.awsapps.com/start
sso_region = us-east-1
sso_account_id = 123456789012
sso_role_name = Deployer
region = us-east-1

[profile session]
sso_session = corp
sso_account_id = 123456789012
sso_role_name = Deployer
region = us-east-1

[sso-session corp]
sso_start_url = https://example.awsapps.com/start
sso_region = us-east-1
"""


@pytest.mark.parametrize("profile", ["legacy", "session"])
def test_an_sso_profile_without_a_sign_in_says_to_run_aws_sso_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, profile: str
) -> None:
    (tmp_path / "aws-config").write_text(SSO_CONFIG)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.aws/sso/cache: never signed in
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing is sent anyway
    result = run("--profile", profile, "verify")
    assert result.exit_code == ExitCode.AWS, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"qbroles: error: GetRole on role {EXEC_ROLE}: the AWS SSO (IAM Identity Center) "
        f"sign-in of profile {profile} is missing or expired; run aws sso login --profile "
        f"{profile}, then rerun."
    ]


@pytest.mark.usefixtures("moto_iam")
def test_an_unreachable_sts_is_named_with_its_own_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """IAM answers (moto); STS, asked for the account of the least-privilege roles, does not."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
    result = run("--preset", "least-privilege", "plan")
    assert result.exit_code == ExitCode.AWS, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        "qbroles: error: GetCallerIdentity on identity of the caller: could not reach STS at "
        "http://127.0.0.1:9"
    ), line
    assert "IAM" not in line


def test_a_too_long_app_names_the_option_and_the_role_name_it_makes() -> None:
    app = "A" * 60
    result = run("--app", app, "plan")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.strip().splitlines() == [
        f"qbroles: error: --app {app!r} makes the role name '{app}-ECS-TaskExecutionRole' 82 "
        "characters long, and IAM allows 64; use an application name of at most 42 characters."
    ]
    # The longest it names does make valid names (and one more character does not).
    assert run("--app", "A" * 42, "init", "-").exit_code == ExitCode.OK
    assert run("--app", "A" * 43, "init", "-").exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    "after",
    [
        ["explain", "-o", "json", "--preset", "least-privilege", "--app", "Shop"],
        ["explain", "--output=json", "--preset=least-privilege", "--app=Shop"],
        ["-o", "json", "explain", "--app", "Shop", "--preset", "least-privilege"],
    ],
)
def test_global_options_may_come_after_the_command(after: list[str]) -> None:
    before = run("-o", "json", "--preset", "least-privilege", "--app", "Shop", "explain")
    assert before.exit_code == ExitCode.OK
    moved = run(*after)
    assert moved.exit_code == ExitCode.OK, moved.stderr
    assert document(moved) == document(before)
    assert document(moved)["source"] == "preset least-privilege"


def test_a_command_keeps_its_own_options_and_a_global_one_needs_its_value() -> None:
    # outputs' own --format is not a global option: it stays with outputs.
    result = run("outputs", "--format", "yaml")
    assert result.exit_code == ExitCode.USAGE
    assert "'yaml' is not one of" in result.stderr
    missing = run("create", "--profile")
    assert missing.exit_code == ExitCode.USAGE
    assert "Option '--profile' requires an argument." in missing.stderr


def test_every_option_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QBROLES_PRESET", "least-privilege")
    monkeypatch.setenv("QBROLES_OUTPUT", "json")
    assert document(run("explain"))["source"] == "preset least-privilege"
    assert document(run("--preset", "workshop", "explain"))["source"] == "preset workshop"
    monkeypatch.setenv("QBROLES_APP", "no spaces")  # read, and validated like --app
    result = run("explain")
    assert result.exit_code == ExitCode.USAGE
    assert "'no spaces' is not a valid application name" in result.stderr


@pytest.mark.usefixtures("moto_iam")
def test_debug_prints_each_request_and_never_a_credential_or_a_body(calls: list[str]) -> None:
    result = run("--debug", "-o", "json", "create")
    assert result.exit_code == ExitCode.OK, result.stderr
    debug = [line for line in result.stderr.splitlines() if line.startswith("qbroles: debug: ")]
    assert len(debug) == len(calls) == document(result)["retries"]["requests"]
    assert sorted(line.split()[3] for line in debug) == sorted(calls)  # the operations
    assert any(
        re.fullmatch(
            rf"qbroles: debug: iam CreateRole RoleName={TASK_ROLE} -> 200 \(attempt 1, \d+ ms\)",
            line,
        )
        for line in debug
    ), debug
    assert any(f"PolicyArn={MANAGED}AmazonRDSReadOnlyAccess" in line for line in debug)
    text = result.stderr
    for secret in ("testing", "Authorization", "Signature", "AssumeRolePolicyDocument", "{"):
        assert secret not in text, secret
    assert "qbroles: debug" not in run("-o", "json", "verify").stderr  # only when asked


@pytest.mark.usefixtures("moto_iam")
def test_create_asks_on_a_terminal_before_removing_and_not_for_additions(
    monkeypatch: pytest.MonkeyPatch, iam: Any
) -> None:
    monkeypatch.setattr("qbroles.session.interactive", lambda: True)
    assert run("create", stdin="").exit_code == ExitCode.OK  # additions only: no question
    iam.detach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonRDSReadOnlyAccess")
    iam.attach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonS3FullAccess")
    answered_no = run("create", "--prune", stdin="n\n")
    assert answered_no.exit_code == ExitCode.SAFETY
    assert "Apply this plan, which removes or replaces 1 thing? [y/N]" in answered_no.stderr
    assert "detach AmazonS3FullAccess" in answered_no.stderr
    assert MANAGED + "AmazonS3FullAccess" in attached(iam, TASK_ROLE)  # nothing changed
    assert MANAGED + "AmazonRDSReadOnlyAccess" not in attached(iam, TASK_ROLE)
    answered_yes = run("create", "--prune", stdin="y\n")
    assert answered_yes.exit_code == ExitCode.OK, answered_yes.stderr
    assert MANAGED + "AmazonS3FullAccess" not in attached(iam, TASK_ROLE)
    # --yes skips the question; off a terminal the options given are the consent.
    iam.attach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonS3FullAccess")
    assert run("create", "--prune", "--yes", stdin="").exit_code == ExitCode.OK
    iam.attach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonS3FullAccess")
    monkeypatch.setattr("qbroles.session.interactive", lambda: False)
    assert run("create", "--prune", stdin="").exit_code == ExitCode.OK
    assert MANAGED + "AmazonS3FullAccess" not in attached(iam, TASK_ROLE)
