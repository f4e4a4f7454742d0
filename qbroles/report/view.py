"""The report for people: one line per role, then everything that needs reading, in full.

Like ``kubectl get`` and ``pytest -ra``: a line per role (name, status, how many
differences and warnings, ARN), then each failing check and each warning whole, wrapped
at spaces to the width (an ARN is never cut: which secret, which account). ``verbose``
adds every check as a table. Each thing is said once: a plan the question showed is not
listed again, and a broad policy appears as its finding only.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from qbroles.model.actions import Action, CreateRole, DeleteRole
from qbroles.model.checks import TASK_KINDS, Check
from qbroles.model.report import Report, RoleReport, plural
from qbroles.report.steps import exists, next_step

if TYPE_CHECKING:
    from rich.console import Console

_SIGN_STYLES = {"+": "green", "-": "red", "~": "yellow"}
INDENT = "  "


def print_report(
    report: Report,
    out: Console,
    *,
    verbose: bool = False,
    plan_shown: bool = False,
    steps: bool = True,
) -> None:
    """Print a report for people on ``out``.

    ``plan_shown``: the changes were shown at the question just answered, so they are
    not listed again. A create that changed nothing prints nothing here: its summary line
    says it all, as terraform's "No changes." does.
    """
    if report.noop and not verbose:
        return
    if report.spec_label:  # which roles these are: the first line says
        _line(out, f"Spec: {report.spec_label}", "dim")
    if report.shows_changes and not plan_shown:
        heading = "Plan (dry run, nothing changed)" if report.dry_run else "Changes applied"
        _line(out, heading, "bold")
        for role in report.roles:  # what was applied is listed; what it granted, in -v
            name = f"{role.name} (create refuses it)" if role.refusal else role.name
            print_changes(name, role.changes, out, full=report.dry_run or verbose)
    _heading(out, "Roles")
    print_roles(report, out)
    if verbose:
        for role in report.roles:
            print_checks(role, out)
    if report.refused:  # after the whole plan, as the issue of a refusal comes last
        _heading(out, "Refused")
        for role in report.refused:
            refuses = f"{'delete' if report.command == 'delete' else 'create'} refuses it"
            _wrapped(out, f"x {role.name}: {refuses} (exit 4)", INDENT, hang=4, style="red")
            _wrapped(out, str(role.refusal), INDENT * 3)
    sections = (
        ("Differences", _differences(report, tasks=False)),
        ("Task definitions", _differences(report, tasks=True)),
        ("Warnings", _warnings(report)),
    )
    for title, checks in sections:
        if checks:
            _heading(out, title)
            for names, check in _once(checks):
                print_check(", ".join(names), check, out)
    step = next_step(report) if steps else None  # one account of many: no step of its own
    if step:
        out.print()
        _wrapped(out, f"Next: {step}", "", hang=4, style="bold")


def print_changes(role: str, changes: Sequence[Action], out: Console, *, full: bool = True) -> None:
    """Print one role's changes, each with its sign and (``full``) under it what it grants
    or takes: a new role's trust, tags and description, a policy document, a diff."""
    if not changes:
        return
    _line(out, f"{INDENT}{role}", "bold")
    for change in changes:
        _wrapped(out, f"{change.sign} {change.describe()}", INDENT * 2, hang=4, sign=True)
        for line in change.details() if full else ():
            if line[:1] in "+-@ ":  # a document or a diff: as it is, never re-wrapped
                _line(out, f"{INDENT * 4}{line}", _detail_style(line))
            else:
                _wrapped(out, line, INDENT * 4, hang=4)


def print_plans(plans: Iterable[tuple[str, Sequence[Action]]], out: Console) -> None:
    """Print the changes of several roles (the plan shown at a question)."""
    for role, changes in plans:
        print_changes(role, changes, out)


def print_roles(report: Report, out: Console) -> None:
    """Print one line per role: name, status, ARN; the ARN goes under it if the line would
    be wider than the terminal."""
    rows = [(role.name, status(report, role), role.arn or "") for role in report.roles]
    name_width = max((len(name) for name, _, _ in rows), default=0)
    status_width = max((len(text) for _, text, _ in rows), default=0)
    fits = all(
        len(INDENT) + name_width + status_width + len(arn) + 4 <= out.width for *_, arn in rows
    )
    for (name, text, arn), role in zip(rows, report.roles, strict=True):
        pending = report.dry_run and bool(role.changes)
        colour = "yellow" if pending else "green" if role.ok or report.dry_run else "red"
        if fits:
            line = f"{INDENT}{name:<{name_width}}  {text:<{status_width}}  {arn}".rstrip()
            _line(out, line, colour)
        else:
            _line(out, f"{INDENT}{name}  {text}", colour)
            _line(out, f"{INDENT * 3}{arn}", "", arn)


def status(report: Report, role: RoleReport) -> str:
    """Return a role's status in a few words: what happened to it, what is left to read."""
    done = {type(change) for change in role.changes}
    count = len(role.changes)
    if role.refusal:
        what = "refused" + (f" ({plural(count, 'change')} with {role.allowed_by})" if count else "")
    elif report.command == "delete":
        gone = DeleteRole in done
        what = ("to delete" if report.dry_run else "deleted") if gone else "absent"
    elif CreateRole in done:
        what = "to create" if report.dry_run else "created"
    elif report.dry_run and count:
        what = f"{plural(count, 'change')} to make"
    elif count:
        what = f"changed ({plural(count, 'change')})"
    elif report.command == "verify" and not exists(role):
        what = "missing"
    elif role.kept:  # in sync but for what only --prune removes
        what = f"{len(role.kept)} kept, not in the spec"
    else:
        what = "in sync" if role.ok or report.dry_run else ""  # the count says it
    failed = [c for c in role.checks if report.to_read(c)]
    warned = [c for c in role.checks if c.warns]
    extra = [plural(len(failed), "difference")] if failed and what != "missing" else []
    extra += [plural(len(warned), "warning")] if warned else []
    return ", ".join(part for part in (what, *extra) if part)


def print_checks(role: RoleReport, out: Console) -> None:
    """Print every check of a role (-v): a table where the width holds one without cutting
    a word, else a list, each check's values on lines of their own, wrapped at spaces."""
    from qbroles.report.render import STATUS_STYLES, check_rows, check_table

    table = check_table(role, out.width)
    if table is not None:
        out.print(table)
        return
    _line(out, role.name, "bold")
    for check, expected, actual, status in check_rows(role, full=True):
        _wrapped(out, f"{status:<7} {check}", INDENT, hang=8, style=STATUS_STYLES[status])
        values = [f"is {actual}"] if expected == actual else [f"expected {expected}"]
        values += [] if expected == actual else [f"actual {actual}"]
        for value in values:
            _wrapped(out, value, INDENT + " " * 8, hang=4)


def print_check(role: str, check: Check, out: Console) -> None:
    """Print a failing check (x), a warning (!) or an unknown (?) whole: its name, its
    message wrapped to the width, and, for a document that differs, the diff."""
    mark, colour = ("x", "red") if check.failed else ("?" if check.unknown else "!", "yellow")
    heading, message = check.heading or check.check, check.message
    if check.heading and message.startswith(heading):  # said once: the heading, then the rest
        message = message[len(heading) :].lstrip(",:; ")
    _wrapped(out, f"{mark} {role}: {heading}", INDENT, hang=4, style=colour)
    _wrapped(out, message, INDENT * 3)
    if check.failed and isinstance(check.expected, dict) and isinstance(check.actual, dict):
        from qbroles.policy.documents import document_diff

        for line in document_diff(check.actual, check.expected):
            _line(out, f"{INDENT * 3}{line}", _detail_style(line))


def _differences(report: Report, *, tasks: bool) -> list[tuple[str, Check]]:
    """Return the failing checks to read: the roles' differences from their spec, or
    (``tasks``) what stops a task definition, with what about it is not known."""
    return [
        (role.name, c)
        for role in report.roles
        for c in role.checks
        if (c.kind in TASK_KINDS) is tasks
        and (report.to_read(c) or (tasks and c.unknown and bool(report.tasks)))
    ]


def _warnings(report: Report) -> list[tuple[str, Check]]:
    return [
        (role.name, check)
        for role in report.roles
        for check in role.checks
        if check.warns and not (check.unknown and check.kind in TASK_KINDS and report.tasks)
    ]


def _once(checks: list[tuple[str, Check]]) -> list[tuple[list[str], Check]]:
    """Return each check once with every role it was found on: the same finding on both
    roles (a broad policy, word for word) is read once, naming both."""
    found: dict[tuple[str, str], tuple[list[str], Check]] = {}
    for name, check in checks:
        found.setdefault((check.check, check.message), ([], check))[0].append(name)
    return list(found.values())


def _line(out: Console, text: str, style: str, when: object = True) -> None:
    """Print one line as it is: never markup, never wrapped (``when``: only if truthy)."""
    if when:
        out.print(text, style=style, soft_wrap=True, markup=False)


def _heading(out: Console, text: str) -> None:
    out.print()
    _line(out, text, "bold")


def _wrapped(
    out: Console,
    text: str,
    indent: str,
    *,
    hang: int = 0,
    style: str | None = None,
    sign: bool = False,
) -> None:
    """Print text wrapped at spaces to the width, lines after the first ``hang`` further in;
    a word longer than a line (an ARN) is kept whole. ``sign``: the first character is a
    plan sign, coloured as such."""
    lines = textwrap.wrap(
        text,
        width=max(out.width, 40),
        initial_indent=indent,
        subsequent_indent=indent + " " * hang,
        break_long_words=False,
        break_on_hyphens=False,
    )
    from rich.text import Text

    for number, line in enumerate(lines):
        shown = Text(line, style=style or "")
        if sign and number == 0:
            shown.stylize(_SIGN_STYLES.get(text[:1], ""), len(indent), len(indent) + 1)
        out.print(shown, soft_wrap=True)


def _detail_style(line: str) -> str:
    if line.startswith(("---", "+++")):
        return "bold"
    if line.startswith("@@"):
        return "cyan"
    return {"+": "green", "-": "red"}.get(line[:1], "")
