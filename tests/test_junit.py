"""-o junit: verify and plan as JUnit XML, a test case per role and check, read back with
the standard library's XML parser as CI systems read it."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from qbroles.catalog import CHECK_OUTPUTS
from qbroles.cli import cli
from qbroles.errors import ExitCode
from tests.conftest import MANAGED, TASK_ROLE


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


@pytest.mark.usefixtures("moto_iam")
def test_verify_as_junit_has_a_case_per_check_and_fails_the_ones_json_fails(iam: Any) -> None:
    assert run("create").exit_code == 0
    iam.attach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonS3ReadOnlyAccess")
    result = run("-o", "junit", "verify")
    assert result.exit_code == ExitCode.DIFFERENCES
    suites = ElementTree.fromstring(result.stdout)
    (suite,) = suites.findall("testsuite")
    cases = suite.findall("testcase")
    document = json.loads(run("-o", "json", "verify").stdout)
    checks = [(r["name"], c) for r in document["roles"] for c in r["checks"]]
    assert len(cases) == len(checks) == int(suite.get("tests", "0"))
    failing = [
        (case.get("classname"), case.find("failure"))
        for case in cases
        if case.find("failure") is not None
    ]
    assert len(failing) == int(suite.get("failures", "-1"))
    assert suites.get("failures") == suite.get("failures")
    wanted = [(role, c) for role, c in checks if not c["ok"] and c["severity"] == "error"]
    assert [role for role, _ in failing] == [role for role, _ in wanted]
    ((classname, failure),) = failing
    assert classname == TASK_ROLE
    assert failure is not None
    assert "AmazonS3ReadOnlyAccess" in (failure.get("message", "") + (failure.text or ""))
    said = [out.text or "" for case in cases if (out := case.find("system-out")) is not None]
    assert said  # the guide's broad policies are warnings
    assert all(text.startswith("warning: ") for text in said)
    assert len(said) == len([c for _, c in checks if not c["ok"] and c["severity"] == "warning"])


@pytest.mark.usefixtures("moto_iam")
def test_plan_as_junit() -> None:
    planned = run("-o", "junit", "plan")
    assert planned.exit_code == ExitCode.OK, planned.stderr
    assert ElementTree.fromstring(planned.stdout).tag == "testsuites"


@pytest.mark.usefixtures("moto_iam")
@pytest.mark.parametrize("output", CHECK_OUTPUTS)
def test_the_reports_of_checks_are_refused_where_there_are_no_checks(
    output: str, calls: list[str]
) -> None:
    for command in ("create", "delete", "outputs"):
        refused = run("-o", output, command)
        assert refused.exit_code == ExitCode.USAGE
        assert f"-o {output} reports checks, for verify and plan" in refused.stderr
    assert calls == []
