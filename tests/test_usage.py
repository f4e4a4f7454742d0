"""The task role's evidence: IAM's last-accessed report (botocore's Stubber, with the
response shapes of the IAM API reference; moto implements neither call) and the narrowing
of today's policies by it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from qbroles.iam.gateway import Gateway
from qbroles.policy.evaluate import Policy
from qbroles.reconcile.usage import Usage, last_accessed, narrow, window

ROLE = "arn:aws:iam::123456789012:role/QuestionBank-ECS-TaskRole"
JOB = "7a5e0d3c-0f2b-4a5d-9c1e-2b6f4c8d9e10"  # a job id: 36 characters
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def stubbed() -> tuple[Gateway, Stubber, list[float]]:
    client = boto3.client("iam", region_name="us-east-1")
    slept: list[float] = []
    return Gateway(client, sleep=slept.append), Stubber(client), slept


def report(status: str, services: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    """A GetServiceLastAccessedDetails answer, as the API reference shows it."""
    return {
        "JobStatus": status,
        "JobType": "ACTION_LEVEL",
        "JobCreationDate": NOW,
        "ServicesLastAccessed": services,
        "JobCompletionDate": NOW,  # required by the model, whatever the status
        **more,
    }


def service(namespace: str, last: datetime | None, **tracked: datetime | None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "ServiceName": namespace.upper(),
        "ServiceNamespace": namespace,
        "TotalAuthenticatedEntities": 1 if last else 0,
    }
    if last:
        found |= {"LastAuthenticated": last, "LastAuthenticatedEntity": ROLE}
    if tracked:
        found["TrackedActionsLastAccessed"] = [
            {"ActionName": name, **({"LastAccessedTime": when} if when else {})}
            for name, when in tracked.items()
        ]
    return found


def test_a_report_in_progress_is_polled_with_the_pacer_until_completed_and_read_in_full() -> None:
    gateway, stub, slept = stubbed()
    job = {"Arn": ROLE, "Granularity": "ACTION_LEVEL"}
    stub.add_response("generate_service_last_accessed_details", {"JobId": JOB}, job)
    stub.add_response(
        "get_service_last_accessed_details", report("IN_PROGRESS", []), {"JobId": JOB}
    )
    first = report("COMPLETED", [service("s3", NOW, GetBucketPolicy=NOW, PutBucketPolicy=None)])
    stub.add_response(
        "get_service_last_accessed_details", {**first, "IsTruncated": True, "Marker": "m"},
        {"JobId": JOB},
    )  # fmt: skip
    stub.add_response(
        "get_service_last_accessed_details", report("COMPLETED", [service("rds", None)]),
        {"JobId": JOB, "Marker": "m"},
    )  # fmt: skip
    with stub:
        usage = last_accessed(gateway, ROLE)
    stub.assert_no_pending_responses()
    assert usage.missing is None
    assert len(slept) == 1
    assert set(usage.services) == {"s3", "rds"}
    assert usage.services["s3"].actions == {"getbucketpolicy": NOW, "putbucketpolicy": None}
    assert usage.services["rds"].last is None
    assert usage.services["rds"].actions is None


@pytest.mark.parametrize(
    ("answer", "said", "pending"),
    [
        (
            {"Error": {"Code": "ReportGenerationFailed", "Message": "throttled by ISP"}},
            "failed",
            True,
        ),
        (None, "denied iam:GenerateServiceLastAccessedDetails", False),
    ],
)
def test_a_failed_job_or_a_refusal_is_missing_evidence_named(
    answer: dict[str, Any] | None, said: str, pending: bool
) -> None:
    gateway, stub, _ = stubbed()
    if answer is None:
        stub.add_client_error(
            "generate_service_last_accessed_details", "AccessDenied", "not authorized", 403
        )
    else:
        stub.add_response("generate_service_last_accessed_details", {"JobId": JOB})
        stub.add_response("get_service_last_accessed_details", report("FAILED", [], **answer))
    with stub:
        usage = last_accessed(gateway, ROLE)
    assert usage.services == {}
    assert usage.missing
    assert said in usage.missing
    assert usage.pending is pending


RDS = Policy(
    "arn:aws:iam::aws:policy/AmazonRDSReadOnlyAccess",
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["rds:Describe*", "ec2:DescribeSubnets"], "Resource": "*"}
        ],
    },
)
APP = Policy(
    "app",
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Objects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:List*"],
                "Resource": "arn:aws:s3:::questionbank/*",
                "Condition": {"Bool": {"aws:SecureTransport": "true"}},
            },
            {"Effect": "Allow", "Action": "ssmmessages:CreateControlChannel", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"},
        ],
    },
)


def test_what_the_report_shows_unused_is_left_out_and_what_it_cannot_show_stays() -> None:
    old = NOW - timedelta(days=200)
    usage = Usage(
        {
            "rds": service_use("rds", old),
            "ec2": service_use("ec2", None),
            "s3": service_use("s3", NOW, getbucketpolicy=NOW, putbucketpolicy=old),
            "ssmmessages": service_use("ssmmessages", None),
        },
        NOW,
    )
    since = NOW - timedelta(days=90)
    shown = {"ssmmessages:createcontrolchannel": "api:1: ECS Exec"}
    narrowed = narrow([RDS, APP], usage, since, shown)
    assert narrowed.kept == ()  # each lost something
    statements = [s for s, _ in narrowed.statements]
    # RDS's statement is gone: rds last used 200 days ago, ec2 never.
    assert [s["Action"] for s in statements if s["Effect"] == "Allow"] == [
        ["s3:GetObject", "s3:GetBucketPolicy", "s3:List*"],
        ["ssmmessages:CreateControlChannel"],
    ]
    first = statements[0]
    assert first["Resource"] == "arn:aws:s3:::questionbank/*"
    assert first["Condition"]
    assert {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}.items() <= statements[
        2
    ].items()
    assert any(
        line.startswith("rds: not used since 2026-09-02 (last used 2026-05-15)")
        for line in narrowed.left_out
    )
    assert any(line.startswith("s3:PutBucketPolicy: not used since") for line in narrowed.left_out)
    assert "s3:GetObject: IAM does not track it, kept" in narrowed.unproven
    assert any(line.startswith("s3:List*: a pattern") for line in narrowed.unproven)


def test_a_policy_that_loses_nothing_is_kept_whole() -> None:
    usage = Usage({"rds": service_use("rds", NOW), "ec2": service_use("ec2", NOW)}, NOW)
    narrowed = narrow([RDS], usage, NOW - timedelta(days=90), {})
    assert narrowed.kept == (RDS.name,)
    assert narrowed.statements == ()


def test_a_role_younger_than_the_window_has_no_evidence_of_disuse() -> None:
    usage = Usage({}, NOW)
    assert window(usage, 90, NOW - timedelta(days=30)) == (NOW - timedelta(days=90), 30)
    assert window(usage, 20, NOW - timedelta(days=30)) == (NOW - timedelta(days=20), None)


def service_use(namespace: str, last: datetime | None, **tracked: datetime | None) -> Any:
    from qbroles.reconcile.usage import ServiceUse

    return ServiceUse(namespace, last, dict(tracked) if tracked else None)


TRAIL = "arn:aws:cloudtrail:us-east-1:123456789012:trail/management"
ACCESS = "arn:aws:iam::123456789012:role/service-role/AccessAnalyzerMonitorServiceRole"


def analyzer() -> tuple[Gateway, Stubber, list[float]]:
    """A gateway whose Access Analyzer client is stubbed."""
    client = boto3.client("accessanalyzer", region_name="us-east-1")
    slept: list[float] = []
    iam = boto3.client("iam", region_name="us-east-1")
    gateway = Gateway(iam, region="us-east-1", clients=lambda *_: client, sleep=slept.append)
    return gateway, Stubber(client), slept


def policy_job(
    status: str, policies: tuple[dict[str, Any], ...] = (), **error: str
) -> dict[str, Any]:
    """A GetGeneratedPolicy answer, as the Access Analyzer API reference shows it."""
    details: dict[str, Any] = {"jobId": JOB, "status": status, "startedOn": NOW}
    if error:
        details["jobError"] = error
    return {
        "jobDetails": details,
        "generatedPolicyResult": {
            "properties": {"principalArn": ROLE, "isComplete": status == "SUCCEEDED"},
            "generatedPolicies": [{"policy": json.dumps(p)} for p in policies],
        },
    }


def test_a_generation_in_progress_is_polled_until_it_succeeds_and_its_actions_are_evidence() -> (
    None
):
    from qbroles.reconcile.analyzer import generated

    gateway, stub, slept = analyzer()
    stub.add_response("start_policy_generation", {"jobId": JOB})
    stub.add_response("get_generated_policy", policy_job("IN_PROGRESS"))
    used = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["rds:DescribeDBInstances"], "Resource": "*"}],
    }
    stub.add_response("get_generated_policy", policy_job("SUCCEEDED", (used,)))
    with stub:
        seen = generated(gateway, ROLE, TRAIL, ACCESS, 400)
    stub.assert_no_pending_responses()
    assert seen.missing is None
    assert len(slept) == 1
    assert list(seen.actions) == ["rds:describedbinstances"]
    assert "management by Access Analyzer (90 days)" in seen.actions["rds:describedbinstances"]


def test_a_failed_generation_is_missing_evidence_named() -> None:
    from qbroles.reconcile.analyzer import generated

    gateway, stub, _ = analyzer()
    stub.add_response("start_policy_generation", {"jobId": JOB})
    stub.add_response(
        "get_generated_policy",
        policy_job("FAILED", code="AUTHORIZATION_ERROR", message="cannot read the trail"),
    )
    with stub:
        seen = generated(gateway, ROLE, TRAIL, ACCESS, 90)
    assert seen.actions == {}
    assert seen.missing == "Access Analyzer's policy generation FAILED (cannot read the trail)"


@pytest.mark.parametrize(
    ("answer", "found"),
    [
        ({"result": "PASS", "message": "The policy grants no new access."}, []),
        (
            {
                "result": "FAIL",
                "message": "The modified permissions grant new access.",
                "reasons": [{"description": "New access in the statement with index: 0."}],
            },
            ["r: CheckNoNewAccess: The modified permissions grant new access. New access in "
             "the statement with index: 0."],
        ),
    ],
)  # fmt: skip
def test_check_no_new_access_is_asked_of_each_document_against_todays(
    answer: dict[str, Any], found: list[str]
) -> None:
    from qbroles.reconcile.tightening import _check_no_new_access

    gateway, stub, _ = analyzer()
    new = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    before = [RDS.document, APP.document]
    existing = {
        "Version": "2012-10-17",
        "Statement": [*RDS.document["Statement"], *APP.document["Statement"]],
    }
    stub.add_response(
        "check_no_new_access",
        answer,
        {
            "newPolicyDocument": json.dumps(new),
            "existingPolicyDocument": json.dumps(existing),
            "policyType": "IDENTITY_POLICY",
        },
    )
    with stub:
        assert _check_no_new_access(gateway, "r", before, new) == found


def test_a_report_not_ready_in_time_is_pending_not_taken_as_nothing_used() -> None:
    from qbroles.reconcile.usage import REPORT_PATIENCE

    gateway, stub, slept = stubbed()
    stub.add_response("generate_service_last_accessed_details", {"JobId": JOB})
    for _ in range(3):
        stub.add_response("get_service_last_accessed_details", report("IN_PROGRESS", []))
    ticks = iter([0.0, 1.0, 50.0, REPORT_PATIENCE + 1])
    with stub:
        usage = last_accessed(gateway, ROLE, clock=lambda: next(ticks))
    assert usage.pending
    assert usage.services == {}
    assert usage.missing == f"IAM's report was not ready after {REPORT_PATIENCE:.0f} s"
    assert slept == [1.0, 2.0]
