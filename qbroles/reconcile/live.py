"""Task definitions in ECS that use the roles, in every region: their verdicts, and what a
planned change would break."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qbroles.iam.ecs import enabled_regions, live_task_definitions
from qbroles.iam.gateway import Gateway
from qbroles.model.actions import RolePlan
from qbroles.model.checks import Check, CheckKind, Severity
from qbroles.model.effects import after
from qbroles.model.state import RoleState
from qbroles.model.verdict import TaskVerdict, judge
from qbroles.policy.documents import TASK_SCOPED
from qbroles.reconcile.desired import DesiredRole
from qbroles.reconcile.resources import survey_of
from qbroles.reconcile.taskcheck import full_arn, labelled, task_checks
from qbroles.reconcile.taskdef import TaskDefinition


def live_regions(gateway: Gateway, given: Sequence[str] | None) -> list[str]:
    """Return the regions whose task definitions to read: those given, else every region
    the account has enabled (IAM roles are global: a task anywhere may use them)."""
    return list(given) if given else enabled_regions(gateway)


def live_tasks(
    gateway: Gateway, observed: Mapping[str, RoleState | None], regions: Sequence[str]
) -> list[tuple[str, TaskDefinition]]:
    """Return (label, task definition) of every ACTIVE one of the regions that uses a role
    here; the label is family:revision, with @region for a region other than the run's."""
    here = gateway.source_scope(TASK_SCOPED)
    arns = {state.arn for state in observed.values() if state is not None}
    used = []
    for document in live_task_definitions(gateway, regions):
        task = TaskDefinition(source=str(document.get("taskDefinitionArn")), document=document)
        named = {full_arn(arn, here) for arn in task.role_arns.values()}
        if named & arns:
            label = f"{document.get('family')}:{document.get('revision')}"
            if task.region and task.region != gateway.region:
                label += f"@{task.region}"
            used.append((label, task))
    return sorted(used, key=lambda pair: pair[0])


def checked(
    gateway: Gateway,
    desired: Sequence[DesiredRole],
    observed: Mapping[str, RoleState | None],
    tasks: Sequence[tuple[str, TaskDefinition]],
    kms_key_arn: str | None,
    *,
    exec_: bool,
    resources: bool,
    simulate: bool = False,
) -> tuple[dict[str, list[Check]], list[TaskVerdict]]:
    """Return the checks of each (label, task definition) per role, labelled, and the
    verdict on each; a live one ("live ..." label) is checked against the roles it names."""
    can: dict[str, list[Check]] = {}
    verdicts = []
    documents: dict[str, Mapping[str, Any] | None] = {}  # each policy read once a run
    for label, one in tasks:
        found = task_checks(
            gateway,
            desired,
            observed,
            one,
            kms_key_arn,
            exec_=exec_,
            named_only=bool(label),
            resources=resources,
            simulate=simulate,
            documents=documents,
        )
        every = [check for checks in found.values() for check in checks]
        verdicts.append(
            judge(label.removeprefix("live ") or one.source, every, resources=resources)
        )
        for name, checks in found.items():
            can.setdefault(name, []).extend(labelled(check, label) for check in checks)
    return can, verdicts


def live_breaks(
    gateway: Gateway,
    desired: Sequence[DesiredRole],
    observed: Mapping[str, RoleState | None],
    plans: Sequence[RolePlan],
    kms_key_arn: str | None,
    severity: Severity = Severity.ERROR,
    regions: Sequence[str] | None = None,
) -> tuple[dict[str, list[Check]], list[str]]:
    """Return, per role, what the plan would break in the live task definitions using it,
    and the labels of those checked.

    Each live task definition is checked against the roles as they are and as the plan
    would leave them; a check that passes now and would fail then is a break.
    """
    later = {plan.role: after(observed.get(plan.role), plan.actions) for plan in plans}
    later = {name: later[name] if observed.get(name) else None for name in later}
    breaks: dict[str, list[Check]] = {}
    documents: dict[str, Mapping[str, Any] | None] = {}  # each policy read once a run
    checked = live_tasks(gateway, observed, live_regions(gateway, regions))
    for label, task in checked:
        found = survey_of(gateway, task, kms_key_arn)
        now = task_checks(
            gateway, desired, observed, task, kms_key_arn,
            named_only=True, surveyed=found, documents=documents,
        )  # fmt: skip
        then = task_checks(
            gateway, desired, later, task, kms_key_arn,
            named_only=True, surveyed=found, documents=documents,
        )  # fmt: skip
        for name, checks in then.items():
            failing = {check.check for check in now.get(name, ()) if check.failed}
            breaks.setdefault(name, []).extend(
                Check(
                    f"live {label} after the change: {check.check}",
                    False,
                    check.expected,
                    check.actual,
                    f"live task definition {label} would no longer start: {check.message}"
                    if check.kind is CheckKind.TASK
                    else f"live task definition {label} would start, but: {check.message}",
                    severity,
                    kind=CheckKind.LIVE,
                )
                for check in checks
                if check.failed and check.check not in failing
            )
    broken = {name: checks for name, checks in breaks.items() if checks}
    return broken, [label for label, _ in checked]
