"""Task definitions against the roles: can they start the task; what would a change break?"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from qbroles.catalog import RoleKind
from qbroles.errors import InputError
from qbroles.iam.ecs import task_definition
from qbroles.iam.gateway import Gateway
from qbroles.iam.policies import managed_policy_document
from qbroles.model.checks import Check, CheckKind, Severity
from qbroles.model.state import RoleState
from qbroles.policy.documents import SourceScope, listed, statements
from qbroles.policy.evaluate import Decision, Outcome, Policy, evaluate
from qbroles.policy.sides import combine
from qbroles.reconcile.desired import DesiredRole
from qbroles.reconcile.needs import UNKNOWN, Requirement
from qbroles.reconcile.resources import Survey, survey_of, task_scope
from qbroles.reconcile.taskdef import TaskDefinition, cannot_start, needs_without_execution_role
from qbroles.spec.model import ROLE_ARN, policy_label

# What a task definition needs of a role: every check made of it has this kind.
_task = partial(Check, kind=CheckKind.TASK)


def task_checks(
    gateway: Gateway,
    desired: Sequence[DesiredRole],
    observed: Mapping[str, RoleState | None],
    task: TaskDefinition,
    kms_key_arn: str | None,
    *,
    exec_: bool = False,
    named_only: bool = False,
    resources: bool = True,
    surveyed: Survey | None = None,
    simulate: bool = False,
    documents: dict[str, Mapping[str, Any] | None] | None = None,
) -> dict[str, tuple[Check, ...]]:
    """Return, per role, whether it can do what starting the task needs (evaluated locally).

    ``named_only`` (a live task definition, in use as it is): a role is checked only if the
    task definition names it, its ARN compared whole; another app's execution role is not
    ours to answer for, even when the task role is ours.

    ``resources``: also read what the task definition names (secrets, keys, images, log
    groups, objects) and judge their own policies with the roles' (``surveyed``: read
    already, for the same task definition). ``simulate``: also ask IAM's policy
    simulator about each need, and say where it differs (reconcile.simulate).
    ``documents``: the managed policies' documents read so far this run, shared by the
    task definitions checked, so each is read once.
    """
    here = task_scope(gateway, task)
    found = surveyed or survey_of(gateway, task, kms_key_arn, exec_=exec_, resources=resources)
    documents = {} if documents is None else documents

    def managed(arn: str) -> Policy:
        if arn not in documents:
            documents[arn] = managed_policy_document(gateway, arn)
        return Policy(policy_label(arn), documents[arn] or {})

    checks: dict[str, tuple[Check, ...]] = {}
    for role in desired:
        state = observed[role.name]
        if role.kind is None or state is None:
            continue
        if named_only and full_arn(task.role_arns.get(role.kind, ""), here) != state.arn:
            continue
        policies = [managed(arn) for arn in sorted(state.managed_policies)]
        policies += [Policy(f"inline {n}", d or {}) for n, d in state.inline_policies.items()]
        boundary = managed(state.permissions_boundary) if state.permissions_boundary else None
        can = [
            _can(role.name, need, _with_side(found, need, state.arn, policies, boundary))
            for need in found.needs
            if need.kind == role.kind
        ]
        if simulate:
            from qbroles.reconcile.simulate import second_opinion

            mine = [need for need in found.needs if need.kind == role.kind]
            decided = [(need, _decide(policies, need, boundary)) for need in mine]
            can.extend(second_opinion(gateway, role.name, state.arn, decided))
        can.extend(_named_role(task, role.kind, state, here))
        if role.kind is RoleKind.EXECUTION:  # it fetches them: where ECS stops, said on it
            can.extend(
                _task(
                    check,
                    False,
                    "a name ECS can fetch",
                    value,
                    f"ECS cannot start it: {why}",
                    at=at,
                )
                for check, value, why, at in cannot_start(task)
            )
            can.extend(found.checks)
        checks[role.name] = tuple(can)
    return checks


def _with_side(
    found: Survey,
    need: Requirement,
    role_arn: str,
    policies: Sequence[Policy],
    boundary: Policy | None,
) -> Decision:
    """Return the decision of the role's policies, with the resource's own where it has one."""
    side = found.sides.get((need.action, need.resource))
    return combine(_decide(policies, need, boundary), side, role_arn, need.action, need.resource)


def _decide(policies: Sequence[Policy], need: Requirement, boundary: Policy | None) -> Decision:
    """Return whether the policies allow a need; one with an unknown part only if every
    value of that part is allowed.

    When not every value is, but some value the policies name is (a secret's exact ARN),
    the answer depends on the real value: "depends on condition", never "allowed".
    """
    decision = evaluate(policies, need.action, need.probe, boundary=boundary)
    if not need.unknown or decision.outcome is not Outcome.NOT_ALLOWED:
        return decision
    known = need.resource.rstrip(UNKNOWN)
    width = len(need.resource) - len(known)
    candidates = {"A" * width}
    for policy in policies:
        for value in _resources(policy.document):
            if value.startswith(known):
                tail = value[len(known) :].replace("*", "A").replace("?", "A")
                candidates.add((tail + "A" * width)[:width])
    for candidate in sorted(candidates):
        some = evaluate(policies, need.action, known + candidate, boundary=boundary)
        if some.outcome is Outcome.ALLOWED:
            return Decision(Outcome.CONDITIONAL, f"{some.by}, for some values of it only")
    return decision


def _resources(document: Mapping[str, Any]) -> Iterator[str]:
    for statement in statements(document):
        if statement.get("Effect") == "Allow":
            yield from (str(value) for value in listed(statement.get("Resource", [])))


def from_ecs(gateway: Gateway, reference: str) -> TaskDefinition:
    """Return a task definition read from ECS; InputError if it is not there."""
    found = task_definition(gateway, reference)
    if found is None:
        raise InputError(
            f"task definition {reference} is neither a file nor a task definition in ECS "
            f"({gateway.region}); check the path, family or revision."
        )
    return TaskDefinition(source=reference, document=found, raw=found)


def labelled(check: Check, label: str) -> Check:
    if not label:
        return check
    return replace(check, check=f"{label}: {check.check}", message=f"{label}: {check.message}")


def full_arn(named: str, here: SourceScope) -> str:
    """Return a role ARN as ECS reads it: a bare name is a role of the caller's account."""
    if named.startswith("arn:"):
        return named
    return f"arn:{here.partition}:iam::{here.account}:role/{named}"


def _named_role(
    task: TaskDefinition, kind: RoleKind, state: RoleState, here: SourceScope
) -> Iterator[Check]:
    """Yield the check that the task definition names this role, its ARN compared whole.

    ECS takes a bare role name as a role of the caller's account; a path needs the ARN
    (RegisterTaskDefinition, executionRoleArn and taskRoleArn:
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html).
    """
    check = f"task definition {kind}RoleArn"
    field = partial(_task, at=f"{kind}RoleArn")  # the field the reports anchor it to
    named = task.role_arns.get(kind)
    if named is None:
        if kind is not RoleKind.EXECUTION:
            return
        always, fargate = needs_without_execution_role(task)
        if always or (fargate and task.on_fargate):
            yield field(
                check,
                False,
                state.arn,
                None,
                f"the task definition names no execution role, so it cannot start: "
                f"{'; '.join(always + (fargate if task.on_fargate else []))}; set "
                f"executionRoleArn to {state.arn}",
            )
        elif fargate:
            yield field(
                check,
                False,
                state.arn,
                None,
                f"the task definition names no execution role: on EC2 it starts only if the "
                f"container instance role can do it ({'; '.join(fargate)}); set "
                f"executionRoleArn to {state.arn}",
                Severity.UNKNOWN,
            )
        return
    arn = full_arn(named, here)
    if arn == state.arn:
        yield field(check, True, state.arn, named, "names this role")
        return
    yield field(
        check,
        False,
        state.arn,
        named,
        f"names {named}, not {state.arn}: {_differs(arn, state.arn)}; set {kind}RoleArn "
        f"to {state.arn}, or give the spec the role the task definition names",
    )


def _differs(named: str, real: str) -> str:
    """Return which part of a role ARN differs: partition, account, path or name."""
    got, want = ROLE_ARN.fullmatch(named), ROLE_ARN.fullmatch(real)
    if got is None or want is None:
        return "that is not an IAM role ARN"
    for part, label in (
        ("partition", "another partition"),
        ("account", "another account"),
        ("path", "another path"),
    ):
        if got[part] != want[part]:
            return f"{label} ({got[part]}, not {want[part]})"
    return "another role"


def _can(role: str, need: Requirement, decision: Decision) -> Check:
    """Return the check of one need: allowed, a warning (it depends), or a failure."""
    outcome = decision.outcome
    unsettled = (Outcome.CONDITIONAL, Outcome.UNKNOWN)
    severity = Severity.UNKNOWN if outcome in unsettled else Severity.ERROR
    if outcome is Outcome.ALLOWED:
        message = f"may {need.action} ({decision.by})"
    elif not need.at_start and outcome is Outcome.NOT_ALLOWED:  # ECS does not wait for it
        message = (
            f"ECS starts the task, but {role} cannot {need.action} on {need.resource}, so "
            f"it will not {need.why}"
        )
    elif outcome is Outcome.UNKNOWN:
        message = (
            f"{role} may {need.action} on {need.resource} (needed to {need.why}) only if what "
            f"qbroles could not read allows it: {decision.by}"
        )
    elif need.elsewhere and outcome is Outcome.NOT_ALLOWED:
        severity = Severity.UNKNOWN
        message = (
            f"{role} may not {need.action} on {need.resource}, needed to {need.why}, unless "
            f"{need.elsewhere} grants it"
        )
    elif need.unknown and outcome is Outcome.CONDITIONAL:
        message = (
            f"{role} may {need.action} on {need.resource} only for some values of what the "
            f"file does not give ({need.unknown}); name the full ARN in the task definition, "
            f"or allow every value (needed to {need.why})"
        )
    elif outcome is Outcome.CONDITIONAL:
        message = f"may {need.action} on {need.resource} only under a condition ({decision.by})"
    else:
        message = f"{role} cannot {need.action} on {need.resource}, needed to {need.why}" + (
            f" ({decision})" if decision.by else ""
        )
    return _task(
        f"can {need.action}",
        outcome is Outcome.ALLOWED,
        need.resource,
        str(decision),
        message,
        severity,
        kind=CheckKind.TASK if need.at_start else CheckKind.APP,
        at=need.at,
    )
