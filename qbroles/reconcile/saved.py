"""Saved plans, as terraform plan -out: plan --out writes one, create PLAN applies exactly it.

The file holds what the plan was made from (the spec's roles made concrete, the options,
the account, each role as IAM held it) and, per role, the actions; reconcile.replay
applies it.

A digest over the content catches a file changed after qbroles wrote it (a merge, an
edit): such a file is refused (exit 2), not guessed at.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from enum import Enum
from typing import Any

from qbroles import __version__
from qbroles.catalog import RoleKind
from qbroles.errors import InputError, SafetyError
from qbroles.files import parse_json, read_input, write_new
from qbroles.iam.gateway import Gateway
from qbroles.model.state import RoleState
from qbroles.policy.documents import policy_problem
from qbroles.policy.trust import trust_problem
from qbroles.reconcile import path
from qbroles.reconcile.backup import FIELDS, action_document
from qbroles.reconcile.desired import CreateOptions, DesiredRole
from qbroles.reconcile.restore import account_of
from qbroles.spec.load import INLINE_NAME
from qbroles.spec.model import POLICY_ARN, spec_digest

FORMAT = "qbroles-plan/1"


def remake(file: str, saved: SavedPlan | None = None) -> str:
    """Return how to make a plan file again: the command, and the spec to make it from."""
    if saved is None:
        return f"make the plan again (qbroles plan --out {file}), review it, and apply that"
    return (
        f"make the plan again from the same spec ({saved.spec.get('source')}, app "
        f"{saved.spec.get('app')}) with qbroles plan{saved.options.flags} --out {file}, "
        "review it, and apply that"
    )


def plain(value: Any) -> Any:
    """Return a value as JSON holds it: a dataclass as a table of its fields, sets sorted,
    tuples as lists, enums by value."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(plain(item) for item in value)
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    return value


def state_document(state: RoleState | None) -> dict[str, Any] | None:
    """Return a role as read, as the plan file records it (None: it did not exist)."""
    return None if state is None else plain(state)


def _digest(data: Mapping[str, Any]) -> str:
    rest = {key: value for key, value in data.items() if key != "digest"}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def document(
    plan: path.Plan, account: str, partition: str, made: datetime.datetime
) -> dict[str, Any]:
    """Return the plan file's content for a create's plan, its digest last."""
    assert plan.options is not None, "only a create's plan is saved"
    data: dict[str, Any] = {
        "format": FORMAT,
        "made": made.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "qbroles": __version__,
        "account": account,
        "partition": partition,
        "spec": {
            **(plan.spec or {}),
            "digest": spec_digest(role.digest for role in plan.desired),
        },
        "options": plain(plan.options),
        "apply with": "qbroles create FILE",
        "roles": [
            {
                "role": desired.name,
                "changes": [action.describe() for action in role_plan.actions],
                "actions": [plain(action_document(action)) for action in role_plan.actions],
                "read": state_document(plan.observed[desired.name]),
                "desired": plain(desired),
            }
            for desired, role_plan in zip(plan.desired, plan.roles, strict=True)
        ],
    }
    return {**data, "digest": _digest(data)}


def account_here(gateway: Gateway, observed: Mapping[str, RoleState | None], why: str) -> str:
    """Return the account of the credentials: from the roles as read, else from STS (one
    call, ``why`` said if it fails)."""
    return account_of(observed) or gateway.source_scope(why).account


def save(file: str, plan: path.Plan, gateway: Gateway) -> None:
    """Write a create's plan to ``file``, replacing only a plan file written before."""
    account = account_here(gateway, plan.observed, "a saved plan records the account it is for")
    made = datetime.datetime.now(datetime.UTC)
    text = json.dumps(document(plan, account, gateway.partition, made), indent=2) + "\n"
    try:
        earlier = parse_json(read_input(file, "plan file"))
    except (InputError, ValueError):
        earlier = None
    replacing = isinstance(earlier, Mapping) and earlier.get("format") == FORMAT
    try:  # the policies it holds say what the roles may do: 0600, as the restore file
        write_new(file, text, force=replacing, mode=0o600)
    except SafetyError as exc:
        if "exists" not in str(exc):
            raise
        raise SafetyError(
            f"{file} exists and is not a qbroles plan file, so plan --out will not replace "
            "it; give another path, or remove it first."
        ) from None


@dataclass(frozen=True)
class SavedPlan:
    """A plan file as read and checked."""

    path: str
    made: str
    account: str
    partition: str
    spec: Mapping[str, str]  # source, app, digest
    options: CreateOptions
    desired: tuple[DesiredRole, ...]
    reads: Mapping[str, Any]  # role -> what IAM held of it (None: no such role)
    actions: Mapping[str, Any]  # role -> its actions, as the file holds them
    version: str = ""


def load(file: str) -> SavedPlan:
    """Read a plan file and check all of it before any AWS call (InputError, exit 2)."""
    text = read_input(file, "plan file")
    try:
        data = parse_json(text)
    except ValueError as exc:
        raise InputError(f"plan file {file} is not valid JSON ({exc}).") from None
    found = data.get("format") if isinstance(data, Mapping) else None
    if isinstance(found, str) and found.startswith("qbroles-plan/") and found != FORMAT:
        raise InputError(
            f"plan file {file} is of format {found}, and this qbroles ({__version__}) reads "
            f"{FORMAT}; apply it with the qbroles that wrote it, or make the plan again."
        )
    if not isinstance(data, Mapping) or found != FORMAT:
        raise InputError(
            f'{file} is not a qbroles plan file (no "format": "{FORMAT}"); qbroles plan '
            "--out FILE writes one."
        )
    if data.get("digest") != _digest(data):
        raise InputError(
            f"plan file {file} was changed after qbroles wrote it (its digest does not match "
            f"its content), so it is not the plan that was reviewed; {remake(file)}."
        )
    where = f"plan file {file}"
    try:
        roles = data["roles"]
        desired = tuple(
            _desired(entry["desired"], f"{where}, role {number}")
            for number, entry in enumerate(roles, start=1)
        )
        entries = dict(zip((role.name for role in desired), roles, strict=True))
        return SavedPlan(
            path=file,
            made=str(data["made"]),
            account=str(data["account"]),
            partition=str(data["partition"]),
            spec={key: str(data["spec"][key]) for key in ("source", "app", "digest")},
            options=_options(data["options"], file),
            desired=desired,
            reads={name: _read(entry["read"], file) for name, entry in entries.items()},
            actions={name: list(entry["actions"]) for name, entry in entries.items()},
            version=str(data.get("qbroles", "")),
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise InputError(
            f"{where} is not as qbroles writes it ({exc!s}); {remake(file)}."
        ) from None


def _read(raw: Any, file: str) -> Mapping[str, Any] | None:
    if raw is not None and not isinstance(raw, Mapping):
        raise InputError(
            f"plan file {file}: each role's 'read' must be a table or null; {remake(file)}."
        )
    return raw


def _options(raw: Mapping[str, Any], file: str) -> CreateOptions:
    adopt, prune, check_live = flags = [raw[name] for name in ("adopt", "prune", "check_live")]
    key, regions = raw["kms_key_arn"], raw["live_regions"]
    if not (
        all(isinstance(flag, bool) for flag in flags)
        and (key is None or isinstance(key, str))
        and isinstance(regions, list)
        and all(isinstance(region, str) for region in regions)
    ):
        raise InputError(
            f"plan file {file}: its 'options' are not as qbroles writes them; {remake(file)}."
        )
    return CreateOptions(adopt, prune, check_live, key, tuple(regions))


def _is_str_list(check: Callable[[str], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, list) and all(isinstance(i, str) and check(i) for i in v)


# Per field of a desired role: what its value must be (besides the fields actions share).
_DESIRED: dict[str, tuple[Callable[[Any], bool], str]] = {
    "name": FIELDS["role"],
    "managed_policies": (_is_str_list(lambda i: bool(POLICY_ARN.fullmatch(i))), "policy ARNs"),
    "inline_policies": (
        lambda v: (
            isinstance(v, Mapping)
            and all(
                isinstance(k, str) and INLINE_NAME.fullmatch(k) and not policy_problem(d)
                for k, d in v.items()
            )
        ),
        "inline policies by name",
    ),
    "kind": (lambda v: v is None or v in {kind.value for kind in RoleKind}, "a role kind"),
    "made_by": (lambda v: isinstance(v, str), "a spec's name"),
    "digest": (lambda v: isinstance(v, str), "a digest"),
    "stated": (_is_str_list(lambda i: i in ("description", "max_session_duration")), "names"),
}


def _desired(raw: Any, where: str) -> DesiredRole:
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: 'desired' must be a table.")
    values: dict[str, Any] = {}
    for spec in fields(DesiredRole):
        check, meaning = _DESIRED.get(spec.name) or FIELDS[spec.name]
        if spec.name not in raw or not check(raw[spec.name]):
            raise InputError(f"{where}: desired {spec.name!r} must be {meaning}.")
        problem = trust_problem(raw[spec.name]) if spec.name == "trust" else None
        if problem:
            raise InputError(f"{where}: desired 'trust': {problem}.")
        values[spec.name] = raw[spec.name]
    return DesiredRole(
        **{
            **values,
            "managed_policies": tuple(values["managed_policies"]),
            "kind": None if values["kind"] is None else RoleKind(values["kind"]),
            "stated": frozenset(values["stated"]),
        }
    )
