"""The restore file: what a run removes or replaces, kept before it does; restore puts it back.

Each action that takes something away (detach, delete an inline policy or a boundary,
untag, delete the role) or replaces it (a trust policy, a description, an inline
document, tag values) knows its inverse; the file holds those inverses per role, in the
order that puts things back (the role first, then what hangs on it). Restore only ever
adds or rewrites: it never removes anything.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from typing import Any, get_args

from qbroles.errors import InputError, SafetyError
from qbroles.files import parse_json, private_folder, read_input, write_new
from qbroles.model.actions import Action, AttachPolicy, PutInlinePolicy, RolePlan, action_name
from qbroles.policy.documents import compact_size, policy_problem, strings, too_deep
from qbroles.policy.trust import trust_problem
from qbroles.spec.load import INLINE_NAME, MAX_INLINE_SIZE, ROLE_PATH
from qbroles.spec.model import MAX_MANAGED_POLICIES, POLICY_ARN, ROLE_ARN, ROLE_NAME

FORMAT = "qbroles-restore/1"
FOLDER = ".qbroles"

# What a restore file may ask for: additions and rewrites, never a removal (sign "-").
RESTORING: dict[str, type[Any]] = {kind.NAME: kind for kind in get_args(Action) if kind.SIGN != "-"}


def _is_document(value: Any) -> bool:
    return isinstance(value, Mapping) and not too_deep(value)


@dataclass(frozen=True)
class RestoreFile:
    """A restore file as read and checked: per role what puts it back, and where it came
    from (the accounts and partitions its ARNs name), to be refused elsewhere."""

    path: str
    plans: tuple[RolePlan, ...]
    accounts: frozenset[str] = frozenset()
    partitions: frozenset[str] = frozenset()


def _is_tags(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


# Per field of an action: what its value must be, and how to say so.
FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "role": (lambda v: isinstance(v, str) and bool(ROLE_NAME.fullmatch(v)), "an IAM role name"),
    "trust": (_is_document, "a trust policy document"),
    "document": (_is_document, "a policy document"),
    "description": (lambda v: isinstance(v, str) and len(v) <= 1000, "a description"),
    "tags": (_is_tags, "a table of tag values"),
    "path": (lambda v: isinstance(v, str) and bool(ROLE_PATH.fullmatch(v)), "a role path"),
    "max_session_duration": (
        lambda v: type(v) is int and 3600 <= v <= 43200,
        "whole seconds from 3600 to 43200",
    ),
    "permissions_boundary": (
        lambda v: v is None or (isinstance(v, str) and bool(POLICY_ARN.fullmatch(v))),
        "a policy ARN or null",
    ),
    "policy_arn": (lambda v: isinstance(v, str) and bool(POLICY_ARN.fullmatch(v)), "a policy ARN"),
    "policy": (lambda v: isinstance(v, str) and bool(INLINE_NAME.fullmatch(v)), "a policy name"),
    "profile": (
        lambda v: isinstance(v, str) and bool(INLINE_NAME.fullmatch(v)),
        "an instance profile name",
    ),
}


def restoring(plans: Sequence[RolePlan]) -> tuple[RolePlan, ...]:
    """Return, per role, the actions that put back what the plans remove or replace."""
    undo = (
        RolePlan(plan.role, tuple(a for action in reversed(plan.actions) for a in action.inverse()))
        for plan in plans
    )
    return tuple(plan for plan in undo if plan.actions)


def document(
    plans: Sequence[RolePlan],
    command: str,
    made: datetime.datetime,
    arns: Sequence[str] = (),
) -> dict[str, Any]:
    """Return the restore file's content for these plans; ``arns``, the roles' ARNs as
    read, say which account and partition it belongs to."""
    where = [found.groupdict() for arn in arns if (found := ROLE_ARN.fullmatch(arn))]
    return {
        "format": FORMAT,
        "made": made.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command,
        **({"account": where[0]["account"], "partition": where[0]["partition"]} if where else {}),
        "restore with": "qbroles restore FILE",
        "roles": [
            {
                "role": plan.role,
                "removed": [
                    {"description": action.describe(), "removed": action.removed()}
                    for action in original.actions
                    if action.inverse()
                ],
                "restore": [action_document(action) for action in plan.actions],
            }
            for original in plans
            for plan in restoring([original])
        ],
    }


def action_document(action: Action) -> dict[str, Any]:
    """Return an action as a file holds it: its name and the fields that say what it does."""
    values = {f.name: getattr(action, f.name) for f in fields(action) if f.compare}
    return {"action": action_name(action), **values}


def save(
    plans: Sequence[RolePlan], command: str, path: str | None, arns: Sequence[str] = ()
) -> str | None:
    """Write the restore file for the plans, if they lose anything; return its path.

    ``path`` None: a new .qbroles/backup-<UTC time>.json in the working folder.
    """
    if not restoring(plans):
        return None
    made = datetime.datetime.now(datetime.UTC)
    text = json.dumps(document(plans, command, made, arns), indent=2) + "\n"
    # The documents it holds say what the roles may do: 0600, in a folder of 0700.
    if path is not None:
        write_new(path, text, mode=0o600)
        return path
    folder = private_folder(FOLDER, "pass --backup FILE")
    stamp = made.strftime("%Y%m%dT%H%M%SZ")
    for number in range(1, 100):
        name = f"backup-{stamp}.json" if number == 1 else f"backup-{stamp}-{number}.json"
        try:
            write_new(str(folder / name), text, mode=0o600)
        except SafetyError:  # a run in the same second wrote that one
            continue
        return str(folder / name)
    raise InputError(f"cannot find a free name for the restore file in {FOLDER}.")


def load(path: str) -> RestoreFile:
    """Read a restore file and check all of it; InputError (exit 2) names what is wrong,
    before any AWS call: every role's name, every action's fields and documents, a role
    listed twice (IAM role names are unique without case), an empty entry."""
    text = read_input(path, "restore file")
    try:
        data = parse_json(text)
    except ValueError as exc:
        raise InputError(f"restore file {path} is not valid JSON ({exc}).") from None
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise InputError(
            f'restore file {path} is not a qbroles restore file (no "format": "{FORMAT}").'
        )
    roles = data.get("roles")
    if not isinstance(roles, list) or not roles:
        raise InputError(f"restore file {path}: 'roles' must be a non-empty list.")
    plans: list[RolePlan] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(roles, start=1):
        where = f"restore file {path}: role {index}"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("restore"), list):
            raise InputError(f"{where} must be a table with a 'role' and a 'restore' list.")
        role = entry.get("role")
        check, meaning = FIELDS["role"]
        if not isinstance(role, str) or not check(role):
            raise InputError(
                f"{where}: 'role' must be {meaning} (1-64 of letters, digits, +=,.@_-)."
            )
        if role.lower() in seen:
            raise InputError(
                f"{where}: role {role} is listed already as role {seen[role.lower()]} (IAM "
                "role names are unique without case); keep one entry per role."
            )
        seen[role.lower()] = index
        if not entry["restore"]:
            raise InputError(f"{where}: its 'restore' list is empty; drop the entry.")
        actions = tuple(
            _action(raw, f"{where}, action {number}")
            for number, raw in enumerate(entry["restore"], start=1)
        )
        if any(action.role != role for action in actions):
            raise InputError(f"{where}: its actions name another role than {role!r}.")
        _within_quotas(actions, where)
        plans.append(RolePlan(role, actions))
    accounts, partitions = _origin(data)
    return RestoreFile(path, tuple(plans), accounts, partitions)


def _within_quotas(actions: Sequence[Action], where: str) -> None:
    """Refuse what IAM would refuse half-way, the role already made: more managed policies
    than a role may have, more inline policy text than it may hold (the quotas the spec
    is held to, spec/load.py)."""
    attached = [action for action in actions if isinstance(action, AttachPolicy)]
    if len(attached) > MAX_MANAGED_POLICIES:
        raise InputError(
            f"{where}: {len(attached)} managed policies to attach, but IAM allows at most "
            f"{MAX_MANAGED_POLICIES} a role."
        )
    size = sum(
        compact_size(action.document) for action in actions if isinstance(action, PutInlinePolicy)
    )
    if size > MAX_INLINE_SIZE:
        raise InputError(
            f"{where}: its inline policies hold {size} characters, but IAM allows "
            f"{MAX_INLINE_SIZE} a role."
        )


def _origin(data: Mapping[str, Any]) -> tuple[frozenset[str], frozenset[str]]:
    """Return the accounts and partitions a restore file names: its header's, and those of
    every ARN in it (policies, boundaries, the roles it removed); AWS's own policies
    (account "aws") belong to every account."""
    accounts: set[str] = set()
    partitions: set[str] = set()
    if isinstance(data.get("account"), str):
        accounts.add(data["account"])
    if isinstance(data.get("partition"), str):
        partitions.add(data["partition"])

    def walk(value: Any) -> None:
        for text in strings(value):
            parts = text.split(":", 5)
            if len(parts) == 6 and parts[0] == "arn" and parts[2] == "iam":
                partitions.add(parts[1])
                if parts[4] not in ("", "aws"):
                    accounts.add(parts[4])

    for entry in data.get("roles", []):
        if isinstance(entry, Mapping):
            for action in entry.get("restore", []):
                if isinstance(action, Mapping):
                    for key in ("policy_arn", "permissions_boundary"):
                        walk(action.get(key))
            for removed in entry.get("removed", []) or []:
                if isinstance(removed, Mapping) and isinstance(removed.get("removed"), Mapping):
                    walk(removed["removed"].get("Arn"))
    return frozenset(accounts), frozenset(partitions)


def _action(raw: Any, where: str) -> Action:
    if not isinstance(raw, Mapping) or raw.get("action") not in RESTORING:
        raise InputError(
            f"{where}: 'action' must be one of {', '.join(sorted(RESTORING))} "
            "(a restore only adds and rewrites)."
        )
    kind = RESTORING[raw["action"]]
    values: dict[str, Any] = {}
    wanted = [f for f in fields(kind) if f.compare]
    unknown = sorted(set(raw) - {"action"} - {f.name for f in wanted})
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r}.")
    for spec in wanted:
        if spec.name not in raw:
            if spec.default is MISSING:
                raise InputError(f"{where}: {spec.name!r} is missing.")
            continue
        check, meaning = FIELDS[spec.name]
        if not check(raw[spec.name]):
            raise InputError(f"{where}: {spec.name!r} must be {meaning}.")
        validate = {"trust": trust_problem, "document": policy_problem}.get(spec.name)
        problem = validate(raw[spec.name]) if validate else None
        if problem:
            raise InputError(f"{where}: {spec.name!r}: {problem}.")
        values[spec.name] = raw[spec.name]
    action: Action = kind(**values)
    return action
