"""The reads of managed policies: whether one exists, and its default version's document."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qbroles.errors import AccessDenied
from qbroles.iam.errors import no_such_entity
from qbroles.policy.documents import decode_document

if TYPE_CHECKING:
    from qbroles.iam.gateway import Gateway


def policy_exists(gateway: Gateway, arn: str) -> bool | None:
    """Return whether a managed policy exists (GetPolicy); None if the caller may not ask.

    GetPolicy answers NoSuchEntity for a policy that does not exist, and AccessDenied
    without iam:GetPolicy (https://docs.aws.amazon.com/IAM/latest/APIReference/
    API_GetPolicy.html).
    """
    try:
        with gateway.translating("GetPolicy", arn, subject="policy"):
            try:
                gateway.client.get_policy(PolicyArn=arn)
            except Exception as exc:
                if not no_such_entity(exc):
                    raise
                return False
    except AccessDenied:
        return None  # without iam:GetPolicy the attach itself will tell
    return True


def managed_policy_document(gateway: Gateway, arn: str) -> dict[str, Any] | None:
    """Return the default version of a managed policy's document (two reads)."""
    with gateway.translating("GetPolicy", arn, subject="policy"):
        try:
            version = gateway.client.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            answer = gateway.client.get_policy_version(PolicyArn=arn, VersionId=version)
        except Exception as exc:
            if not no_such_entity(exc):
                raise
            return None
        return decode_document(answer["PolicyVersion"]["Document"])


def simulated(
    gateway: Gateway, role_arn: str, actions: list[str], resource: str
) -> dict[str, dict[str, Any]]:
    """Return IAM's policy simulator's answer for each action on one resource, for a role
    (SimulatePrincipalPolicy: its identity policies, boundary and the organization's SCPs;
    no resource policy, and conditions see no request context:
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html).
    """
    simulator = gateway.service("iam")
    answers: dict[str, dict[str, Any]] = {}
    with gateway.translating(
        "SimulatePrincipalPolicy", role_arn, subject="the policies of", client=simulator
    ):
        pages = simulator.get_paginator("simulate_principal_policy").paginate(
            PolicySourceArn=role_arn, ActionNames=actions, ResourceArns=[resource]
        )
        for page in pages:
            for result in page.get("EvaluationResults") or []:
                answers[str(result.get("EvalActionName"))] = dict(result)
    return answers
