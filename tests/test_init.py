"""qbroles init writes the active spec as commented TOML; click completes the command line."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given

from qbroles.cli import cli
from qbroles.errors import ExitCode
from qbroles.spec.load import load_spec
from qbroles.spec.model import Spec
from qbroles.spec.presets import Scope, preset_spec
from qbroles.spec.write import dumps
from tests.figures import count
from tests.strategies import tables


@given(tables)
def test_tomllib_reads_back_exactly_what_the_writer_wrote(data: dict[str, Any]) -> None:
    assert tomllib.loads(dumps(data)) == data
    count("writers: TOML documents read back")


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env)


def same_roles(a: Spec, b: Spec) -> bool:
    return (a.app, a.roles) == (b.app, b.roles)


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--app", "Billing"],
        ["--app", "ECS"],  # the app's name is also a word of the role names
        ["--preset", "least-privilege"],
        [
            "--preset",
            "least-privilege",
            "--app",
            "Shop",
            "--ssm-path",
            "/shop/prod/",
            "--kms-key-arn",
            "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ],
    ],
)
def test_the_written_file_is_the_active_spec(
    tmp_path: Path, calls: list[str], options: list[str]
) -> None:
    path = tmp_path / "roles.toml"
    result = run(*options, "init", str(path))
    assert result.exit_code == ExitCode.OK, result.stderr
    assert calls == []
    assert f"wrote {path}" in result.stderr
    preset = options[options.index("--preset") + 1] if "--preset" in options else "workshop"
    app = options[options.index("--app") + 1] if "--app" in options else None
    scope = Scope(
        ssm_path="/shop/prod/" if "--ssm-path" in options else None,
        kms_key_arn=options[-1] if "--kms-key-arn" in options else None,
    )
    assert same_roles(load_spec(path), preset_spec(preset, app, scope))
    written = path.read_text()
    assert written.startswith("# qbroles spec")
    assert 'name = "{app}-ECS-TaskRole"' in written  # --app still applies to the file
    other = load_spec(path, "Other")
    assert other.names == preset_spec(preset, "Other", scope).names
    if preset == "workshop":  # least-privilege's policies stay scoped to the app written for
        assert same_roles(other, preset_spec(preset, "Other", scope))


def test_a_custom_spec_round_trips_with_boundary_tags_and_conditions(tmp_path: Path) -> None:
    (tmp_path / "deny.json").write_text(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "NotAction": "s3:*",'
        ' "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}'
    )
    source = tmp_path / "in.toml"
    source.write_text(
        'app = "Acme"\n[[role]]\nname = "{app}-Worker"\ndescription = "Worker of {app}\\t\\"x\\""\n'
        'managed_policies = ["arn:aws:iam::123456789012:policy/Mine"]\n'
        'permissions_boundary = "arn:aws:iam::123456789012:policy/Boundary"\n'
        'tags = { Team = "web", "cost:centre" = "42" }\n'
        'inline_policies = { deny = "deny.json" }\npath = "/apps/"\nmax_session_duration = 7200\n'
    )
    out = tmp_path / "out.toml"
    assert run("--spec", str(source), "init", str(out)).exit_code == ExitCode.OK
    assert same_roles(load_spec(out), load_spec(source))
    assert 'name = "{app}-Worker"' in out.read_text()


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "qbroles.toml"
    path.write_text("mine")
    result = run("init", str(path))
    assert result.exit_code == ExitCode.SAFETY
    assert "--force" in result.stderr
    assert path.read_text() == "mine"
    assert run("init", str(path), "--force").exit_code == ExitCode.OK
    assert same_roles(load_spec(path), preset_spec("workshop", None, Scope()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qbroles.toml"]  # no temporary left


def test_init_writes_qbroles_toml_by_default_and_dash_is_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("init").exit_code == ExitCode.OK
    assert (tmp_path / "qbroles.toml").exists()
    result = run("init", "-")
    assert result.stdout == (tmp_path / "qbroles.toml").read_text()
    assert result.stderr == ""


def test_init_into_a_missing_directory_is_exit_2(tmp_path: Path) -> None:
    result = run("init", str(tmp_path / "no" / "such.toml"))
    assert result.exit_code == ExitCode.USAGE
    assert "does not exist" in result.stderr


def complete(words: str, shell: str = "bash") -> list[str]:
    """Return what the shell would be offered for the last word of ``words``."""
    parts = words.split(" ")
    env = {
        "_QBROLES_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(parts) - 1),
    }
    result = CliRunner().invoke(cli, [], env=env, prog_name="qbroles")
    assert result.exit_code == 0, result.output
    return [line.split(",", 1)[1] for line in result.stdout.splitlines()]


def test_completion_offers_commands_options_presets_and_formats() -> None:
    assert complete("qbroles ex") == ["explain", "export"]
    assert complete("qbroles export --format ") == ["cloudformation", "terraform"]
    assert {"create", "verify", "delete", "plan", "outputs", "init"} <= set(complete("qbroles "))
    assert set(complete("qbroles --pr")) == {"--profile", "--preset"}
    assert complete("qbroles --preset ") == ["workshop", "least-privilege"]
    assert complete("qbroles -o ") == ["table", "json", "junit", "sarif"]
    assert complete("qbroles outputs --format ") == ["env", "shell", "json"]
    assert "--detailed-exitcode" in complete("qbroles plan --")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_gets_a_completion_script(shell: str) -> None:
    result = CliRunner().invoke(
        cli, [], env={"_QBROLES_COMPLETE": f"{shell}_source"}, prog_name="qbroles"
    )
    assert result.exit_code == 0
    assert "_QBROLES_COMPLETE" in result.stdout


def as_json(*args: str) -> dict[str, Any]:
    result = run("-o", "json", *args)
    assert result.exit_code == ExitCode.OK, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@pytest.mark.usefixtures("moto_iam")
def test_the_folders_qbroles_toml_is_the_spec_unless_another_is_named() -> None:
    """The tests run in a folder of their own (conftest's aws_env)."""
    assert run("--app", "Billing", "--preset", "least-privilege", "init").exit_code == 0
    planned = as_json("plan")
    assert planned["spec"] == {"source": "qbroles.toml", "app": "Billing"}
    assert [role["name"] for role in planned["roles"]] == [
        "Billing-ECS-TaskExecutionRole",
        "Billing-ECS-TaskRole",
    ]
    assert run("plan").stdout.splitlines()[0] == "Spec: qbroles.toml, app Billing"
    named = as_json("--preset", "workshop", "plan")
    assert named["spec"] == {"source": "preset workshop", "app": "QuestionBank"}
    # The change of mind the file prevents: a plain create --prune after the
    # least-privilege roles were made keeps them as they are.
    assert as_json("create")["ok"]
    again = as_json("create", "--prune")
    assert again["changed"] is False
    assert again["spec"]["source"] == "qbroles.toml"


@pytest.mark.parametrize("kind", ["directory", "device", "broken link"])
def test_a_qbroles_toml_that_is_not_a_file_is_refused_not_replaced_by_a_preset(
    tmp_path: Path, kind: str
) -> None:
    """The folder's spec that cannot be read stops the run (exit 2, why): falling back to
    the workshop preset would turn the roles back into what the file was written against."""
    spec = Path("qbroles.toml")  # the tests run in tmp_path
    if kind == "directory":
        spec.mkdir()
        reason = "is a directory"
    elif kind == "device":
        spec.symlink_to("/dev/zero")
        reason = "larger than 4 MiB"
    else:
        spec.symlink_to(tmp_path / "gone.toml")
        reason = "does not exist"
    result = run("plan")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("qbroles: error: spec file qbroles.toml "), line
    assert reason in line
