"""The commands' core: spec -> observe -> plan -> apply -> verify, one role per worker."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from qbroles.catalog import DEFAULT_WORKERS, RoleKind
from qbroles.errors import AwsError, InputError, MissingRoleError, SafetyError
from qbroles.iam.gateway import Gateway
from qbroles.reconcile.actions import CreateRole, RolePlan
from qbroles.reconcile.apply import apply_role
from qbroles.reconcile.desired import DesiredRole, resolve
from qbroles.reconcile.executor import for_each, observe_all
from qbroles.reconcile.plan import after, plan_create, plan_delete, unowned_refusal
from qbroles.reconcile.preflight import policies_exist, refuse
from qbroles.reconcile.state import RoleState
from qbroles.reconcile.verify import verify_absent, verify_role
from qbroles.report.progress import Progress
from qbroles.report.report import Check, Report, RoleReport, Severity
from qbroles.spec.model import ROLE_ARN, RoleSpec, Spec

if TYPE_CHECKING:  # imported where used: only task-definition checks and verify need them
    from qbroles.reconcile.taskdef import TaskDefinition


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
    # Every difference verify would report, plan and create report too: an inline policy
    # the spec does not list (Action * on *, say) is read, shown and kept unless --prune.
    # The listing goes out with GetRole: two more requests, no more round trips.
    observed = observe_all(gateway, spec.names, workers, progress)
    plans = plan_create(desired, observed, adopt=adopt, prune=prune)
    refuse(plans)
    policies_exist(gateway, plans)
    changing = [plan for plan in plans if plan.actions]
    breaks: dict[str, list[Check]] = {}
    if check_live and changing:
        from qbroles.reconcile.taskcheck import live_breaks

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
            parts = apply_role(gateway, plan, progress)
            progress.working(plan.role, "reading it back to verify")
            # Only what the writes changed is read again; a new role, from the role as made.
            before = observed[plan.role] or after(None, plan.actions[:1])
            fresh = None if before is None else gateway.reread(before, parts)
            progress.finished(plan.role)
            return fresh

        fresh = for_each(changing, apply_and_reread, workers, gateway.pacer)
        observed |= {plan.role: state for plan, state in zip(changing, fresh, strict=True)}
    from qbroles.policy.findings import findings

    reports = []
    for role, plan in zip(desired, plans, strict=True):
        state = observed[role.name]
        # The security findings of the role as the plan leaves it: what it would grant.
        leaves = after(state, plan.actions) if dry_run else state
        found = (
            ()
            if leaves is None
            else findings(role.name, leaves, kms_key_arn=kms_key_arn, kind=role.kind)
        )
        checks = verify_role(role, state, tolerate_extra=not prune)
        reports.append(
            RoleReport(
                name=role.name,
                arn=_arn(state),
                changes=plan.actions,
                checks=(*checks, *found, *breaks.get(role.name, ())),
            )
        )
    roles = tuple(reports)
    return Report("create", dry_run=dry_run, roles=roles, changed=bool(changing), spec=_named(spec))


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
    from qbroles.policy.findings import findings
    from qbroles.reconcile.taskcheck import from_ecs, labelled, live_tasks, task_checks

    desired = resolve_spec(gateway, spec)
    observed = observe_all(gateway, spec.names, workers, progress)
    tasks: list[tuple[str, TaskDefinition]] = [("", task)] if task else []
    if task_reference:
        tasks.append(("", from_ecs(gateway, task_reference)))
    if live:
        tasks += [(f"live {label}", found) for label, found in live_tasks(gateway, observed)]
    can: dict[str, list[Check]] = {}
    for label, one in tasks:
        found_checks = task_checks(gateway, desired, observed, one, kms_key_arn, exec_=exec_)
        for name, checks in found_checks.items():
            can.setdefault(name, []).extend(labelled(check, label) for check in checks)
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
    return Report("verify", dry_run=False, roles=tuple(roles), spec=_named(spec))


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
    digests = {role.name: role.digest for role in spec.roles}
    plans = plan_delete(spec.names, observed, made_by=spec.identity, digests=digests, adopt=adopt)
    refuse(plans)
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
    return Report("delete", dry_run=dry_run, roles=roles, changed=bool(changing), spec=_named(spec))


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
    refuse(refusals)
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


def resolve_spec(gateway: Gateway, spec: Spec) -> tuple[DesiredRole, ...]:
    """Return the spec made concrete; asks STS for the account only if the spec needs it."""
    scope = gateway.source_scope() if spec.needs_account else None
    return resolve(spec, scope.partition if scope else gateway.partition, scope)


def _named(spec: Spec) -> dict[str, str]:
    """Return which spec a report is of: where it came from, and its app."""
    return {"source": spec.source, "app": spec.app}


def _arn(state: RoleState | None) -> str | None:
    return state.arn if state is not None else None
