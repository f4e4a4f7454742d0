"""What qbroles stackset shows: the plan, each account's result, the status of the
instances with their drift and each account's verify; -o json as one document."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import click

from qbroles.errors import ExitCode

if TYPE_CHECKING:
    from qbroles.accounts import Outcome
    from qbroles.session import Settings
    from qbroles.stackset.model import Deployed, Done, StackSetPlan


def plan_document(found: StackSetPlan) -> dict[str, Any]:
    target = found.target
    return {
        "name": target.name,
        "permission_model": "SELF_MANAGED" if target.self_managed else "SERVICE_MANAGED",
        "regions": list(target.regions),
        "create": found.create,
        "delete": found.delete,
        "template_diff": list(found.diff),
        "gains": [{"account": a, "region": r} for a, r in found.gains],
        "loses": [asdict(i) for i in found.loses],
        "prune": found.prune,
        "changes": found.changes,
        "refusal": found.refusal,
    }


def plan_lines(found: StackSetPlan) -> list[str]:
    """Return the plan for people, a line each."""
    name = found.target.name
    if found.refusal:
        return [f"x refused: {found.refusal}"]
    if found.delete:
        return (
            [f"- stack set {name}: every instance, then the stack set"]
            if found.changes
            else [f"stack set {name}: none to delete"]
        )
    lines = []
    if found.create:
        model = "self-managed" if found.target.self_managed else "service-managed, auto-deployment"
        lines.append(f"+ stack set {name} ({model}), with qbroles export's template")
    elif found.diff:
        lines.append(f"~ stack set {name}: the template changes, in every instance:")
        lines += [f"    {line}" for line in found.diff]
    lines += [f"+ instance in {account} ({region})" for account, region in found.gains]
    for instance in found.loses:
        fate = (
            "removed (--prune)" if found.prune else "kept (outside the targets; --prune removes it)"
        )
        lines.append(f"- instance in {instance.account} ({instance.region}): {fate}")
    return lines or [f"stack set {name}: no changes; its template and instances are as planned"]


def show_plan(settings: Settings, found: StackSetPlan, *, err: bool) -> None:
    """Show the plan: on stdout for stackset plan (the document with -o json), else stderr."""
    from qbroles.report.render import write_json

    if settings.output == "json" and not err:
        write_json({"command": "stackset plan", **plan_document(found)})
        return
    if settings.quiet and err:
        return
    for line in plan_lines(found):
        click.echo(line, err=err)


def show_done(settings: Settings, found: StackSetPlan, done: Done, command: str) -> None:
    """Show each operation and each account's result; the JSON document with -o json."""
    from qbroles.report.render import write_json

    failed = [r for r in done.results if not r.ok]
    if settings.output == "json":
        write_json(
            {
                "command": f"stackset {command}",
                **plan_document(found),
                "operations": [
                    {"operation": what, "operation_id": op or None, "status": status}
                    for what, op, status in done.operations
                ],
                "results": [asdict(r) for r in done.results],
                "instances": [asdict(i) for i in done.instances],
                "ok": done.ok,
            }
        )
    elif not settings.quiet:
        for what, op, status in done.operations:
            click.echo(f"{what}: {status}" + (f" (operation {op})" if op else ""))
        for r in failed:
            click.echo(f"  x {r.account} {r.region} {r.status}: {r.reason or 'no reason given'}")
        for i in done.instances:
            mark = "ok" if i.current else "x "
            reason = f": {i.reason}" if i.reason and not i.current else ""
            click.echo(f"  {mark} {i.account} {i.region} {i.status} {i.detail}{reason}")
    bad = [i for i in done.instances if not i.current]
    if command == "delete":
        said = "deleted" if done.ok else "not deleted"
    elif failed or bad:
        said = f"{len(bad)} of {len(done.instances)} instances not current, {len(failed)} failed"
    else:
        said = f"{len(done.instances)} instances current"
    settings.say(f"qbroles stackset {command}: {found.target.name}: {said}.")


def show_status(
    settings: Settings,
    name: str,
    deployed: Deployed,
    drifted: dict[tuple[str, str], str] | str | None,
    outcomes: Sequence[Outcome],
) -> int:
    """Show the instances, their drift and each account's verify; return the worst code."""
    from qbroles import accounts
    from qbroles.report.render import write_json

    drift = drifted if isinstance(drifted, dict) else {}
    unknown = drifted if isinstance(drifted, str) else None
    rows = [
        {**asdict(i), "drift": drift.get((i.account, i.region), i.drift)}
        for i in deployed.instances
    ]
    bad = [r for r in rows if r["status"] != "CURRENT" or r["detail"] not in ("SUCCEEDED", "")]
    drifting = [r for r in rows if r["drift"] == "DRIFTED"]
    codes = [accounts.code(o) for o in outcomes]
    code = max([int(ExitCode.DIFFERENCES) if bad or drifting else 0, *codes], default=0)
    if settings.output == "json":
        write_json(
            {
                "command": "stackset status",
                "name": name,
                "instances": rows,
                "drift_unknown": unknown,
                **accounts.document(outcomes),
                "ok": code == 0,
            }
        )
    elif not settings.quiet:
        click.echo(f"Stack set {name}: {len(rows)} instances")
        for r in rows:
            reason = f": {r['reason']}" if r["reason"] else ""
            click.echo(
                f"  {r['account']} {r['region']} {r['status']} {r['detail']} drift "
                f"{r['drift']}{reason}"
            )
        if unknown:
            click.echo(f"  ? drift unknown: {unknown}")
        if outcomes:
            click.echo("")
            accounts.print_accounts(settings, outcomes)
    parts = [
        f"{len(bad)} not current" if bad else "",
        f"{len(drifting)} drifted" if drifting else "",
    ]
    failing = [o for o, c in zip(outcomes, codes, strict=True) if c]
    if failing:
        parts.append("verify fails in " + ", ".join(o.account for o in failing))
    said = "; ".join(p for p in parts if p) or "every instance current" + (
        " and in sync" if isinstance(drifted, dict) else ""
    )
    if unknown:
        said += "; drift unknown"
    settings.say(f"qbroles stackset status: {name}: {said}.")
    return code
