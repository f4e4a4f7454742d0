"""The ECS reads: a task definition by name, or every active one of the region."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from qbroles.policy.documents import NotIamAnswer

if TYPE_CHECKING:
    from qbroles.iam.gateway import Gateway


def task_definition(
    gateway: Gateway, reference: str, region: str | None = None
) -> dict[str, Any] | None:
    """Return a task definition from ECS (family, family:revision or ARN), or None; read
    in ``region`` (the run's unless given)."""
    from botocore.exceptions import ClientError

    ecs = gateway.service("ecs", region)
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


def enabled_regions(gateway: Gateway) -> list[str]:
    """Return the regions the account has enabled, in the run's partition.

    IAM roles serve every region. EC2's DescribeRegions without AllRegions "describes the
    Regions that are enabled for your account"
    (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeRegions.html).
    """
    ec2 = gateway.service("ec2")
    with gateway.translating(
        "DescribeRegions", "of the account", subject="regions", service="ec2", client=ec2
    ):
        answer = ec2.describe_regions()
    return sorted(str(region["RegionName"]) for region in answer.get("Regions") or [])


def live_task_definitions(gateway: Gateway, regions: Sequence[str]) -> list[dict[str, Any]]:
    """Return every ACTIVE task definition of the regions (each region listed, then every
    one read; the listings go out together, then the reads)."""

    def listed(region: str) -> list[tuple[str, str]]:
        ecs = gateway.service("ecs", region)
        with gateway.translating(
            "ListTaskDefinitions",
            f"of {region}",
            subject="task definitions",
            service="ecs",
            client=ecs,
        ):
            pages = ecs.get_paginator("list_task_definitions").paginate(status="ACTIVE")
            return [(region, arn) for page in pages for arn in page.get("taskDefinitionArns") or []]

    arns = [
        pair for pairs in gateway.together([partial(listed, r) for r in regions]) for pair in pairs
    ]
    found = gateway.together(
        [partial(task_definition, gateway, arn, region) for region, arn in arns]
    )
    return [document for document in found if document is not None]


def exec_task_definitions(gateway: Gateway, regions: Sequence[str]) -> set[str]:
    """Return the task definition ARNs of the services, in the regions, that run with ECS
    Exec turned on (DescribeServices' enableExecuteCommand: ECS Exec is switched on per
    service or task, not in the task definition:
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-exec.html)."""

    def of(region: str) -> set[str]:
        ecs = gateway.service("ecs", region)
        found: set[str] = set()
        with gateway.translating(
            "DescribeServices", f"of {region}", subject="services", service="ecs", client=ecs
        ):
            for page in ecs.get_paginator("list_clusters").paginate():
                for cluster in page.get("clusterArns") or []:
                    for listed in ecs.get_paginator("list_services").paginate(cluster=cluster):
                        arns = list(listed.get("serviceArns") or [])
                        for start in range(0, len(arns), 10):  # at most 10 a call
                            answer = ecs.describe_services(
                                cluster=cluster, services=arns[start : start + 10]
                            )
                            found |= {
                                str(service.get("taskDefinition"))
                                for service in answer.get("services") or []
                                if service.get("enableExecuteCommand")
                            }
        return found

    return set().union(*gateway.together([partial(of, region) for region in regions]))
