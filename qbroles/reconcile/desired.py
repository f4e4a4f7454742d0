"""Resolve a spec into concrete desired roles: ARNs, filled-in documents, conditions.

The spec is validated without AWS; what it leaves open (the partition, and where a role
asks for them, the account and region) comes from the gateway. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qbroles.catalog import RoleKind
from qbroles.errors import InputError
from qbroles.policy.documents import ROLES_SCOPED, SourceScope, fill, trust_policy
from qbroles.spec.model import RoleSpec, Spec, policy_arn


@dataclass(frozen=True)
class DesiredRole:
    """One role exactly as IAM should hold it."""

    name: str
    trust: Mapping[str, Any]
    description: str
    tags: Mapping[str, str]  # the spec's and the ownership tag
    managed_policies: tuple[str, ...]  # ARNs
    inline_policies: Mapping[str, Mapping[str, Any]]
    permissions_boundary: str | None = None  # ARN
    max_session_duration: int = 3600
    path: str = "/"
    kind: RoleKind | None = None
    made_by: str = ""  # the spec's identity, as the tag SPEC_TAG records it
    digest: str = ""  # what the spec says of the role, as the tag DIGEST_TAG records it
    # The optional attributes the spec states; only these are verified and converged.
    stated: frozenset[str] = frozenset({"description", "max_session_duration"})


@dataclass(frozen=True)
class CreateOptions:
    """What a create's plan is made with besides the spec (a saved plan records them)."""

    adopt: bool = False
    prune: bool = False
    check_live: bool = False
    kms_key_arn: str | None = None  # the key the findings and live checks allow
    live_regions: tuple[str, ...] = ()

    @property
    def flags(self) -> str:
        """Return create's options that make this plan, as typed: " --prune", or ""."""
        named = {"--adopt": self.adopt, "--prune": self.prune}
        named["--check-live-task-definitions"] = self.check_live
        given = "".join(f" {name}" for name, on in named.items() if on)
        return given + (
            f" --live-regions {','.join(self.live_regions)}" if self.live_regions else ""
        )


def resolve(spec: Spec, partition: str, scope: SourceScope | None) -> tuple[DesiredRole, ...]:
    """Return the spec's roles made concrete for this partition (and account, if known)."""
    if spec.needs_account and scope is None:
        raise InputError(f"{ROLES_SCOPED}, but no region is set; pass --region or set AWS_REGION.")
    return tuple(resolve_role(role, partition, scope, spec.identity) for role in spec.roles)


def resolve_role(
    role: RoleSpec, partition: str, scope: SourceScope | None, made_by: str
) -> DesiredRole:
    """Return one role made concrete."""
    values = {"partition": partition}
    if scope is not None:
        values |= {"account": scope.account, "region": scope.region}
    boundary = role.permissions_boundary
    return DesiredRole(
        name=role.name,
        trust=trust_policy(role.trusted_service, source=scope if role.source_conditions else None),
        description=role.description,
        tags=role.all_tags(made_by),
        managed_policies=role.policy_arns(partition),
        inline_policies={name: fill(document, values) for name, document in role.inline_policies},
        permissions_boundary=None if boundary is None else policy_arn(boundary, partition),
        max_session_duration=role.max_session_duration,
        path=role.path,
        kind=role.kind,
        made_by=made_by,
        digest=role.digest,
        stated=role.stated,
    )
