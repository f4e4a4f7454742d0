"""The task role's evidence: IAM's last-accessed report (botocore's Stubber, with the
response shapes of the IAM API reference; moto implements neither call) and the narrowing
of today's policies by it."""

from __future__ import annotations

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
    ("answer", "said"),
    [
        ({"Error": {"Code": "ReportGenerationFailed", "Message": "throttled by ISP"}}, "failed"),
        (None, "denied iam:GenerateServiceLastAccessedDetails"),
    ],
)
def test_a_failed_job_or_a_refusal_is_missing_evidence_named(
    answer: dict[str, Any] | None, said: str
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
