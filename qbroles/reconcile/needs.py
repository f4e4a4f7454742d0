"""What an ECS task definition needs of its roles, as (action, resource) requirements."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
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
    # Where in the task definition it comes from, as a JSON path ("containerDefinitions[0]").
    at: str | None = None

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
    from qbroles.reconcile.app_needs import task_role_needs

    found: dict[tuple[str, str, str, str], Requirement] = {}
    for need in (*_needs(task, here, kms_key_arn), *task_role_needs(task, here, exec_=exec_)):
        found.setdefault((need.kind, need.action, need.resource, need.within or ""), need)
    return tuple(found.values())


def _needs(
    task: TaskDefinition, here: SourceScope, kms_key_arn: str | None
) -> Iterator[Requirement]:
    """Yield what the execution role needs for each container.

    Follows "Amazon ECS task execution IAM role" (ECR pulls, awslogs, private registry
    authentication, secrets, environment files, FireLens configuration from S3):
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html
    """
    for index, container in enumerate(task.document["containerDefinitions"]):
        at = f"containerDefinitions[{index}]"
        for need in _container_needs(container, here, kms_key_arn):
            yield replace(need, at=at)


def _container_needs(
    container: Mapping[str, Any], here: SourceScope, kms_key_arn: str | None
) -> Iterator[Requirement]:
    """Yield what the execution role needs for one container."""
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
    yield from _credential_specs(container, name)
    firelens = (container.get("firelensConfiguration") or {}).get("options") or {}
    if firelens.get("config-file-type") == "s3":
        yield from _s3_object(
            str(firelens.get("config-file-value", "")),
            f"read the FireLens configuration of {name}",
        )


def _credential_specs(container: Mapping[str, Any], name: str) -> Iterator[Requirement]:
    """Yield what reading a gMSA credential spec needs: s3:GetObject on an S3 object, or
    ssm:GetParameters on a parameter; a local file needs nothing. Named in
    dockerSecurityOptions ("credentialspec:ARN", Windows) or credentialSpecs
    ("credentialspec:" or "credentialspecdomainless:" ARN): "Using gMSAs for Windows
    containers", https://docs.aws.amazon.com/AmazonECS/latest/developerguide/windows-gmsa.html,
    and for Linux https://docs.aws.amazon.com/AmazonECS/latest/developerguide/linux-gmsa.html.
    """
    why = f"read the gMSA credential spec of {name}"
    for option in [
        *(container.get("dockerSecurityOptions") or []),
        *(container.get("credentialSpecs") or []),
    ]:
        kind, _, arn = str(option).partition(":")
        if kind not in ("credentialspec", "credentialspecdomainless"):
            continue
        if arn.startswith("arn:") and ":s3:::" in arn:
            yield from _s3_object(arn, why, bucket=False)
        elif arn.startswith("arn:") and ":ssm:" in arn:
            yield Requirement(RoleKind.EXECUTION, "ssm:GetParameters", arn, why)


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


def _s3_object(arn: str, why: str, *, bucket: bool = True) -> Iterator[Requirement]:
    """Yield s3:GetObject on the object and (``bucket``) s3:GetBucketLocation on its bucket."""
    if not arn.startswith("arn:") or ":s3:::" not in arn:
        return
    head = arn.split(":::", 1)[0]
    yield Requirement(RoleKind.EXECUTION, "s3:GetObject", arn, why)
    if bucket:
        name = arn.split(":::", 1)[1].split("/", 1)[0]
        yield Requirement(RoleKind.EXECUTION, "s3:GetBucketLocation", f"{head}:::{name}", why)


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
