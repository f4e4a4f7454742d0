"""The reads of what a task definition names: secrets, parameters, keys, images, log groups
and objects, each as the caller may see it.

A read finds the resource, finds it missing, or cannot tell (the caller was denied, the
resource lies where it cannot be read from here): an unknown, said with the read that
would settle it, never a failure of the run. Other errors (an endpoint that does not
answer, expired credentials) stop the run as every other read does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qbroles.errors import AccessDenied, AwsError
from qbroles.partitions import arn_field

if TYPE_CHECKING:
    from qbroles.iam.gateway import Gateway

# The error codes that mean "there is no such thing" (each service's own).
_MISSING = {
    "ResourceNotFoundException",  # Secrets Manager, CloudWatch Logs
    "ParameterNotFound",
    "RepositoryNotFoundException",
    "ImageNotFoundException",
    "RepositoryPolicyNotFoundException",
    "NotFoundException",  # KMS
    "NoSuchKey",
    "NoSuchBucket",
    "NoSuchBucketPolicy",
    "NotFound",
    "404",  # S3's HeadObject has no body, only the status
}
# S3's HeadObject says "denied" only by its status.
_FORBIDDEN = {"403", "Forbidden"}


@dataclass(frozen=True)
class Seen:
    """What one read found: its answer, that there is none, or why it cannot tell."""

    answer: Mapping[str, Any] | None = None
    missing: bool = False
    unknown: str | None = None


def read(
    gateway: Gateway,
    service: str,
    region: str,
    operation: str,
    subject: str,
    call: Callable[[Any], Mapping[str, Any]],
) -> Seen:
    """Return what ``call`` (given the service's client in the region) found."""
    from botocore.exceptions import ClientError

    client = gateway.service(service, region)
    denied = f"the caller may not {service}:{operation} on {subject}"
    try:
        with gateway.translating(operation, subject, subject="", service=service, client=client):
            try:
                return Seen(answer=call(client))
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if code in _MISSING:
                    return Seen(missing=True)
                if code in _FORBIDDEN:
                    return Seen(unknown=denied)
                raise
    except AccessDenied:
        return Seen(unknown=denied)


def secret(gateway: Gateway, arn: str) -> Seen:
    """Return DescribeSecret's answer for a secret's ARN (complete or partial), with its
    resource policy under "ResourcePolicy" (a document, or None if it has none)."""
    region = arn_field(arn, "region") or gateway.region or ""
    seen = read(
        gateway,
        "secretsmanager",
        region,
        "DescribeSecret",
        arn,
        lambda client: client.describe_secret(SecretId=arn),
    )
    if seen.answer is None:
        return seen
    policy = read(
        gateway,
        "secretsmanager",
        region,
        "GetResourcePolicy",
        arn,
        lambda client: client.get_resource_policy(SecretId=arn),
    )
    if policy.unknown:
        return Seen({**seen.answer, "ResourcePolicyUnknown": policy.unknown})
    text = (policy.answer or {}).get("ResourcePolicy")
    return Seen({**seen.answer, "ResourcePolicy": json.loads(text) if text else None})


def parameter(gateway: Gateway, region: str, name: str) -> Seen:
    """Return a parameter's metadata (DescribeParameters, nothing decrypted) by its name;
    a name in an ARN may have been written with or without its leading slash."""
    names = sorted({name, name.lstrip("/")})
    seen = read(
        gateway,
        "ssm",
        region,
        "DescribeParameters",
        f"parameter {name}",
        lambda client: client.describe_parameters(
            ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": names}]
        ),
    )
    if seen.answer is None:
        return seen
    found = seen.answer.get("Parameters") or []
    return Seen(answer=found[0]) if found else Seen(missing=True)


def key(gateway: Gateway, region: str, key_id: str, *, policy: bool) -> Seen:
    """Return DescribeKey's KeyMetadata, and with ``policy`` the key policy under
    "KeyPolicy" (GetKeyPolicy works only in the key's own account)."""
    seen = read(
        gateway, "kms", region, "DescribeKey", key_id, lambda c: c.describe_key(KeyId=key_id)
    )
    if seen.answer is None:
        return seen
    metadata = dict(seen.answer.get("KeyMetadata") or {})
    if not policy:
        return Seen(metadata)
    got = read(
        gateway,
        "kms",
        region,
        "GetKeyPolicy",
        key_id,
        lambda c: c.get_key_policy(KeyId=metadata.get("Arn", key_id), PolicyName="default"),
    )
    if got.answer is None:
        return Seen({**metadata, "KeyPolicyUnknown": got.unknown or "no key policy"})
    return Seen({**metadata, "KeyPolicy": json.loads(str(got.answer.get("Policy") or "{}"))})


def log_group(gateway: Gateway, region: str, name: str) -> Seen:
    """Return the log group of that exact name (DescribeLogGroups by prefix), or missing."""
    seen = read(
        gateway,
        "logs",
        region,
        "DescribeLogGroups",
        f"log group {name}",
        lambda c: c.describe_log_groups(logGroupNamePrefix=name, limit=50),
    )
    if seen.answer is None:
        return seen
    groups = [g for g in seen.answer.get("logGroups") or [] if g.get("logGroupName") == name]
    return Seen(answer=groups[0]) if groups else Seen(missing=True)


def image(gateway: Gateway, region: str, registry: str, repository: str, ref: str) -> Seen:
    """Return the image's details (DescribeImages by tag or digest); "Repository": False
    in a missing answer's place when the repository itself is missing."""
    wanted = {"imageDigest": ref} if ref.startswith("sha256:") else {"imageTag": ref}
    subject = f"image {repository}:{ref} of registry {registry}"

    def call(client: Any) -> Mapping[str, Any]:
        from botocore.exceptions import ClientError

        try:
            return dict(
                client.describe_images(
                    registryId=registry, repositoryName=repository, imageIds=[wanted]
                )
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "RepositoryNotFoundException":
                return {"Repository": False}
            raise

    seen = read(gateway, "ecr", region, "DescribeImages", subject, call)
    if seen.answer is not None and seen.answer.get("Repository") is False:
        return Seen(answer={"Repository": False}, missing=True)
    return seen


def repository_policy(gateway: Gateway, region: str, registry: str, repository: str) -> Seen:
    """Return the repository's policy under "Policy" (None: it has none)."""
    seen = read(
        gateway,
        "ecr",
        region,
        "GetRepositoryPolicy",
        f"repository {repository} of registry {registry}",
        lambda c: c.get_repository_policy(registryId=registry, repositoryName=repository),
    )
    return _policy(seen, "policyText")


def pull_through_prefixes(gateway: Gateway, region: str) -> Seen:
    """Return the registry's pull-through cache rules ("Prefixes"), or why not known."""
    try:
        seen = read(
            gateway,
            "ecr",
            region,
            "DescribePullThroughCacheRules",
            "the registry",
            lambda c: c.describe_pull_through_cache_rules(),
        )
    except (AwsError, NotImplementedError) as exc:  # an emulator without it: not known
        return Seen(unknown=f"DescribePullThroughCacheRules failed ({str(exc).rstrip('.')})")
    if seen.answer is None:
        return seen
    rules = seen.answer.get("pullThroughCacheRules") or []
    return Seen({"Prefixes": [str(rule.get("ecrRepositoryPrefix")) for rule in rules]})


def s3_object(gateway: Gateway, region: str, bucket: str, name: str) -> Seen:
    """Return HeadObject's answer (its encryption: ServerSideEncryption, SSEKMSKeyId)."""
    return read(
        gateway,
        "s3",
        region,
        "HeadObject",
        f"s3://{bucket}/{name}",
        lambda c: c.head_object(Bucket=bucket, Key=name),
    )


def own_bucket(gateway: Gateway, region: str, bucket: str) -> Seen:
    """Return whether the bucket is one of the caller's account ("Own"), from ListBuckets
    (it lists the account's own buckets only; Prefix narrows it to this one)."""
    seen = read(
        gateway,
        "s3",
        region,
        "ListBuckets",
        f"bucket {bucket}",
        lambda c: c.list_buckets(Prefix=bucket),
    )
    if seen.answer is None:
        return seen
    names = {str(b.get("Name")) for b in seen.answer.get("Buckets") or []}
    return Seen({"Own": bucket in names})


def bucket_policy(gateway: Gateway, region: str, bucket: str) -> Seen:
    """Return the bucket's policy under "Policy" (None: it has none)."""
    seen = read(
        gateway,
        "s3",
        region,
        "GetBucketPolicy",
        f"bucket {bucket}",
        lambda c: c.get_bucket_policy(Bucket=bucket),
    )
    return _policy(seen, "Policy")


def _policy(seen: Seen, key: str) -> Seen:
    """Return a resource policy read under "Policy": the document at ``key`` of the answer,
    None if the resource has none (the read answered "missing"), or why it is not known."""
    if seen.missing:
        return Seen({"Policy": None})
    if seen.answer is None:
        return seen
    return Seen({"Policy": json.loads(str(seen.answer.get(key) or "{}"))})
