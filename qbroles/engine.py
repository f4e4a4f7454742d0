"""The commands' core: spec -> observe -> plan -> apply -> verify, one role per worker."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from qbroles.apply import apply_role
from qbroles.aws import Gateway
from qbroles.desired import DesiredRole, resolve
from qbroles.errors import SafetyError
from qbroles.findings import findings
from qbroles.model import Report, RolePlan, RoleReport, RoleState
from qbroles.plan import plan_create, plan_delete
from qbroles.spec import Spec
from qbroles.verify import verify_absent, verify_role

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_WORKERS = 4  # IAM throttles hard: a few roles at a time overlap latency without a storm


def for_each(items: Sequence[T], work: Callable[[T], R], workers: int) -> list[R]:
    """Run ``work`` on every item, at most ``workers`` at a time; results in the items' order.

    Every item runs to its end even when another fails (roles are independent); then the
    first failure, in the items' order, is raised.
    """
    if workers <= 1 or len(items) <= 1:
        return [work(item) for item in items]
    pool = ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="qbroles")
    try:
        futures = [pool.submit(work, item) for item in items]
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
    gateway: Gateway, names: Sequence[str], workers: int, *, for_delete: bool = False
) -> dict[str, RoleState | None]:
    """Read every named role (and nothing else) from IAM."""
    states = for_each(names, lambda name: gateway.observe(name, for_delete=for_delete), workers)
    return dict(zip(names, states, strict=True))


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
    workers: int = DEFAULT_WORKERS,
) -> Report:
    """Make IAM match the spec and verify what changed.

    Refuses, before any write, if a role of the spec exists and is not qbroles'.
    """
    desired = resolve_spec(gateway, spec)
    observed = observe_all(gateway, spec.names, workers)
    plans = plan_create(desired, observed, adopt=adopt, prune=prune)
    _refuse(plans)
    changing = [plan for plan in plans if plan.actions]
    if changing and not dry_run:
        for_each(changing, lambda plan: apply_role(gateway, plan), workers)
        observed |= observe_all(gateway, [plan.role for plan in changing], workers)
    roles = tuple(
        RoleReport(
            name=role.name,
            arn=_arn(observed[role.name]),
            changes=plan.actions,
            checks=verify_role(role, observed[role.name], tolerate_extra=not prune),
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
    workers: int = DEFAULT_WORKERS,
) -> Report:
    """Compare IAM with the spec, check by check, and add the security findings. Read only.

    Findings are warnings; ``strict`` makes them failures.
    """
    desired = resolve_spec(gateway, spec)
    observed = observe_all(gateway, spec.names, workers)
    roles = []
    for role in desired:
        state = observed[role.name]
        found = (
            ()
            if state is None
            else findings(role.name, state, strict=strict, kms_key_arn=kms_key_arn)
        )
        roles.append(
            RoleReport(
                name=role.name,
                arn=_arn(state),
                checks=(*verify_role(role, state), *found),
            )
        )
    return Report("verify", dry_run=False, roles=tuple(roles))


def delete(
    gateway: Gateway,
    spec: Spec,
    *,
    dry_run: bool = False,
    confirm: Callable[[Sequence[RolePlan]], bool] = lambda plans: True,
    workers: int = DEFAULT_WORKERS,
) -> Report:
    """Remove the spec's roles that qbroles owns, and what IAM requires removed first.

    Refuses before any write if a role is not ours; ``confirm`` sees the plan and may say no.
    """
    observed = observe_all(gateway, spec.names, workers, for_delete=True)
    plans = plan_delete(spec.names, observed)
    _refuse(plans)
    changing = [plan for plan in plans if plan.actions]
    if changing and not dry_run:
        if not confirm(changing):
            raise SafetyError("delete not confirmed; nothing was changed.")
        for_each(changing, lambda plan: apply_role(gateway, plan), workers)
        observed |= observe_all(gateway, [plan.role for plan in changing], workers)
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


def resolve_spec(gateway: Gateway, spec: Spec) -> tuple[DesiredRole, ...]:
    """Return the spec made concrete; asks STS for the account only if the spec needs it."""
    scope = gateway.source_scope() if spec.needs_account else None
    return resolve(spec, scope.partition if scope else gateway.partition, scope)


def _arn(state: RoleState | None) -> str | None:
    return state.arn if state is not None else None
