"""qbroles stackset: the roles in many accounts, written by a CloudFormation stack set whose
template is qbroles export's.

The same path as every change: what is deployed is read (observe), compared with the spec's
template and the accounts the targets hold (plan, a value), agreed to, read again just
before the first write, then applied one operation at a time, each waited on and its result
read per account and region. CloudFormation does the writes in the member accounts: with
service-managed permissions (the default) through AWS Organizations, with auto-deployment
to accounts that join an OU later; with self-managed ones through the administration and
execution roles the caller names. API: https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackSet.html
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from qbroles.errors import AwsError, SafetyError
from qbroles.stackset.model import TAG, Deployed, Done, Instance, Result, StackSetPlan, Target

if TYPE_CHECKING:
    from qbroles.iam.gateway import Gateway

# The roles have names of their own: CAPABILITY_NAMED_IAM (CreateStackSet, Capabilities).
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
# An operation's ends (StackSetOperation, Status: RUNNING, SUCCEEDED, FAILED, STOPPING,
# STOPPED, QUEUED): https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackSetOperation.html
_ENDED = ("SUCCEEDED", "FAILED", "STOPPED")
PATIENCE = 3600.0  # seconds an operation may take before the run stops waiting (it goes on)


def observe(gateway: Gateway, target: Target) -> Deployed:
    """Read the stack set and its instances; an absent (or deleted) one is Deployed()."""
    cfn = gateway.service("cloudformation")
    with gateway.translating("DescribeStackSet", target.name, "stack set", "cloudformation", cfn):
        try:  # not found: none by that name (translated, it would be an error)
            found = cfn.describe_stack_set(**target.common())["StackSet"]
        except cfn.exceptions.StackSetNotFoundException:
            return Deployed()
    if found.get("Status") == "DELETED":
        return Deployed()
    tags = {tag["Key"]: tag["Value"] for tag in found.get("Tags") or []}
    instances = [_instance(summary) for summary in _pages(gateway, target, "ListStackInstances")]
    return Deployed(
        template=str(found.get("TemplateBody") or ""),
        owner=tags.get(TAG),
        self_managed=found.get("PermissionModel") != "SERVICE_MANAGED",
        instances=tuple(sorted(instances, key=lambda i: (i.account, i.region))),
    )


def _instance(summary: dict[str, Any]) -> Instance:
    return Instance(
        account=summary["Account"],
        region=summary["Region"],
        ou=summary.get("OrganizationalUnitId"),
        status=summary.get("Status", "CURRENT"),
        detail=(summary.get("StackInstanceStatus") or {}).get("DetailedStatus", ""),
        reason=summary.get("StatusReason", ""),
        drift=summary.get("DriftStatus", "NOT_CHECKED"),
    )


def apply(gateway: Gateway, the_plan: StackSetPlan) -> Done:
    """Make the plan's changes, each operation waited on; a stack set created carries the
    plan's owner (the spec's identity) in its tag. The stack set is read again first: if
    it changed since the plan was made, nothing is written (SafetyError, exit 4)."""
    target = the_plan.target
    now = observe(gateway, target)
    if now.template != the_plan.seen or (now.template is not None and now.owner is None):
        raise SafetyError(
            f"stack set {target.name} changed since the plan was made (created, updated, "
            "deleted or its tag removed by someone else); nothing was written: run it again "
            "to see the new plan."
        )
    done = Done()

    def call(operation: str, what: str, **params: Any) -> None:
        answer = _call(gateway, target, operation, **params)
        if "OperationId" in answer:
            wait(gateway, target, answer["OperationId"], what, done)

    def remove(instances: Sequence[Instance], what: str) -> None:
        """Delete instances (their stacks and roles), a region at a time."""
        for region in sorted({i.region for i in instances}):
            there = [i for i in instances if i.region == region]
            unplaced = [i for i in there if not i.ou and not target.self_managed]
            if unplaced:  # a service-managed instance is addressed through its OU
                raise SafetyError(
                    f"stack set {target.name}: CloudFormation names no OU for the instance "
                    f"in {unplaced[0].account} ({region}), so it cannot be removed alone; "
                    "nothing more was removed: see qbroles stackset status."
                )
            ous = sorted({i.ou for i in there if i.ou})
            where = target.where(ous, sorted({i.account for i in there}))
            options = {"RetainStacks": False, "OperationPreferences": target.preferences()}
            call("DeleteStackInstances", what, Regions=[region], **options, **where)

    if the_plan.delete:
        remove(now.instances, "delete the instances")
        left = observe(gateway, target).instances
        if left:
            raise AwsError(
                f"stack set {target.name} still has {len(left)} instances after they were "
                f"deleted ({left[0].account} in {left[0].region}): the stack set is kept; "
                "see qbroles stackset status, then run delete again."
            )
        call("DeleteStackSet", "delete the stack set")
        done.operations.append(("delete the stack set", "", "SUCCEEDED"))
        return done
    if the_plan.create:
        call(
            "CreateStackSet",
            "create the stack set",
            TemplateBody=the_plan.template,
            Capabilities=CAPABILITIES,
            Tags=[{"Key": TAG, "Value": the_plan.owner}],
            Description="The IAM roles of an ECS application, deployed by qbroles "
            f"({the_plan.owner}).",
            **target.model(),
        )
        done.operations.append(("create the stack set", "", "SUCCEEDED"))
    elif the_plan.diff:
        call(
            "UpdateStackSet",
            "update the template",
            TemplateBody=the_plan.template,
            Capabilities=CAPABILITIES,
            OperationPreferences=target.preferences(),
        )
    if the_plan.gains:
        # Service-managed: the whole OUs, as CloudFormation reads them (the units under them
        # too); the instances they have already stay as they are. Self-managed: the accounts.
        accounts = sorted({account for account, _ in the_plan.gains})
        where = target.where(accounts=accounts) if target.self_managed else target.where()
        call(
            "CreateStackInstances",
            "add instances",
            Regions=list(target.regions),
            OperationPreferences=target.preferences(),
            **where,
        )
    if the_plan.prune and the_plan.loses:
        remove(the_plan.loses, "remove instances outside the targets")
    done.instances = observe(gateway, target).instances  # what each account has now
    return done


def _call(gateway: Gateway, target: Target, operation: str, **params: Any) -> dict[str, Any]:
    """Make one CloudFormation call about the stack set; its errors are one-line AwsErrors."""
    cfn = gateway.service("cloudformation")
    with gateway.translating(operation, target.name, "stack set", "cloudformation", cfn):
        answer: dict[str, Any] = getattr(cfn, _snake(operation))(**target.common(), **params)
    return answer


def _pages(gateway: Gateway, target: Target, operation: str, **params: Any) -> list[Any]:
    """Return the Summaries of every page of a listing about the stack set."""
    cfn = gateway.service("cloudformation")
    found: list[Any] = []
    with gateway.translating(operation, target.name, "stack set", "cloudformation", cfn):
        pages = cfn.get_paginator(_snake(operation)).paginate(**target.common(), **params)
        for page in pages:
            found += page["Summaries"]
    return found


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def wait(
    gateway: Gateway,
    target: Target,
    operation_id: str,
    what: str,
    done: Done,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Wait for an operation to end (DescribeStackSetOperation, polled with the run's
    pacer), then read each account's result; return its status."""

    def ended() -> str | None:
        found = _call(gateway, target, "DescribeStackSetOperation", OperationId=operation_id)
        status = str(found["StackSetOperation"]["Status"])
        return status if status in _ENDED else None

    status = gateway.pacer.poll(
        f"CloudFormation: {what}", ended, PATIENCE, clock, first=2.0, longest=30.0
    )
    if status is None:
        raise AwsError(
            f"stack set {target.name}: operation {operation_id} ({what}) had not ended after "
            f"{PATIENCE:.0f} s; it goes on: see qbroles stackset status."
        )
    done.results += [
        Result(what, s["Account"], s["Region"], s["Status"], s.get("StatusReason", ""))
        for s in _pages(gateway, target, "ListStackSetOperationResults", OperationId=operation_id)
    ]
    done.operations.append((what, operation_id, status))
    return status


def drift(gateway: Gateway, target: Target) -> dict[tuple[str, str], str] | str:
    """Run CloudFormation's drift detection on the stack set (DetectStackSetDrift, waited
    on) and return each instance's DriftStatus (DRIFTED, IN_SYNC, UNKNOWN, NOT_CHECKED); or,
    where CloudFormation could not run it, why (an unknown, never "in sync").

    It sees only what the template sets: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-drift.html
    """
    try:
        preferences = target.preferences()
        answer = _call(gateway, target, "DetectStackSetDrift", OperationPreferences=preferences)
        status = wait(gateway, target, answer["OperationId"], "detect drift", Done())
    except AwsError as exc:
        return f"CloudFormation's drift detection did not run: {exc}"
    if status != "SUCCEEDED":
        return f"CloudFormation's drift detection ended {status}"
    return {(i.account, i.region): i.drift for i in observe(gateway, target).instances}
