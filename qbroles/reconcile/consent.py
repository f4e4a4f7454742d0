"""What in a plan needs a yes before the first write, and what is asked about only when
someone is at a terminal (as terraform apply asks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from qbroles.model.actions import DeleteBoundary, PutInlinePolicy, RolePlan, UpdateTrustPolicy
from qbroles.model.report import plural
from qbroles.partitions import arn_field
from qbroles.policy.documents import listed, statements

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
    whom an adopted role trusts, moving what a role grants to another region's resources
    (the least-privilege preset run with another --region: IAM roles serve every region, so
    the tasks of the old one lose what they had)."""
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
    risky += [
        f"move {action.describe().removeprefix('update ')} from the resources of "
        f"{', '.join(sorted(was))} to those of {', '.join(sorted(now))}"
        for plan in plans
        for action in plan.actions
        if isinstance(action, PutInlinePolicy) and action.before is not None
        for was, now in [(_regions(action.before), _regions(action.document))]
        if was and now and was != now
    ]
    return "; ".join(risky) if risky else None


def _regions(document: Mapping[str, Any]) -> frozenset[str]:
    """Return the regions the resource ARNs of a policy name (arn:PARTITION:SERVICE:REGION:…)."""
    arns = (
        str(resource)
        for statement in statements(document)
        for resource in listed(statement.get("Resource", []))
    )
    regions = (arn_field(arn, "region") for arn in arns)
    return frozenset(region for region in regions if region and region != "*")


def takes_away(plans: Sequence[RolePlan]) -> str | None:
    """Return what in a create's plan removes or replaces something, asked about on a
    terminal: a detach, an inline policy deleted or rewritten, a tag removed or changed,
    the trust or a boundary replaced (what the restore file keeps)."""
    count = sum(1 for plan in plans for action in plan.actions if action.removed() is not None)
    return f"apply this plan, which removes or replaces {plural(count, 'thing')}" if count else None
