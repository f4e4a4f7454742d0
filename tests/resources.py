"""Make, on moto, the resources task definitions name: images, secrets, parameters, keys,
log groups and S3 objects (the resource side of verify --task-definition)."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

import boto3

REGION = "us-east-1"
ACCOUNT = "123456789012"


def client(service: str, region: str = REGION) -> Any:
    return boto3.client(service, region_name=region)


def push_image(repository: str, tag: str, region: str = REGION) -> None:
    """Put an image (a minimal manifest) with that tag in the repository, made if needed."""
    ecr = client("ecr", region)
    with contextlib.suppress(ecr.exceptions.RepositoryAlreadyExistsException):
        ecr.create_repository(repositoryName=repository)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "digest": "sha256:" + "a" * 64,
            "size": 1,
            "mediaType": "application/vnd.docker.container.image.v1+json",
        },
        "layers": [],
    }
    ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)


def customer_key(policy: dict[str, Any] | None = None, region: str = REGION) -> str:
    """Return the ARN of a new customer managed key (the default key policy unless given)."""
    kms = client("kms", region)
    made = kms.create_key(**({"Policy": json.dumps(policy)} if policy else {}))
    return str(made["KeyMetadata"]["Arn"])


def secret(
    name: str,
    *,
    key: str | None = None,
    policy: dict[str, Any] | None = None,
    region: str = REGION,
) -> str:
    """Return the full ARN of a new secret (under ``key`` if given, else aws/secretsmanager)."""
    manager = client("secretsmanager", region)
    arn = str(
        manager.create_secret(
            Name=name, SecretString="s3cr3t", **({"KmsKeyId": key} if key else {})
        )["ARN"]
    )
    if policy is not None:
        manager.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps(policy))
    return arn


def parameter(name: str, *, secure: bool = False, key: str | None = None) -> None:
    kind = {"Type": "SecureString", **({"KeyId": key} if key else {})} if secure else {}
    client("ssm").put_parameter(Name=name, Value="v", **({"Type": "String"} | kind))


def log_group(name: str, region: str = REGION) -> None:
    client("logs", region).create_log_group(logGroupName=name)


def s3_object(bucket: str, name: str, *, key: str | None = None) -> None:
    s3 = client("s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)
    encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key} if key else {}
    s3.put_object(Bucket=bucket, Key=name, Body=b"A=1\n", **encryption)


def statement(principal: str, actions: list[str], effect: str = "Allow") -> dict[str, Any]:
    """Return a resource policy statement giving ``principal`` (an ARN or "*") ``actions``."""
    return {
        "Effect": effect,
        "Principal": "*" if principal == "*" else {"AWS": principal},
        "Action": actions,
        "Resource": "*",
    }


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def materialize(task: dict[str, Any]) -> dict[str, Any]:
    """Make on moto what a task definition of moto's account names, and return it with
    each secret's ARN set to the one moto gave it (moto picks the six-character suffix).

    The resources it makes: the ECR images, the log groups awslogs does not create, the
    secrets and parameters, and the S3 objects of environment files.
    """
    import copy

    task = copy.deepcopy(task)
    inner = task.get("taskDefinition", task)
    for container in inner["containerDefinitions"]:
        image = re.match(
            rf"{ACCOUNT}\.dkr\.ecr\.{REGION}\.amazonaws\.com/([^:@]+):?(.*)",
            str(container.get("image", "")),
        )
        if image:
            push_image(image[1], image[2] or "latest")
        options = (container.get("logConfiguration") or {}).get("options") or {}
        if options.get("awslogs-group") and options.get("awslogs-create-group") != "true":
            with contextlib.suppress(client("logs").exceptions.ResourceAlreadyExistsException):
                log_group(options["awslogs-group"])
        for item in container.get("secrets") or []:
            item["valueFrom"] = _made(item["valueFrom"])
        credentials = container.get("repositoryCredentials")
        if credentials:
            credentials["credentialsParameter"] = _made(credentials["credentialsParameter"])
        for file in container.get("environmentFiles") or []:
            bucket, _, name = file["value"].split(":::", 1)[1].partition("/")
            s3_object(bucket, name)
    return task


def _made(value: str) -> str:
    """Make the secret or parameter a valueFrom names; return valueFrom for what was made."""
    if ":secretsmanager:" in value:
        name = value.split(":secret:", 1)[1]
        base, _, rest = name.partition(":")
        if re.fullmatch(r".+-[A-Za-z0-9]{6}", base):
            base = base[:-7]
        try:
            arn = secret(base)
        except client("secretsmanager").exceptions.ResourceExistsException:
            arn = client("secretsmanager").describe_secret(SecretId=base)["ARN"]
        return arn + (f":{rest}" if rest else "")
    if value.startswith("arn:") or value.startswith("/") or "/" not in value:
        name = value.split(":parameter", 1)[1] if value.startswith("arn:") else value
        with contextlib.suppress(client("ssm").exceptions.ParameterAlreadyExists):
            parameter(name)
    return value
