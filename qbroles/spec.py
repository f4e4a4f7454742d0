"""The desired roles: the built-in default and TOML spec files, validated before any AWS call.

Nothing here imports boto3: a spec error is reported before AWS is touched.
"""

from __future__ import annotations

import itertools
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qbroles.catalog import DEFAULT_APP, RoleKind
from qbroles.errors import InputError
from qbroles.files import read_input
from qbroles.partitions import PARTITION
from qbroles.policies import compact_size, fill, placeholders, policy_problem

# The ECS tasks principal; the same name in aws-cn, where AWS's China guide shows this trust
# (https://docs.amazonaws.cn/AmazonECS/latest/userguide/task_IAM_role.html), and in aws-us-gov.
# For the aws-iso* and aws-eusc partitions no public AWS page names it; qbroles keeps this
# name there too (a spec's trusted_service overrides it).
DEFAULT_SERVICE = "ecs-tasks.amazonaws.com"
OWNER_TAG = ("ManagedBy", "qbroles")
# The spec's tag keys that qbroles set, space-separated: what it may untag when the spec drops one.
RECORD_TAG = "qbroles:tags"
# Which spec made the role (preset or file, and app): delete and --prune leave other specs' roles.
SPEC_TAG = "qbroles:spec"
# Keys under this prefix are qbroles' own; a spec may not set them.
RESERVED_PREFIX = "qbroles:"

# IAM's own limits (see the IAM quotas page).
MAX_MANAGED_POLICIES = 20
MAX_TAGS = 50
MAX_DESCRIPTION = 1000

NAME_CHARS = r"[A-Za-z0-9_+=,.@-]"
ROLE_NAME = re.compile(rf"{NAME_CHARS}{{1,64}}")
_POLICY_PATH_NAME = rf"(?:{NAME_CHARS}+/)*{NAME_CHARS}{{1,128}}"
POLICY_SHORT = re.compile(_POLICY_PATH_NAME)
POLICY_ARN = re.compile(rf"arn:{PARTITION}:iam::(aws|\d{{12}}):policy/{_POLICY_PATH_NAME}")
# arn:PARTITION:iam::ACCOUNT:role/PATH/NAME (IAM identifiers: ARNs; the path is / or
# /printable ASCII/, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html)
ROLE_ARN = re.compile(
    rf"arn:(?P<partition>{PARTITION}):iam::(?P<account>\d{{12}}):"
    r"role(?P<path>/(?:[\x21-\x7e]+/)?)"
    rf"(?P<name>{NAME_CHARS}{{1,64}})"
)
SERVICE = re.compile(r"[a-z0-9][a-z0-9.-]*\.amazonaws\.com(\.cn)?")
DESCRIPTION = re.compile(r"[\t\n\r\x20-\x7e\xa1-\xff]*")
_TAG_PUNCTUATION = set("_.:/=+-@")


@dataclass(frozen=True)
class RoleSpec:
    """One role as it should be."""

    name: str
    description: str
    trusted_service: str = DEFAULT_SERVICE
    # short names (path/name of an AWS managed policy) or ARNs
    managed_policies: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()  # the spec's own tags; the ownership tag is added on top
    # name -> policy document; its strings may hold {partition}, {region}, {account}
    inline_policies: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    permissions_boundary: str | None = None  # short name or ARN, like managed_policies
    max_session_duration: int = 3600
    path: str = "/"
    source_conditions: bool = False  # trust only on behalf of this account
    kind: RoleKind | None = None  # what ECS uses the role for
    # The name and description as written, {app} and all (for writing the spec back out).
    written: tuple[str, str] | None = field(default=None, compare=False)
    # The optional attributes the spec states (description, max_session_duration): only
    # these are verified and converged; qbroles' own defaults are set on create only.
    stated: frozenset[str] = field(
        default=frozenset({"description", "max_session_duration"}), compare=False
    )

    def all_tags(self, made_by: str) -> dict[str, str]:
        """Return the tags the role must carry: the spec's, their record, whose spec, the owner."""
        record = {RECORD_TAG: " ".join(key for key, _ in self.tags)} if self.tags else {}
        return {**dict(self.tags), **record, SPEC_TAG: made_by, OWNER_TAG[0]: OWNER_TAG[1]}

    def policy_arns(self, partition: str) -> tuple[str, ...]:
        """Return the managed policies as ARNs in the given partition."""
        return tuple(policy_arn(ref, partition) for ref in self.managed_policies)

    @property
    def needs_account(self) -> bool:
        """Return whether the role's documents need the account and region filled in."""
        return self.source_conditions or any(
            placeholders(document) & {"account", "region"} for _, document in self.inline_policies
        )


@dataclass(frozen=True)
class Spec:
    """All roles qbroles manages in one run, and where they were described."""

    app: str
    roles: tuple[RoleSpec, ...]
    source: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(role.name for role in self.roles)

    @property
    def identity(self) -> str:
        """Return which spec this is, as the tag SPEC_TAG records it: the preset or file, the app.

        A file is named by its base name, so the same file read from another folder is
        the same spec. Characters IAM refuses in a tag value become _.
        """
        kind, _, name = self.source.partition(" ")
        if kind != "preset" or not name:
            kind, name = "file", Path(self.source).name
        text = f"{kind}={name} app={self.app}"
        return "".join(c if _tag_text(c) else "_" for c in text)[:256]

    @property
    def needs_account(self) -> bool:
        return any(role.needs_account for role in self.roles)


def tag_value(tags: Mapping[str, str], key: str) -> str | None:
    """Return the value of a role tag, its key compared without case, or None.

    IAM role tag keys are case-insensitive, and IAM keeps the case given: ManagedBy and
    managedby are one key, and tagging with one replaces the other (IAM User Guide,
    "Tagging IAM resources", rules for tagging:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_tags.html).
    """
    wanted = key.lower()
    return next((value for name, value in tags.items() if name.lower() == wanted), None)


def policy_arn(ref: str, partition: str) -> str:
    """Return the ARN of a managed policy given by short name (an AWS managed policy) or ARN."""
    return ref if ref.startswith("arn:") else f"arn:{partition}:iam::aws:policy/{ref}"


def policy_label(arn: str) -> str:
    """Return the name people know a policy by: path/name for AWS managed ones, else the ARN."""
    head, sep, rest = arn.partition(":iam::aws:policy/")
    return rest if sep and head.startswith("arn:") else arn


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
    if not re.fullmatch(f"{NAME_CHARS}{{1,64}}", chosen_app):
        where_app = "--app" if app is not None else f"{source}: key 'app'"
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
        _parse_role(raw, app=chosen_app, where=f"{source}: role {index}", base=base)
        for index, raw in enumerate(roles_raw, start=1)
    )
    seen: set[str] = set()
    for role in roles:
        _expect(role.name not in seen, f"{source}: role name {role.name!r} appears twice")
        seen.add(role.name)
    return Spec(app=chosen_app, roles=roles, source=source)


def _parse_role(raw: Any, *, app: str, where: str, base: Path | None) -> RoleSpec:
    _expect(isinstance(raw, Mapping), f"{where} must be a table")
    name_raw = raw.get("name")
    _expect(isinstance(name_raw, str), f"{where}: key 'name' is required and must be a string")
    assert isinstance(name_raw, str)
    name = name_raw.replace("{app}", app)
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
        return json.loads(text, object_pairs_hook=unique_keys)
    except (json.JSONDecodeError, DuplicateKeyError, RecursionError) as exc:
        raise InputError(
            f"{at}: {path} is not valid JSON ({exc or 'nested too deeply'}); fix the spec "
            "and rerun."
        ) from None


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice: which value was meant is anyone's guess."""


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build a JSON object, refusing one that names a key twice (json.loads keeps the last)."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise DuplicateKeyError(f"the key {key!r} appears twice in one object")
        found[key] = value
    return found


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
            and _tag_text(tag_key)
            and len(tag_value) <= 256
            and _tag_text(tag_value),
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
    _expect(
        len(value) <= MAX_TAGS - 3,
        f"{key}: at most {MAX_TAGS - 3} tags (IAM allows {MAX_TAGS}; qbroles sets three itself)",
    )
    _expect(
        len(" ".join(value)) <= 256,
        f"{key}: the keys add up to more than 256 characters, too long for qbroles' record of them",
    )
    return tuple(sorted(value.items()))


def _tag_text(text: str) -> bool:
    return all(c.isalnum() or c.isspace() or c in _TAG_PUNCTUATION for c in text)


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
