"""What in a create's plan needs a yes before the first write, and what is asked about only
when someone is at a terminal (as terraform apply asks)."""

from __future__ import annotations

from collections.abc import Sequence

from qbroles.reconcile.actions import DeleteBoundary, RolePlan, UpdateTrustPolicy


def needs_yes(plans: Sequence[RolePlan]) -> str | None:
    """Return what in a create's plan needs a yes: applying a spec other than the one that
    set a role (a change of mind: another preset, an edited file), widening a role, changing
    whom an adopted role trusts."""
    risky = [
        f"apply this spec to {plan.role}, last set by {plan.other_spec}"
        for plan in plans
        if plan.other_spec
    ]
    risky += [
        action.describe()
        for plan in plans
        for action in plan.actions
        if isinstance(action, DeleteBoundary)
        or (plan.adopting and isinstance(action, UpdateTrustPolicy))
    ]
    return "; ".join(risky) if risky else None


def takes_away(plans: Sequence[RolePlan]) -> str | None:
    """Return what in a create's plan removes or replaces something, asked about on a
    terminal: a detach, an inline policy deleted or rewritten, a tag removed or changed,
    the trust or a boundary replaced (what the restore file keeps)."""
    count = sum(1 for plan in plans for action in plan.actions if action.removed() is not None)
    return f"apply this plan, which removes or replaces {count} thing(s)" if count else None
