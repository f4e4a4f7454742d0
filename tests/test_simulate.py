"""verify --simulate: IAM's policy simulator as a second opinion, tested with botocore's
Stubber (moto has no simulator): an SCP that denies what the roles grant fails the task
definition; a simulator that allows what qbroles does not is a warning."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from qbroles.iam.gateway import Gateway
from qbroles.model.verdict import Verdict
from qbroles.reconcile import engine
from qbroles.reconcile.needs import requirements
from qbroles.reconcile.taskdef import load_task_definition
from qbroles.spec.presets import Scope, preset_spec
from tests.conftest import EXEC_ROLE

TASKDEF = Path(__file__).parent / "taskdefs" / "questionbank-ssm.json"
EXEC_ARN = f"arn:aws:iam::123456789012:role/{EXEC_ROLE}"
PARAMETER = "arn:aws:ssm:us-east-1:123456789012:parameter/questionbank/api-url"


@pytest.fixture
def simulator(moto_iam: None) -> Iterator[Stubber]:
    """IAM's simulator, stubbed; every other call goes to moto."""
    stubbed = boto3.client("iam", region_name="us-east-1")
    with Stubber(stubbed) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def gateway(simulator: Stubber) -> Gateway:
    def clients(service: str, region: str) -> Any:
        if service == "iam":
            return simulator.client
        return boto3.client(service, region_name=region)  # type: ignore[call-overload]

    return Gateway(
        boto3.client("iam", region_name="us-east-1"),
        region="us-east-1",
        sts=lambda: boto3.client("sts", region_name="us-east-1"),
        clients=clients,
    )


def expect(
    simulator: Stubber, decisions: dict[str, str], scp_denies: set[str] = frozenset()
) -> None:
    """Expect one simulation per resource of the execution role's needs, in their order,
    answering each action with ``decisions`` (default: allowed)."""
    from qbroles.policy.documents import SourceScope

    here = SourceScope(partition="aws", account="123456789012", region="us-east-1")
    needs = [
        n
        for n in requirements(load_task_definition(str(TASKDEF)), here)
        if n.kind == "execution" and not n.unknown
    ]
    by_resource: dict[str, list[str]] = {}
    for need in needs:
        by_resource.setdefault(need.resource, []).append(need.action)
    for resource, actions in by_resource.items():
        results = []
        for action in sorted(set(actions)):
            result: dict[str, Any] = {
                "EvalActionName": action,
                "EvalResourceName": resource,
                "EvalDecision": decisions.get(action, "allowed"),
            }
            if action in scp_denies:
                result["OrganizationsDecisionDetail"] = {"AllowedByOrganizations": False}
            results.append(result)
        simulator.add_response(
            "simulate_principal_policy",
            {"EvaluationResults": results, "IsTruncated": False},
            {
                "PolicySourceArn": EXEC_ARN,
                "ActionNames": sorted(set(actions)),
                "ResourceArns": [resource],
            },
        )


def test_an_scp_that_denies_what_the_roles_grant_fails_the_task_definition(
    simulator: Stubber,
) -> None:
    spec = preset_spec("least-privilege", None, Scope())
    engine.create(gateway(simulator), spec)
    task = load_task_definition(str(TASKDEF))
    alone = engine.verify(gateway(simulator), spec, task=task, resources=False)
    assert alone.tasks[0].verdict is Verdict.STARTS  # qbroles alone: it starts
    expect(simulator, {"ssm:GetParameters": "explicitDeny"}, scp_denies={"ssm:GetParameters"})
    report = engine.verify(gateway(simulator), spec, task=task, resources=False, simulate=True)
    (verdict,) = report.tasks
    assert verdict.verdict is Verdict.CANNOT_START
    (because,) = verdict.because
    assert because.startswith(f"IAM's policy simulator denies ssm:GetParameters on {PARAMETER}")
    assert "by the organization's service control policies" in because
    agreed = [
        c for r in report.roles for c in r.checks if c.check.startswith("simulated ") and c.ok
    ]
    assert {c.check for c in agreed} >= {"simulated ecr:GetAuthorizationToken"}


def test_a_simulator_that_allows_what_qbroles_does_not_is_a_warning(simulator: Stubber) -> None:
    spec = preset_spec("workshop", None, Scope())
    engine.create(gateway(simulator), spec)
    task = load_task_definition(str(TASKDEF))
    expect(simulator, {})  # allows everything, the parameter the workshop role lacks too
    report = engine.verify(gateway(simulator), spec, task=task, resources=False, simulate=True)
    checks = {c.check: c for r in report.roles for c in r.checks}
    differs = checks["simulated ssm:GetParameters"]
    assert (differs.ok, differs.severity.value) == (False, "warning")
    assert "compare the two" in differs.message
    assert checks["can ssm:GetParameters"].failed  # qbroles' own failure stands
    assert report.tasks[0].verdict is Verdict.CANNOT_START
