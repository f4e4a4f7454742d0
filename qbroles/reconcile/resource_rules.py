"""The rules of the resource side, one resource kind at a time: what a read found, as
needs of the execution role, the resource policies that have a say in them, and checks.

Each rule cites the AWS page it follows; docs/task-definitions.md lists them all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from qbroles.catalog import RoleKind
from qbroles.iam import resources as read
from qbroles.model.checks import Check, CheckKind, Severity
from qbroles.partitions import arn_field
from qbroles.policy.documents import SourceScope
from qbroles.policy.sides import Side
from qbroles.reconcile.needs import UNKNOWN, Requirement

# AWS managed keys have aliases under alias/aws/ (aws/secretsmanager, aws/ssm, aws/s3):
# "AWS managed keys", https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#aws-managed-key
_AWS_MANAGED_ALIAS = "alias/aws/"


def _check(name: str, ok: bool, actual: Any, message: str, unknown: bool = False) -> Check:
    severity = Severity.UNKNOWN if unknown else Severity.ERROR
    return Check(f"resource {name}", ok, "exists", actual, message, severity, kind=CheckKind.TASK)


def account_of(arn: str, here: SourceScope) -> str:
    return arn_field(arn, "account") or here.account


def region_of(arn: str, here: SourceScope) -> str:
    return arn_field(arn, "region") or here.region


def secret_id(need: Requirement) -> str:
    """Return what DescribeSecret takes for a secret need: the ARN, partial if only named."""
    return need.resource.removesuffix("-" + UNKNOWN * 6) if need.unknown else need.resource


def key_of(what: str, found: read.Seen) -> str | None:
    """Return the customer key a read resource is encrypted under, if one may be."""
    answer = found.answer or {}
    key_id = answer.get("KmsKeyId") or answer.get("KeyId") or answer.get("SSEKMSKeyId")
    if not key_id or str(key_id).startswith(_AWS_MANAGED_ALIAS):
        return None
    if (
        what.startswith("arn:")
        and ":s3:::" in what
        and answer.get("ServerSideEncryption") != "aws:kms"
    ):
        return None
    return str(key_id)


Judged = Check | Requirement | tuple[Requirement, Side]


def judge(
    need: Requirement,
    seen: Mapping[str, read.Seen],
    keys: Mapping[str, read.Seen],
    here: SourceScope,
) -> Iterator[Judged]:
    """Yield, for one need of the execution role: the need (completed), the resource-side
    policy that has a say in it, the customer key's need, and what was found."""
    if need.action == "secretsmanager:GetSecretValue" and secret_id(need) in seen:
        yield from _secret(need, seen[secret_id(need)], keys, here)
    elif need.action == "ssm:GetParameters" and need.resource in seen:
        yield need
        found = seen[need.resource]
        name = need.resource.split(":parameter", 1)[1]
        if found.missing:
            yield _check(
                f"parameter {name}",
                False,
                "missing",
                f"ECS cannot start it: the parameter {need.resource} does not exist "
                "(DescribeParameters); create it, or fix valueFrom",
            )
        elif found.unknown:
            yield _unreadable(
                f"parameter {name}", need.resource, found.unknown, "ssm:DescribeParameters"
            )
        else:
            yield from _key_need(need, found, keys, f"the parameter {name}", here)
    elif need.action == "logs:CreateLogStream":
        yield need
        group = need.resource.split(":log-group:", 1)[1].removesuffix(":log-stream:*")
        listed = seen.get(f"log-group {region_of(need.resource, here)} {group}")
        if listed is not None and listed.missing:
            yield _check(
                f"log group {group}",
                False,
                "missing",
                f"ECS cannot start it: the log group {group} does not exist in "
                f"{region_of(need.resource, here)} and awslogs-create-group is not true, so ECS "
                "does not create it; create the group, or set awslogs-create-group to true",
            )
        elif listed is not None and listed.unknown:
            yield _unreadable(f"log group {group}", group, listed.unknown, "logs:DescribeLogGroups")
    elif need.action == "ecr:BatchGetImage" and need.within:
        yield need
        yield from _image(need, seen, here)
    elif need.action == "s3:GetObject" and need.resource in seen:
        yield need
        found = seen[need.resource]
        if found.missing:
            yield _check(
                f"object {need.resource}",
                False,
                "missing",
                f"ECS cannot start it: the S3 object {need.resource} does not exist (HeadObject)",
            )
        elif found.unknown:
            yield _unreadable(
                f"object {need.resource}", need.resource, found.unknown, "s3:GetObject"
            )
        else:
            yield from _bucket_side(need, seen)
            yield from _key_need(need, found, keys, f"the object {need.resource}", here)
    else:
        yield need


def _bucket_side(need: Requirement, seen: Mapping[str, read.Seen]) -> Iterator[Judged]:
    """Yield the bucket policy's say in reading an object of another account's bucket: it
    must allow the role, as any cross-account request needs ("Policy evaluation logic",
    cross-account: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html)."""
    head, _, path = need.resource.partition(":::")
    bucket = path.split("/", 1)[0]
    owned = seen.get(f"bucket {bucket}", read.Seen(unknown="it was not read"))
    if (owned.answer or {}).get("Own") is True:
        return
    if owned.answer is None:
        unknown: str | None = (
            f"whether the bucket {bucket} is the account's own is not known ({owned.unknown}); "
            "it needs s3:ListAllMyBuckets"
        )
        policy: read.Seen = read.Seen()
    else:
        policy = seen.get(f"bucket-policy {bucket}", read.Seen(unknown="it was not read"))
        unknown = (
            f"{policy.unknown}; it needs s3:GetBucketPolicy, or the bucket's owner confirms "
            "the role may read it"
            if policy.unknown
            else None
        )
    document = (policy.answer or {}).get("Policy")
    side = Side(f"the bucket policy of {bucket}", "another account", document, unknown)
    yield need, side
    yield replace(need, action="s3:GetBucketLocation", resource=f"{head}:::{bucket}"), side


def _unreadable(name: str, what: str, why: str, action: str) -> Check:
    return _check(
        name,
        False,
        "not known",
        f"qbroles could not read {what}: {why}; it needs {action}, or the owner of {what} "
        "confirms it exists and the role may read it",
        unknown=True,
    )


def _secret(
    need: Requirement, found: read.Seen, keys: Mapping[str, read.Seen], here: SourceScope
) -> Iterator[Judged]:
    """Judge a secret: it exists, its resource policy, and its key (a secret of another
    account must be under a customer managed key and allow the role in its policy:
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_examples_cross.html)."""
    name = need.resource.split(":secret:", 1)[-1]
    if found.missing:
        yield need
        yield _check(
            f"secret {name}",
            False,
            "missing",
            f"ECS cannot start it: the secret {secret_id(need)} does not exist (DescribeSecret); "
            "create it, or fix the ARN in the task definition",
        )
        return
    if found.unknown or found.answer is None:
        yield need
        yield _unreadable(
            f"secret {name}", secret_id(need), str(found.unknown), "secretsmanager:DescribeSecret"
        )
        return
    arn = str(found.answer.get("ARN") or need.resource)
    need = replace(need, resource=arn, unknown=None)  # its full ARN, as IAM sees it
    yield need
    owner = account_of(arn, here)
    unknown = found.answer.get("ResourcePolicyUnknown")
    yield (
        need,
        Side(
            f"the resource policy of secret {arn}",
            owner,
            found.answer.get("ResourcePolicy"),
            f"{unknown}; it needs secretsmanager:GetResourcePolicy" if unknown else None,
        ),
    )
    if not found.answer.get("KmsKeyId") and owner != here.account:
        yield _check(
            f"secret {name}",
            False,
            "under aws/secretsmanager",
            f"ECS cannot start it: the secret {arn} of account {owner} is encrypted under the "
            "AWS managed key aws/secretsmanager, which no other account may use; encrypt it "
            "under a customer managed key whose policy allows the role",
        )
    yield from _key_need(need, found, keys, f"the secret {arn}", here)


def _key_need(
    need: Requirement,
    found: read.Seen,
    keys: Mapping[str, read.Seen],
    what: str,
    here: SourceScope,
) -> Iterator[Judged]:
    """Yield kms:Decrypt on the customer managed key the resource is under, with its key
    policy, which must allow it ("Key policies in AWS KMS":
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html)."""
    key_id = key_of(need.resource, found)
    if key_id is None:
        return
    key = keys.get(key_id, read.Seen(unknown="it was not read"))
    metadata = key.answer or {}
    if metadata.get("KeyManager") == "AWS":
        return  # an AWS managed key: the service uses it for the account's principals
    arn = str(metadata.get("Arn") or key_id)
    decrypt = Requirement(RoleKind.EXECUTION, "kms:Decrypt", arn, f"decrypt {what} ({need.why})")
    yield decrypt
    owner = account_of(arn, here)
    if key.answer is None:
        why = key.unknown or "the key does not exist"
        unknown = f"qbroles could not read the key {arn}: {why}; it needs kms:DescribeKey"
    elif "KeyPolicy" not in metadata:
        unknown = (
            f"qbroles could not read the key policy of {arn}: "
            + (
                "a key policy is readable only in the key's own account"
                if owner != here.account
                else str(metadata.get("KeyPolicyUnknown"))
            )
            + "; it needs kms:GetKeyPolicy, or the key's owner confirms the role may use it"
        )
    else:
        unknown = None
    yield (
        decrypt,
        Side(f"the key policy of {arn}", owner, metadata.get("KeyPolicy"), unknown, required=True),
    )


def _image(need: Requirement, seen: Mapping[str, read.Seen], here: SourceScope) -> Iterator[Judged]:
    """Judge an ECR image: the repository and the tag or digest exist; a repository of
    another account must allow the role in its policy ("Private repository policies":
    https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-policies.html); a
    repository a pull-through cache rule makes on the first pull needs the role to import
    and create it ("Pull through cache", IAM permissions:
    https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-iam.html)."""
    found = seen[f"image {need.resource} {need.within}"]
    repository = need.resource.split(":repository/", 1)[1]
    owner = account_of(need.resource, here)
    if owner != here.account:
        policy = seen[f"repository-policy {need.resource}"]
        for action in (
            "ecr:BatchGetImage",
            "ecr:GetDownloadUrlForLayer",
            "ecr:BatchCheckLayerAvailability",
        ):
            yield (
                replace(need, action=action, within=None),
                Side(
                    f"the repository policy of {need.resource}",
                    owner,
                    (policy.answer or {}).get("Policy"),
                    f"{policy.unknown}; it needs ecr:GetRepositoryPolicy, or the repository's "
                    "owner confirms the role may pull from it"
                    if policy.unknown
                    else None,
                ),
            )
    if found.unknown:
        yield _unreadable(
            f"image {repository}:{need.within}", need.resource, found.unknown, "ecr:DescribeImages"
        )
        return
    if not found.missing:
        return
    if (found.answer or {}).get("Repository") is False:
        rules = seen.get(f"pull-through {region_of(need.resource, here)}")
        prefixes = (rules.answer or {}).get("Prefixes") if rules else None
        if prefixes and any(repository.startswith(f"{prefix}/") for prefix in prefixes):
            why = f"create {repository} from its upstream registry on the first pull"
            for action in ("ecr:BatchImportUpstreamImage", "ecr:CreateRepository"):
                yield Requirement(RoleKind.EXECUTION, action, need.resource, why)
            return
        if rules is not None and rules.unknown:
            yield _unreadable(
                f"repository {repository}",
                need.resource,
                "it does not exist, and whether a pull-through cache rule makes it is not "
                f"known ({rules.unknown})",
                "ecr:DescribePullThroughCacheRules",
            )
            return
        message = f"the repository {need.resource} does not exist"
    else:
        message = f"the image {repository}:{need.within} is not in {need.resource}"
    yield _check(
        f"image {repository}:{need.within}",
        False,
        "missing",
        f"ECS cannot start it: {message} (DescribeImages); push the image, or fix the image "
        "in the task definition",
    )
