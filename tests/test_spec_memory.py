"""The spec remembered: each role records a digest of what its spec said of it, and a
change of mind (another preset, an edited file) is shown by plan and asked about by create."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from qbroles.cli import cli
from qbroles.errors import ExitCode
from qbroles.spec.presets import Scope, preset_spec
from tests.conftest import EXEC_ROLE, MANAGED, TASK_ROLE, attached, writes

NARROW = ("--preset", "least-privilege", "--region", "us-east-1")


def run(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), input=stdin)


def tags(iam: Any, name: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in iam.get_role(RoleName=name)["Role"]["Tags"]}


def test_the_digest_is_the_same_however_the_spec_is_written(tmp_path: Path) -> None:
    """A preset and the file init writes of it say the same of each role; an edit does not."""
    os.chdir(tmp_path)
    assert run("init").exit_code == ExitCode.OK
    from qbroles.spec.load import load_spec

    written = load_spec("qbroles.toml", None)
    preset = preset_spec("workshop", None, Scope())
    assert [r.digest for r in written.roles] == [r.digest for r in preset.roles]
    assert len({r.digest for r in preset.roles}) == 2  # each role its own
    narrow = preset_spec("least-privilege", None, Scope())
    assert not {r.digest for r in narrow.roles} & {r.digest for r in preset.roles}


@pytest.mark.usefixtures("moto_iam")
def test_another_preset_is_caught_by_plan_and_refused_by_create_without_a_terminal(
    iam: Any, calls: list[str]
) -> None:
    assert run(*NARROW, "create").exit_code == ExitCode.OK
    narrow = preset_spec("least-privilege", None, Scope())
    assert tags(iam, TASK_ROLE)["qbroles:digest"] == narrow.roles[1].digest
    before = attached(iam, TASK_ROLE)

    plan = run("plan")
    assert plan.exit_code == ExitCode.OK
    assert "2 roles set by another spec or an earlier version of this one" in plan.stderr
    said = " ".join(plan.stdout.split())
    # Said once, of both, the heading as its text (issue 23, §4: not "made by this spec").
    heading = "last set by another spec (preset=least-privilege app=QuestionBank)"
    assert f"! {EXEC_ROLE}, {TASK_ROLE}: {heading} not by this spec" in said
    assert "made by this spec" not in said
    # The plan says what create will ask a yes for, and Next: says it asks.
    asked = f"create asks first: apply this spec to {EXEC_ROLE}, last set by another spec"
    assert asked in plan.stderr
    assert "(--yes off a terminal)" in plan.stderr
    assert "applies this plan, asking first (--yes off a terminal)" in said
    assert json.loads(run("-o", "json", "plan").stdout)["needs_yes"].startswith("apply this")

    calls.clear()
    refused = run("create")
    assert refused.exit_code == ExitCode.SAFETY
    assert f"apply this spec to {TASK_ROLE}, last set by another spec" in refused.stderr
    assert "pass --yes to go ahead" in refused.stderr
    assert writes(calls) == []
    assert attached(iam, TASK_ROLE) == before

    # The least-privilege inline policies are kept without --prune: exit 1, as verify.
    applied = run("create", "--yes")
    assert applied.exit_code == ExitCode.DIFFERENCES
    assert "create --prune removes them" in applied.stderr
    assert MANAGED + "AmazonRDSReadOnlyAccess" in attached(iam, TASK_ROLE)
    # The yes handed the roles over: this spec set them last, nothing is asked again.
    assert tags(iam, TASK_ROLE)["qbroles:spec"] == "preset=workshop app=QuestionBank"
    assert run("create").exit_code == ExitCode.DIFFERENCES  # no question: kept, said
    checks = [
        c["check"]
        for r in json.loads(run("-o", "json", "verify").stdout)["roles"]
        for c in r["checks"]
    ]
    assert "made by this spec" not in checks


@pytest.mark.usefixtures("moto_iam")
def test_on_a_terminal_create_asks_before_applying_another_spec(
    iam: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(*NARROW, "create").exit_code == ExitCode.OK
    monkeypatch.setattr("qbroles.session.interactive", lambda: True)
    before = attached(iam, TASK_ROLE)
    no = run("create", stdin="n\n")
    assert no.exit_code == ExitCode.SAFETY
    assert "last set by another spec" in no.stderr
    assert "? [y/N]" in no.stderr
    assert attached(iam, TASK_ROLE) == before
    yes = run("create", stdin="y\n")
    assert yes.exit_code == ExitCode.DIFFERENCES, yes.stderr  # applied; the old inline kept
    assert "not in the spec are kept" in yes.stderr
    assert MANAGED + "AmazonRDSReadOnlyAccess" in attached(iam, TASK_ROLE)


@pytest.mark.usefixtures("moto_iam")
def test_an_edited_spec_file_is_a_change_of_mind_too(iam: Any, tmp_path: Path) -> None:
    os.chdir(tmp_path)
    assert run("init").exit_code == ExitCode.OK
    assert run("create").exit_code == ExitCode.OK
    spec = Path("qbroles.toml")
    text = spec.read_text()
    assert '"AmazonRDSReadOnlyAccess",' in text
    spec.write_text(
        text.replace(
            '"AmazonRDSReadOnlyAccess",', '"AmazonRDSReadOnlyAccess", "AmazonS3ReadOnlyAccess",'
        )
    )
    refused = run("create")
    assert refused.exit_code == ExitCode.SAFETY
    assert (
        "last set by an earlier version of this spec, or another of the same name "
        "(file=qbroles.toml" in refused.stderr
    )
    assert MANAGED + "AmazonS3ReadOnlyAccess" not in attached(iam, TASK_ROLE)
    assert run("create", "--yes").exit_code == ExitCode.OK
    assert MANAGED + "AmazonS3ReadOnlyAccess" in attached(iam, TASK_ROLE)
    # The edit is now the spec that set the role: nothing more to ask, nothing to do.
    again = run("plan", "--detailed-exitcode")
    assert again.exit_code == ExitCode.OK, again.stderr
    assert "No changes." in again.stderr


@pytest.mark.usefixtures("moto_iam")
def test_a_role_without_a_recorded_digest_gets_one_without_a_question(iam: Any) -> None:
    assert run("create").exit_code == ExitCode.OK
    iam.untag_role(RoleName=EXEC_ROLE, TagKeys=["qbroles:digest"])
    result = run("create")
    assert result.exit_code == ExitCode.OK, result.stderr
    assert "1 change applied to 1 role" in result.stderr
    assert (
        tags(iam, EXEC_ROLE)["qbroles:digest"]
        == preset_spec("workshop", None, Scope()).roles[0].digest
    )


@pytest.mark.e2e
def test_through_a_terminal_create_shows_the_change_of_spec_and_waits_for_a_yes(
    env: dict[str, str],
) -> None:
    """A pseudo-terminal, as a person at it: the plan in full, the question, a no."""
    import subprocess

    from tests.servers import tool
    from tests.test_progress import answer_on_terminal

    made = subprocess.run([tool("qbroles"), *NARROW, "create"], env=env, capture_output=True)
    assert made.returncode == ExitCode.OK, made.stderr
    code, terminal = answer_on_terminal(["create"], env, b"n\n")
    assert code == ExitCode.SAFETY, terminal
    said = " ".join(terminal.split())
    assert f"apply this spec to {TASK_ROLE}, last set by another spec" in said
    assert f"+ attach AmazonRDSReadOnlyAccess to {TASK_ROLE}" in said
    assert "create not confirmed; nothing was changed." in said
    again = subprocess.run([tool("qbroles"), "-o", "json", "verify"], env=env, capture_output=True)
    assert again.returncode == ExitCode.DIFFERENCES  # still the least-privilege roles


@pytest.mark.usefixtures("moto_iam")
def test_init_after_a_preset_create_is_the_same_spec_no_question_no_refusal(
    iam: Any, tmp_path: Path
) -> None:
    """The README's order: create from the preset, later init to customise. The file says
    the same of each role, so nothing is asked or refused, and nothing is written: the
    label moves to the file with the next real write (tests/test_plan.py)."""
    os.chdir(tmp_path)
    assert run("create").exit_code == ExitCode.OK
    assert run("init").exit_code == ExitCode.OK
    verified = run("-o", "json", "verify")
    assert verified.exit_code == ExitCode.OK
    checks = [c["check"] for r in json.loads(verified.stdout)["roles"] for c in r["checks"]]
    assert "made by this spec" not in checks
    pruned = run("create", "--prune")  # off a terminal: neither a question nor a refusal
    assert pruned.exit_code == ExitCode.OK, pruned.stderr
    assert "No changes" in pruned.stderr
    assert tags(iam, TASK_ROLE)["qbroles:spec"] == "preset=workshop app=QuestionBank"
    assert run("delete", "--yes").exit_code == ExitCode.OK
