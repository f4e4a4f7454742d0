"""qbroles stackset: the stack set's vocabulary (targets, instances, the plan, results) and
the plan itself, made from what is deployed and the spec's template. No AWS call here:
qbroles.stackset.cloud reads and writes.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

# The stack set's tag: qbroles made it, from this spec. Not ManagedBy: CloudFormation
# propagates a stack set's tags to the stacks and resources it creates ("The key-value
# pairs to associate with this StackSet and the stacks created from it", CreateStackSet,
# Tags: https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackSet.html),
# and the roles are the stacks' (ManagedBy=CloudFormation), not qbroles'. Read exactly:
# tag keys are case sensitive ("Tag keys and values are case sensitive", Tagging your AWS
# resources: https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html), so a
# QBROLES:STACKSET tag is someone else's and the stack set is refused.
TAG = "qbroles:stackset"


@dataclass(frozen=True)
class Target:
    """Which stack set, where its instances go, and how CloudFormation reaches them."""

    name: str
    regions: tuple[str, ...]
    ous: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()  # self-managed: the accounts themselves
    self_managed: bool = False
    admin_role_arn: str | None = None
    execution_role_name: str | None = None
    delegated_admin: bool = False  # from a delegated administrator account (CallAs)
    max_concurrent: int = 25  # percent of a region's accounts worked at once
    failure_tolerance: int = 0  # percent of a region's accounts that may fail

    def common(self) -> dict[str, Any]:
        """Return what every call about the stack set takes."""
        if self.self_managed:
            return {"StackSetName": self.name}
        return {"StackSetName": self.name, "CallAs": self.call_as}

    @property
    def call_as(self) -> str:
        return "DELEGATED_ADMIN" if self.delegated_admin else "SELF"

    def preferences(self) -> dict[str, Any]:
        return {
            "MaxConcurrentPercentage": self.max_concurrent,
            "FailureTolerancePercentage": self.failure_tolerance,
        }

    def model(self) -> dict[str, Any]:
        """Return CreateStackSet's permission model, and how CloudFormation reaches the
        accounts with it."""
        if not self.self_managed:
            # Accounts that join a target OU later get the roles; one that leaves, loses them.
            auto = {"Enabled": True, "RetainStacksOnAccountRemoval": False}
            return {"PermissionModel": "SERVICE_MANAGED", "AutoDeployment": auto}
        roles = {
            "AdministrationRoleARN": self.admin_role_arn,
            "ExecutionRoleName": self.execution_role_name,
        }
        given = {key: value for key, value in roles.items() if value}
        return {"PermissionModel": "SELF_MANAGED", **given}

    def where(
        self, ous: Sequence[str] | None = None, accounts: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Return the instances a call is about: self-managed, the accounts; service-managed,
        the OUs (None: the targets'), and with ``accounts`` only those accounts of them.

        Both given, AccountFilterType INTERSECTION says "only these accounts of these OUs";
        without it CloudFormation takes their UNION, every account of the OUs (and a create
        refuses both without a filter): DeploymentTargets,
        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeploymentTargets.html
        """
        if self.self_managed:
            return {"Accounts": list(accounts or self.accounts)}
        targets: dict[str, Any] = {"OrganizationalUnitIds": list(self.ous if ous is None else ous)}
        if accounts:
            targets |= {"Accounts": list(accounts), "AccountFilterType": "INTERSECTION"}
        return {"DeploymentTargets": targets}


@dataclass(frozen=True)
class Instance:
    account: str
    region: str
    ou: str | None
    status: str  # CURRENT, OUTDATED, INOPERABLE
    detail: str  # StackInstanceStatus.DetailedStatus: SUCCEEDED, FAILED, RUNNING, …
    reason: str = ""
    drift: str = "NOT_CHECKED"

    @property
    def current(self) -> bool:
        """Return whether the stack is the stack set's template, made (Status CURRENT;
        DetailedStatus SUCCEEDED where given): StackInstanceSummary,
        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackInstanceSummary.html
        """
        return self.status == "CURRENT" and self.detail in ("SUCCEEDED", "")


@dataclass(frozen=True)
class Deployed:
    """The stack set as CloudFormation has it; template None: there is none by that name."""

    template: str | None = None
    owner: str | None = None  # its TAG's value (the spec that made it); None: not qbroles'
    self_managed: bool = False
    instances: tuple[Instance, ...] = ()


@dataclass(frozen=True)
class StackSetPlan:
    """What deploy (or delete) will do, before it does it."""

    target: Target
    template: str  # the template it will carry (the spec's, as JSON)
    create: bool = False
    diff: tuple[str, ...] = ()  # the template's change, unified (empty: none)
    gains: tuple[tuple[str, str], ...] = ()  # (account, region) to get an instance
    loses: tuple[Instance, ...] = ()  # instances outside the targets (removed with --prune)
    prune: bool = False
    delete: bool = False  # delete every instance, then the stack set
    refusal: str | None = None
    seen: str | None = None  # the deployed template the plan was made from (None: none)
    owner: str = ""  # the spec's identity: the stack set's TAG, when it is created

    @property
    def changes(self) -> bool:
        return bool(
            self.create or self.diff or self.gains or self.delete or (self.prune and self.loses)
        )


@dataclass(frozen=True)
class Result:
    """One account and region's result of one operation (ListStackSetOperationResults)."""

    operation: str  # what was done: "create the stack set", "add instances", …
    account: str
    region: str
    status: str  # SUCCEEDED, FAILED, CANCELLED, RUNNING, PENDING
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "SUCCEEDED"


@dataclass
class Done:
    """What an apply did: each operation's status, and each account's result."""

    operations: list[tuple[str, str, str]] = field(default_factory=list)  # (what, id, status)
    results: list[Result] = field(default_factory=list)
    # The instances once it is done, read again: what each account has now.
    instances: tuple[Instance, ...] = ()

    @property
    def ok(self) -> bool:
        """Return whether every operation succeeded in every account, and every instance
        is current."""
        return (
            all(r.ok for r in self.results)
            and all(status == "SUCCEEDED" for _, _, status in self.operations)
            and all(i.current for i in self.instances)
        )


def plan(
    deployed: Deployed,
    target: Target,
    template: dict[str, Any],
    accounts: Sequence[str],
    *,
    owner: str,
    prune: bool = False,
    delete: bool = False,
) -> StackSetPlan:
    """Return what deploy (``delete``: delete) would do to the stack set: ``accounts`` are
    those the targets hold now (an OU's, from Organizations; the given ones); ``owner``,
    the spec's identity, which the stack set's tag records."""
    text = json.dumps(template, indent=2, sort_keys=True) + "\n"
    plain = StackSetPlan(target, text, seen=deployed.template, owner=owner)
    if deployed.template is not None and deployed.owner is None:
        why = (
            f"stack set {target.name} has no {TAG} tag: qbroles did not create it, so it "
            "neither changes nor deletes it; deploy under another --name, or manage it as "
            "it is managed now."
        )
        return replace(plain, refusal=why)
    if delete:  # whatever its model: the instances are addressed as it has them
        if deployed.template is None:
            return plain
        as_deployed = replace(target, self_managed=deployed.self_managed)
        return replace(plain, target=as_deployed, delete=True)
    if deployed.template is not None and deployed.self_managed != target.self_managed:
        model = "self-managed" if deployed.self_managed else "service-managed"
        why = f"stack set {target.name} has {model} permissions; give the same model."
        return replace(plain, refusal=why)
    have = {(i.account, i.region) for i in deployed.instances}
    wanted = [(a, r) for a in accounts for r in target.regions]
    gains = tuple(pair for pair in wanted if pair not in have)
    if deployed.template is None:
        return replace(plain, create=True, gains=gains, prune=prune)
    loses = tuple(i for i in deployed.instances if (i.account, i.region) not in set(wanted))
    diff = template_diff(deployed.template, text)
    return replace(plain, diff=diff, gains=gains, loses=loses, prune=prune)


def template_diff(deployed: str, text: str) -> tuple[str, ...]:
    """Return the change from the deployed template to ``text``, unified; none if the two
    hold the same (a JSON template is compared as data, whatever its layout)."""
    try:
        same = json.loads(deployed) == json.loads(text)
        deployed = json.dumps(json.loads(deployed), indent=2, sort_keys=True) + "\n"
    except ValueError:  # YAML, or not a template: compared as text
        same = False
    if same:
        return ()
    lines = difflib.unified_diff(
        deployed.splitlines(), text.splitlines(), "deployed", "spec", lineterm="", n=2
    )
    return tuple(lines)
