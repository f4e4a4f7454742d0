"""Render reports: the JSON document (stdout, for scripts) and rich tables (for people)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

from qbroles.model.actions import Action, action_name
from qbroles.model.checks import Check, Severity
from qbroles.model.report import Report, RoleReport
from qbroles.policy.documents import trust_summary

if TYPE_CHECKING:
    from rich.console import Console

    from qbroles.iam.pacing import Figures


def report_document(report: Report, retries: Figures | None = None) -> dict[str, Any]:
    """Return the stable JSON document of a report (documented in docs/json-output.md)."""
    backup = {"backup": report.backup} if report.backup else {}
    spec = {"spec": dict(report.spec)} if report.spec else {}
    document = {
        "command": report.command,
        **spec,
        "ok": report.ok,
        "changed": report.changed,
        "dry_run": report.dry_run,
        **backup,
        "roles": [
            {
                "name": role.name,
                "arn": role.arn,
                "ok": role.ok,
                "changes": [_change_document(change) for change in role.changes],
                "checks": [_check_document(check) for check in role.checks],
                **({"refusal": role.refusal} if role.refusal else {}),
                **({"allowed_by": role.allowed_by} if role.allowed_by else {}),
            }
            for role in report.roles
        ],
    }
    if report.needs_yes:  # a plan: what create asks a yes for (--yes off a terminal)
        document["needs_yes"] = report.needs_yes
    if report.plan_file:  # the plan saved (plan --out), or the saved plan applied
        document["plan_file"] = report.plan_file
    if report.live is not None:  # --check-live-task-definitions: which were checked
        document["live_task_definitions"] = list(report.live)
    if report.tasks:  # verify --task-definition: will ECS start each? (docs/json-output.md)
        document["task_definitions"] = [task.document() for task in report.tasks]
    if retries is not None:  # what AWS's throttling cost the run
        document["retries"] = retries.document()
    return document


def _change_document(action: Action) -> dict[str, Any]:
    document: dict[str, Any] = {
        "action": action_name(action),
        "target": action.target,
        "description": action.describe(),
    }
    pair = action.change()
    if pair is not None:
        document["actual"], document["expected"] = pair
    removed = action.removed()
    if removed is not None:
        document["removed"] = removed
    arn = getattr(action, "policy_arn", None)
    if arn:  # the label beside it is short; the ARN tells aws from aws-cn
        document["arn"] = arn
    return document


def _check_document(check: Check) -> dict[str, Any]:
    return {
        "check": check.check,
        "ok": check.ok,
        "severity": check.severity.value,
        "expected": check.expected,
        "actual": check.actual,
        "message": check.message,
        **({"arn": check.arn} if check.arn else {}),
    }


def write_json(document: Mapping[str, Any], file: IO[str] | None = None) -> None:
    """Write one JSON document, and nothing else, to stdout."""
    out = file or sys.stdout
    json.dump(document, out, indent=2, sort_keys=False, default=str)
    out.write("\n")


def console(*, stderr: bool = False, color: bool = True) -> Console:
    """Return a rich console on stdout or stderr.

    On a terminal (or with COLUMNS set) it fits the width; elsewhere it is wide enough
    for ARNs. Colour follows the terminal, NO_COLOR and FORCE_COLOR, and ``color``.
    """
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or "COLUMNS" in os.environ else 140
    plain = not color or bool(os.environ.get("NO_COLOR"))  # no escape codes at all, then
    return Console(
        file=stream,
        width=width,
        highlight=False,
        emoji=False,  # ":secret:" in a Secrets Manager ARN is no emoji
        soft_wrap=False,
        color_system=None if plain else "auto",
    )


def check_rows(role: RoleReport, *, full: bool = False) -> list[tuple[str, str, str, str]]:
    """Return one role's checks as text (--verbose): check, expected, actual, status;
    long values of passing checks cut, unless ``full``."""
    return [
        (
            check.check,
            _show(check.expected, full=full or not check.ok),
            _show(check.actual, full=full or not check.ok),
            _status(check),
        )
        for check in role.checks
    ]


def check_table(role: RoleReport, width: int) -> Any:
    """Return one role's checks as a rich table, or None where ``width`` cannot hold one
    without cutting a word (an ARN, a policy name): the caller lists them instead.

    One table a role, titled with its name, so that no column of names squeezes the rest.
    Each column is at least as wide as its longest word, so cells wrap at spaces only.
    """
    from rich.markup import escape
    from rich.table import Table

    rows = check_rows(role)
    headers = ("Check", "Expected", "Actual", "Status")
    longest = [
        max(len(word) for cell in (header, *(row[n] for row in rows)) for word in cell.split())
        for n, header in enumerate(headers)
    ]
    if sum(longest) + 3 * len(headers) + 1 > width:  # a bar and two spaces a column
        return None
    table = Table(title=escape(role.name), title_justify="left", title_style="bold")
    for header, ratio, least in zip(headers, (4, 3, 3, 0), longest, strict=True):
        table.add_column(header, overflow="fold", ratio=ratio or None, min_width=least)
    for row in rows:
        *values, status = row
        table.add_row(*map(escape, values), f"[{STATUS_STYLES[status]}]{status}[/]")
    return table


# A check's status word, and its colour (the table's and -v's list's).
STATUS_STYLES = {"ok": "green", "unknown": "yellow", "warn": "yellow", "FAIL": "bold red"}


def _status(check: Check) -> str:
    if check.ok:
        return "ok"
    if check.severity is Severity.UNKNOWN:
        return "unknown"
    if check.severity is Severity.WARNING:
        return "warn"
    return "FAIL"


def _show(value: Any, limit: int = 40, *, full: bool = False) -> str:
    """Return a value as a table cell; long text is cut (the JSON output has it whole).

    ``full``: never cut (a failing check's ARN must be readable whole: which secret, which
    log group); the table folds it over lines instead.
    """
    if value is None:
        text = "-"
    elif isinstance(value, Mapping) and "Statement" in value:
        text = trust_summary(value)
    elif isinstance(value, list | tuple):
        text = ", ".join(map(str, value)) or "none"
    else:
        text = str(value)
    return text if full or len(text) <= limit else text[: limit - 1] + "…"


def describe_changes(actions: Sequence[Action]) -> str:
    """Return actions as lines for people, each with its sign."""
    return "\n".join(f"  {action.sign} {action.describe()}" for action in actions)
