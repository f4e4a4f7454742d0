"""Apply: the only code that changes IAM. Executes one role's actions, stage by stage."""

from __future__ import annotations

from functools import partial

from qbroles.errors import SafetyError
from qbroles.iam.gateway import Gateway
from qbroles.model.actions import ALL_PARTS, Action, CreateRole, DeleteRole, RolePlan, stages
from qbroles.model.events import Progress
from qbroles.reconcile.plan import unowned_refusal
from qbroles.spec.model import OWNER_TAG, policy_label


def apply_role(gateway: Gateway, plan: RolePlan, progress: Progress) -> frozenset[str]:
    """Execute one role's actions, stage by stage; return what to read back to verify them.

    The writes of one stage go out together (as many as the workers the throttling
    leaves), each stage once the one before has answered (see ``stages``). The caller
    has checked refusals, and read the role again just before (path.refresh).
    """
    fresh = False  # the role was created moments ago: IAM may not see it everywhere yet
    reads: set[str] = set()
    for stage in stages(plan.actions):
        more = f" (and {len(stage) - 1} more at once)" if len(stage) > 1 else ""
        progress.working(plan.role, stage[0].describe() + more)
        calls = [partial(_execute, gateway, plan, progress, action, fresh) for action in stage]
        went = gateway.together(calls, at_most=max(1, gateway.pacer.workers))
        for action, through in zip(stage, went, strict=True):
            reads |= action.READS
            if isinstance(action, CreateRole):
                fresh = True
                if not through:  # it was there already (ours: checked): read all of it
                    reads |= ALL_PARTS
    return frozenset(reads)


def _execute(
    gateway: Gateway, plan: RolePlan, progress: Progress, action: Action, fresh: bool
) -> bool:
    """Make one write; after CreateRole met the role already there, go on only if it is ours."""
    blocked = None
    if isinstance(action, DeleteRole):  # on DeleteConflict: still ours? what blocks it?
        blocked = partial(_blockers_if_ours, gateway, action)
    went_through = gateway.execute(action, fresh=fresh, before_retry=blocked)
    if isinstance(action, CreateRole) and not went_through:
        _confirm_ours(gateway, action.role)
    progress.done(action)
    return went_through


def _confirm_ours(gateway: Gateway, role: str) -> None:
    """After CreateRole met EntityAlreadyExists: go on only if the role that exists is ours.

    It is ours when our own create went through but its answer was lost, or when another
    qbroles run created it at the same moment; both carry the ownership tag.
    """
    state = gateway.observe(role)
    if state is not None and not state.owned:
        remedy = "someone created it while qbroles ran; rerun with --adopt to take it over"
        raise SafetyError(unowned_refusal(state, "modify", remedy))


def _blockers_if_ours(gateway: Gateway, action: DeleteRole) -> str:
    """Before DeleteRole is tried again: read the role, stop if it is no longer ours.

    Return what keeps IAM from deleting it (DeleteConflict), for the waiting message. The
    owner is read again because a colleague may have claimed the role in the meantime,
    and the id because a role deleted and created again under its name is another role.
    """
    state = gateway.observe(action.role, for_delete=True)
    if state is None:
        return "it is gone already"
    changed = action.was.changed_hands(state) if action.was else None
    if changed or not state.owned:
        changed = changed or f"it has no {OWNER_TAG[0]}={OWNER_TAG[1]} tag"
        raise SafetyError(
            f"role {action.role} changed while qbroles waited to delete it "
            f"({changed}), so it is no longer qbroles' to "
            "delete and nothing more was removed; find out who changed it, and rerun qbroles "
            "delete only if it should still go."
        )
    blockers = [
        *(f"policy {policy_label(arn)}" for arn in sorted(state.managed_policies)),
        *(f"inline policy {name}" for name in sorted(state.inline_policies)),
        *(f"instance profile {name}" for name in state.instance_profiles),
    ]
    return "blocked by " + ", ".join(blockers) if blockers else "IAM has not caught up yet"
