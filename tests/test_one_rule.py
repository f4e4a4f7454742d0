"""Rules that were written twice and drifted, each now written once: what each copy got wrong.

Through the CLI on moto in-process (CliRunner), as a user types the commands.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from qbroles.errors import ExitCode
from tests.conftest import EXEC_ROLE, MANAGED, TASK_ROLE, TRUST, attached
from tests.test_cli import document, run

PROJECT_A = """app = "QuestionBank"
[[role]]
name = "{app}-ECS-TaskRole"
managed_policies = ["AmazonS3ReadOnlyAccess"]
"""
PROJECT_B = """app = "QuestionBank"
[[role]]
name = "{app}-ECS-TaskRole"
managed_policies = ["AmazonSQSReadOnlyAccess"]
"""


def in_folder(folder: Path, *args: str) -> Any:
    folder.mkdir(exist_ok=True)
    os.chdir(folder)
    return run(*args)


@pytest.mark.usefixtures("moto_iam")
def test_another_projects_file_of_the_same_name_is_another_spec(iam: Any, tmp_path: Path) -> None:
    """Both are ./qbroles.toml, app QuestionBank: the same label, other contents."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "qbroles.toml").write_text(PROJECT_A)
    (tmp_path / "b" / "qbroles.toml").write_text(PROJECT_B)
    assert in_folder(tmp_path / "a", "create").exit_code == ExitCode.OK
    deleted = in_folder(tmp_path / "b", "delete", "--yes")
    assert deleted.exit_code == ExitCode.SAFETY, deleted.stderr
    assert "another spec of the same name" in deleted.stderr
    pruned = in_folder(tmp_path / "b", "create", "--prune")
    assert pruned.exit_code == ExitCode.SAFETY, pruned.stderr
    assert "pass --yes" in pruned.stderr
    assert attached(iam, TASK_ROLE) == {MANAGED + "AmazonS3ReadOnlyAccess"}
    assert in_folder(tmp_path / "a", "delete", "--yes").exit_code == ExitCode.OK  # A's own


@pytest.mark.usefixtures("moto_iam")
def test_outputs_follows_the_same_rule_as_delete_after_create_then_init(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    assert run("create").exit_code == ExitCode.OK
    assert run("init").exit_code == ExitCode.OK  # the same content, another label
    assert run("delete", "--dry-run").exit_code == ExitCode.OK
    printed = run("outputs")
    assert printed.exit_code == ExitCode.OK, printed.stderr
    assert EXEC_ROLE in printed.stdout


def test_a_spec_may_have_as_many_tags_as_create_can_set(tmp_path: Path) -> None:
    """IAM allows 50 tags; qbroles sets four of its own on a role with tags of the spec."""
    from qbroles.spec.load import load_spec
    from qbroles.spec.model import MAX_TAGS

    def spec(count: int) -> Path:
        tags = ", ".join(f"k{n} = 'v'" for n in range(count))
        path = tmp_path / f"tags-{count}.toml"
        path.write_text(f'[[role]]\nname = "Tagged"\ntags = {{ {tags} }}\n')
        return path

    allowed = MAX_TAGS - 4
    (role,) = load_spec(str(spec(allowed)), None).roles
    assert len(role.all_tags("file=x app=y")) == MAX_TAGS
    refused = run("--spec", str(spec(allowed + 1)), "plan")
    assert refused.exit_code == ExitCode.USAGE
    assert f"at most {allowed} tags" in refused.stderr


@pytest.mark.usefixtures("moto_iam")
def test_explain_names_the_preset_only_when_the_spec_is_one(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    assert run("--preset", "least-privilege", "init").exit_code == ExitCode.OK
    explained = document(run("-o", "json", "explain"))
    assert explained["preset"] is None
    assert explained["source"] == "qbroles.toml"
    os.chdir(tmp_path.parent)
    assert document(run("-o", "json", "explain"))["preset"] == "workshop"


def test_role_names_that_differ_only_in_case_are_one_role_to_iam(tmp_path: Path) -> None:
    path = tmp_path / "twice.toml"
    path.write_text('[[role]]\nname = "Billing-Role"\n[[role]]\nname = "billing-role"\n')
    refused = run("--spec", str(path), "plan")
    assert refused.exit_code == ExitCode.USAGE
    assert "IAM role names are unique without case" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.usefixtures("moto_iam")
def test_a_task_definition_with_a_number_json_has_not_is_refused(
    tmp_path: Path, number: str
) -> None:
    path = tmp_path / "taskdef.json"
    path.write_text('{"family": "x", "cpu": ' + number + ', "containerDefinitions": []}')
    for args in (["outputs", "--merge", str(path)], ["verify", "--task-definition", str(path)]):
        refused = run(*args)
        assert refused.exit_code == ExitCode.USAGE, (args, refused.stderr)
        assert "not valid JSON" in refused.stderr
        assert refused.stdout == ""


def test_init_to_stdout_with_json_output_is_refused_not_toml_on_a_json_stdout() -> None:
    refused = run("-o", "json", "init", "-")
    assert refused.exit_code == ExitCode.USAGE
    assert "TOML" in refused.stderr
    assert refused.stdout == ""


@pytest.mark.usefixtures("moto_iam")
def test_an_empty_owner_tag_is_not_a_loop_of_adopt(iam: Any) -> None:
    """ManagedBy="" claims nothing, yet is a tag: --adopt must not answer "rerun with --adopt"."""
    iam.create_role(
        RoleName=TASK_ROLE,
        AssumeRolePolicyDocument=TRUST,
        Tags=[{"Key": "ManagedBy", "Value": ""}],
    )
    adopted = run("create", "--adopt")
    assert "rerun with --adopt" not in adopted.stderr
    assert adopted.exit_code == ExitCode.SAFETY, adopted.stderr
    assert "ManagedBy" in adopted.stderr


@pytest.mark.usefixtures("moto_iam")
def test_restore_files_are_kept_private(iam: Any, tmp_path: Path) -> None:
    os.chdir(tmp_path)
    assert run("create").exit_code == ExitCode.OK
    deleted = run("-o", "json", "delete", "--yes")
    assert deleted.exit_code == ExitCode.OK, deleted.stderr
    kept = Path(document(deleted)["backup"])
    assert stat.S_IMODE(os.stat(".qbroles").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600


@pytest.mark.parametrize("how", ["link", "group-writable"])
@pytest.mark.usefixtures("moto_iam")
def test_a_restore_folder_someone_else_could_write_to_is_refused(
    iam: Any, tmp_path: Path, how: str
) -> None:
    os.chdir(tmp_path)
    assert run("create").exit_code == ExitCode.OK
    if how == "link":
        (tmp_path / "elsewhere").mkdir()
        os.symlink(tmp_path / "elsewhere", ".qbroles")
    else:
        os.mkdir(".qbroles")
        os.chmod(".qbroles", 0o775)
    refused = run("delete", "--yes")
    assert refused.exit_code == ExitCode.SAFETY, refused.stderr
    assert ".qbroles" in refused.stderr
    assert len(iam.list_roles()["Roles"]) == 2  # nothing deleted without its restore file
