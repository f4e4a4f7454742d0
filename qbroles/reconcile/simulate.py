"""--simulate: IAM's policy simulator as a second opinion on each need, where it differs
from qbroles' own evaluation."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from qbroles.iam.gateway import Gateway
from qbroles.iam.policies import simulated
from qbroles.model.checks import Check, CheckKind, Severity
from qbroles.policy.evaluate import Decision, Outcome
from qbroles.reconcile.needs import Requirement


def second_opinion(
    gateway: Gateway, role: str, role_arn: str, decided: Sequence[tuple[Requirement, Decision]]
) -> Iterator[Check]:
    """Yield, for each need qbroles settled from the role's own policies, what IAM's
    simulator says: agreed (ok), or where it differs. One call per resource.

    The simulator also applies the organization's service control policies, which qbroles
    cannot read: where it denies what qbroles allows, IAM is right and the check fails.
    Where it allows what qbroles does not, qbroles' failure stands and the difference is a
    warning to look into. A need whose answer depends on a condition or an unknown is not
    compared: the simulator sees no request context either.
    """
    settled = {Outcome.ALLOWED, Outcome.DENIED, Outcome.NOT_ALLOWED}
    by_resource: dict[str, list[tuple[Requirement, Decision]]] = {}
    for need, decision in decided:
        if decision.outcome in settled and not need.unknown:
            by_resource.setdefault(need.resource, []).append((need, decision))
    for resource, pairs in by_resource.items():
        answers = simulated(gateway, role_arn, sorted({need.action for need, _ in pairs}), resource)
        for need, decision in pairs:
            answer = answers.get(need.action, {})
            says = str(answer.get("EvalDecision", "no answer"))
            ours = decision.outcome is Outcome.ALLOWED
            if (says == "allowed") == ours:
                yield Check(
                    f"simulated {need.action}",
                    True,
                    str(decision),
                    says,
                    f"IAM's policy simulator agrees: {says}",
                    kind=CheckKind.TASK,
                )
                continue
            scp = (answer.get("OrganizationsDecisionDetail") or {}).get("AllowedByOrganizations")
            why = ", by the organization's service control policies" if scp is False else ""
            if ours:
                message = (
                    f"IAM's policy simulator denies {need.action} on {resource} to {role} "
                    f"({says}{why}), where qbroles' own evaluation allows it: IAM sees what "
                    f"qbroles cannot (SCPs); it is needed to {need.why}"
                )
                severity = Severity.ERROR
            else:
                message = (
                    f"IAM's policy simulator allows {need.action} on {resource} to {role}, "
                    f"where qbroles' own evaluation does not ({decision}); compare the two "
                    "before trusting either"
                )
                severity = Severity.WARNING
            yield Check(
                f"simulated {need.action}",
                False,
                str(decision),
                says,
                message,
                severity,
                kind=CheckKind.TASK,
            )
