"""The roles wanted, as types (RoleSpec, Spec); the names and limits IAM allows."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qbroles.catalog import RoleKind
from qbroles.partitions import PARTITION
from qbroles.policy.documents import placeholders

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

# A digest of what the spec says of the role (see RoleSpec.digest): a plan made from a spec
# that says something else (another preset, an edited file) is caught and asked about.
DIGEST_TAG = "qbroles:digest"

# The tags qbroles sets itself on a role that has tags of the spec (``all_tags``): what the
# spec may have is IAM's limit less these.
OWN_TAGS = (RECORD_TAG, SPEC_TAG, DIGEST_TAG, OWNER_TAG[0])

# Keys under this prefix are qbroles' own; a spec may not set them.
RESERVED_PREFIX = "qbroles:"

# IAM's own limits (IAM and AWS STS quotas:
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
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
        """Return the tags the role must carry: the spec's, their record, whose spec and its
        digest, the owner."""
        record = {RECORD_TAG: " ".join(key for key, _ in self.tags)} if self.tags else {}
        made = {SPEC_TAG: made_by, DIGEST_TAG: self.digest}
        return {**dict(self.tags), **record, **made, OWNER_TAG[0]: OWNER_TAG[1]}

    @property
    def digest(self) -> str:
        """Return a digest of everything the spec says of this role (16 hex digits of SHA-256).

        The same for the same role however it is written (a preset, or the file init made
        of it; comments, order and layout aside) and in every account, partition and region:
        documents keep their {account} and {region} placeholders.
        """
        import hashlib
        import json

        said = {
            "name": self.name,
            "description": self.description,
            "trusted_service": self.trusted_service,
            "managed_policies": sorted(self.managed_policies),
            "tags": sorted(self.tags),
            "inline_policies": sorted(self.inline_policies),
            "permissions_boundary": self.permissions_boundary,
            "max_session_duration": self.max_session_duration,
            "path": self.path,
            "source_conditions": self.source_conditions,
            "kind": self.kind.value if self.kind else None,
        }
        text = json.dumps(said, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

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
        kind, name = ("preset", self.preset) if self.preset else ("file", Path(self.source).name)
        text = f"{kind}={name} app={self.app}"
        return "".join(c if tag_text(c) else "_" for c in text)[:256]

    @property
    def preset(self) -> str | None:
        """Return the built-in preset this spec is (None: a file, whatever it was made from)."""
        kind, _, name = self.source.partition(" ")
        return name if kind == "preset" and name else None

    @property
    def needs_account(self) -> bool:
        return any(role.needs_account for role in self.roles)

    @property
    def digest(self) -> str:
        """Return a digest of everything the spec says of its roles, in order (16 hex digits
        of SHA-256 over each role's ``RoleSpec.digest``): a saved plan records it."""
        return spec_digest(role.digest for role in self.roles)


def spec_digest(role_digests: Iterable[str]) -> str:
    """Return the digest of a spec from its roles' digests, in order (``Spec.digest``)."""
    import hashlib

    return hashlib.sha256(",".join(role_digests).encode()).hexdigest()[:16]


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


TAG_PUNCTUATION = set("_.:/=+-@")


def tag_text(text: str) -> bool:
    """Return whether IAM allows the text in a tag key or value."""
    return all(c.isalnum() or c.isspace() or c in TAG_PUNCTUATION for c in text)
