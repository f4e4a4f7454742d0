"""Plans people can read: grouped per role, signs, JSON diffs, exit codes, colour, width, -q."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from qbroles.cli import cli
from qbroles.errors import ExitCode
from qbroles.model.actions import PutInlinePolicy, UpdateRole, UpdateTrustPolicy
from qbroles.model.report import Report, RoleReport
from qbroles.policy.documents import display_form, document_diff, same_policy, trust_policy
from qbroles.report.render import report_document
from qbroles.report.view import print_report
from tests.conftest import EXEC_ROLE, MANAGED, TASK_ROLE, writes

ANSI = re.compile(r"\x1b\[")


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env)


def squash(lines: list[str]) -> list[str]:
    """Return the lines with runs of white space made one space, ends stripped."""
    return [" ".join(line.split()) for line in lines]


def rendered(*changes: Any) -> list[str]:
    console = Console(record=True, width=200, color_system=None)
    report = Report("create", dry_run=True, roles=(RoleReport("R", None, changes),), changed=True)
    print_report(report, console)
    return console.export_text().splitlines()


def test_a_changed_trust_policy_is_shown_as_a_json_diff() -> None:
    before = trust_policy("ec2.amazonaws.com")
    after = trust_policy("ecs-tasks.amazonaws.com")
    lines = rendered(UpdateTrustPolicy("R", after, before=before))
    assert lines[0] == "Plan (dry run, nothing changed)"
    assert lines[1].strip() == "R"
    assert lines[2].strip().startswith("~ update the trust policy of R")
    diff = squash(lines[3 : lines.index("")])
    assert diff[:2] == ["--- actual (IAM)", "+++ expected (spec)"]
    assert [line for line in diff if line[:1] in "+-" and line[:3] not in ("---", "+++")] == [
        '- "ec2.amazonaws.com"',
        '+ "ecs-tasks.amazonaws.com"',
    ]


def test_an_inline_policy_that_exists_is_an_update_with_a_diff_a_new_one_a_put() -> None:
    old = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*"}]}
    new = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:List*"]}]}
    lines = squash(rendered(PutInlinePolicy("R", "p", new, before=old)))
    assert lines[2] == "~ update inline policy p on R"
    assert '- "s3:Get*"' in lines
    assert '+ "s3:List*"' in lines
    fresh = [line.strip() for line in rendered(PutInlinePolicy("R", "p", new))]
    assert fresh[2] == "+ put inline policy p on R"
    # What a new policy will grant is shown in full, as a diff from nothing.
    assert json.loads("\n".join(line[1:] for line in fresh[3 : fresh.index("")])) == new


def test_a_description_change_shows_old_and_new() -> None:
    lines = squash(rendered(UpdateRole("R", "new", 3600, before=("old", 3600))))
    assert '- "Description": "old",' in lines
    assert '+ "Description": "new",' in lines
    assert not any("MaxSessionDuration" in line and line[:1] in "+-" for line in lines)


def test_the_json_document_carries_actual_and_expected_documents() -> None:
    before = trust_policy("ec2.amazonaws.com")
    after = trust_policy("ecs-tasks.amazonaws.com")
    report = Report(
        "create",
        dry_run=True,
        roles=(RoleReport("R", None, (UpdateTrustPolicy("R", after, before=before),)),),
    )
    change = report_document(report)["roles"][0]["changes"][0]
    assert (change["action"], change["actual"], change["expected"]) == (
        "update_trust_policy",
        before,
        after,
    )


def test_documents_equal_in_meaning_have_one_display_form_and_no_diff() -> None:
    a = {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": ["b", "a"]},
    }
    b = {
        "Statement": [{"Resource": ["a", "b"], "Action": ["s3:GetObject"], "Effect": "Allow"}],
        "Version": "2012-10-17",
    }
    assert same_policy(a, b)
    assert display_form(a) == display_form(b)
    assert document_diff(a, b) == []
    c = {**b, "Statement": [{**b["Statement"][0], "Resource": ["a"]}]}
    assert document_diff(a, c) != []


@pytest.mark.usefixtures("moto_iam")
def test_plan_groups_changes_per_role_and_changes_nothing(calls: list[str]) -> None:
    result = run("plan")
    assert result.exit_code == ExitCode.OK, result.stderr
    out = result.stdout
    assert out.index(EXEC_ROLE) < out.index("+ create role " + EXEC_ROLE)
    assert out.index("+ attach service-role/AmazonECSTaskExecutionRolePolicy to " + EXEC_ROLE) < (
        out.index("\n  " + TASK_ROLE)
    )
    assert writes(calls) == []
    assert "10 changes planned" in result.stderr


@pytest.mark.usefixtures("moto_iam")
def test_detailed_exitcode_is_1_while_changes_are_pending_then_0(iam: Any) -> None:
    assert run("plan", "--detailed-exitcode").exit_code == ExitCode.DIFFERENCES
    assert run("create", "--dry-run", "--detailed-exitcode").exit_code == ExitCode.DIFFERENCES
    assert run("plan").exit_code == ExitCode.OK  # without the flag a plan is a success
    assert run("create").exit_code == ExitCode.OK
    converged = run("plan", "--detailed-exitcode")
    assert converged.exit_code == ExitCode.OK
    assert converged.stdout == ""  # like terraform: one line says it, naming the spec
    assert converged.stderr == (
        "qbroles plan: No changes. 2 roles in sync (spec: preset workshop, app QuestionBank; "
        "6 warnings, qbroles verify lists them).\n"
    )
    iam.detach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonRDSReadOnlyAccess")
    result = run("-o", "json", "plan", "--detailed-exitcode")
    assert result.exit_code == ExitCode.DIFFERENCES
    changes = [c for role in json.loads(result.stdout)["roles"] for c in role["changes"]]
    assert [c["action"] for c in changes] == ["attach_policy"]


@pytest.mark.usefixtures("moto_iam")
def test_a_delete_dry_run_with_nothing_to_delete_says_so() -> None:
    gone = run("delete", "--dry-run")
    assert gone.exit_code == ExitCode.OK
    assert gone.stdout == ""
    assert gone.stderr == (
        "qbroles delete: nothing to delete: none of the 2 roles exists "
        "(spec: preset workshop, app QuestionBank).\n"
    )


def test_detailed_exitcode_needs_a_dry_run(calls: list[str]) -> None:
    result = run("create", "--detailed-exitcode")
    assert result.exit_code == ExitCode.USAGE
    assert "--dry-run" in result.stderr
    assert calls == []


@pytest.mark.usefixtures("moto_iam")
def test_a_drifted_trust_policy_is_diffed_in_the_plan(iam: Any) -> None:
    run("create")
    iam.update_assume_role_policy(
        RoleName=TASK_ROLE, PolicyDocument=json.dumps(trust_policy("ec2.amazonaws.com"))
    )
    result = run("plan", "--detailed-exitcode")
    assert result.exit_code == ExitCode.DIFFERENCES
    lines = squash(result.stdout.splitlines())
    assert (
        f"~ update the trust policy of {TASK_ROLE} to: Allow ecs-tasks.amazonaws.com "
        "sts:AssumeRole" in lines
    )
    assert '- "ec2.amazonaws.com"' in lines
    assert '+ "ecs-tasks.amazonaws.com"' in lines


@pytest.mark.usefixtures("moto_iam")
@pytest.mark.parametrize(
    ("args", "environ", "coloured"),
    [
        ((), {"FORCE_COLOR": "1"}, True),
        (("--no-color",), {"FORCE_COLOR": "1"}, False),
        ((), {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
        ((), {}, False),  # not a terminal
    ],
)
def test_colour_follows_the_terminal_no_color_and_the_option(
    args: tuple[str, ...], environ: dict[str, str], coloured: bool
) -> None:
    result = run(*args, "plan", env=environ)
    assert result.exit_code == ExitCode.OK
    assert bool(ANSI.search(result.stdout)) is coloured
    assert "+ create role" in re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)


@pytest.mark.usefixtures("moto_iam")
@pytest.mark.parametrize("width", [60, 80, 200])
def test_reports_fit_the_width_and_never_break_a_word(iam: Any, width: int) -> None:
    """At 80 columns and more every line fits; narrower, only a word longer than the line
    (an ARN) overflows, whole. Each message is printed in full, never cut."""
    env = {"COLUMNS": str(width)}
    words: set[str] = set()
    for command in (("plan",), ("create",), ("verify",), ("plan",)):
        result = run(*command, env=env)
        assert result.exit_code == ExitCode.OK, result.stderr
        lines = result.stdout.splitlines()
        words |= {word for line in lines for word in line.split()}
        for line in lines:
            assert len(line) <= width or (width < 80 and len(line.split()) == 1), line
        if command == ("verify",):
            assert "…" not in result.stdout
            text = " ".join(result.stdout.split())  # the lines joined again: the whole message
            assert "grant secretsmanager:GetSecretValue on the app's secrets only" in text
    # Role names are whole words: not folded as a table cell folds them.
    assert {EXEC_ROLE, TASK_ROLE} <= words


@pytest.mark.usefixtures("moto_iam")
def test_quiet_prints_only_errors() -> None:
    for command in (("plan",), ("create",), ("verify",), ("delete", "--yes")):
        result = run("-q", *command)
        assert result.exit_code == ExitCode.OK, command
        assert (result.stdout, result.stderr) == ("", ""), command
    result = run("-q", "verify")
    assert result.exit_code == ExitCode.DIFFERENCES  # the roles are gone: the code says so
    assert (result.stdout, result.stderr) == ("", "")
    result = run("-q", "--app", "bad name", "verify")
    assert result.exit_code == ExitCode.USAGE
    assert result.stdout == ""
    assert result.stderr.startswith("qbroles: error: --app 'bad name'")
    assert json.loads(run("-q", "-o", "json", "verify").stdout)["ok"] is False


SNEAKY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


@pytest.mark.usefixtures("moto_iam")
def test_plan_create_and_verify_agree_on_a_policy_the_spec_does_not_list(iam: Any) -> None:
    """An admin-equivalent inline policy added by hand: plan, create and verify give one
    answer (issue 23, §2). plan shows it and exits 1 with --detailed-exitcode; create keeps
    it and exits 1 saying create --prune removes it, as verify does; --prune removes it."""
    assert run("create").exit_code == ExitCode.OK
    iam.put_role_policy(RoleName=TASK_ROLE, PolicyName="sneaky", PolicyDocument=json.dumps(SNEAKY))
    plan = run("plan", "--detailed-exitcode")
    assert plan.exit_code == ExitCode.DIFFERENCES
    assert "No changes" not in plan.stdout
    assert f"x {TASK_ROLE}: unexpected inline policy sneaky" in plan.stdout
    assert "1 thing not in the spec is kept (create --prune removes it" in plan.stderr
    assert run("plan").exit_code == ExitCode.OK  # without the flag a plan is a success
    kept = run("-o", "json", "create")
    assert kept.exit_code == ExitCode.DIFFERENCES
    assert "no changes; 1 thing not in the spec is kept (create --prune" in kept.stderr
    assert "still fail" not in kept.stderr
    verified = run("-o", "json", "verify")
    assert verified.exit_code == ExitCode.DIFFERENCES
    warnings = [
        sum(
            1
            for r in json.loads(result.stdout)["roles"]
            for c in r["checks"]
            if c["severity"] == "warning" and not c["ok"]
        )
        for result in (kept, verified)
    ]
    assert warnings[0] == warnings[1]  # the same state, the same warnings
    pruning = run("plan", "--prune")  # with --prune it is removed, not kept
    assert "- delete inline policy sneaky" in pruning.stdout
    assert "kept" not in pruning.stderr
    assert "kept" not in pruning.stdout
    assert run("create", "--prune").exit_code == ExitCode.OK
    assert iam.list_role_policies(RoleName=TASK_ROLE)["PolicyNames"] == []
    assert run("plan", "--detailed-exitcode").exit_code == ExitCode.OK


@pytest.mark.usefixtures("moto_iam")
def test_plan_and_create_dry_run_say_the_same_but_for_their_name() -> None:
    """Documented as the same: the same report, the same summary, the same next step."""
    from tests.test_cli import run

    plan, dry = run("plan"), run("create", "--dry-run")
    assert (plan.exit_code, dry.exit_code) == (0, 0)
    assert plan.stdout == dry.stdout
    assert plan.stderr.replace("qbroles plan:", "qbroles create:") == dry.stderr
    assert "security findings: broad policy" in dry.stderr
