"""-o sarif: verify and plan as SARIF 2.1.0, validated against the schema OASIS publishes
(tests/data, as data), each result on the line of the file a person would mend."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from qbroles.cli import cli
from qbroles.errors import ExitCode
from qbroles.spec.lines import json_line
from tests.conftest import MANAGED, TASK_ROLE

DATA = Path(__file__).parent / "data"
TASKDEFS = Path(__file__).parent / "taskdefs"


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


@cache
def validator() -> Any:
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema)  # the schema's own draft


def log_of(text: str) -> dict[str, Any]:
    """Parse a SARIF log and fail on every way it breaks the schema."""
    document: dict[str, Any] = json.loads(text)
    problems = [error.message for error in validator().iter_errors(document)]
    assert problems == []
    return document


def results(document: dict[str, Any]) -> list[dict[str, Any]]:
    (only,) = document["runs"]
    return list(only["results"])


def line_of(result: dict[str, Any]) -> tuple[str, int]:
    physical = result["locations"][0]["physicalLocation"]
    return physical["artifactLocation"]["uri"], physical["region"]["startLine"]


def two_containers(tmp: Path) -> Path:
    """A task definition whose second container injects an SSM parameter the guide's
    execution role cannot read (no ssm:GetParameters)."""
    document = json.loads((TASKDEFS / "ssm-parameter.json").read_text(encoding="utf-8"))
    first = dict(document["containerDefinitions"][0], name="sidecar")
    first.pop("secrets", None)
    document["containerDefinitions"].insert(0, first)
    path = tmp / "two.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


@pytest.mark.usefixtures("moto_iam")
def test_verify_as_sarif_is_valid_and_puts_each_result_on_its_line(
    iam: Any, tmp_path: Path
) -> None:
    assert run("init").exit_code == 0
    spec = Path("qbroles.toml")
    assert run("create").exit_code == 0
    spec.write_text(
        spec.read_text(encoding="utf-8").replace(
            "max_session_duration = 3600", "max_session_duration = 7200", 1
        ),
        encoding="utf-8",
    )
    iam.attach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonS3ReadOnlyAccess")
    task = two_containers(tmp_path)
    result = run("-o", "sarif", "verify", "--task-definition", str(task))
    assert result.exit_code == ExitCode.DIFFERENCES, result.stderr
    document = log_of(result.stdout)
    found = results(document)
    json_document = json.loads(run("-o", "json", "verify", "--task-definition", str(task)).stdout)
    not_ok = [c for r in json_document["roles"] for c in r["checks"] if not c["ok"]]
    assert len(found) == len(not_ok)  # one result per difference, warning or unknown
    errors = [r for r in found if r["level"] == "error"]
    assert len(errors) == len([c for c in not_ok if c["severity"] == "error"])
    rules = {rule["id"] for rule in document["runs"][0]["tool"]["driver"]["rules"]}
    assert {r["ruleId"] for r in found} == rules
    lines = spec.read_text(encoding="utf-8").splitlines()
    texts = task.read_text(encoding="utf-8")

    def one(rule: str, *, about: str = "") -> dict[str, Any]:
        (chosen,) = [r for r in found if r["ruleId"] == rule and about in r["message"]["text"]]
        return chosen

    uri, number = line_of(one("max-session-duration"))
    assert (uri, lines[number - 1]) == ("qbroles.toml", "max_session_duration = 7200")
    uri, number = line_of(one("unexpected-policy"))  # not in the file: the list it is kept from
    assert lines[number - 1].startswith("managed_policies")
    assert one("unexpected-policy")["properties"]["role"] == TASK_ROLE
    broad = [r for r in found if r["ruleId"] == "broad-policy"]
    assert broad
    for each in broad:  # each on the line that names the policy
        assert each["message"]["text"].split()[0] in lines[line_of(each)[1] - 1]
    ssm = one("task-cannot-start", about="ssm:GetParameters")
    assert line_of(ssm) == (task.name, json_line(texts, "containerDefinitions[1]"))
    assert line_of(ssm)[1] != json_line(texts, "containerDefinitions[0]")

    again = results(log_of(run("-o", "sarif", "verify", "--task-definition", str(task)).stdout))
    assert [(r["ruleId"], r["partialFingerprints"]) for r in again] == [
        (r["ruleId"], r["partialFingerprints"]) for r in found
    ]  # code scanning matches alerts from run to run by these


@pytest.mark.usefixtures("moto_iam")
def test_an_unknown_is_a_warning_and_an_error_under_strict() -> None:
    assert run("create").exit_code == 0
    task = str(TASKDEFS / "no-execution-role-ec2.json")  # starts only if the instance role can
    given = ("--no-resources", "--task-definition", task)  # the roles' side only
    plain = log_of(run("-o", "sarif", "verify", *given).stdout)
    strict = run("-o", "sarif", "verify", "--strict", *given)
    assert strict.exit_code == ExitCode.DIFFERENCES
    level = {
        name: {r["ruleId"]: r["level"] for r in results(document)}
        for name, document in (("plain", plain), ("strict", log_of(strict.stdout)))
    }
    assert level["plain"]["task-cannot-start"] == "warning"
    assert level["strict"]["task-cannot-start"] == "error"
    # A preset has no file: the roles' results name the role, and no line; the task
    # definition's are in its file.
    for result in results(plain):
        where = result["locations"][0]
        assert where["logicalLocations"][0]["name"]
        task_rule = result["ruleId"].startswith("task-")
        assert ("physicalLocation" in where) is task_rule, result
        if task_rule:
            assert line_of(result)[0].endswith("no-execution-role-ec2.json")


@pytest.mark.usefixtures("moto_iam")
def test_plan_as_sarif_lists_the_roles_it_would_make() -> None:
    planned = run("-o", "sarif", "plan")
    assert planned.exit_code == ExitCode.OK, planned.stderr
    missing = [r for r in results(log_of(planned.stdout)) if r["ruleId"] == "role-missing"]
    assert len(missing) == 2
    assert {r["level"] for r in missing} == {"error"}


ROOT = Path(__file__).parent.parent


def action_step(action: dict[str, Any], step: str) -> dict[str, Any]:
    (found,) = [s for s in action["runs"]["steps"] if s.get("id") == step]
    return found


@pytest.mark.e2e
def test_the_action_runs_qbroles_and_fails_its_job_as_qbroles_exits(
    env: dict[str, str], tmp_path: Path
) -> None:
    """action.yml's own steps, in bash as a runner runs a composite action's, with its
    inputs as the runner passes them (environment variables) and its outputs read back
    from GITHUB_OUTPUT; the moto server stands in for the account."""
    import subprocess

    import yaml

    from tests.servers import tool

    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    assert steps[0]["uses"].startswith("actions/setup-python@")
    assert '"$GITHUB_ACTION_PATH"' in action_step(action, "install")["run"]  # this repository
    (upload,) = [s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload")]
    assert upload["with"]["sarif_file"] == "${{ steps.qbroles.outputs.sarif-file }}"
    shell = {**env, "PATH": f"{Path(tool('qbroles')).parent}:{env['PATH']}"}
    assert subprocess.run([tool("qbroles"), "create"], env=env, cwd=tmp_path).returncode == 0
    assert subprocess.run([tool("qbroles"), "init"], env=env, cwd=tmp_path).returncode == 0

    def step(name: str, **inputs: str) -> tuple[int, dict[str, str]]:
        script = action_step(action, name)
        variables = {}
        for key, value in script.get("env", {}).items():
            if "inputs." in value:  # ${{ inputs.X }}: the input given, else its default
                which = value.split("inputs.", 1)[1].strip(" }")
                variables[key] = inputs.get(which, action["inputs"][which].get("default", ""))
            else:  # ${{ steps.… }}: an earlier step's output, given by the test
                variables[key] = inputs.get(key, "")
        output = tmp_path / "github-output"
        output.write_text("")
        runner = {"GITHUB_OUTPUT": str(output), "RUNNER_TEMP": str(tmp_path)}
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script["run"]],
            env={**shell, **variables, **runner}, cwd=tmp_path,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        lines = output.read_text().splitlines()
        return done.returncode, dict(line.split("=", 1) for line in lines)

    code, outputs = step("qbroles", sarif="true", args="--no-resources")
    assert (code, outputs["exit-code"]) == (0, "0")
    document = log_of(Path(outputs["sarif-file"]).read_text())
    assert {r["level"] for r in results(document)} == {"warning"}  # the guide's findings
    assert step("result", QBROLES_EXIT=outputs["exit-code"])[0] == 0

    spec = tmp_path / "qbroles.toml"
    spec.write_text(spec.read_text().replace('"AmazonEC2ContainerRegistryReadOnly",\n', "", 1))
    code, outputs = step("qbroles", sarif="true", spec="qbroles.toml")
    assert (code, outputs["exit-code"]) == (0, "1")  # the report is made; the job fails after
    kept = results(log_of(Path(outputs["sarif-file"]).read_text()))
    assert "unexpected-policy" in {r["ruleId"] for r in kept}
    assert step("result", QBROLES_EXIT=outputs["exit-code"])[0] == 1
    code, outputs = step("qbroles", command="create")
    assert code == 2
    assert "exit-code" not in outputs


def test_the_readme_workflow_uses_the_action_as_it_is() -> None:
    """The README's complete workflow: the Action's step gives only inputs action.yml
    has, and the job may upload to code scanning when it asks for SARIF."""
    import yaml

    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    text = (ROOT / "README.md").read_text(encoding="utf-8").split("### In GitHub Actions", 1)[1]
    workflow = yaml.safe_load(text.split("```yaml\n", 1)[1].split("```", 1)[0])
    steps = workflow["jobs"]["verify"]["steps"]
    (ours,) = [s for s in steps if s.get("uses", "").split("@")[0].endswith("/qbroles")]
    assert set(ours["with"]) <= set(action["inputs"])
    assert ours["with"]["command"] in ("verify", "plan")
    before = steps[: steps.index(ours)]
    assert any(
        s.get("uses", "").startswith("aws-actions/configure-aws-credentials") for s in before
    )
    if str(ours["with"].get("sarif")).lower() == "true":
        assert workflow["permissions"]["security-events"] == "write"
    assert workflow["permissions"]["id-token"] == "write"
