"""What in a plan needs a yes before the first write, and what is asked about only when
someone is at a terminal (as terraform apply asks)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from qbroles.model.actions import DeleteBoundary, RolePlan, UpdateTrustPolicy

if TYPE_CHECKING:
    from qbroles.reconcile.path import Plan


def asks(plan: Plan) -> tuple[str | None, str | None]:
    """Return what the plan needs a yes for (asked on a terminal, --yes off one), and what
    is asked about only on a terminal (off one, the options given are the consent)."""
    changing = plan.changing
    if plan.command == "delete":
        return "delete these roles", None
    if plan.command == "restore":
        from qbroles.reconcile.restore import widens

        return widens(changing, plan.account), "put these back"
    return needs_yes(changing), takes_away(changing)


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
