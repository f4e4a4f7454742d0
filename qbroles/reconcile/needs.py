"""What an ECS task definition needs of its roles, as (action, resource) requirements."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from qbroles.catalog import ECR_IMAGE, RoleKind, has_secret_suffix
from qbroles.policy.documents import SourceScope
from qbroles.reconcile.taskdef import TaskDefinition

# In a requirement's resource, a character the file does not tell (a secret's suffix).
UNKNOWN = "?"


def partition_of(region: str) -> str:
    """Return the partition a region belongs to, as botocore knows it (aws if none)."""
    from qbroles.partitions import partition_of as known

    return known(region) or "aws"


@dataclass(frozen=True)
class Requirement:
    """One permission a role of a kind (RoleKind) needs.

    ``unknown`` says what the file does not give when the resource holds ``?`` for it
    (a secret given by name: IAM sees its full ARN, suffix and all); the role passes only
    if it allows every possible value there.
    """

    kind: RoleKind
    action: str
    resource: str
    why: str
    unknown: str | None = None
    # Who else may grant it (an EFS file system policy): then a missing grant is unknown.
    elsewhere: str | None = None
    # What within the resource (an image's tag or digest in its repository).
    within: str | None = None
    # False: the running task needs it (a FireLens output, ECS Exec); ECS starts it anyway.
    at_start: bool = True

    @property
    def probe(self) -> str:
        """Return the resource to evaluate: each unknown character one no policy names."""
        return self.resource.replace(UNKNOWN, "\x00") if self.unknown else self.resource


def requirements(
    task: TaskDefinition,
    here: SourceScope,
    *,
    kms_key_arn: str | None = None,
    exec_: bool = False,
) -> tuple[Requirement, ...]:
    """Return what the execution role needs to start the task's containers, and what the
    task definition shows its task role will need (``exec_``: with ECS Exec turned on)."""
    found: dict[tuple[str, str, str, str], Requirement] = {}
    for need in (*_needs(task, here, kms_key_arn), *_task_needs(task, here, exec_=exec_)):
        found.setdefault((need.kind, need.action, need.resource, need.within or ""), need)
    return tuple(found.values())


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

# What ECS Exec needs of the task role ("Monitor Amazon ECS containers with ECS Exec", IAM
# permissions required for ECS Exec:
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-exec.html).
EXEC_ACTIONS = (
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)


def _task_needs(task: TaskDefinition, here: SourceScope, *, exec_: bool) -> Iterator[Requirement]:
    """Yield what the task definition shows the task role will need at run time."""
    for container in task.document["containerDefinitions"]:
        name = container.get("name", "?")
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
                why = f"send the logs of {name} to {service} through FireLens"
                for action in actions:
                    yield Requirement(RoleKind.TASK, action, resource, why, at_start=False)
                if service == "logs" and str(options.get("auto_create_group")).lower() == "true":
                    group = f"{head}:log-group:{target}:*"
                    yield Requirement(
                        RoleKind.TASK, "logs:CreateLogGroup", group, why, at_start=False
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


def _needs(
    task: TaskDefinition, here: SourceScope, kms_key_arn: str | None
) -> Iterator[Requirement]:
    """Yield what the execution role needs for each container.

    Follows "Amazon ECS task execution IAM role" (ECR pulls, awslogs, private registry
    authentication, secrets, environment files, FireLens configuration from S3):
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html
    """
    for container in task.document["containerDefinitions"]:
        name = container.get("name", "?")
        image = ECR_IMAGE.match(str(container.get("image", "")))
        if image:
            rest = str(container["image"])[image.end() :]
            ref = rest[1:] if rest[:1] in (":", "@") else "latest"
            yield Requirement(
                RoleKind.EXECUTION, "ecr:GetAuthorizationToken", "*", f"log in to ECR for {name}"
            )
            region = image["region"]
            repository = (
                f"arn:{partition_of(region)}:ecr:{region}:{image['account']}:repository/"
                f"{image['repository']}"
            )
            for action in (
                "ecr:BatchCheckLayerAvailability",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchGetImage",
            ):
                yield Requirement(
                    RoleKind.EXECUTION, action, repository, f"pull the image of {name}", within=ref
                )
        credentials = (container.get("repositoryCredentials") or {}).get("credentialsParameter")
        # Another service's ARN there is no secret ECS could read (taskdef.cannot_start).
        if credentials and str(credentials).split(":")[2:3] in ([], ["secretsmanager"]):
            # Always a Secrets Manager secret: its full ARN or, in the task's region, its
            # name (API RepositoryCredentials: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RepositoryCredentials.html).
            yield from _secret(
                str(credentials),
                here,
                f"log in to the registry of {name}",
                kms_key_arn,
                names_are="secret",
            )
        logging = container.get("logConfiguration") or {}
        options = logging.get("options") or {}
        if logging.get("logDriver") == "awslogs":
            yield from _awslogs(options, here, name)
        for secret in [*(container.get("secrets") or []), *(logging.get("secretOptions") or [])]:
            yield from _secret(
                secret["valueFrom"],
                here,
                f"inject {secret['name']} into {name}",
                kms_key_arn,
                names_are="parameter",
            )
        for file in container.get("environmentFiles") or []:
            if isinstance(file, Mapping) and file.get("type") == "s3":
                yield from _s3_object(str(file.get("value", "")), f"read the environment of {name}")
        firelens = (container.get("firelensConfiguration") or {}).get("options") or {}
        if firelens.get("config-file-type") == "s3":
            yield from _s3_object(
                str(firelens.get("config-file-value", "")),
                f"read the FireLens configuration of {name}",
            )


def _awslogs(options: Mapping[str, Any], here: SourceScope, name: str) -> Iterator[Requirement]:
    """Yield the awslogs driver's needs, in the group's own region (awslogs-region)."""
    group = options.get("awslogs-group")
    if not group:
        return
    region = str(options.get("awslogs-region") or here.region)
    base = f"arn:{partition_of(region)}:logs:{region}:{here.account}:log-group:{group}"
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        yield Requirement(
            RoleKind.EXECUTION, action, f"{base}:log-stream:*", f"ship the logs of {name}"
        )
    if str(options.get("awslogs-create-group", "")).lower() == "true":
        yield Requirement(
            RoleKind.EXECUTION,
            "logs:CreateLogGroup",
            f"{base}:*",
            f"create the log group of {name}",
        )


def _s3_object(arn: str, why: str) -> Iterator[Requirement]:
    """Yield s3:GetObject on the object and s3:GetBucketLocation on its bucket."""
    if not arn.startswith("arn:") or ":s3:::" not in arn:
        return
    bucket = arn.split(":::", 1)[1].split("/", 1)[0]
    head = arn.split(":::", 1)[0]
    yield Requirement(RoleKind.EXECUTION, "s3:GetObject", arn, why)
    yield Requirement(RoleKind.EXECUTION, "s3:GetBucketLocation", f"{head}:::{bucket}", why)


def _secret(
    value: str, here: SourceScope, why: str, kms_key_arn: str | None, *, names_are: str
) -> Iterator[Requirement]:
    """Yield what reading one secret or parameter needs.

    ``names_are``: what a bare name is, "parameter" (secrets[]: an SSM parameter in the
    task's region) or "secret" (repositoryCredentials: a Secrets Manager secret). See
    "Required IAM permissions for Amazon ECS secrets":
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html
    """
    here_prefix = f"arn:{here.partition}:%s:{here.region}:{here.account}"
    if value.startswith("arn:"):
        parts = value.split(":")
        service = parts[2] if len(parts) > 2 else ""
        if service == "secretsmanager":
            # arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME, then :json-key:stage:id
            yield _secret_arn(":".join(parts[:7]), why)
        else:  # an SSM parameter ARN (a reference to a secret yields its need too)
            yield Requirement(RoleKind.EXECUTION, "ssm:GetParameters", value, why)
            yield from _referenced_secret(value, why)
    elif names_are == "secret":
        yield _secret_arn(f"{here_prefix % 'secretsmanager'}:secret:{value}", why)
    else:
        name = value if value.startswith("/") else f"/{value}"
        parameter = f"{here_prefix % 'ssm'}:parameter{name}"
        yield Requirement(RoleKind.EXECUTION, "ssm:GetParameters", parameter, why)
        yield from _referenced_secret(parameter, why)
    if kms_key_arn:
        yield Requirement(RoleKind.EXECUTION, "kms:Decrypt", kms_key_arn, f"decrypt for {why}")


def _secret_arn(arn: str, why: str) -> Requirement:
    """Return secretsmanager:GetSecretValue on a secret, completed when only named.

    IAM evaluates the secret's full ARN, whose name ends in a hyphen and six characters;
    a name or partial ARN leaves those unknown.
    """
    name = arn.split(":secret:", 1)[-1]
    if has_secret_suffix(name):
        return Requirement(RoleKind.EXECUTION, "secretsmanager:GetSecretValue", arn, why)
    return Requirement(
        RoleKind.EXECUTION,
        "secretsmanager:GetSecretValue",
        f"{arn}-{UNKNOWN * 6}",
        why,
        unknown=f"the six-character suffix of the secret's ARN (the file names it {name!r} only)",
    )


def _referenced_secret(parameter: str, why: str) -> Iterator[Requirement]:
    """Yield GetSecretValue for a Parameter Store reference to a Secrets Manager secret.

    /aws/reference/secretsmanager/NAME reads the secret through Parameter Store ("Referencing
    AWS Secrets Manager secrets from Parameter Store parameters":
    https://docs.aws.amazon.com/systems-manager/latest/userguide/integration-ps-secretsmanager.html).
    """
    head, sep, name = parameter.partition(":parameter/aws/reference/secretsmanager/")
    if sep and name:
        yield _secret_arn(f"{head.replace(':ssm:', ':secretsmanager:')}:secret:{name}", why)
