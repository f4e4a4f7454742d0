"""The run of qbroles tighten: observe both roles, gather the evidence, narrow each, prove.

One path, as every command's: the spec resolved, the roles read once, the evidence read
(task definitions and their resources; IAM's last-accessed report; optionally Access
Analyzer), the tightened spec planned against the roles as they are (the plan create
--prune would make), and the proof taken on the roles as that plan leaves them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qbroles.catalog import RoleKind
from qbroles.errors import InputError
from qbroles.iam.gateway import Gateway
from qbroles.model.state import RoleState
from qbroles.policy.subset import new_access, pairs
from qbroles.reconcile.taskdef import TaskDefinition
from qbroles.reconcile.tighten import (
    Evidence,
    Tightened,
    current_policies,
    evidence,
    grants,
    later,
    missing_evidence,
    no_evidence,
    proof,
    result_findings,
    tightened_spec,
)
from qbroles.reconcile.usage import Narrowed, last_accessed, narrow, window
from qbroles.spec.model import Spec


@dataclass(frozen=True)
class TightenOptions:
    live: bool
    regions: tuple[str, ...] = ()
    kms_key_arn: str | None = None
    usage_days: int = 90
    keep_task_role: bool = False
    check_no_new_access: bool = False
    exec_: bool = False  # the tasks run with ECS Exec turned on
    trail_arn: str | None = None  # Access Analyzer's policy generation from this trail
    access_role: str | None = None  # the service role it reads the trail with


def tighten(
    gateway: Gateway, spec: Spec, given: Sequence[tuple[str, TaskDefinition]],
    options: TightenOptions, *, workers: int, progress: Any,
) -> Tightened | str:  # fmt: skip
    """Return the tightened spec and its proof, or (a str) why there is no evidence."""
    from qbroles.reconcile.desired import CreateOptions
    from qbroles.reconcile.engine import plan_create, resolve_spec
    from qbroles.reconcile.executor import observe_all
    from qbroles.reconcile.live import live_regions, live_tasks
    from qbroles.reconcile.preflight import refuse

    desired = resolve_spec(gateway, spec)
    observed = observe_all(gateway, spec.names, workers, progress)
    roles = {role.kind: role for role in desired if role.kind}
    execution = roles.get(RoleKind.EXECUTION)
    if execution is None:
        raise InputError(f"the spec ({spec.source}) has no execution role to tighten.")
    state = observed[execution.name]
    read = live_regions(gateway, options.regions) if options.live else []
    running = live_tasks(gateway, {execution.name: state}, read) if read and state else []
    missing: list[str] = []
    exec_ = options.exec_ or _exec_services(gateway, read, missing)
    found, skipped = evidence(
        gateway, execution, state, given, running, options.kms_key_arn, exec_=exec_
    )
    if not found:
        return no_evidence(execution.name, read, len(given), skipped)
    held = {name: current_policies(gateway, one) for name, one in observed.items()}
    unread = missing_evidence(found)  # the resource reads refused: today's key grant stays
    missing += unread
    made = grants(found, held[execution.name], unread)
    task_role = roles.get(RoleKind.TASK)
    task: Narrowed | None = None
    if task_role is not None and not options.keep_task_role:
        narrowed = _task(gateway, observed.get(task_role.name), held[task_role.name], found,
                         options, missing)  # fmt: skip
        if isinstance(narrowed, str):
            return narrowed
        task = narrowed
    narrow_spec = tightened_spec(spec, made, task, held[task_role.name] if task_role else [])
    narrowed_roles = resolve_spec(gateway, narrow_spec)
    plan = plan_create(
        gateway, "plan", narrowed_roles, observed, CreateOptions(adopt=True, prune=True),
        spec=narrow_spec, dry_run=True,
    )  # fmt: skip
    # A role the tightened spec could not be applied to (another tool's, at another path)
    # leaves nothing to prove: refused as create would refuse it (exit 4, its remedy said).
    refuse(plan.roles)
    actions = {one.role: one.actions or one.would for one in plan.roles}
    then = later(observed, actions)
    starts = proof(gateway, narrowed_roles, then, found, options.kms_key_arn)
    wider: list[str] = []
    counted: dict[str, tuple[int, int | None]] = {}
    for role in narrowed_roles:
        before = [policy.document for policy in held.get(role.name, [])]
        after = list(role.inline_policies.values())
        if role.kind is RoleKind.TASK and task is None:
            counted[role.name] = (pairs(before), None)  # kept as it is
            continue
        for document in after:
            wider += [f"{role.name}: {line}" for line in new_access(held[role.name], document)]
            if options.check_no_new_access:
                wider += _check_no_new_access(gateway, role.name, before, document)
        attached = [p.document for p in held[role.name] if p.name in role.managed_policies]
        counted[role.name] = (pairs(before), pairs([*after, *attached]))
    return Tightened(
        narrow_spec, made, task, tuple(found), tuple(skipped), tuple(missing), tuple(starts),
        tuple(wider), counted, tuple(result_findings(narrowed_roles, then, options.kms_key_arn)),
        tuple((role, tuple(done)) for role, done in actions.items()),
    )  # fmt: skip


def _task(
    gateway: Gateway,
    state: RoleState | None,
    held: Sequence[Any],
    found: Sequence[Evidence],
    options: TightenOptions,
    missing: list[str],
) -> Narrowed | str | None:
    """Return the task role narrowed by its evidence, None where it does not exist (the
    spec's own policies stand), or (a str) why its evidence cannot cover the window."""
    if state is None:
        missing.append("the task role does not exist yet: it is left as the spec has it")
        return None
    usage = last_accessed(gateway, state.arn)
    since, age = window(usage, options.usage_days, _created(gateway, state.name))
    if usage.pending:
        return (
            f"{usage.missing} for the task role {state.name}, so there is no evidence of what "
            "it does not use; run tighten again later, or pass --keep-task-role to narrow the "
            "execution role only."
        )
    if usage.missing:
        missing.append(f"task role {state.name}: {usage.missing}; its grants are kept")
        return None
    if age is not None:
        shorter = f"pass --usage-days {age} to judge on the days there are, or " if age else ""
        return (
            f"the task role {state.name} exists for {age} days, fewer than --usage-days "
            f"{options.usage_days}, so IAM's report cannot show what it does not use (what "
            f"it has not used yet it may still need); {shorter}pass --keep-task-role to "
            "narrow the execution role only."
        )
    shown = {
        need.action.lower(): f"{one.label}: {need.why}"
        for one in found
        for need in one.survey.needs
        if need.kind is RoleKind.TASK
    }
    if options.trail_arn and options.access_role:
        from qbroles.reconcile.analyzer import generated

        seen = generated(
            gateway, state.arn, options.trail_arn, options.access_role, options.usage_days
        )
        if seen.missing:
            missing.append(f"task role {state.name}: {seen.missing}")
        shown = seen.actions | shown
    return narrow(held, usage, since, shown)


def _exec_services(gateway: Gateway, regions: Sequence[str], missing: list[str]) -> bool | set[str]:
    """Return the task definitions whose services turn ECS Exec on, read from ECS; where
    the services cannot be read, every task definition is taken to use it (its grants
    kept, the side that cannot break a shell someone relies on), and that is said."""
    from qbroles.errors import AwsError
    from qbroles.iam.ecs import exec_task_definitions

    if not regions:
        return False
    try:
        return exec_task_definitions(gateway, regions)
    except AwsError as exc:
        missing.append(f"which services run ECS Exec: {exc}; its grants are kept")
        return True


def _created(gateway: Gateway, name: str) -> Any:
    found = gateway.get_role(name)
    return (found or {}).get("CreateDate")


def _check_no_new_access(
    gateway: Gateway, role: str, before: Sequence[Mapping[str, Any]], new: Mapping[str, Any]
) -> list[str]:
    """Return what IAM Access Analyzer's CheckNoNewAccess finds new in the document against
    today's policies, as one document (a real account's check; it does not evaluate
    conditions either: https://docs.aws.amazon.com/access-analyzer/latest/APIReference/API_CheckNoNewAccess.html)."""
    from qbroles.errors import AwsError
    from qbroles.policy.documents import statements

    existing = {"Version": "2012-10-17", "Statement": [s for d in before for s in statements(d)]}
    client = gateway.service("accessanalyzer")
    try:
        with gateway.translating(
            "CheckNoNewAccess", role, service="access-analyzer", client=client
        ):
            answer = client.check_no_new_access(
                newPolicyDocument=json.dumps(new),
                existingPolicyDocument=json.dumps(existing),
                policyType="IDENTITY_POLICY",
            )
    except AwsError as exc:
        return [f"{role}: Access Analyzer's CheckNoNewAccess could not run ({exc})"]
    if answer.get("result") == "PASS":
        return []
    reasons = "; ".join(r.get("description", "") for r in answer.get("reasons") or [])
    return [f"{role}: CheckNoNewAccess: {answer.get('message', 'FAIL')} {reasons}".strip()]
