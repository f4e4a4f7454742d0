"""The role ARNs for the next deployment step: env lines, shell exports, or task-definition JSON."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING

from qbroles.catalog import RoleKind
from qbroles.errors import AwsError, InputError, MissingRoleError
from qbroles.model.state import Ownership
from qbroles.spec.model import ROLE_ARN, RoleSpec, Spec

if TYPE_CHECKING:
    from qbroles.iam.gateway import Gateway


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


def role_arns(
    gateway: Gateway, roles: Mapping[str, RoleSpec], made_by: str, workers: int
) -> dict[str, str]:
    """Return key -> ARN of each role (one GetRole each), only if all are the spec's own.

    A role must exist, carry qbroles' ownership tag, not be another spec's (one that said
    something else of it: ``RoleState.other_spec``), and have the
    spec's path; otherwise MissingRoleError (exit 1) names it. An ARN that is not an IAM
    role ARN is an endpoint that does not answer like IAM (exit 3).
    """
    keys = list(roles)
    from qbroles.reconcile.executor import for_each

    found = for_each(gateway, keys, lambda key: gateway.role_state(roles[key].name), workers)
    problems = []
    adopt = False  # a role no tool claims: create --adopt takes it over
    for key, state in zip(keys, found, strict=True):
        role = roles[key]
        if state is None:
            continue
        arn = ROLE_ARN.fullmatch(state.arn)
        if not arn or arn["name"] != role.name or arn["path"] != state.path:
            raise AwsError(
                f"GetRole on role {role.name}: the endpoint answered the ARN {state.arn!r}, "
                "which is not this role's IAM ARN; it did not answer like AWS IAM, check "
                "--endpoint-url."
            )
        if not state.owned:
            take = f" (take its ARN from {state.owner})" if state.owner else ""
            problems.append(f"role {role.name} {state.claim}{take}")
            adopt = adopt or state.ownership is Ownership.NOBODY
        elif state.other_spec(made_by, role.digest):  # the one rule delete and prune follow
            problems.append(f"role {role.name} was made by another spec ({state.made_by})")
        elif state.path != role.path:
            problems.append(f"role {role.name} has the path {state.path}, not {role.path}")
    missing = [roles[key].name for key, state in zip(keys, found, strict=True) if state is None]
    if missing:
        which = (
            f"role {missing[0]} does not exist, so it has"
            if len(missing) == 1
            else f"roles {' and '.join(missing)} do not exist, so they have"
        )
        problems.insert(0, f"{which} no ARN yet")
    if problems:
        run = "qbroles create --adopt" if adopt else "qbroles create"  # untagged: take it over
        raise MissingRoleError(
            f"{'; '.join(problems)}: nothing printed; run {run} first (qbroles plan "
            "shows what it would do)."
        )
    return {key: state.arn for key, state in zip(keys, found, strict=True) if state}
