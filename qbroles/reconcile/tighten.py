"""tighten's evidence, grants and proof: the execution role from its task definitions.

The evidence is the task definitions that use the spec's execution role: every ACTIVE
one of every enabled region (live) and those given. What each needs comes from the same
requirement model ``verify --task-definition`` checks (reconcile.needs, with the
resource reads of reconcile.resources: a secret's full ARN, the customer key that
encrypts it), so what tighten grants is by construction what verify checks. Nothing is
written to IAM: the result is a spec, offered only when the proof holds.

The proof: (1) every evidence task definition starts with the roles as the tightened
spec would leave them (the same evaluator, the resource side included); (2) each
(action, resource) the tightened roles grant, today's grant already (policy.subset), so
tightening never widens; (3) the findings of the result. The task role's narrowing is
reconcile.usage's; the run that puts it together, reconcile.tightening's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from qbroles.catalog import RoleKind
from qbroles.iam.gateway import Gateway
from qbroles.model.checks import Severity
from qbroles.model.effects import after
from qbroles.model.state import RoleState
from qbroles.model.verdict import TaskVerdict, Verdict, judge
from qbroles.policy.documents import TASK_SCOPED, listed, statements
from qbroles.policy.evaluate import Policy, wildcard
from qbroles.reconcile.desired import DesiredRole
from qbroles.reconcile.resources import Survey, survey_of
from qbroles.reconcile.taskcheck import full_arn, task_checks
from qbroles.reconcile.taskdef import TaskDefinition
from qbroles.reconcile.usage import Narrowed
from qbroles.spec.model import Spec

# The one inline policy of each tightened role.
EXECUTION_POLICY = "qbroles-execution"
TASK_POLICY = "qbroles-task"


@dataclass(frozen=True)
class Evidence:
    """One task definition that uses the execution role, and what its resources said."""

    label: str  # family:revision (@region when not the run's), or the file
    task: TaskDefinition
    survey: Survey


@dataclass(frozen=True)
class Grant:
    """One statement of the tightened role: actions on resources, and why."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    why: tuple[str, ...]  # "questionbank:7: inject DB_PASSWORD into api", each evidence

    def statement(self) -> dict[str, Any]:
        return {
            "Sid": self.sid,
            "Effect": "Allow",
            "Action": list(self.actions),
            "Resource": list(self.resources) if len(self.resources) > 1 else self.resources[0],
        }

    @property
    def pairs(self) -> int:
        return len(self.actions) * len(self.resources)


@dataclass(frozen=True)
class Tightened:
    """The tightened spec, what it rests on, and its proof."""

    spec: Spec
    grants: tuple[Grant, ...]  # the execution role's one policy
    task: Narrowed | None  # the task role's, None: kept as it is (--keep-task-role)
    evidence: tuple[Evidence, ...]
    skipped: tuple[str, ...]  # task definitions given that are no evidence for the role, why
    missing: tuple[str, ...]  # evidence that could not be read: what it would have narrowed
    starts: tuple[TaskVerdict, ...]  # proof 1: each evidence task definition, tightened
    wider: tuple[str, ...]  # proof 2: what a tightened role grants that today's does not
    # role -> (action, resource) pairs before, after (None: kept as it is)
    pairs: Mapping[str, tuple[int, int | None]]
    findings: tuple[str, ...] = ()  # proof 3: the security findings of the tightened roles
    changes: tuple[tuple[str, tuple[Any, ...]], ...] = ()  # role -> what create --prune does

    @property
    def proven(self) -> bool:
        started = all(v.verdict in (Verdict.STARTS, Verdict.STARTS_IF) for v in self.starts)
        return started and not self.wider

    @property
    def notes(self) -> dict[str, tuple[str, ...]]:
        """Return the evidence of each statement, by its Sid: the spec's comments."""
        task = {s["Sid"]: why for s, why in self.task.statements} if self.task else {}
        return {grant.sid: grant.why for grant in self.grants} | task


def evidence(
    gateway: Gateway,
    role: DesiredRole,
    state: RoleState | None,
    given: Sequence[tuple[str, TaskDefinition]],
    live: Sequence[tuple[str, TaskDefinition]],
    kms_key_arn: str | None,
    *,
    exec_: bool | set[str] = False,
) -> tuple[list[Evidence], list[str]]:
    """Return the task definitions that are evidence for the execution role, each surveyed,
    and those given that are not (why): a task definition that names the role by an ARN of
    another account or path is another role's (the whole-ARN rule of verify). ``exec_``:
    all run with ECS Exec, or the ARNs of those whose services turn it on."""
    here = gateway.source_scope(TASK_SCOPED)
    found, skipped = [], []
    for label, task in [*given, *live]:
        named = task.role_arns.get(RoleKind.EXECUTION)
        if named and (state is None or full_arn(named, here) != state.arn):
            skipped.append(f"{label} names {named}, not {state.arn if state else role.name}")
            continue
        runs_exec = exec_ if isinstance(exec_, bool) else task.source in exec_
        found.append(Evidence(label, task, survey_of(gateway, task, kms_key_arn, exec_=runs_exec)))
    return found, skipped


def grants(
    found: Sequence[Evidence], current: Sequence[Policy], missing: Sequence[str]
) -> tuple[Grant, ...]:
    """Return the statements that grant exactly what the evidence needs of the execution
    role: each resource with the actions it needs, resources that need the same actions in
    one statement. A secret named without its suffix keeps IAM's ``?`` wildcard, one
    character each (Secrets Manager's own advice for an ARN whose suffix is not known:
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_examples.html).
    Where a read was refused (``missing``, from missing_evidence: which customer key a
    secret is under is not known), today's ``kms:Decrypt`` grant is kept, marked."""
    actions: dict[str, set[str]] = {}
    why: dict[str, dict[str, list[str]]] = {}  # resource -> reason -> the evidence
    for one in found:
        for need in one.survey.needs:
            if need.kind is not RoleKind.EXECUTION or not need.at_start:
                continue
            resource = grantable(need.resource)
            actions.setdefault(resource, set()).add(need.action)
            labels = why.setdefault(resource, {}).setdefault(need.why, [])
            labels += [] if one.label in labels else [one.label]
    if missing:
        for resource in _granted_now(current, "kms:Decrypt"):
            actions.setdefault(resource, set()).add("kms:Decrypt")
            why.setdefault(resource, {}).update(
                {f"kept as today, the evidence is missing: {line}": [] for line in missing}
            )
    together: dict[tuple[str, ...], list[str]] = {}
    for resource in sorted(actions):
        together.setdefault(tuple(sorted(actions[resource])), []).append(resource)
    made: list[Grant] = []
    names: dict[str, int] = {}
    for acts, resources in sorted(together.items(), key=lambda item: (item[1][0], item[0])):
        service = acts[0].split(":")[0]
        base = "".join(part.capitalize() for part in re.split(r"[^a-z0-9]+", service) if part)
        names[base] = names.get(base, 0) + 1
        merged: dict[str, list[str]] = {}  # one line per reason, its evidence together
        for resource in resources:
            for reason, labels in why[resource].items():
                have = merged.setdefault(reason, [])
                have += [label for label in labels if label not in have]
        reasons = tuple(
            f"{', '.join(labels)}: {reason}" if labels else reason
            for reason, labels in merged.items()
        )
        made.append(Grant(f"{base}{names[base]}", acts, tuple(resources), reasons))
    return tuple(made)


def grantable(resource: str) -> str:
    """Return the resource a policy grants a need on. A log stream is granted on its log
    group's ``:*`` form, as CloudWatch Logs says policies name log groups for every action
    but a few (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/iam-access-control-overview-cwl.html):
    it covers the group's streams whichever ARN IAM sees."""
    group, stream, _ = resource.partition(":log-stream:")
    return f"{group}:*" if stream and ":logs:" in group else resource


def missing_evidence(found: Sequence[Evidence]) -> list[str]:
    """Return each read of the task definitions' resources that was refused or failed."""
    return [
        f"{one.label}: {check.message}"
        for one in found
        for check in one.survey.checks
        if check.severity is Severity.UNKNOWN
    ]


def _granted_now(current: Sequence[Policy], action: str) -> list[str]:
    """Return the resources today's Allow statements grant the action on."""
    return list(
        dict.fromkeys(
            str(resource)
            for policy in current
            for s in statements(policy.document)
            if s.get("Effect") == "Allow"
            and any(wildcard(str(a), True).fullmatch(action) for a in listed(s.get("Action")))
            for resource in listed(s.get("Resource", "*"))
        )
    )


def tightened_spec(
    spec: Spec, made: Sequence[Grant], task: Narrowed | None, held: Sequence[Policy]
) -> Spec:
    """Return the spec with its execution role narrowed to ``made``, one inline policy and
    no managed one, and its task role to ``task`` (as the spec has it if None): today's
    policies ``held`` that lost nothing kept, the narrowed statements in one inline
    policy; the task role's trust with the confused-deputy conditions (aws:SourceAccount,
    aws:SourceArn)."""
    roles = []
    for role in spec.roles:
        if role.kind is RoleKind.EXECUTION:
            document = _document([grant.statement() for grant in made])
            role = replace(
                role, managed_policies=(), inline_policies=((EXECUTION_POLICY, document),)
            )
        elif role.kind is RoleKind.TASK:
            if task is not None:
                role = replace(role, **_task_policies(role.managed_policies, task, held))
            role = replace(role, source_conditions=True)
        roles.append(role)
    return replace(spec, roles=tuple(roles), source=f"tightened {spec.source}")


def _task_policies(named: Sequence[str], task: Narrowed, held: Sequence[Policy]) -> dict[str, Any]:
    """Return the task role's managed and inline policies: those kept, as the spec names
    them, and the narrowed statements as one more inline policy."""
    managed = tuple(
        next((n for n in named if arn == n or arn.endswith(f":policy/{n}")), arn)
        for arn in task.kept
        if arn.startswith("arn:")
    )
    inline = [
        (p.name, p.document) for p in held if p.name in task.kept and not p.name.startswith("arn:")
    ]
    if task.statements:
        inline.append((TASK_POLICY, _document([s for s, _ in task.statements])))
    return {"managed_policies": managed, "inline_policies": tuple(inline)}


def _document(made: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(made)}


def later(
    observed: Mapping[str, RoleState | None], planned: Mapping[str, Any]
) -> dict[str, RoleState | None]:
    """Return each role as IAM would hold it once the planned actions are applied."""
    return {
        name: after(state, planned.get(name, ())) if state else None
        for name, state in observed.items()
    }


def proof(
    gateway: Gateway,
    desired: Sequence[DesiredRole],
    then: Mapping[str, RoleState | None],
    found: Sequence[Evidence],
    kms_key_arn: str | None,
) -> list[TaskVerdict]:
    """Return proof 1: each evidence task definition's verdict with the roles as the
    tightened plan leaves them (``then``; the same evaluator as verify, the resource side
    included)."""
    documents: dict[str, Mapping[str, Any] | None] = {}
    verdicts = []
    for one in found:
        checks = task_checks(
            gateway, desired, then, one.task, kms_key_arn,
            surveyed=one.survey, documents=documents,
        )  # fmt: skip
        verdicts.append(judge(one.label, [c for each in checks.values() for c in each]))
    return verdicts


def result_findings(
    desired: Sequence[DesiredRole], then: Mapping[str, RoleState | None], kms_key_arn: str | None
) -> list[str]:
    """Return the security findings of the tightened roles (proof 3: what is left to see)."""
    from qbroles.model.checks import FINDING
    from qbroles.reconcile.findings import findings

    return [
        f"{role.name}: {(check.heading or check.check).removeprefix(FINDING)}: {check.message}"
        for role in desired
        if (state := then.get(role.name)) is not None
        for check in findings(role.name, state, kms_key_arn=kms_key_arn, kind=role.kind)
    ]


def current_policies(gateway: Gateway, state: RoleState | None) -> list[Policy]:
    """Return the policies the role holds today: inline by name, then managed by ARN."""
    if state is None:
        return []
    from qbroles.iam.policies import managed_policy_document

    held = [Policy(name, doc) for name, doc in state.inline_policies.items() if doc]
    for arn in sorted(state.managed_policies):
        document = managed_policy_document(gateway, arn)
        if document:
            held.append(Policy(arn, document))
    return held


def no_evidence(role: str, regions: Sequence[str], given: int, skipped: Sequence[str]) -> str:
    """Return why there is no spec to offer: no task definition uses the role."""
    where = f"in {', '.join(regions)}" if regions else "among those given"
    others = (
        f" ({'; '.join(skipped)}: not evidence, the whole-ARN rule of verify)" if skipped else ""
    )
    return (
        f"no task definition {where} uses the execution role {role} ({given} given){others}, "
        "so there is no evidence to tighten it from, and a role granting nothing would stop "
        "every task; pass --task-definition FILE or family[:revision], or register the task "
        "definitions that use the role first."
    )
