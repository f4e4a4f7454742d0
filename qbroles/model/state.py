"""What IAM holds of a role (RoleState), as the gateway reads it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from qbroles.policy.documents import decode_document
from qbroles.spec.model import DIGEST_TAG, OWNER_TAG, SPEC_TAG, tag_value


class Ownership(Enum):
    """Whose a role is, as its ownership tag (ManagedBy, the key in any case) says."""

    QBROLES = "qbroles"  # ManagedBy=qbroles: qbroles' own
    NOBODY = "nobody"  # no ManagedBy tag: --adopt may take it over
    ANOTHER = "another"  # ManagedBy names another tool: changed through that tool, never taken
    UNCLEAR = "unclear"  # ManagedBy is empty: it claims no one, yet is a claim: not taken


@dataclass(frozen=True)
class RoleState:
    """One role as IAM holds it (read by observe)."""

    name: str
    arn: str
    trust: Mapping[str, Any] | None
    description: str
    tags: Mapping[str, str]
    managed_policies: frozenset[str]  # ARNs
    # name -> document (None when only the names were read, as for delete)
    inline_policies: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
    permissions_boundary: str | None = None  # ARN
    max_session_duration: int = 3600
    path: str = "/"
    # Read only when deleting: IAM requires the role out of its instance profiles first.
    instance_profiles: tuple[str, ...] = ()
    # IAM's unique id: a role deleted and created again under the same name has another one.
    role_id: str = ""

    @classmethod
    def from_get_role(
        cls, role: Mapping[str, Any], managed: frozenset[str], inline: Mapping[str, Any]
    ) -> RoleState:
        """Return a RoleState from GetRole's answer and the role's policies."""
        return cls(
            name=role["RoleName"],
            arn=role["Arn"],
            trust=decode_document(role.get("AssumeRolePolicyDocument")),
            description=role.get("Description", ""),
            tags={tag["Key"]: tag["Value"] for tag in role.get("Tags", [])},
            managed_policies=managed,
            inline_policies=dict(inline),
            permissions_boundary=role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn"),
            max_session_duration=role.get("MaxSessionDuration", 3600),
            path=role.get("Path", "/"),
            role_id=role.get("RoleId", ""),
        )

    @property
    def owner(self) -> str | None:
        """Return the value of the ownership tag (its key in any case), or None."""
        return tag_value(self.tags, OWNER_TAG[0])

    @property
    def owner_key(self) -> str:
        """Return the ownership tag's key as IAM holds it (ManagedBy, managedby...)."""
        wanted = OWNER_TAG[0].lower()
        return next((key for key in self.tags if key.lower() == wanted), OWNER_TAG[0])

    @property
    def ownership(self) -> Ownership:
        """Return whose the role is: the one rule every command follows."""
        owner = self.owner
        if owner == OWNER_TAG[1]:
            return Ownership.QBROLES
        if owner is None:
            return Ownership.NOBODY
        return Ownership.ANOTHER if owner else Ownership.UNCLEAR

    @property
    def owned(self) -> bool:
        """Return whether the role carries qbroles' ownership tag."""
        return self.ownership is Ownership.QBROLES

    @property
    def claim(self) -> str:
        """Return whose the role is, in words that follow its name: "is managed by Terraform
        (tag ManagedBy=Terraform)", "has no tag ManagedBy=qbroles"."""
        match self.ownership:
            case Ownership.QBROLES:
                return f"is qbroles' (tag {self.owner_key}={self.owner})"
            case Ownership.ANOTHER:
                return f"is managed by {self.owner} (tag {self.owner_key}={self.owner})"
            case Ownership.UNCLEAR:
                return f"has an empty {self.owner_key} tag, which names no owner"
        return f"is not managed by qbroles (no tag {OWNER_TAG[0]}={OWNER_TAG[1]})"

    @property
    def made_by(self) -> str | None:
        """Return which spec made the role, as its tag records it (None: not recorded)."""
        return tag_value(self.tags, SPEC_TAG)

    @property
    def digest(self) -> str | None:
        """Return the digest of what the spec that last set the role said of it (None: not
        recorded)."""
        return tag_value(self.tags, DIGEST_TAG)

    def other_spec(self, made_by: str | None, digest: str | None) -> str | None:
        """Return the spec that made this role of qbroles', if it is another than the one
        named ``made_by`` whose digest of the role is ``digest`` (None: this spec).

        A spec is known by what it says, not by its file's name: where both digests are
        recorded they decide (``init``'s file of a preset is the same spec; two projects'
        ``qbroles.toml`` that say different things are two). Without a recorded digest
        the names decide, and a role with no record at all is taken as this spec's.
        """
        if not (self.owned and made_by and self.made_by):
            return None
        if digest is not None and self.digest is not None:
            return None if self.digest == digest else self.made_by
        return None if self.made_by == made_by else self.made_by

    def changed_hands(self, now: RoleState | None, *, gone_ok: bool = False) -> str | None:
        """Return how the role changed hands between this read and ``now``: deleted, made
        again under its name (another IAM id), or its ownership tag changed (None: the same
        role, owned as it was; ``gone_ok``: deleted counts as unchanged).

        The one rule every write follows before it touches a role it read earlier.
        """
        if now is None:
            return None if gone_ok else "it was deleted"
        if self.role_id and now.role_id != self.role_id:
            return "it was deleted and created again under the same name"
        if now.owner == self.owner:
            return None
        if now.owner is None:
            return f"its {self.owner_key} tag was removed"
        return f"its {now.owner_key} tag is now {now.owner}"
