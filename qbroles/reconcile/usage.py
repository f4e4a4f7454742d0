"""The task role's evidence: what IAM's last-accessed data says it used, and the narrowing.

IAM reports, per service the role's policies allow, when the role last used it, and for
the services IAM tracks at action level, when it last used each tracked action
(GenerateServiceLastAccessedDetails with ACTION_LEVEL, then GetServiceLastAccessedDetails;
recent activity appears within about four hours, and IAM keeps at least 400 days:
https://docs.aws.amazon.com/IAM/latest/APIReference/API_GenerateServiceLastAccessedDetails.html;
which actions are tracked:
https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_last-accessed-action-last-accessed.html).

The narrowing keeps each of today's statements' resources and conditions, and leaves out
only what the data shows unused: a service not used within the window, and a tracked
action not used within it. What IAM does not track (an untracked action, a pattern such
as ``s3:Get*`` that may stand for untracked actions, NotAction) stays, marked unproven:
the side that cannot break the running application.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from qbroles.iam.gateway import Gateway
from qbroles.policy.documents import listed, statements
from qbroles.policy.evaluate import Policy, wildcard

# How long to wait for IAM's report job: IAM documents no duration; jobs of a role take
# seconds. The waits double from one second, and are shrunk by QBROLES_RETRY_SCALE.
REPORT_PATIENCE = 120.0


@dataclass(frozen=True)
class ServiceUse:
    """One service the role's policies allow, and when the role last used it."""

    namespace: str
    last: datetime | None  # None: not used in IAM's tracking period
    # Each tracked action by its name without the prefix, lower case; None: none tracked.
    actions: Mapping[str, datetime | None] | None


@dataclass(frozen=True)
class Usage:
    """IAM's report for the role, or why there is none."""

    services: Mapping[str, ServiceUse] = field(default_factory=dict)
    made: datetime | None = None  # when IAM made the report
    missing: str | None = None  # why the report could not be had: nothing is left out then
    # True: IAM answered, but its report failed or was not ready (no evidence yet: exit 1);
    # False with ``missing``: the read was refused or not answered (today's grants kept).
    pending: bool = False


@dataclass(frozen=True)
class Narrowed:
    """The task role after narrowing: today's policies from which nothing was left out,
    kept as they are; the narrowed statements of the others; what was left out, and
    what was kept unproven."""

    kept: tuple[str, ...]  # today's policies kept whole: managed by ARN, inline by name
    statements: tuple[tuple[dict[str, Any], tuple[str, ...]], ...]  # statement, evidence
    left_out: tuple[str, ...]  # "s3: not used since 2026-09-03 (last used 2026-01-02)"
    unproven: tuple[str, ...]  # "logs:*: a pattern; IAM tracks some logs actions only"


def last_accessed(
    gateway: Gateway, role_arn: str, clock: Callable[[], float] = time.monotonic
) -> Usage:
    """Return IAM's last-accessed report for the role, waiting for its job with the run's
    pacer (its waits shrunk as every wait of the run); a refusal or a failed job is a
    Usage with ``missing`` said."""
    from qbroles.errors import AwsError

    try:
        with gateway.translating("GenerateServiceLastAccessedDetails", role_arn):
            found = _report(gateway, role_arn, clock)
    except AwsError as exc:  # refused, or not an answer: the evidence is missing, named
        return Usage(missing=f"IAM's last-accessed data could not be read: {str(exc).rstrip('.')}")
    if isinstance(found, str):
        return Usage(missing=found, pending=True)
    page, listed_ = found
    services = {
        str(one["ServiceNamespace"]).lower(): ServiceUse(
            str(one["ServiceNamespace"]).lower(),
            one.get("LastAuthenticated"),
            {
                # the action's name, with or without its service prefix
                str(act["ActionName"]).lower().rsplit(":", 1)[-1]: act.get("LastAccessedTime")
                for act in one["TrackedActionsLastAccessed"]
            }
            if "TrackedActionsLastAccessed" in one
            else None,
        )
        for one in listed_
    }
    return Usage(services, page.get("JobCompletionDate") or page.get("JobCreationDate"))


def _report(
    gateway: Gateway, role_arn: str, clock: Callable[[], float]
) -> tuple[Mapping[str, Any], list[Any]] | str:
    """Return the report job's last page and every service it lists, or why there is none."""
    client = gateway.client
    job = client.generate_service_last_accessed_details(Arn=role_arn, Granularity="ACTION_LEVEL")

    def done() -> Mapping[str, Any] | None:
        page: Mapping[str, Any] = client.get_service_last_accessed_details(JobId=job["JobId"])
        return page if page.get("JobStatus") in ("COMPLETED", "FAILED") else None

    waited = "IAM is making the last-accessed report"
    page = gateway.pacer.poll(waited, done, REPORT_PATIENCE, clock, first=1.0, longest=8.0)
    if page is None:
        return f"IAM's report was not ready after {REPORT_PATIENCE:.0f} s"
    if page.get("JobStatus") == "FAILED":
        error = page.get("Error") or {}
        return f"IAM's report job failed ({error.get('Message', 'FAILED')})"
    found = list(page.get("ServicesLastAccessed") or [])
    while page.get("IsTruncated"):
        page = client.get_service_last_accessed_details(JobId=job["JobId"], Marker=page["Marker"])
        found += page.get("ServicesLastAccessed") or []
    return page, found


def narrow(
    current: Sequence[Policy], usage: Usage, since: datetime, shown: Mapping[str, str]
) -> Narrowed:
    """Return today's policies with what the report shows unused since ``since`` left
    out: a policy that loses nothing is kept as it is (a managed one keeps AWS's updates),
    one that loses all goes, the statements left of the others are returned. ``shown``:
    actions a task definition shows the role needs (ECS Exec, FireLens, EFS) and why:
    those stay whatever the report says."""
    kept: list[str] = []
    made: dict[str, tuple[dict[str, Any], list[str]]] = {}
    left_out: list[str] = []
    unproven: list[str] = []
    for policy in current:
        before = len(left_out)
        narrowed = []
        for statement in statements(policy.document):
            actions, why = _kept_actions(statement, usage, since, shown, left_out, unproven)
            narrowed.append((statement, actions, why))
        if len(left_out) == before:
            kept.append(policy.name)
            continue
        for statement, actions, why in narrowed:
            if actions == []:
                continue
            new = {k: v for k, v in statement.items() if k != "Sid"}
            if actions is not None:
                new["Action"] = actions
            key = repr(sorted(new.items()))
            said = [f"{reason} ({_short(policy.name)})" for reason in why]
            if key in made:
                made[key][1].extend(s for s in said if s not in made[key][1])
            else:
                made[key] = (new, said)
    numbered = [
        ({"Sid": f"Task{number}", **statement}, tuple(why))
        for number, (statement, why) in enumerate(made.values(), start=1)
    ]
    return Narrowed(
        tuple(kept), tuple(numbered), tuple(dict.fromkeys(left_out)),
        tuple(dict.fromkeys(unproven)),
    )  # fmt: skip


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _kept_actions(
    statement: Mapping[str, Any],
    usage: Usage,
    since: datetime,
    shown: Mapping[str, str],
    left_out: list[str],
    unproven: list[str],
) -> tuple[list[str] | None, list[str]]:
    """Return the actions of the statement to keep (None: the statement as it is), and why
    each is kept."""
    if statement.get("Effect") != "Allow":
        return None, ["a Deny, kept as it is"]
    if "Action" not in statement:
        unproven.append("a NotAction statement: it cannot be narrowed by action")
        return None, ["NotAction, kept as it is (unproven)"]
    kept: list[str] = []
    why: list[str] = []
    for action in map(str, listed(statement["Action"])):
        reason = _keep(action, usage, since, shown, left_out, unproven)
        if reason is not None:
            kept.append(action)
            why.append(f"{action}: {reason}")
    return kept, why


def _keep(
    action: str,
    usage: Usage,
    since: datetime,
    shown: Mapping[str, str],
    left_out: list[str],
    unproven: list[str],
) -> str | None:
    """Return why the action stays, or None (and say so in ``left_out``) if it goes."""
    pattern = wildcard(action, True)
    needed = next((why for need, why in shown.items() if pattern.fullmatch(need)), None)
    if needed:
        return needed
    namespace = action.split(":", 1)[0].lower()
    service = usage.services.get(namespace)
    if action == "*" or service is None:
        unproven.append(f"{action}: not in IAM's report, kept")
        return "not in IAM's report, kept (unproven)"
    if service.last is None or service.last < since:
        last = f"last used {service.last:%Y-%m-%d}" if service.last else "never used"
        left_out.append(f"{namespace}: not used since {since:%Y-%m-%d} ({last})")
        return None
    used = f"{namespace} used {service.last:%Y-%m-%d}"
    if service.actions is None:
        return f"{used} (IAM tracks the service, not its actions: kept whole, unproven)"
    if "*" in action or "?" in action:
        unproven.append(f"{action}: a pattern; IAM tracks some {namespace} actions only")
        return f"{used} (a pattern: kept whole, unproven)"
    name = action.lower().split(":", 1)[-1]
    if name not in service.actions:
        unproven.append(f"{action}: IAM does not track it, kept")
        return f"{used} ({action} not tracked by IAM: kept, unproven)"
    when = service.actions[name]
    if when is None or when < since:
        last = f"last used {when:%Y-%m-%d}" if when else "never used"
        left_out.append(f"{action}: not used since {since:%Y-%m-%d} ({last})")
        return None
    return f"used {when:%Y-%m-%d}"


def window(usage: Usage, days: int, created: datetime | None) -> tuple[datetime, int | None]:
    """Return the start of the window, and the role's age in days where it is younger than
    the window (what it has not used yet it may still use: no evidence of disuse)."""
    made = usage.made or datetime.now().astimezone()
    since = made - timedelta(days=days)
    if created is not None and created > since:
        return since, (made - created).days
    return since, None
