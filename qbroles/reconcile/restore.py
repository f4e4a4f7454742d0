"""restore as a plan like any other: what of a restore file still needs doing to each role,
whose account the file is of, and what in it widens access (asked before it is done)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from qbroles.catalog import DEFAULT_WORKERS
from qbroles.errors import SafetyError
from qbroles.iam.gateway import Gateway
from qbroles.model.actions import (
    Action,
    AddToInstanceProfile,
    AttachPolicy,
    CreateRole,
    PutBoundary,
    PutInlinePolicy,
    RolePlan,
    UpdateTrustPolicy,
)
from qbroles.model.checks import Check
from qbroles.model.effects import after
from qbroles.model.events import Progress
from qbroles.model.state import RoleState
from qbroles.policy.trust import outside_principals
from qbroles.reconcile import path
from qbroles.reconcile.executor import observe_all
from qbroles.reconcile.plan import unowned_refusal
from qbroles.reconcile.preflight import policies_exist, refuse
from qbroles.spec.model import OWNER_TAG, ROLE_ARN

if TYPE_CHECKING:
    from qbroles.reconcile.backup import RestoreFile


def plan_restore(wanted: RolePlan, state: RoleState | None) -> RolePlan:
    """Return what of the file's actions for one role is still to do. Pure.

    Only a role qbroles owns is touched, or a missing one made again (tagged as qbroles'
    own, whatever the file says, so that delete and create know it); a role that exists
    is not made again. An action whose effect IAM already holds is left out, so a restore
    with nothing left to put back changes nothing.
    """
    name = wanted.role
    if state is not None and not state.owned:
        remedy = "put back what you need by hand, from the file"
        return RolePlan(name, refusal=unowned_refusal(state, "restore", remedy))
    actions = list(wanted.actions)
    if state is None:
        if not isinstance(actions[0], CreateRole):
            return RolePlan(
                name,
                refusal=f"role {name} does not exist any more, and the restore file does "
                "not create it; run qbroles create first, then restore again.",
            )
        actions[0] = _owned(actions[0])
    else:
        actions = [action for action in actions if not isinstance(action, CreateRole)]
    needed: list[Action] = []
    current = state
    for action in actions:
        then = after(current, [action])
        if then != current or isinstance(action, CreateRole):
            needed.append(action)
        current = then
    return RolePlan(name, tuple(needed), role_id=state.role_id if state else "")


def _owned(create: CreateRole) -> CreateRole:
    key = OWNER_TAG[0].lower()
    tags = {k: v for k, v in create.tags.items() if k.lower() != key}
    return replace(create, tags={**tags, OWNER_TAG[0]: OWNER_TAG[1]})


def account_of(observed: Mapping[str, RoleState | None]) -> str | None:
    """Return the account of the roles as read (None: none of them exists)."""
    for state in observed.values():
        found = ROLE_ARN.fullmatch(state.arn) if state else None
        if found:
            return found["account"]
    return None


def elsewhere(
    path: str,
    accounts: frozenset[str],
    partitions: frozenset[str],
    account: str | None,
    partition: str,
) -> str | None:
    """Return why a restore file from another account or partition is refused (None: it is
    of this one, or names none)."""
    other = sorted(partitions - {partition})
    if other:
        return (
            f"restore file {path} is of the partition {other[0]} (its ARNs say so), and this "
            f"run is in {partition}; a restore file goes back only where it came from, so "
            "nothing was changed."
        )
    foreign = sorted(accounts - {account}) if account else []
    if foreign:
        return (
            f"restore file {path} is of account {', '.join(foreign)} (its header or ARNs "
            f"say so), and these credentials are of account {account}; a restore file goes back "
            "only into the account it came from, so nothing was changed (copy what you need "
            "into a spec for that account instead)."
        )
    return None


def widens(plans: Sequence[RolePlan], account: str | None) -> str | None:
    """Return what in a restore's plans grants access, for the yes it needs: a role made
    again, a trust (naming whom it trusts outside the account), a policy attached or put,
    a boundary set, an instance profile (None: only tags and descriptions)."""
    granted = []
    for plan in plans:
        for action in plan.actions:
            match action:
                case CreateRole(trust=trust) | UpdateTrustPolicy(trust=trust):
                    outside = outside_principals(trust, account)
                    where = f", trusting {', '.join(outside)} outside this account"
                    granted.append(action.describe() + (where if outside else ""))
                case AttachPolicy() | PutInlinePolicy() | PutBoundary() | AddToInstanceProfile():
                    granted.append(action.describe())
    return f"restore what grants access: {'; '.join(granted)}" if granted else None


def restore_plan(
    gateway: Gateway,
    restoring: RestoreFile,
    *,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> path.Plan:
    """Return the plan that puts back what a run removed, from its restore file (additions
    and rewrites only; what IAM already holds is left out).

    Refuses before any write (exit 4) a file of another account or partition, a role that
    exists and is not qbroles', a role that is gone when the file cannot create it again;
    stops (exit 2) if a managed policy it attaches does not exist.
    """
    from qbroles.reconcile.findings import findings

    progress = progress or Progress()
    wanted = {plan.role: plan for plan in restoring.plans}
    observed = observe_all(gateway, list(wanted), workers, progress)
    account = account_of(observed)
    if account is None and restoring.accounts:  # none of its roles exists: ask STS
        account = gateway.source_scope(
            f"restore file {restoring.path} names its account, and restore must know whose "
            "credentials these are to compare"
        ).account
    refused = elsewhere(
        restoring.path, restoring.accounts, restoring.partitions, account, gateway.partition
    )
    if refused:
        raise SafetyError(refused)

    def replan(name: str, state: RoleState | None) -> RolePlan:
        return plan_restore(wanted[name], state)

    def assess(plan: RolePlan, state: RoleState | None, dry_run: bool) -> tuple[Check, ...]:
        leaves = path.leaves(state, plan.actions, dry_run)  # what the restored role grants
        return () if leaves is None else findings(plan.role, leaves)

    plans = tuple(replan(name, observed[name]) for name in wanted)
    refuse(plans)
    policies_exist(gateway, plans)
    return path.Plan("restore", plans, observed, replan, assess, account=account)
