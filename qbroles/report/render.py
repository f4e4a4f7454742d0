"""Render reports: the JSON document (stdout, for scripts) and rich tables (for people)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

from qbroles.policy.documents import document_diff, trust_summary
from qbroles.reconcile.actions import Action, RolePlan, action_name
from qbroles.report.report import Check, Report, Severity

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
            }
            for role in report.roles
        ],
    }
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


def print_report(report: Report, out: Console) -> None:
    """Print the changes per role (a diff for each rewritten document), then the checks.

    A dry run prints the plan only, like terraform plan: its checks (the roles as they
    are now) are in the JSON document; verify shows them as a table.
    """
    from rich.text import Text

    if report.spec:  # which roles these are: the first line says
        out.print(Text(f"Spec: {report.spec['source']}, app {report.spec['app']}", style="dim"))
    if report.dry_run and not report.changed and not report.kept:
        if report.command == "delete":
            out.print("No changes: none of the roles exists.")
        else:
            out.print("No changes: the roles match the spec.")

    if any(role.changes for role in report.roles):
        heading = "Plan (dry run, nothing changed)" if report.dry_run else "Changes applied"
        out.print(Text(heading, style="bold"))
        for role in report.roles:
            if role.changes:
                out.print(Text(f"  {role.name}", style="bold"))
            for change in role.changes:
                colour = _SIGN_COLOURS[change.sign]
                out.print(Text.assemble("    ", (change.sign, colour), " ", change.describe()))
                for line in _change_lines(change):
                    out.print(Text(f"        {line}", style=_diff_style(line)))
    if report.dry_run and report.command == "create" and report.kept:
        out.print(Text("Kept, not in the spec (create --prune removes them)", style="bold"))
        for role in report.roles:
            for check in role.checks:
                if check in report.kept:
                    what = f" {role.name}: {check.check}"
                    out.print(Text.assemble("    ", ("!", "magenta"), what))
    if any(role.checks for role in report.roles) and not report.dry_run:
        out.print(check_table(report))


_SIGN_COLOURS = {"+": "green", "-": "red", "~": "yellow"}


def _change_lines(change: Action) -> list[str]:
    """Return the lines under a change: a diff of a rewritten document, or what is removed."""
    pair = change.change()
    if pair is not None:
        return document_diff(*pair)
    removed = change.removed()  # a deleted inline policy: its document, line by line
    if isinstance(removed, Mapping) and "Statement" in removed and change.sign == "-":
        return [f"-{line}" for line in json.dumps(removed, indent=2, default=str).splitlines()]
    return []


def _diff_style(line: str) -> str:
    if line.startswith(("---", "+++")):
        return "bold"
    if line.startswith("@@"):
        return "cyan"
    return {"+": "green", "-": "red"}.get(line[:1], "")


def check_table(report: Report) -> Any:
    """Return a rich table: role, check, expected, actual, status."""
    from rich.table import Table

    title = f"qbroles {report.command}"
    table = Table(title=title, title_justify="left")
    table.add_column("Role", overflow="fold", ratio=3)
    table.add_column("Check", overflow="fold", ratio=4)
    table.add_column("Expected", overflow="fold", ratio=3)
    table.add_column("Actual", overflow="fold", ratio=3)
    table.add_column("Status", no_wrap=True, min_width=6)
    for role in report.roles:
        for index, check in enumerate(role.checks):
            table.add_row(
                role.name if index == 0 else "",
                check.check,
                _show(check.expected, full=not check.ok),
                _show(check.actual, full=not check.ok),
                _status(check),
                end_section=index == len(role.checks) - 1,
            )
    return table


def _status(check: Check) -> str:
    if check.ok:
        return "[green]ok[/green]"
    if check.severity is Severity.WARNING:
        return "[yellow]warn[/yellow]"
    return "[bold red]FAIL[/bold red]"


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
    from rich.markup import escape

    # Escaped: a value is text, never rich markup ("[bold]" in a tag value stays as it is).
    return escape(text if full or len(text) <= limit else text[: limit - 1] + "…")


def describe_plans(plans: Sequence[RolePlan]) -> str:
    """Return the plan as lines, for the delete confirmation prompt."""
    return describe_changes([action for plan in plans for action in plan.actions])


def describe_changes(actions: Sequence[Action]) -> str:
    """Return actions as lines for people, each with its sign."""
    return "\n".join(f"  {action.sign} {action.describe()}" for action in actions)
