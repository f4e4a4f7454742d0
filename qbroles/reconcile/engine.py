"""The commands' core: spec -> observe -> plan, then the one path (reconcile.path) to apply it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from qbroles.catalog import DEFAULT_WORKERS, RoleKind
from qbroles.errors import InputError, SafetyError
from qbroles.iam.gateway import Gateway
from qbroles.model.actions import RolePlan
from qbroles.model.checks import Check, Severity
from qbroles.model.events import Progress
from qbroles.model.report import Report, RoleReport
from qbroles.model.state import RoleState
from qbroles.reconcile import path
from qbroles.reconcile.desired import CreateOptions, DesiredRole, resolve
from qbroles.reconcile.executor import observe_all
from qbroles.reconcile.plan import plan_delete, plan_role
from qbroles.reconcile.preflight import policies_exist, refuse
from qbroles.reconcile.verify import verify_absent, verify_role
from qbroles.spec.model import Spec

if TYPE_CHECKING:  # imported where used: only task-definition checks and verify need them
    from qbroles.reconcile.backup import RestoreFile
    from qbroles.reconcile.taskdef import TaskDefinition


def create_plan(
    gateway: Gateway,
    spec: Spec,
    *,
    command: str = "create",
    adopt: bool = False,
    prune: bool = False,
    dry_run: bool = False,
    check_live: bool = False,
    force: bool = False,
    kms_key_arn: str | None = None,
    live_regions: tuple[str, ...] = (),
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> path.Plan:
    """Return what makes IAM match the spec, from one read of its roles. No write.

    Refuses (SafetyError, exit 4) if a role of the spec exists and is not qbroles' (a dry
    run plans it all the same, marked with its refusal, and reports exit 4 after it), and
    stops (exit 2) if a managed policy to attach does not exist; with ``check_live``,
    refuses a change that would break a live task definition unless ``force`` or a dry run.
    """
    progress = progress or Progress()
    desired = resolve_spec(gateway, spec)
    # Every difference verify would report, plan and create report too: an inline policy
    # the spec does not list (Action * on *, say) is read, shown and kept unless --prune.
    # The listing goes out with GetRole: two more requests, no more round trips.
    observed = observe_all(gateway, spec.names, workers, progress)
    options = CreateOptions(adopt, prune, check_live, kms_key_arn, live_regions)
    return plan_create(
        gateway, command, desired, observed, options, spec=spec, dry_run=dry_run, force=force
    )


def plan_create(
    gateway: Gateway,
    command: str,
    desired: tuple[DesiredRole, ...],
    observed: Mapping[str, RoleState | None],
    options: CreateOptions,
    *,
    spec: Spec | Mapping[str, str],
    dry_run: bool,
    force: bool = False,
) -> path.Plan:
    """Return create's plan of the desired roles from the roles as ``observed`` (as
    ``create_plan``; a saved plan's roles come this way too, with its options)."""
    by_name = {role.name: role for role in desired}
    prune, kms_key_arn = options.prune, options.kms_key_arn

    def replan(name: str, state: RoleState | None) -> RolePlan:
        return plan_role(by_name[name], state, adopt=options.adopt, prune=prune)

    plans = tuple(replan(role.name, observed[role.name]) for role in desired)
    if not dry_run:  # a plan shows every role, a refused one marked, and exits 4 after it
        refuse(plans)
    policies_exist(gateway, plans)
    breaks: dict[str, list[Check]] = {}
    checked_live: tuple[str, ...] | None = None
    if options.check_live and any(plan.actions for plan in plans):
        from qbroles.reconcile.live import live_breaks

        severity = Severity.WARNING if force and not dry_run else Severity.ERROR
        breaks, labels = live_breaks(
            gateway, desired, observed, plans, kms_key_arn, severity, options.live_regions
        )
        checked_live = tuple(labels)
        if breaks and not dry_run and not force:
            broken = "; ".join(check.message for checks in breaks.values() for check in checks)
            raise SafetyError(
                f"the change would break live task definitions: {broken}; nothing was changed "
                "(qbroles plan --check-live-task-definitions shows them; --force goes ahead)."
            )

    def assess(plan: RolePlan, state: RoleState | None, dry_run: bool) -> tuple[Check, ...]:
        from qbroles.reconcile.findings import findings

        role = by_name[plan.role]
        # The security findings of the role as the plan leaves it: what it would grant.
        leaves = path.leaves(state, plan.actions, dry_run)
        found = (
            ()
            if leaves is None
            else findings(role.name, leaves, kms_key_arn=kms_key_arn, kind=role.kind)
        )
        checks = verify_role(role, state, pruning=prune)
        return (*checks, *found, *breaks.get(role.name, ()))

    named = _named(spec) if isinstance(spec, Spec) else spec
    return path.Plan(
        command,
        plans,
        observed,
        replan,
        assess,
        spec=named,
        live=checked_live,
        desired=desired,
        options=options,
    )


def delete_plan(
    gateway: Gateway,
    spec: Spec,
    *,
    adopt: bool = False,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
    dry_run: bool = False,
) -> path.Plan:
    """Return what removes the spec's roles that qbroles owns, in the order IAM requires.

    Refuses before any write if a role is not ours, or (unless ``adopt``) was made by
    another spec; a dry run shows every role, a refused one marked, and exits 4 after it,
    as create's does.
    """
    progress = progress or Progress()
    observed = observe_all(gateway, spec.names, workers, progress, for_delete=True)
    digests = {role.name: role.digest for role in spec.roles}

    def replan(name: str, state: RoleState | None) -> RolePlan:
        (plan,) = plan_delete(
            [name], {name: state}, made_by=spec.identity, digests=digests, adopt=adopt
        )
        return plan

    def assess(plan: RolePlan, state: RoleState | None, dry_run: bool) -> tuple[Check, ...]:
        return () if dry_run else verify_absent(plan.role, state)

    plans = tuple(replan(name, observed[name]) for name in spec.names)
    if not dry_run:
        refuse(plans)
    return path.Plan("delete", plans, observed, replan, assess, spec=_named(spec), for_delete=True)


def carry_out(
    gateway: Gateway,
    plan: path.Plan,
    *,
    dry_run: bool = False,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> Report:
    """Take a plan down the path with its consent given and nobody to ask again: the fresh
    read, then the writes (a dry run, or nothing to do: the report alone). A role that
    changed since the plan was made stops the run before any write (exit 4)."""
    progress = progress or Progress()
    if dry_run or not plan.changing:
        return path.report(plan, dry_run=dry_run)
    fresh, drift = path.refresh(gateway, plan, workers=workers, progress=progress)
    path.stop_if(drift)
    return path.apply(gateway, fresh, workers=workers, progress=progress)


def create(
    gateway: Gateway,
    spec: Spec,
    *,
    dry_run: bool = False,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
    **options: Any,
) -> Report:
    """Make IAM match the spec and verify it (``create_plan``'s options), consent given."""
    plan = create_plan(
        gateway, spec, dry_run=dry_run, workers=workers, progress=progress, **options
    )
    return carry_out(gateway, plan, dry_run=dry_run, workers=workers, progress=progress)


def delete(
    gateway: Gateway,
    spec: Spec,
    *,
    dry_run: bool = False,
    adopt: bool = False,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> Report:
    """Remove the spec's roles that qbroles owns (``delete_plan``), consent given."""
    plan = delete_plan(gateway, spec, adopt=adopt, workers=workers, progress=progress)
    return carry_out(gateway, plan, dry_run=dry_run, workers=workers, progress=progress)


def restore(
    gateway: Gateway,
    restoring: RestoreFile,
    *,
    dry_run: bool = False,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> Report:
    """Put back what a restore file holds (``restore.restore_plan``), consent given."""
    from qbroles.reconcile.restore import restore_plan

    plan = restore_plan(gateway, restoring, workers=workers, progress=progress)
    return carry_out(gateway, plan, dry_run=dry_run, workers=workers, progress=progress)


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
    resources: bool = True,
    live_regions: tuple[str, ...] = (),
    simulate: bool = False,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> Report:
    """Compare IAM with the spec, check by check, and add the security findings. Read only.

    Findings are warnings; ``strict`` makes them failures. With a task definition (a file,
    or ``task_reference``: one read from ECS), also check that its roles can do what
    starting that task needs; ``live``: every ACTIVE task definition that uses the roles.
    ``resources``: also read what each one names and judge its side (the default). Each
    task definition gets a verdict: starts, starts if (its unknowns hold; ``strict``
    fails it), starts but, or cannot start.
    """
    progress = progress or Progress()
    if (task or task_reference or live) and not any(
        role.kind is RoleKind.EXECUTION for role in spec.roles
    ):
        raise InputError(
            '--task-definition needs a role with kind = "execution" in the spec; '
            "the presets have one."
        )
    from qbroles.reconcile.findings import findings
    from qbroles.reconcile.live import checked, live_tasks
    from qbroles.reconcile.live import live_regions as live_regions_of
    from qbroles.reconcile.taskcheck import from_ecs

    desired = resolve_spec(gateway, spec)
    observed = observe_all(gateway, spec.names, workers, progress)
    tasks: list[tuple[str, TaskDefinition]] = [("", task)] if task else []
    if task_reference:
        tasks.append(("", from_ecs(gateway, task_reference)))
    if live:
        regions = live_regions_of(gateway, live_regions)
        tasks += [(f"live {label}", one) for label, one in live_tasks(gateway, observed, regions)]
    can, verdicts = checked(
        gateway,
        desired,
        observed,
        tasks,
        kms_key_arn,
        exec_=exec_,
        resources=resources,
        simulate=simulate,
    )
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
    return Report(
        "verify",
        dry_run=False,
        roles=tuple(roles),
        spec=_named(spec),
        tasks=tuple(verdicts),
        strict=strict,
    )


def resolve_spec(gateway: Gateway, spec: Spec) -> tuple[DesiredRole, ...]:
    """Return the spec made concrete; asks STS for the account only if the spec needs it."""
    scope = gateway.source_scope() if spec.needs_account else None
    return resolve(spec, scope.partition if scope else gateway.partition, scope)


def _named(spec: Spec) -> dict[str, str]:
    """Return which spec a report is of: where it came from, and its app."""
    return {"source": spec.source, "app": spec.app}


def _arn(state: RoleState | None) -> str | None:
    return state.arn if state is not None else None
