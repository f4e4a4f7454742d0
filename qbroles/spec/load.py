"""Reading a spec: TOML files and built-in data into a validated Spec, before any AWS call."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qbroles.catalog import DEFAULT_APP, RoleKind
from qbroles.errors import InputError
from qbroles.files import parse_json, read_input
from qbroles.policy.documents import compact_size, fill, placeholders, policy_problem
from qbroles.spec.model import (
    DEFAULT_SERVICE,
    DESCRIPTION,
    MAX_DESCRIPTION,
    MAX_MANAGED_POLICIES,
    MAX_TAGS,
    NAME_CHARS,
    OWN_TAGS,
    OWNER_TAG,
    POLICY_ARN,
    POLICY_SHORT,
    RESERVED_PREFIX,
    ROLE_NAME,
    SERVICE,
    RoleSpec,
    Spec,
    policy_arn,
    tag_text,
)

TOP_KEYS = {"app", "role"}
ROLE_KEYS = {
    "name",
    "kind",
    "description",
    "trusted_service",
    "managed_policies",
    "tags",
    "inline_policies",
    "permissions_boundary",
    "max_session_duration",
    "path",
    "source_conditions",
}
MAX_INLINE_SIZE = 10240  # characters of all inline policy documents of a role, white space aside
ROLE_PATH = re.compile(r"/([\x21-\x7e]+/)?")
INLINE_NAME = re.compile(rf"{NAME_CHARS}{{1,128}}")


def load_spec(path: str | Path, app: str | None = None) -> Spec:
    """Read and validate a TOML spec file; ``app`` (from --app) overrides the file's own."""
    import tomllib  # only for a spec file: the presets are data already

    source = str(path)
    text = read_input(path, "spec file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"spec file {source} is not valid TOML: {exc}.") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise InputError(
            f"spec file {source} nests arrays or tables too deeply for a spec; fix the spec."
        ) from None
    return parse_spec(data, source=source, app=app, base=Path(path).parent)


def parse_spec(
    data: Mapping[str, Any], *, source: str, app: str | None = None, base: Path | None = None
) -> Spec:
    """Validate a spec given as data (parsed TOML) and return it; InputError names the key."""
    _no_unknown_keys(data, TOP_KEYS, f"{source}:")
    file_app = data.get("app", DEFAULT_APP)
    _expect(isinstance(file_app, str), f"{source}: key 'app' must be a string")
    chosen_app: str = app if app is not None else file_app
    where_app = "--app" if app is not None else f"{source}: key 'app'"
    if not re.fullmatch(f"{NAME_CHARS}{{1,64}}", chosen_app):
        raise InputError(
            f"{where_app} {chosen_app!r} is not a valid application name; "
            "use 1-64 letters, digits and _+=,.@- only."
        )
    roles_raw = data.get("role")
    _expect(
        isinstance(roles_raw, list) and len(roles_raw) > 0,
        f"{source}: at least one [[role]] table is required",
    )
    assert isinstance(roles_raw, list)
    roles = tuple(
        _parse_role(
            raw, app=chosen_app, where=f"{source}: role {index}", base=base, app_from=where_app
        )
        for index, raw in enumerate(roles_raw, start=1)
    )
    seen: dict[str, str] = {}
    for role in roles:
        twin = seen.get(role.name.lower())
        _expect(
            twin is None,
            f"{source}: role name {role.name!r} appears twice"
            if twin == role.name
            else f"{source}: roles {twin!r} and {role.name!r} are one role to IAM (IAM role "
            "names are unique without case); keep one",
        )
        seen[role.name.lower()] = role.name
    return Spec(app=chosen_app, roles=roles, source=source)


def _parse_role(
    raw: Any, *, app: str, where: str, base: Path | None, app_from: str = "app"
) -> RoleSpec:
    _expect(isinstance(raw, Mapping), f"{where} must be a table")
    name_raw = raw.get("name")
    _expect(isinstance(name_raw, str), f"{where}: key 'name' is required and must be a string")
    assert isinstance(name_raw, str)
    name = name_raw.replace("{app}", app)
    rest = len(name_raw) - name_raw.count("{app}") * len("{app}")  # what the app is added to
    if "{app}" in name_raw and len(name) > 64 and ROLE_NAME.fullmatch(name[:64]):
        longest = (64 - rest) // name_raw.count("{app}")
        raise InputError(
            f"{app_from} {app!r} makes the role name {name!r} {len(name)} characters long, "
            f"and IAM allows 64; use an application name of at most {longest} characters."
        )
    _expect(
        bool(ROLE_NAME.fullmatch(name)),
        f"{where}: key 'name': {name!r} is not a valid IAM role name "
        "(1-64 of letters, digits and _+=,.@-)",
    )
    where = f"{where} ({name})"
    _no_unknown_keys(raw, ROLE_KEYS, f"{where}:")
    written_description = _string(raw, "description", where, default="Managed by qbroles.")
    description = written_description.replace("{app}", app)
    _expect(
        len(description) <= MAX_DESCRIPTION and bool(DESCRIPTION.fullmatch(description)),
        f"{where}: key 'description' must be at most {MAX_DESCRIPTION} "
        "printable Latin-1 characters",
    )
    service = _string(raw, "trusted_service", where, default=DEFAULT_SERVICE)
    _expect(
        bool(SERVICE.fullmatch(service)),
        f"{where}: key 'trusted_service': {service!r} is not an AWS service principal "
        "such as ecs-tasks.amazonaws.com",
    )
    kind = raw.get("kind")
    _expect(
        kind is None or kind in [member.value for member in RoleKind],
        f"{where}: key 'kind' must be execution or task",
    )
    path = _string(raw, "path", where, default="/")
    _expect(
        len(path) <= 512 and bool(ROLE_PATH.fullmatch(path)),
        f"{where}: key 'path': {path!r} must start and end with / (such as /ecs/)",
    )
    duration = raw.get("max_session_duration", 3600)
    _expect(
        type(duration) is int and 3600 <= duration <= 43200,
        f"{where}: key 'max_session_duration' must be whole seconds from 3600 to 43200",
    )
    conditions = raw.get("source_conditions", False)
    _expect(isinstance(conditions, bool), f"{where}: key 'source_conditions' must be true or false")
    boundary = raw.get("permissions_boundary")
    return RoleSpec(
        name=name,
        description=description,
        trusted_service=service,
        managed_policies=_policies(raw.get("managed_policies", []), where),
        tags=_tags(raw.get("tags", {}), where),
        inline_policies=_inline(raw.get("inline_policies", {}), where, base, app),
        permissions_boundary=(
            None
            if boundary is None
            else _policy_ref(boundary, f"{where}: key 'permissions_boundary'")
        ),
        max_session_duration=duration,
        path=path,
        source_conditions=conditions,
        kind=None if kind is None else RoleKind(kind),
        written=(name_raw, written_description),
        stated=frozenset(key for key in ("description", "max_session_duration") if key in raw),
    )


def _inline(
    value: Any, where: str, base: Path | None, app: str
) -> tuple[tuple[str, Mapping[str, Any]], ...]:
    key = f"{where}: key 'inline_policies'"
    _expect(isinstance(value, Mapping), f"{key} must be a table of policy name = document")
    policies = []
    for name, document in value.items():
        at = f"{key}: policy {name!r}"
        _expect(
            bool(INLINE_NAME.fullmatch(name)),
            f"{at}: the name must be 1-128 of letters, digits and _+=,.@-",
        )
        if isinstance(document, str):
            document = _json_file(document, base, at)
        problem = policy_problem(document)
        _expect(problem is None, f"{at}: {problem}")
        unknown = sorted(placeholders(document) - {"partition", "region", "account", "app"})
        _expect(not unknown, f"{at}: unknown placeholder {{{', '.join(unknown)}}}")
        policies.append((name, fill(document, {"app": app})))
    size = sum(compact_size(document) for _, document in policies)
    _expect(
        size <= MAX_INLINE_SIZE,
        f"{key}: {size} characters in all, but IAM allows {MAX_INLINE_SIZE} per role",
    )
    return tuple(policies)


def _json_file(reference: str, base: Path | None, at: str) -> Any:
    path = Path(reference) if base is None else base / reference
    try:
        text = read_input(path, "policy file")
    except InputError as exc:
        raise InputError(f"{at}: {exc} Fix the spec and rerun.") from None
    try:
        return parse_json(text)
    except ValueError as exc:
        raise InputError(
            f"{at}: {path} is not valid JSON ({exc}); fix the spec and rerun."
        ) from None


def _policies(value: Any, where: str) -> tuple[str, ...]:
    key = f"{where}: key 'managed_policies'"
    _expect(isinstance(value, list), f"{key} must be a list of policy names or ARNs")
    refs: list[str] = []
    seen: set[str] = set()
    for item in value:
        ref = _policy_ref(item, key)
        identity = policy_arn(ref, "aws").split(":", 2)[
            2
        ]  # the same policy, whatever the partition
        _expect(identity not in seen, f"{key}: {item!r} is listed twice")
        seen.add(identity)
        refs.append(ref)
    _expect(
        len(refs) <= MAX_MANAGED_POLICIES,
        f"{key}: {len(refs)} policies, but IAM allows at most {MAX_MANAGED_POLICIES} per role",
    )
    return tuple(refs)


def _policy_ref(item: Any, key: str) -> str:
    """Return a managed policy reference (AWS managed path/name, or an ARN) once checked."""
    _expect(isinstance(item, str), f"{key}: {item!r} is not a string")
    if item.startswith("arn:"):
        _expect(
            bool(POLICY_ARN.fullmatch(item)),
            f"{key}: {item!r} is not a valid IAM policy ARN "
            "(arn:PARTITION:iam::ACCOUNT-or-aws:policy/NAME)",
        )
    else:
        _expect(
            bool(POLICY_SHORT.fullmatch(item)),
            f"{key}: {item!r} is not a valid AWS managed policy name (such as "
            "SecretsManagerReadWrite or service-role/AmazonECSTaskExecutionRolePolicy)",
        )
    return str(item)


def _tags(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    key = f"{where}: key 'tags'"
    _expect(isinstance(value, Mapping), f"{key} must be a table of string values")
    for tag_key, tag_value in value.items():
        _expect(isinstance(tag_value, str), f"{key}: the value of {tag_key!r} must be a string")
        _expect(
            1 <= len(tag_key) <= 128
            and tag_text(tag_key)
            and len(tag_value) <= 256
            and tag_text(tag_value),
            f"{key}: {tag_key!r} = {tag_value!r} is not a valid IAM tag "
            "(key 1-128, value up to 256 letters, digits, spaces and _.:/=+-@)",
        )
        _expect(
            not tag_key.lower().startswith("aws:"), f"{key}: {tag_key!r}: the aws: prefix is AWS's"
        )
        _expect(
            tag_key.lower() != OWNER_TAG[0].lower()
            and not tag_key.lower().startswith(RESERVED_PREFIX),
            f"{key}: {tag_key!r} is set by qbroles itself (its ownership tag {OWNER_TAG[0]} and "
            f"the {RESERVED_PREFIX}* tags, whatever their case)",
        )
        _expect(
            not any(c.isspace() for c in tag_key),
            f"{key}: {tag_key!r}: qbroles records the keys it sets in one tag, "
            "separated by spaces, so a key cannot hold white space",
        )
    keys = sorted(value, key=str.lower)
    twins = [(a, b) for a, b in itertools.pairwise(keys) if a.lower() == b.lower()]
    _expect(
        not twins,
        f"{key}: {twins[0][0]!r} and {twins[0][1]!r} are one key to IAM (role tag keys "
        "ignore case); keep one"
        if twins
        else "",
    )
    room = MAX_TAGS - len(OWN_TAGS)
    _expect(
        len(value) <= room,
        f"{key}: at most {room} tags (IAM allows {MAX_TAGS}; qbroles sets {len(OWN_TAGS)} itself)",
    )
    _expect(
        len(" ".join(value)) <= 256,
        f"{key}: the keys add up to more than 256 characters, too long for qbroles' record of them",
    )
    return tuple(sorted(value.items()))


def _string(raw: Mapping[str, Any], key: str, where: str, *, default: str) -> str:
    value = raw.get(key, default)
    _expect(isinstance(value, str), f"{where}: key '{key}' must be a string")
    assert isinstance(value, str)
    return value


def _no_unknown_keys(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    _expect(
        not unknown,
        f"{where} unknown key {', '.join(map(repr, unknown))} "
        f"(allowed: {', '.join(sorted(allowed))})",
    )


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise InputError(f"{message}; fix the spec and rerun.")
