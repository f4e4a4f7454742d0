"""The planner: desired roles + observed roles -> actions. Pure: no I/O, no AWS."""

from __future__ import annotations

from collections.abc import Mapping

from qbroles.model import (
    Action,
    AttachPolicy,
    CreateRole,
    DeleteInlinePolicy,
    DeleteRole,
    DetachPolicy,
    RemoveFromInstanceProfile,
    RolePlan,
    RoleState,
    TagRole,
    UpdateDescription,
    UpdateTrustPolicy,
)
from qbroles.policies import same_policy, trust_policy
from qbroles.spec import OWNER_TAG, RoleSpec, Spec

Observed = Mapping[str, RoleState | None]


def unowned_refusal(name: str, verb: str, remedy: str) -> str:
    """Return the sentence that refuses to touch a role qbroles does not own."""
    return (
        f"role {name} exists but is not managed by qbroles (no tag "
        f"{OWNER_TAG[0]}={OWNER_TAG[1]}), so qbroles will not {verb} it; {remedy}."
    )


def plan_create(
    spec: Spec, observed: Observed, partition: str, *, adopt: bool = False, prune: bool = False
) -> tuple[RolePlan, ...]:
    """Return, per role of the spec, what makes IAM match it."""
    return tuple(
        plan_role(role, observed.get(role.name), partition, adopt=adopt, prune=prune)
        for role in spec.roles
    )


def plan_role(
    role: RoleSpec, state: RoleState | None, partition: str, *, adopt: bool, prune: bool
) -> RolePlan:
    """Return what makes one role match its spec."""
    wanted_trust = trust_policy(role.trusted_service)
    wanted_arns = role.policy_arns(partition)
    if state is None:
        create = CreateRole(role.name, wanted_trust, role.description, role.all_tags)
        attach = tuple(AttachPolicy(role.name, arn) for arn in wanted_arns)
        return RolePlan(role.name, (create, *attach))
    if not state.owned and not adopt:
        remedy = "rerun with --adopt to take it over, or choose another --app"
        return RolePlan(role.name, refusal=unowned_refusal(role.name, "modify", remedy))

    actions: list[Action] = []
    # Tags first: an adopted role is marked as qbroles' before anything else changes.
    missing_tags = {k: v for k, v in role.all_tags.items() if state.tags.get(k) != v}
    if missing_tags:
        actions.append(TagRole(role.name, missing_tags))
    if not same_policy(state.trust, wanted_trust):
        actions.append(UpdateTrustPolicy(role.name, wanted_trust))
    if state.description != role.description:
        actions.append(UpdateDescription(role.name, role.description))
    actions.extend(
        AttachPolicy(role.name, arn) for arn in wanted_arns if arn not in state.managed_policies
    )
    if prune:
        extra = sorted(state.managed_policies - set(wanted_arns))
        actions.extend(DetachPolicy(role.name, arn) for arn in extra)
    return RolePlan(role.name, tuple(actions))


def plan_delete(spec: Spec, observed: Observed) -> tuple[RolePlan, ...]:
    """Return, per role of the spec, what removes it in the order IAM requires."""
    plans = []
    for role in spec.roles:
        state = observed.get(role.name)
        if state is None:
            plans.append(RolePlan(role.name))
        elif not state.owned:
            remedy = "delete it by hand, or tag it first if it really is qbroles'"
            plans.append(RolePlan(role.name, refusal=unowned_refusal(role.name, "delete", remedy)))
        else:
            plans.append(RolePlan(role.name, _removal(state)))
    return tuple(plans)


def _removal(state: RoleState) -> tuple[Action, ...]:
    name = state.name
    return (
        *(RemoveFromInstanceProfile(name, profile) for profile in state.instance_profiles),
        *(DetachPolicy(name, arn) for arn in sorted(state.managed_policies)),
        *(DeleteInlinePolicy(name, policy) for policy in state.inline_policies),
        DeleteRole(name),
    )
