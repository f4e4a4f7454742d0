"""More evidence for the task role, opt-in: IAM Access Analyzer's policy generation.

Access Analyzer reads a CloudTrail trail and returns the actions the role used
(StartPolicyGeneration, then GetGeneratedPolicy until the job is done). What AWS says of
it (https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-policy-generation.html):
a generation needs a trail that logs the account's events and a service role that may read
it (``accessRole``); it covers at most 90 days; data events (S3 GetObject and the like)
and ``iam:PassRole`` are never in a generated policy. So its actions are used only as
evidence of use (what it saw stays, whatever last-accessed data says); what it does not
show is never taken as unused, and the resources of today's statements are kept (the
generated policy's are templates with placeholders).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from qbroles.iam.gateway import Gateway
from qbroles.policy.documents import listed, statements

# Access Analyzer's limit on a generation's window, in days (the page above).
MAX_DAYS = 90
# How long to wait for the generation: AWS documents no duration; it reads the trail's
# logs, which takes minutes for a busy account. Waits double to 30 s, shrunk as all are.
PATIENCE = 900.0


@dataclass(frozen=True)
class Generated:
    """The actions Access Analyzer saw the role use, each with why, or why there are none."""

    actions: dict[str, str]
    missing: str | None = None


def generated(
    gateway: Gateway,
    role_arn: str,
    trail_arn: str,
    access_role: str,
    days: int,
    clock: Callable[[], float] = time.monotonic,
) -> Generated:
    """Return what Access Analyzer's policy generation says the role used over the last
    ``days`` (at most 90), polled with the run's pacer; a refusal or a failed job is
    missing evidence, named."""
    from qbroles.errors import AwsError

    client = gateway.service("accessanalyzer")
    end = datetime.now().astimezone()
    window = min(days, MAX_DAYS)

    def done() -> dict[str, Any] | None:
        answer: dict[str, Any] = client.get_generated_policy(
            jobId=job, includeResourcePlaceholders=False, includeServiceLevelTemplate=False
        )
        return None if answer["jobDetails"]["status"] == "IN_PROGRESS" else answer

    try:
        with gateway.translating(
            "StartPolicyGeneration", role_arn, service="access-analyzer", client=client
        ):
            job = client.start_policy_generation(
                policyGenerationDetails={"principalArn": role_arn},
                cloudTrailDetails={
                    "trails": [{"cloudTrailArn": trail_arn, "allRegions": True}],
                    "accessRole": access_role,
                    "startTime": end - timedelta(days=window),
                    "endTime": end,
                },
            )["jobId"]
            waited = "Access Analyzer is reading the trail"
            answer = gateway.pacer.poll(waited, done, PATIENCE, clock, first=2.0, longest=30.0)
    except AwsError as exc:  # refused, or not an answer: the evidence is missing, named
        return Generated({}, f"Access Analyzer's policy generation could not run ({exc})")
    if answer is None:
        return Generated({}, f"Access Analyzer's policy generation not done in {PATIENCE:.0f} s")
    status = answer["jobDetails"]["status"]
    if status != "SUCCEEDED":  # FAILED or CANCELED
        error = answer["jobDetails"].get("jobError") or {}
        why = error.get("message") or error.get("code") or status
        return Generated({}, f"Access Analyzer's policy generation {status} ({why})")
    seen = f"seen in {trail_arn.rsplit('/', 1)[-1]} by Access Analyzer ({window} days)"
    found: dict[str, str] = {}
    for policy in answer.get("generatedPolicyResult", {}).get("generatedPolicies", []):
        for statement in statements(json.loads(policy["policy"])):
            for action in listed(statement.get("Action", [])):
                found.setdefault(str(action).lower(), seen)
    return Generated(found)
