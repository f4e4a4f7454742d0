"""The one path every change takes once planned: the Plan value, the fresh read, apply, report.

observe + plan (engine) -> show + consent (the command layer) -> ``refresh``: each role
read again just before its first write -> the restore file from that read -> ``apply``:
the only writes -> verify, from the re-read -> the Report. create, delete and restore
all take it; nothing here asks a question or writes a file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from qbroles.errors import SafetyError
from qbroles.iam.gateway import Gateway
from qbroles.model.actions import ALL_PARTS, Action, DeleteRole, RolePlan
from qbroles.model.checks import Check
from qbroles.model.effects import after
from qbroles.model.events import Progress
from qbroles.model.report import Report, RoleReport
from qbroles.model.state import RoleState
from qbroles.reconcile.apply import apply_role
from qbroles.reconcile.consent import needs_yes
from qbroles.reconcile.desired import CreateOptions, DesiredRole
from qbroles.reconcile.executor import for_each

# Plan one role again from a fresh read of it (None: it does not exist).
Replan = Callable[[str, RoleState | None], RolePlan]
# The checks of one role: as IAM holds it, and (a dry run) with its plan's actions to come.
Assess = Callable[[RolePlan, RoleState | None, bool], tuple[Check, ...]]


@dataclass(frozen=True)
class Plan:
    """What a change will do, role by role, and what it was planned from: a value the
    command layer holds, shows, asks about, and hands back to ``refresh`` and ``apply``."""

    command: str  # create (or plan, its dry run), delete, restore
    roles: tuple[RolePlan, ...]
    observed: Mapping[str, RoleState | None]
    replan: Replan
    assess: Assess
    spec: Mapping[str, str] | None = None  # the active spec, for the report (None: restore)
    for_delete: bool = False  # a role's removal needs its instance profiles read too
    account: str | None = None  # the roles' account, where it was read (restore's question)
    live: tuple[str, ...] | None = None  # the live task definitions checked (None: not asked)
    # A create's plan: the roles and options it was made from, what a saved plan records.
    desired: tuple[DesiredRole, ...] = ()
    options: CreateOptions | None = None

    @property
    def changing(self) -> tuple[RolePlan, ...]:
        """Return the plans of the roles something will be done to."""
        return tuple(plan for plan in self.roles if plan.actions)


def at_stake(plan: RolePlan) -> list[tuple[str, Any]]:
    """Return what a role's plan removes or replaces, with the value IAM holds now, and
    whose spec it overrides: what a yes was given to."""
    stake: list[tuple[str, Any]] = [
        (action.describe(), action.removed())
        for action in plan.actions
        if action.removed() is not None
    ]
    if plan.other_spec:
        stake.append((f"apply this spec to {plan.role}, last set by {plan.other_spec}", None))
    if plan.adopting:
        stake.append((f"take over {plan.role}", None))
    return stake


def refresh(
    gateway: Gateway, plan: Plan, *, workers: int, progress: Progress
) -> tuple[Plan, tuple[str, ...]]:
    """Read each changing role again just before its first write, and plan it again.

    Return the plan from that read, and what it now removes or replaces that the plan
    shown did not (empty: go ahead; otherwise ask again, or stop). A role whose owner or
    IAM id changed since it was read, or whose new plan is refused, stops the run before
    any write (SafetyError, exit 4). A role still to be created is not read: CreateRole
    itself refuses a name taken meanwhile (see apply's EntityAlreadyExists check).
    """

    def read(role_plan: RolePlan) -> RoleState | None:
        before = plan.observed[role_plan.role]
        if before is None:
            return None
        progress.working(role_plan.role, "reading it again before the first write")
        if plan.for_delete:
            fresh = gateway.observe(role_plan.role, for_delete=True)
        else:
            # GetRole for the owner, the id and the tags; the policies too where the plan
            # removes or replaces something (the inline document, the attached set).
            takes = any(action.removed() is not None for action in role_plan.actions)
            fresh = gateway.reread(before, ALL_PARTS if takes else frozenset({"role"}))
        progress.finished(role_plan.role)
        return fresh

    changing = plan.changing
    states = for_each(gateway, changing, read, workers)
    observed = dict(plan.observed)
    replanned = {role_plan.role: role_plan for role_plan in plan.roles}
    moved: list[str] = []
    drift: list[str] = []
    for role_plan, state in zip(changing, states, strict=True):
        before = observed[role_plan.role]
        if before is None:
            continue  # to be created: nothing was read that could have changed
        change = before.changed_hands(state, gone_ok=plan.for_delete)
        if change:
            moved.append(
                f"role {role_plan.role} changed since qbroles read it ({change}), so nothing "
                "was changed; find out who changed it, then rerun to see the new plan."
            )
            continue
        new = plan.replan(role_plan.role, state)
        if new.refusal:
            moved.append(
                f"{new.refusal[0].upper()}{new.refusal[1:]} (so it is now, since "
                "qbroles read it; nothing was changed.)"
            )
            continue
        shown = at_stake(role_plan)
        added = [item for item in at_stake(new) if item not in shown]
        if added:
            seen = {described for described, _ in shown}
            what = "; ".join(
                f"{described}, which is not what it was" if described in seen else described
                for described, _ in added
            )
            drift.append(f"role {role_plan.role} changed since the plan was made (now: {what})")
        observed[role_plan.role] = state
        replanned[role_plan.role] = new
    if moved:
        raise SafetyError(" ".join(moved))
    roles = tuple(replanned[role_plan.role] for role_plan in plan.roles)
    return replace(plan, roles=roles, observed=observed), tuple(drift)


def stop_if(drift: Sequence[str], *, shown: bool = False) -> None:
    """Stop before any write if roles changed since their plan was made (exit 4), when
    nobody is there to be asked again: the yes given was to the plan as it was."""
    if drift:
        raise SafetyError(
            f"{'; '.join(drift)}; a yes to the plan as {'shown' if shown else 'made'} is no yes "
            "to this, so nothing was changed; rerun to see the new plan."
        )


def apply(
    gateway: Gateway,
    plan: Plan,
    *,
    workers: int,
    progress: Progress,
    backup: str | None = None,
) -> Report:
    """Make the plan's writes, role by role at the same time; read back what they changed
    and report the roles verified. ``backup``: the restore file written before them."""

    def one(role_plan: RolePlan) -> RoleState | None:
        parts = apply_role(gateway, role_plan, progress)
        state = None
        if not isinstance(role_plan.actions[-1], DeleteRole):  # gone: no read needed
            progress.working(role_plan.role, "reading it back to verify")
            # Only what the writes changed is read again; a new role, from the role as made.
            before = plan.observed[role_plan.role] or after(None, role_plan.actions[:1])
            state = None if before is None else gateway.reread(before, parts)
        progress.finished(role_plan.role)
        return state

    changing = plan.changing
    fresh = for_each(gateway, changing, one, workers)
    observed = {**plan.observed, **{p.role: s for p, s in zip(changing, fresh, strict=True)}}
    return report(plan, observed, dry_run=False, backup=backup)


def report(
    plan: Plan,
    observed: Mapping[str, RoleState | None] | None = None,
    *,
    dry_run: bool,
    backup: str | None = None,
) -> Report:
    """Return the report of the plan: applied (the roles as ``observed`` after it), or
    pending (a dry run, or nothing to do: the roles as read)."""
    seen = plan.observed if observed is None else observed
    roles = tuple(
        RoleReport(
            name=role_plan.role,
            arn=_arn(seen[role_plan.role]),
            changes=role_plan.actions or role_plan.would,
            checks=plan.assess(role_plan, seen[role_plan.role], dry_run),
            refusal=role_plan.refusal,
            allowed_by=role_plan.allowed_by,
        )
        for role_plan in plan.roles
    )
    asked = needs_yes(plan.changing) if dry_run and plan.command in ("create", "plan") else None
    return Report(
        plan.command,
        dry_run=dry_run,
        needs_yes=asked,
        roles=roles,
        changed=bool(plan.changing),
        backup=backup,
        spec=plan.spec,
        live=plan.live,
        flags=plan.options.flags if plan.options is not None else "",
    )


def leaves(state: RoleState | None, actions: Sequence[Action], dry_run: bool) -> RoleState | None:
    """Return the role a check should judge: as the plan leaves it in a dry run, else as read."""
    return after(state, actions) if dry_run else state


def _arn(state: RoleState | None) -> str | None:
    return state.arn if state is not None else None
