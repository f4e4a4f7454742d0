"""The commands' core: spec -> observe -> plan -> apply -> verify, one role per worker."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

from qbroles.catalog import DEFAULT_WORKERS, RoleKind
from qbroles.errors import AwsError, InputError, MissingRoleError, SafetyError
from qbroles.iam.gateway import Gateway
from qbroles.iam.pacing import Pacer
from qbroles.policy.documents import SourceScope, listed, statements
from qbroles.policy.evaluate import Decision, Outcome, Policy, evaluate
from qbroles.policy.findings import findings
from qbroles.reconcile.actions import CreateRole, RolePlan
from qbroles.reconcile.apply import apply_role
from qbroles.reconcile.desired import DesiredRole, resolve
from qbroles.reconcile.plan import after, plan_create, plan_delete, unowned_refusal
from qbroles.reconcile.state import RoleState
from qbroles.reconcile.taskdef import (
    UNKNOWN,
    Requirement,
    TaskDefinition,
    needs_without_execution_role,
    requirements,
)
from qbroles.reconcile.verify import verify_absent, verify_role
from qbroles.report.progress import Progress
from qbroles.report.report import Check, Report, RoleReport, Severity
from qbroles.spec.model import ROLE_ARN, RoleSpec, Spec, policy_label

T = TypeVar("T")
R = TypeVar("R")


def for_each(
    items: Sequence[T], work: Callable[[T], R], workers: int, pacer: Pacer | None = None
) -> list[R]:
    """Run ``work`` on every item, at most ``workers`` at a time; results in the items' order.

    With a ``pacer``, fewer go on while AWS throttles (see qbroles.pacing). Every item runs
    to its end even when another fails (roles are independent); then the first failure, in
    the items' order, is raised.
    """
    if workers <= 1 or len(items) <= 1:
        results: list[R] = []
        failures: list[Exception] = []
        for item in items:
            try:
                results.append(work(item))
            except Exception as failure:  # the others still run; an interrupt stops at once
                failures.append(failure)
        if failures:
            raise failures[0]
        return results
    pool = ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="qbroles")

    def paced(item: T) -> R:
        if pacer is None:
            return work(item)
        with pacer.turn(workers):
            return work(item)

    try:
        futures = [pool.submit(paced, item) for item in items]
        errors = [future.exception() for future in futures]
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    for error in errors:
        if error is not None:
            raise error
    return [future.result() for future in futures]


def observe_all(
    gateway: Gateway,
    names: Sequence[str],
    workers: int,
    progress: Progress,
    *,
    for_delete: bool = False,
) -> dict[str, RoleState | None]:
    """Read every named role (and nothing else) from IAM."""

    def read(name: str) -> RoleState | None:
        progress.working(name, "reading")
        state = gateway.observe(name, for_delete=for_delete)
        progress.finished(name)
        return state

    return dict(zip(names, for_each(names, read, workers, gateway.pacer), strict=True))


def _refuse(plans: Sequence[RolePlan]) -> None:
    refusals = [plan.refusal for plan in plans if plan.refusal]
    if refusals:
        raise SafetyError(" ".join(f"{r[0].upper()}{r[1:]}" for r in refusals))


def create(
    gateway: Gateway,
    spec: Spec,
    *,
    adopt: bool = False,
    prune: bool = False,
    dry_run: bool = False,
    approve: Callable[[Sequence[RolePlan]], bool] = lambda plans: True,
    check_live: bool = False,
    force: bool = False,
    kms_key_arn: str | None = None,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> Report:
    """Make IAM match the spec and verify what changed.

    Refuses, before any write, if a role of the spec exists and is not qbroles'.
    ``approve`` sees the plan before any write (to ask, to keep a restore file) and may
    say no.
    """
    progress = progress or Progress()
    desired = resolve_spec(gateway, spec)
    observed = observe_all(gateway, spec.names, workers, progress)
    plans = plan_create(desired, observed, adopt=adopt, prune=prune)
    _refuse(plans)
    changing = [plan for plan in plans if plan.actions]
    breaks: dict[str, list[Check]] = {}
    if check_live and changing:
        severity = Severity.WARNING if force and not dry_run else Severity.ERROR
        breaks = live_breaks(gateway, desired, observed, plans, kms_key_arn, severity)
        if breaks and not dry_run and not force:
            broken = "; ".join(check.message for checks in breaks.values() for check in checks)
            raise SafetyError(
                f"the change would break live task definitions: {broken}; nothing was changed "
                "(qbroles plan --check-live-task-definitions shows them; --force goes ahead)."
            )
    if changing and not dry_run:
        if not approve(changing):
            raise SafetyError("create not confirmed; nothing was changed.")

        def apply_and_reread(plan: RolePlan) -> RoleState | None:
            apply_role(gateway, plan, progress)
            progress.working(plan.role, "reading it back to verify")
            state = observed[plan.role]
            parts = frozenset().union(*(action.READS for action in plan.actions))
            fresh = gateway.observe(plan.role) if state is None else gateway.reread(state, parts)
            progress.finished(plan.role)
            return fresh

        fresh = for_each(changing, apply_and_reread, workers, gateway.pacer)
        observed |= {plan.role: state for plan, state in zip(changing, fresh, strict=True)}
    roles = tuple(
        RoleReport(
            name=role.name,
            arn=_arn(observed[role.name]),
            changes=plan.actions,
            checks=(
                *verify_role(role, observed[role.name], tolerate_extra=not prune),
                *breaks.get(role.name, ()),
            ),
        )
        for role, plan in zip(desired, plans, strict=True)
    )
    return Report("create", dry_run=dry_run, roles=roles, changed=bool(changing))


def verify(
    gateway: Gateway,
    spec: Spec,
    *,
    strict: bool = False,
    kms_key_arn: str | None = None,
    task: TaskDefinition | None = None,
    task_reference: str | None = None,
    live: bool = False,
    exec_: bool = False,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> Report:
    """Compare IAM with the spec, check by check, and add the security findings. Read only.

    Findings are warnings; ``strict`` makes them failures. With a task definition (a file,
    or ``task_reference``: one read from ECS), also check that its roles can do what
    starting that task needs; ``live``: every ACTIVE task definition that uses the roles.
    """
    progress = progress or Progress()
    if (task or task_reference or live) and not any(
        role.kind is RoleKind.EXECUTION for role in spec.roles
    ):
        raise InputError(
            '--task-definition needs a role with kind = "execution" in the spec; '
            "the presets have one."
        )
    desired = resolve_spec(gateway, spec)
    observed = observe_all(gateway, spec.names, workers, progress)
    tasks: list[tuple[str, TaskDefinition]] = [("", task)] if task else []
    if task_reference:
        tasks.append(("", _from_ecs(gateway, task_reference)))
    if live:
        tasks += [(f"live {label}", found) for label, found in live_tasks(gateway, observed)]
    can: dict[str, list[Check]] = {}
    for label, one in tasks:
        found_checks = _task_checks(gateway, desired, observed, one, kms_key_arn, exec_=exec_)
        for name, checks in found_checks.items():
            can.setdefault(name, []).extend(_labelled(check, label) for check in checks)
    roles = []
    for role in desired:
        state = observed[role.name]
        found = (
            ()
            if state is None
            else findings(role.name, state, strict=strict, kms_key_arn=kms_key_arn, kind=role.kind)
        )
        roles.append(
            RoleReport(
                name=role.name,
                arn=_arn(state),
                checks=(*verify_role(role, state), *found, *can.get(role.name, ())),
            )
        )
    return Report("verify", dry_run=False, roles=tuple(roles))


def delete(
    gateway: Gateway,
    spec: Spec,
    *,
    dry_run: bool = False,
    adopt: bool = False,
    approve: Callable[[Sequence[RolePlan]], bool] = lambda plans: True,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> Report:
    """Remove the spec's roles that qbroles owns, and what IAM requires removed first.

    Refuses before any write if a role is not ours, or (unless ``adopt``) was made by
    another spec; ``approve`` sees the plan before any write and may say no.
    """
    progress = progress or Progress()
    observed = observe_all(gateway, spec.names, workers, progress, for_delete=True)
    plans = plan_delete(spec.names, observed, made_by=spec.identity, adopt=adopt)
    _refuse(plans)
    changing = [plan for plan in plans if plan.actions]
    if changing and not dry_run:
        if not approve(changing):
            raise SafetyError("delete not confirmed; nothing was changed.")

        def remove(plan: RolePlan) -> None:
            apply_role(gateway, plan, progress)
            progress.finished(plan.role)

        for_each(changing, remove, workers, gateway.pacer)
        # DeleteRole answered (or found it gone already): the roles are gone, no read needed.
        observed |= dict.fromkeys(plan.role for plan in changing)
    roles = tuple(
        RoleReport(
            name=plan.role,
            arn=_arn(observed[plan.role]),
            changes=plan.actions,
            checks=() if dry_run else verify_absent(plan.role, observed[plan.role]),
        )
        for plan in plans
    )
    return Report("delete", dry_run=dry_run, roles=roles, changed=bool(changing))


def restore(
    gateway: Gateway,
    plans: Sequence[RolePlan],
    *,
    dry_run: bool = False,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> Report:
    """Put back what a run removed, from its restore file's plans (additions and rewrites only).

    Refuses before any write if a role exists and is not qbroles', or is gone and the file
    cannot create it again.
    """
    progress = progress or Progress()
    observed = observe_all(gateway, [plan.role for plan in plans], workers, progress)
    refusals = []
    for plan in plans:
        state = observed[plan.role]
        if state is not None and not state.owned:
            remedy = "restore it by hand from the file"
            refusals.append(RolePlan(plan.role, refusal=unowned_refusal(state, "restore", remedy)))
        elif state is None and not isinstance(plan.actions[0], CreateRole):
            refusals.append(
                RolePlan(
                    plan.role,
                    refusal=f"role {plan.role} does not exist any more, and the restore file "
                    "does not create it; run qbroles create first, then restore again.",
                )
            )
    _refuse(refusals)
    if not dry_run:

        def put_back(plan: RolePlan) -> RoleState | None:
            apply_role(gateway, plan, progress)
            progress.finished(plan.role)
            return gateway.role_state(plan.role)

        fresh = for_each(plans, put_back, workers, gateway.pacer)
        observed |= dict(zip(observed, fresh, strict=True))
    roles = tuple(
        RoleReport(name=plan.role, arn=_arn(observed[plan.role]), changes=plan.actions)
        for plan in plans
    )
    return Report("restore", dry_run=dry_run, roles=roles, changed=bool(plans))


def role_arns(
    gateway: Gateway, roles: Mapping[str, RoleSpec], made_by: str, workers: int
) -> dict[str, str]:
    """Return key -> ARN of each role (one GetRole each), only if all are the spec's own.

    A role must exist, carry qbroles' ownership tag, not be another spec's, and have the
    spec's path; otherwise MissingRoleError (exit 1) names it. An ARN that is not an IAM
    role ARN is an endpoint that does not answer like IAM (exit 3).
    """
    keys = list(roles)
    found = for_each(keys, lambda key: gateway.role_state(roles[key].name), workers, gateway.pacer)
    problems = []
    for key, state in zip(keys, found, strict=True):
        role = roles[key]
        if state is None:
            continue
        arn = ROLE_ARN.fullmatch(state.arn)
        if not arn or arn["name"] != role.name or arn["path"] != state.path:
            raise AwsError(
                f"GetRole on role {role.name}: the endpoint answered the ARN {state.arn!r}, "
                "which is not this role's IAM ARN; it did not answer like AWS IAM, check "
                "--endpoint-url."
            )
        if state.owner and not state.owned:
            problems.append(
                f"role {role.name} is managed by {state.owner}, not qbroles (take its ARN "
                f"from {state.owner})"
            )
        elif not state.owned:
            problems.append(f"role {role.name} is not qbroles' (no tag ManagedBy=qbroles)")
        elif state.made_by and state.made_by != made_by:
            problems.append(f"role {role.name} was made by another spec ({state.made_by})")
        elif state.path != role.path:
            problems.append(f"role {role.name} has the path {state.path}, not {role.path}")
    missing = [roles[key].name for key, state in zip(keys, found, strict=True) if state is None]
    if missing:
        which = (
            f"role {missing[0]} does not exist, so it has"
            if len(missing) == 1
            else f"roles {' and '.join(missing)} do not exist, so they have"
        )
        problems.insert(0, f"{which} no ARN yet")
    if problems:
        raise MissingRoleError(
            f"{'; '.join(problems)}: nothing printed; run qbroles create first (qbroles plan "
            "shows what it would do)."
        )
    return {key: state.arn for key, state in zip(keys, found, strict=True) if state}


def _task_checks(
    gateway: Gateway,
    desired: Sequence[DesiredRole],
    observed: Mapping[str, RoleState | None],
    task: TaskDefinition,
    kms_key_arn: str | None,
    *,
    exec_: bool = False,
) -> dict[str, tuple[Check, ...]]:
    """Return, per role, whether it can do what starting the task needs (evaluated locally)."""
    here = gateway.source_scope()
    needs = requirements(task, here, kms_key_arn=kms_key_arn, exec_=exec_)
    documents: dict[str, Mapping[str, Any] | None] = {}

    def managed(arn: str) -> Policy:
        if arn not in documents:
            documents[arn] = gateway.managed_policy_document(arn)
        return Policy(policy_label(arn), documents[arn] or {})

    checks: dict[str, tuple[Check, ...]] = {}
    for role in desired:
        state = observed[role.name]
        if role.kind is None or state is None:
            continue
        policies = [managed(arn) for arn in sorted(state.managed_policies)]
        policies += [Policy(f"inline {n}", d or {}) for n, d in state.inline_policies.items()]
        boundary = managed(state.permissions_boundary) if state.permissions_boundary else None
        found = [
            _can(role.name, need, _decide(policies, need, boundary))
            for need in needs
            if need.kind == role.kind
        ]
        found.extend(_named_role(task, role.kind, state, here))
        checks[role.name] = tuple(found)
    return checks


def _decide(policies: Sequence[Policy], need: Requirement, boundary: Policy | None) -> Decision:
    """Return whether the policies allow a need; one with an unknown part only if every
    value of that part is allowed.

    When not every value is, but some value the policies name is (a secret's exact ARN),
    the answer depends on the real value: "depends on condition", never "allowed".
    """
    decision = evaluate(policies, need.action, need.probe, boundary=boundary)
    if not need.unknown or decision.outcome is not Outcome.NOT_ALLOWED:
        return decision
    known = need.resource.rstrip(UNKNOWN)
    width = len(need.resource) - len(known)
    candidates = {"A" * width}
    for policy in policies:
        for value in _resources(policy.document):
            if value.startswith(known):
                tail = value[len(known) :].replace("*", "A").replace("?", "A")
                candidates.add((tail + "A" * width)[:width])
    for candidate in sorted(candidates):
        some = evaluate(policies, need.action, known + candidate, boundary=boundary)
        if some.outcome is Outcome.ALLOWED:
            return Decision(Outcome.CONDITIONAL, f"{some.by}, for some values of it only")
    return decision


def _resources(document: Mapping[str, Any]) -> Iterator[str]:
    for statement in statements(document):
        if statement.get("Effect") == "Allow":
            yield from (str(value) for value in listed(statement.get("Resource", [])))


def _from_ecs(gateway: Gateway, reference: str) -> TaskDefinition:
    """Return a task definition read from ECS; InputError if it is not there."""
    found = gateway.task_definition(reference)
    if found is None:
        raise InputError(
            f"task definition {reference} is neither a file nor a task definition in ECS "
            f"({gateway.region}); check the path, family or revision."
        )
    return TaskDefinition(source=reference, document=found, raw=found)


def live_tasks(
    gateway: Gateway, observed: Mapping[str, RoleState | None]
) -> list[tuple[str, TaskDefinition]]:
    """Return (family:revision, task definition) of every ACTIVE one that uses a role here."""
    here = gateway.source_scope()
    arns = {state.arn for state in observed.values() if state is not None}
    used = []
    for document in gateway.live_task_definitions():
        task = TaskDefinition(source=str(document.get("taskDefinitionArn")), document=document)
        named = {_full_arn(arn, here) for arn in task.role_arns.values()}
        if named & arns:
            used.append((f"{document.get('family')}:{document.get('revision')}", task))
    return sorted(used, key=lambda pair: pair[0])


def _labelled(check: Check, label: str) -> Check:
    if not label:
        return check
    return replace(check, check=f"{label}: {check.check}", message=f"{label}: {check.message}")


def live_breaks(
    gateway: Gateway,
    desired: Sequence[DesiredRole],
    observed: Mapping[str, RoleState | None],
    plans: Sequence[RolePlan],
    kms_key_arn: str | None,
    severity: Severity = Severity.ERROR,
) -> dict[str, list[Check]]:
    """Return, per role, what the plan would break in the live task definitions using it.

    Each live task definition is checked against the roles as they are and as the plan
    would leave them; a check that passes now and would fail then is a break.
    """
    later = {plan.role: after(observed.get(plan.role), plan.actions) for plan in plans}
    later = {name: later[name] if observed.get(name) else None for name in later}
    breaks: dict[str, list[Check]] = {}
    for label, task in live_tasks(gateway, observed):
        now = _task_checks(gateway, desired, observed, task, kms_key_arn)
        then = _task_checks(gateway, desired, later, task, kms_key_arn)
        for name, checks in then.items():
            failing = {check.check for check in now.get(name, ()) if check.failed}
            breaks.setdefault(name, []).extend(
                Check(
                    f"live {label} after the change: {check.check}",
                    False,
                    check.expected,
                    check.actual,
                    f"live task definition {label} would no longer start: {check.message}",
                    severity,
                )
                for check in checks
                if check.failed and check.check not in failing
            )
    return {name: checks for name, checks in breaks.items() if checks}


def _full_arn(named: str, here: SourceScope) -> str:
    """Return a role ARN as ECS reads it: a bare name is a role of the caller's account."""
    if named.startswith("arn:"):
        return named
    return f"arn:{here.partition}:iam::{here.account}:role/{named}"


def _named_role(
    task: TaskDefinition, kind: RoleKind, state: RoleState, here: SourceScope
) -> Iterator[Check]:
    """Yield the check that the task definition names this role, its ARN compared whole.

    ECS takes a bare role name as a role of the caller's account; a path needs the ARN
    (RegisterTaskDefinition, executionRoleArn and taskRoleArn:
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html).
    """
    check = f"task definition {kind}RoleArn"
    named = task.role_arns.get(kind)
    if named is None:
        if kind is not RoleKind.EXECUTION:
            return
        always, fargate = needs_without_execution_role(task)
        if always or (fargate and task.on_fargate):
            yield Check(
                check,
                False,
                state.arn,
                None,
                f"the task definition names no execution role, so it cannot start: "
                f"{'; '.join(always + (fargate if task.on_fargate else []))}; set "
                f"executionRoleArn to {state.arn}",
            )
        elif fargate:
            yield Check(
                check,
                False,
                state.arn,
                None,
                f"the task definition names no execution role: on EC2 it starts only if the "
                f"container instance role can do it ({'; '.join(fargate)}); set "
                f"executionRoleArn to {state.arn}",
                Severity.WARNING,
            )
        return
    arn = _full_arn(named, here)
    if arn == state.arn:
        yield Check(check, True, state.arn, named, "names this role")
        return
    yield Check(
        check,
        False,
        state.arn,
        named,
        f"names {named}, not {state.arn}: {_differs(arn, state.arn)}",
    )


def _differs(named: str, real: str) -> str:
    """Return which part of a role ARN differs: partition, account, path or name."""
    got, want = ROLE_ARN.fullmatch(named), ROLE_ARN.fullmatch(real)
    if got is None or want is None:
        return "that is not an IAM role ARN"
    for part, label in (
        ("partition", "another partition"),
        ("account", "another account"),
        ("path", "another path"),
        ("name", "another role"),
    ):
        if got[part] != want[part]:
            return f"{label} ({got[part]}, not {want[part]})"
    return "another role"


def _can(role: str, need: Requirement, decision: Decision) -> Check:
    """Return the check of one need: allowed, a warning (it depends), or a failure."""
    outcome = decision.outcome
    severity = Severity.WARNING if outcome is Outcome.CONDITIONAL else Severity.ERROR
    if outcome is Outcome.ALLOWED:
        message = f"may {need.action} ({decision.by})"
    elif need.elsewhere and outcome is Outcome.NOT_ALLOWED:
        severity = Severity.WARNING
        message = (
            f"{role} may not {need.action} on {need.resource}, needed to {need.why}, unless "
            f"{need.elsewhere} grants it"
        )
    elif need.unknown and outcome is Outcome.CONDITIONAL:
        message = (
            f"{role} may {need.action} on {need.resource} only for some values of what the "
            f"file does not give ({need.unknown}); name the full ARN in the task definition, "
            f"or allow every value (needed to {need.why})"
        )
    elif outcome is Outcome.CONDITIONAL:
        message = f"may {need.action} on {need.resource} only under a condition ({decision.by})"
    else:
        message = f"{role} cannot {need.action} on {need.resource}, needed to {need.why}" + (
            f" ({decision})" if decision.by else ""
        )
    return Check(
        f"can {need.action}",
        outcome is Outcome.ALLOWED,
        need.resource,
        str(decision),
        message,
        severity,
    )


def resolve_spec(gateway: Gateway, spec: Spec) -> tuple[DesiredRole, ...]:
    """Return the spec made concrete; asks STS for the account only if the spec needs it."""
    scope = gateway.source_scope() if spec.needs_account else None
    return resolve(spec, scope.partition if scope else gateway.partition, scope)


def _arn(state: RoleState | None) -> str | None:
    return state.arn if state is not None else None
