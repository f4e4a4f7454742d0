"""What the roles of a spec are for, and what each of their policies grants. Pure: no AWS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qbroles.catalog import NARROWER, RoleKind, broad, grants
from qbroles.policy.documents import statements
from qbroles.spec.model import RoleSpec, Spec, policy_label


def explanation(spec: Spec) -> dict[str, Any]:
    """Return what the spec's roles are for and what they grant, as data (the JSON form)."""
    roles = [_role(role) for role in spec.roles]
    sorted_broad = sorted({p["name"] for role in roles for p in role["policies"] if p["broad"]})
    notes = []
    for label in sorted_broad:
        why = broad(label)
        if why is not None:
            notes.append(f"{label} {why.why}; {why.instead}.")
    if any(not role.source_conditions and role.kind != RoleKind.EXECUTION for role in spec.roles):
        notes.append(
            "A trust policy without aws:SourceAccount and aws:SourceArn conditions lets ECS "
            "assume the role on behalf of any account (the confused-deputy problem); "
            "source_conditions = true adds them."
        )
    if notes:
        notes.append(
            "The deployment guide uses broad AWS managed policies for simplicity and says "
            f"production wants least-privilege policies: {NARROWER} "
            "(see qbroles --preset least-privilege explain)."
        )
    return {
        "command": "explain",
        "source": spec.source,
        "preset": spec.preset,
        "app": spec.app,
        "kinds": [
            {
                "kind": kind.value,
                "title": kind.heading,
                "used_by": kind.used_by,
                "for": kind.purpose,
                "task_definition_key": kind.task_definition_key,
            }
            for kind in RoleKind
        ],
        "roles": roles,
        "notes": notes,
    }


def _role(role: RoleSpec) -> dict[str, Any]:
    kind = RoleKind(role.kind) if role.kind else None
    labels = [policy_label(ref) if ref.startswith("arn:") else ref for ref in role.managed_policies]
    policies = [
        {
            "type": "managed",
            "name": label,
            "grants": [grants(label)],
            "broad": broad(label) is not None,
        }
        for label in labels
    ]
    policies += [
        {"type": "inline", "name": name, "grants": _statements(document), "broad": False}
        for name, document in role.inline_policies
    ]
    service = role.trusted_service
    trust = f"{service} may assume it (sts:AssumeRole)" + (
        ", only for this account's tasks (aws:SourceAccount, aws:SourceArn)"
        if role.source_conditions
        else ", on behalf of any account (no confused-deputy conditions: AWS documents "
        "confused-deputy conditions for the task role, not for the execution role)"
        if kind is RoleKind.EXECUTION
        else ", on behalf of any account (no confused-deputy conditions)"
    )
    return {
        "name": role.name,
        "kind": role.kind,
        "title": kind.heading if kind else "role",
        "for": kind.purpose if kind else "not an ECS role kind; see its policies",
        "trust": trust,
        "policies": policies,
        "permissions_boundary": role.permissions_boundary,
        "max_session_duration": role.max_session_duration,
        "tags": dict(role.tags),
    }


def _statements(document: Mapping[str, Any]) -> list[str]:
    """Return one phrase per statement: effect, actions, resources, and whether conditional."""
    phrases = []
    for statement in statements(document):
        actions = _join(statement.get("Action") or statement.get("NotAction"))
        if "NotAction" in statement:
            actions = f"everything but {actions}"
        resources = _join(statement.get("Resource") or statement.get("NotResource"))
        if "NotResource" in statement:
            resources = f"everything but {resources}"
        condition = " if its conditions hold" if statement.get("Condition") else ""
        phrases.append(f"{statement.get('Effect')} {actions} on {resources}{condition}")
    return phrases


def _join(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def print_explanation(document: Mapping[str, Any], out: Any) -> None:
    """Print an explanation for people (``out`` is a rich console)."""
    import textwrap

    from rich.table import Table
    from rich.text import Text

    def line(indent: int, text: str, style: str = "") -> None:
        """Print text wrapped to the console, continuation lines hanging under the first."""
        for part in textwrap.wrap(
            text,
            width=max(out.width, 40),
            initial_indent=" " * indent,
            subsequent_indent=" " * (indent + 2),
            break_on_hyphens=False,
        ):
            out.print(Text(part, style=style))

    table = Table(title="The two roles of an ECS task", title_justify="left")
    table.add_column("", style="bold", ratio=2)
    for kind in document["kinds"]:
        table.add_column(kind["title"], ratio=5)
    for label, key in (
        ("used by", "used_by"),
        ("for", "for"),
        ("in the task definition", "task_definition_key"),
    ):
        table.add_row(label, *(kind[key] for kind in document["kinds"]))
    out.print(table)
    line(0, f"The roles of {document['source']} for {document['app']}", "bold")
    for role in document["roles"]:
        out.print()
        line(0, f"{role['name']} ({role['title']})", "bold")
        line(2, f"for: {role['for']}")
        line(2, f"trust: {role['trust']}")
        for policy in role["policies"]:
            broad = " (broad)" if policy["broad"] else ""
            line(2, f"{policy['type']} policy {policy['name']}{broad}:", "yellow" if broad else "")
            for grant in policy["grants"]:
                line(4, f"- {grant}")
        if not role["policies"]:
            line(2, "no policies: it may do nothing")
        if role["permissions_boundary"]:
            line(2, f"permissions boundary: {role['permissions_boundary']}")
    if document["notes"]:
        out.print()
        line(0, "Security notes", "bold yellow")
        for note in document["notes"]:
            line(2, f"- {note}")
