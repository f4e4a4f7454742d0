"""What a task definition shows its task role will need: FireLens outputs, EFS volumes with
IAM authorization, ECS Exec. FireLens and ECS Exec are needs of the running task (ECS
starts it without them); an EFS mount is a start condition."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from qbroles.catalog import RoleKind
from qbroles.policy.documents import SourceScope
from qbroles.reconcile.needs import Requirement, partition_of
from qbroles.reconcile.taskdef import TaskDefinition

# FireLens output plugins that write to AWS, and what the task role needs for each, on
# which destination (Fluent Bit's cloudwatch_logs, kinesis_firehose and kinesis_streams
# outputs; "Send Amazon ECS logs to an AWS service or AWS Partner":
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using_firelens.html).
_FIRELENS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "cloudwatch": ("log_group_name", "logs", ("logs:CreateLogStream", "logs:PutLogEvents")),
    "cloudwatch_logs": ("log_group_name", "logs", ("logs:CreateLogStream", "logs:PutLogEvents")),
    "firehose": ("delivery_stream", "firehose", ("firehose:PutRecordBatch",)),
    "kinesis_firehose": ("delivery_stream", "firehose", ("firehose:PutRecordBatch",)),
    "kinesis": ("stream", "kinesis", ("kinesis:PutRecords",)),
    "kinesis_streams": ("stream", "kinesis", ("kinesis:PutRecords",)),
}

_DESTINATIONS = {
    "logs": "CloudWatch Logs",
    "firehose": "Amazon Data Firehose",
    "kinesis": "Kinesis Data Streams",
}

# What ECS Exec needs of the task role ("Monitor Amazon ECS containers with ECS Exec", IAM
# permissions required for ECS Exec:
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-exec.html).
EXEC_ACTIONS = (
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)


def task_role_needs(
    task: TaskDefinition, here: SourceScope, *, exec_: bool
) -> Iterator[Requirement]:
    """Yield what the task definition shows the task role will need at run time."""
    for index, container in enumerate(task.document["containerDefinitions"]):
        name, at = container.get("name", "?"), f"containerDefinitions[{index}]"
        logging = container.get("logConfiguration") or {}
        options = logging.get("options") or {}
        plugin = _FIRELENS.get(str(options.get("Name", "")).lower())
        if logging.get("logDriver") == "awsfirelens" and plugin:
            key, service, actions = plugin
            target = options.get(key)
            region = str(options.get("region") or here.region)
            if target:
                head = f"arn:{partition_of(region)}:{service}:{region}:{here.account}"
                resource = {
                    "logs": f"{head}:log-group:{target}:log-stream:*",
                    "firehose": f"{head}:deliverystream/{target}",
                    "kinesis": f"{head}:stream/{target}",
                }[service]
                why = f"deliver the logs of {name} through FireLens to {_DESTINATIONS[service]}"
                for action in actions:
                    yield Requirement(RoleKind.TASK, action, resource, why, at_start=False, at=at)
                if service == "logs" and str(options.get("auto_create_group")).lower() == "true":
                    group = f"{head}:log-group:{target}:*"
                    yield Requirement(
                        RoleKind.TASK, "logs:CreateLogGroup", group, why, at_start=False, at=at
                    )
    yield from _efs_needs(task, here)
    if exec_:
        for action in EXEC_ACTIONS:
            yield Requirement(
                RoleKind.TASK, action, "*", "open an ECS Exec session", at_start=False
            )


def _efs_needs(task: TaskDefinition, here: SourceScope) -> Iterator[Requirement]:
    """Yield EFS mount and write for volumes with IAM authorization.

    elasticfilesystem:ClientMount, and ClientWrite unless every mount point is read-only;
    a file system policy may grant them instead ("Amazon EFS volumes", IAM authorization:
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/efs-volumes.html).
    """
    mounts = [
        point
        for container in task.document["containerDefinitions"]
        for point in container.get("mountPoints") or []
        if isinstance(point, Mapping)
    ]
    for volume in task.document.get("volumes") or []:
        if not isinstance(volume, Mapping):
            continue
        efs = volume.get("efsVolumeConfiguration") or {}
        if (efs.get("authorizationConfig") or {}).get("iam") != "ENABLED" or not efs.get(
            "fileSystemId"
        ):
            continue
        arn = (
            f"arn:{here.partition}:elasticfilesystem:{here.region}:{here.account}:"
            f"file-system/{efs['fileSystemId']}"
        )
        mine = [point for point in mounts if point.get("sourceVolume") == volume.get("name")]
        why = f"mount the EFS volume {volume.get('name')}"
        policy = "the file system's policy"
        yield Requirement(
            RoleKind.TASK, "elasticfilesystem:ClientMount", arn, why, elsewhere=policy
        )
        if not mine or not all(point.get("readOnly") is True for point in mine):
            yield Requirement(
                RoleKind.TASK,
                "elasticfilesystem:ClientWrite",
                arn,
                f"write to {why[6:]}",
                elsewhere=policy,
            )
