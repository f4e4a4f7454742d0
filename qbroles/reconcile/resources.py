"""The resource side of starting a task: what the secrets, parameters, keys, images, log
groups and objects a task definition names say, read once and judged with the roles.

Three answers per resource: it is there (and its own policy, or its key's, is taken into
the decision), it is missing (ECS cannot start the task), or qbroles could not read it
(unknown, with what would settle it). The rules, with the pages behind them, are listed in
docs/task-definitions.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial

from qbroles.catalog import RoleKind
from qbroles.iam import resources as read
from qbroles.iam.gateway import Gateway
from qbroles.model.checks import Check
from qbroles.policy.documents import TASK_SCOPED, SourceScope
from qbroles.policy.sides import Side
from qbroles.reconcile.needs import Requirement, requirements
from qbroles.reconcile.resource_rules import account_of, judge, key_of, region_of, secret_id
from qbroles.reconcile.taskdef import TaskDefinition

_REFERENCE = ":parameter/aws/reference/secretsmanager/"


@dataclass(frozen=True)
class Survey:
    """What the resources of one task definition said."""

    needs: tuple[Requirement, ...]  # names completed, the customer keys found added
    sides: Mapping[tuple[str, str], Side]  # (action, resource) -> the policy that has a say
    checks: tuple[Check, ...]  # on the execution role: missing, unreadable, unusable


def survey_of(
    gateway: Gateway,
    task: TaskDefinition,
    kms_key_arn: str | None,
    *,
    exec_: bool = False,
    resources: bool = True,
) -> Survey:
    """Return what the task definition needs of the roles, with (``resources``) what the
    resources it names said: read once, whichever roles are then checked."""
    here = task_scope(gateway, task)
    needs = requirements(task, here, kms_key_arn=kms_key_arn, exec_=exec_)
    return survey(gateway, needs, here) if resources else Survey(needs, {}, ())


def task_scope(gateway: Gateway, task: TaskDefinition) -> SourceScope:
    """Return the account and partition of the caller, in the task definition's region:
    what it names by name or bare ARN lives there."""
    here = gateway.source_scope(TASK_SCOPED)
    return replace(here, region=task.region) if task.region else here


def survey(gateway: Gateway, needs: Sequence[Requirement], here: SourceScope) -> Survey:
    """Read what the execution role's needs name (reads of one round go out together) and
    return the needs completed, the resource-side policies and what was found."""
    mine = [need for need in needs if need.kind is RoleKind.EXECUTION and need.at_start]
    reads: dict[str, Callable[[], read.Seen]] = {}
    for need in mine:
        for key, call in _reads(gateway, need, mine, here):
            reads.setdefault(key, call)
    seen = dict(zip(reads, gateway.together(list(reads.values())), strict=True))
    keys: dict[str, str] = {}  # the key id a resource is encrypted under -> its region
    for key, found in seen.items():
        kms = key_of(key, found)
        if kms:  # a bare key id is one of the resource's region
            keys.setdefault(kms, region_of(kms if kms.startswith("arn:") else key, here))
    # The second round: the keys found, and the pull-through cache rules of a registry
    # where a repository is missing (it may be made on the first pull).
    more: dict[str, Callable[[], read.Seen]] = {
        key_id: partial(
            read.key, gateway, region, key_id, policy=account_of(key_id, here) == here.account
        )
        for key_id, region in keys.items()
    }
    for key, found in seen.items():
        if key.startswith("image ") and (found.answer or {}).get("Repository") is False:
            region = region_of(key.split()[1], here)
            if account_of(key.split()[1], here) == here.account:
                more[f"pull-through {region}"] = partial(
                    read.pull_through_prefixes, gateway, region
                )
        if key.startswith("bucket ") and (found.answer or {}).get("Own") is False:
            bucket = key.split()[1]  # another account's: its policy has a say
            more[f"bucket-policy {bucket}"] = partial(
                read.bucket_policy, gateway, here.region, bucket
            )
    seen_keys = dict(zip(more, gateway.together(list(more.values())), strict=True))
    seen |= seen_keys
    completed: list[Requirement] = []
    sides: dict[tuple[str, str], Side] = {}
    checks: list[Check] = []
    for need in needs:
        if need not in mine:
            completed.append(need)
            continue
        for item in judge(need, seen, seen_keys, here):
            if isinstance(item, Check):
                checks.append(replace(item, at=item.at or need.at))
            elif isinstance(item, Requirement):
                completed.append(item)
            else:
                sides[item[0].action, item[0].resource] = item[1]
    unique = {(n.kind, n.action, n.resource, n.within or ""): n for n in completed}
    return Survey(tuple(unique.values()), sides, tuple(dict.fromkeys(checks)))


def _reads(
    gateway: Gateway, need: Requirement, mine: Sequence[Requirement], here: SourceScope
) -> Iterator[tuple[str, Callable[[], read.Seen]]]:
    """Yield (what, read) for the resource a need names; keys are read in a second round."""
    region = region_of(need.resource, here)
    if need.action == "secretsmanager:GetSecretValue":
        yield secret_id(need), partial(read.secret, gateway, secret_id(need))
    elif need.action == "ssm:GetParameters" and _REFERENCE not in need.resource:
        name = need.resource.split(":parameter", 1)[1]
        if account_of(need.resource, here) == here.account:
            yield need.resource, partial(read.parameter, gateway, region, name)
        else:  # a parameter shared from another account: DescribeParameters lists own ones
            shared = "a parameter of another account is not listed by DescribeParameters here"
            yield need.resource, partial(read.Seen, unknown=shared)
    elif need.action == "logs:CreateLogStream":
        group = need.resource.split(":log-group:", 1)[1].removesuffix(":log-stream:*")
        creates = any(
            n.action == "logs:CreateLogGroup"
            and n.resource.startswith(need.resource.split(":log-stream:")[0] + ":")
            for n in mine
        )
        if not creates:
            yield f"log-group {region} {group}", partial(read.log_group, gateway, region, group)
    elif need.action == "ecr:BatchGetImage" and need.within:
        account, repository = (
            account_of(need.resource, here),
            need.resource.split(":repository/", 1)[1],
        )
        yield (
            f"image {need.resource} {need.within}",
            partial(read.image, gateway, region, account, repository, need.within),
        )
        if account != here.account:
            yield (
                f"repository-policy {need.resource}",
                partial(read.repository_policy, gateway, region, account, repository),
            )
    elif need.action == "s3:GetObject":
        bucket, _, name = need.resource.split(":::", 1)[1].partition("/")
        yield need.resource, partial(read.s3_object, gateway, here.region, bucket, name)
        yield f"bucket {bucket}", partial(read.own_bucket, gateway, here.region, bucket)
