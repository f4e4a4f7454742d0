"""The role ARNs for the next deployment step: env lines, shell exports, or task-definition JSON."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping

from qbroles.catalog import RoleKind
from qbroles.errors import InputError
from qbroles.spec.model import RoleSpec, Spec


def roles_by_kind(spec: Spec) -> dict[str, RoleSpec]:
    """Return kind -> role for the spec's roles that ECS uses; refuse an ambiguous spec."""
    found: dict[str, RoleSpec] = {}
    for role in spec.roles:
        if role.kind is None:
            continue
        if role.kind in found:
            raise InputError(
                f"{spec.source}: roles {found[role.kind].name} and {role.name} both have "
                f'kind = "{role.kind}"; outputs needs one role of each kind.'
            )
        found[role.kind] = role
    if not found:
        raise InputError(
            f'{spec.source}: no role has kind = "execution" or "task", so there is no task '
            "definition key to print; add kind to the roles ECS uses."
        )
    return found


# What an env line may carry: docker --env-file and $GITHUB_ENV take the value literally,
# a shell that sources the file would not; IAM paths allow $ ( ` " and more, so anything
# beyond these characters is refused there (--format shell quotes, json escapes).
ENV_SAFE = re.compile(r"[A-Za-z0-9_+=,.@/:-]+")


def arns_text(arns: Mapping[str, str], form: str) -> str:
    """Return kind -> ARN in the chosen format, ending with a newline."""
    kinds = [kind for kind in RoleKind if kind in arns]
    if form == "json":
        keys = {kind.task_definition_key: arns[kind] for kind in kinds}
        return json.dumps(keys, indent=2) + "\n"
    if form == "env":
        unsafe = [arns[kind] for kind in kinds if not ENV_SAFE.fullmatch(arns[kind])]
        if unsafe:
            raise InputError(
                f"the ARN {unsafe[0]!r} holds characters an env line cannot carry safely to "
                "every reader (its role path allows them); use --format shell (quoted) or json."
            )
    export = "export " if form == "shell" else ""
    quote = shlex.quote if form == "shell" else str
    return "".join(f"{export}{kind.env_var}={quote(arns[kind])}\n" for kind in kinds)
