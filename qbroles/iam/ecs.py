"""The ECS reads: a task definition by name, or every active one of the region."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from qbroles.policy.documents import NotIamAnswer

if TYPE_CHECKING:
    from qbroles.iam.gateway import Gateway


def task_definition(gateway: Gateway, reference: str) -> dict[str, Any] | None:
    """Return a task definition from ECS (family, family:revision or ARN), or None."""
    from botocore.exceptions import ClientError

    ecs = gateway.service("ecs")
    with gateway.translating(
        "DescribeTaskDefinition", reference, subject="task definition", service="ecs", client=ecs
    ):
        try:
            answer = ecs.describe_task_definition(taskDefinition=reference)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("ClientException",):
                return None
            raise
        found = answer.get("taskDefinition")
        if not isinstance(found, Mapping):
            raise NotIamAnswer("no taskDefinition in the answer to DescribeTaskDefinition")
        return dict(found)


def live_task_definitions(gateway: Gateway) -> list[dict[str, Any]]:
    """Return every ACTIVE task definition of the region (listed, then read, overlapped)."""
    ecs = gateway.service("ecs")
    arns: list[str] = []
    with gateway.translating(
        "ListTaskDefinitions",
        "of the region",
        subject="task definitions",
        service="ecs",
        client=ecs,
    ):
        for page in ecs.get_paginator("list_task_definitions").paginate(status="ACTIVE"):
            arns.extend(page.get("taskDefinitionArns") or [])
    found = gateway.together([partial(task_definition, gateway, arn) for arn in arns])
    return [document for document in found if document is not None]
