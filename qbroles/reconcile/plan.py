"""The planner: desired roles + observed roles -> actions. Pure: no I/O, no AWS."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import assert_never

from qbroles.model.actions import (
    Action,
    AddToInstanceProfile,
    AttachPolicy,
    CreateRole,
    DeleteBoundary,
    DeleteInlinePolicy,
    DeleteRole,
    DetachPolicy,
    PutBoundary,
    PutInlinePolicy,
    RemoveFromInstanceProfile,
    RolePlan,
    TagRole,
    UntagRole,
    UpdateRole,
    UpdateTrustPolicy,
)
from qbroles.model.state import Ownership, RoleState
from qbroles.policy.documents import same_policy
from qbroles.reconcile.desired import DesiredRole
from qbroles.reconcile.verify import spec_change
from qbroles.spec.model import DIGEST_TAG, RECORD_TAG, SPEC_TAG, tag_value

Observed = Mapping[str, RoleState | None]


def unowned_refusal(state: RoleState, verb: str, remedy: str) -> str:
    """Return the sentence that refuses to touch a role qbroles does not own.

    A role tagged as another tool's (ManagedBy=CloudFormation, as qbroles export tags
    them) is to be changed through that tool, whatever ``remedy`` suggests; one whose tag
    is empty, by whoever set it.
    """
    # Only create takes a role over (--adopt), and only one without an owner's tag.
    over = (
        f" (to take it over anyway, remove the tag {state.owner_key} by hand, then use --adopt)"
        if verb == "modify"
        else ""
    )
    said = f"role {state.name} exists and {state.claim}, so qbroles will not {verb} it"
    match state.ownership:
        case Ownership.ANOTHER:
            return f"{said}; change it through {state.owner}, or choose another --app{over}."
        case Ownership.UNCLEAR:
            return f"{said}; find out whose it is{over}."
    return f"{said}; {remedy}."


def plan_create(
    desired: Sequence[DesiredRole],
    observed: Observed,
    *,
    adopt: bool = False,
    prune: bool = False,
) -> tuple[RolePlan, ...]:
    """Return, per desired role, what makes IAM match it."""
    return tuple(
        plan_role(role, observed.get(role.name), adopt=adopt, prune=prune) for role in desired
    )


def plan_role(
    role: DesiredRole, state: RoleState | None, *, adopt: bool = False, prune: bool = False
) -> RolePlan:
    """Return what makes one role match its desired state.

    ``prune`` also removes what the spec does not list: managed policies, inline policies
    and a permissions boundary. Without it nothing is taken away from a role.
    """
    if state is None:
        create = CreateRole(
            role.name,
            role.trust,
            role.description,
            role.tags,
            path=role.path,
            max_session_duration=role.max_session_duration,
            permissions_boundary=role.permissions_boundary,
        )
        return RolePlan(
            role.name,
            (
                create,
                *(PutInlinePolicy(role.name, n, d) for n, d in role.inline_policies.items()),
                *(AttachPolicy(role.name, arn) for arn in role.managed_policies),
            ),
        )
    # --adopt takes over a role nobody claims, never one tagged as another tool's.
    if not state.owned and not (adopt and state.ownership is Ownership.NOBODY):
        remedy = "rerun with --adopt to take it over, or choose another --app"
        return RolePlan(role.name, refusal=unowned_refusal(state, "modify", remedy))
    other_spec = state.other_spec(role.made_by, role.digest)
    # --prune of a role a spec of another name made needs the hand-over; one of this name
    # that said something else (an edited file, or another project's of the same name) is
    # a change of spec, asked about first like any (consent.needs_yes).
    if other_spec and prune and not adopt and state.made_by != role.made_by:
        return RolePlan(role.name, refusal=other_spec_refusal(state, role.made_by, "prune"))
    if state.path != role.path:
        return RolePlan(
            role.name,
            refusal=f"role {role.name} has the path {state.path}, not {role.path}, and IAM "
            "cannot move a role; delete it (qbroles delete) and create it again, or change "
            "the spec's path.",
        )

    actions: list[Action] = []
    wanted = dict(role.tags)
    changed_spec = spec_change(role, state)
    if other_spec and not adopt and not changed_spec:
        # Set before digests were recorded: nobody is asked, so the record stays that
        # spec's. Where a change of spec is asked about, the yes hands the role over.
        wanted[SPEC_TAG] = str(state.made_by)
        wanted[DIGEST_TAG] = state.digest or role.digest
    # Tags first: an adopted role is marked as qbroles' before anything else changes.
    missing_tags = {k: v for k, v in wanted.items() if tag_value(state.tags, k) != v}
    if missing_tags:
        changing = {key.lower() for key in missing_tags}
        replaced = {k: v for k, v in state.tags.items() if k.lower() in changing}
        actions.append(TagRole(role.name, missing_tags, before=replaced))
    # A record of tags found on a role qbroles did not own is anyone's word: not trusted.
    dropped = _dropped_tags(wanted, state.tags, trusted=state.owned)
    if dropped:
        actions.append(
            UntagRole(role.name, dropped, values={key: state.tags[key] for key in dropped})
        )
    if not same_policy(state.trust, role.trust):
        actions.append(UpdateTrustPolicy(role.name, role.trust, before=state.trust))
    # Only what the spec states is converged; UpdateRole sends both, the other as IAM has it.
    description = role.description if "description" in role.stated else state.description
    duration = (
        role.max_session_duration
        if "max_session_duration" in role.stated
        else state.max_session_duration
    )
    if (state.description, state.max_session_duration) != (description, duration):
        actions.append(
            UpdateRole(
                role.name,
                description,
                duration,
                before=(state.description, state.max_session_duration),
            )
        )
    if role.permissions_boundary and state.permissions_boundary != role.permissions_boundary:
        actions.append(
            PutBoundary(role.name, role.permissions_boundary, before=state.permissions_boundary)
        )
    if prune and state.permissions_boundary and not role.permissions_boundary:
        actions.append(DeleteBoundary(role.name, state.permissions_boundary))
    actions.extend(
        PutInlinePolicy(role.name, name, document, before=state.inline_policies.get(name))
        for name, document in role.inline_policies.items()
        if not same_policy(state.inline_policies.get(name), document)
    )
    if prune:
        extra = sorted(set(state.inline_policies) - set(role.inline_policies))
        actions.extend(
            DeleteInlinePolicy(role.name, name, state.inline_policies[name]) for name in extra
        )
    actions.extend(
        AttachPolicy(role.name, arn)
        for arn in role.managed_policies
        if arn not in state.managed_policies
    )
    if prune:
        extra = sorted(state.managed_policies - set(role.managed_policies))
        actions.extend(DetachPolicy(role.name, arn) for arn in extra)
    return RolePlan(
        role.name,
        tuple(actions),
        role_id=state.role_id,
        adopting=not state.owned,
        # --adopt hands the role to this spec: that is the consent a change of spec needs.
        other_spec=changed_spec if actions and not adopt else None,
    )


def _dropped_tags(
    wanted: Mapping[str, str], found: Mapping[str, str], *, trusted: bool
) -> tuple[str, ...]:
    """Return the tags qbroles set earlier (per its record) that the spec no longer has.

    Tags qbroles did not set are never removed: only keys named in its record tag go, and
    only when the record is ``trusted`` (found on a role qbroles owned). Keys are compared
    without case, as IAM compares them; the keys are returned as IAM holds them.
    """
    wanted_keys = {key.lower() for key in wanted}
    record = (tag_value(found, RECORD_TAG) or "") if trusted else ""
    ours = {key.lower() for key in record.split()} | {RECORD_TAG}
    return tuple(
        sorted(key for key in found if key.lower() in ours and key.lower() not in wanted_keys)
    )


def other_spec_refusal(state: RoleState, this: str, verb: str) -> str:
    """Return the sentence that refuses to prune or delete a role another spec made."""
    which = (
        f"another spec of the same name ({SPEC_TAG}={state.made_by}, but its digest of the "
        f"role is {state.digest}: another project's file of that name, or an earlier "
        "version of this one)"
        if state.made_by == this
        else f"another spec ({SPEC_TAG}={state.made_by}, this is {this})"
    )
    return (
        f"role {state.name} was made by {which}, so qbroles will not {verb} it: that would "
        "remove what the other spec set; use that spec, or rerun with --adopt to hand the "
        "role to this one."
    )


def after(state: RoleState | None, actions: Sequence[Action]) -> RoleState | None:
    """Return the role as IAM would hold it once the actions are applied. Pure.

    What checks of "the roles as the plan would leave them" evaluate; a role created by
    the plan has no ARN yet (its account is not known here).
    """
    for action in actions:
        if isinstance(action, CreateRole):
            state = RoleState(
                name=action.role,
                arn="",
                trust=action.trust,
                description=action.description,
                tags=dict(action.tags),
                managed_policies=frozenset(),
                permissions_boundary=action.permissions_boundary,
                max_session_duration=action.max_session_duration,
                path=action.path,
            )
        elif isinstance(action, DeleteRole):
            state = None
        elif state is not None:
            state = _applied(state, action)
    return state


def _applied(state: RoleState, action: Action) -> RoleState:
    """Return the role with one in-place action applied."""
    match action:
        case UpdateTrustPolicy(trust=trust):
            return replace(state, trust=trust)
        case UpdateRole(description=description, max_session_duration=duration):
            return replace(state, description=description, max_session_duration=duration)
        case PutInlinePolicy(policy=policy, document=document):
            return replace(state, inline_policies={**state.inline_policies, policy: document})
        case DeleteInlinePolicy(policy=policy):
            kept = {k: v for k, v in state.inline_policies.items() if k != policy}
            return replace(state, inline_policies=kept)
        case PutBoundary(policy_arn=arn):
            return replace(state, permissions_boundary=arn)
        case DeleteBoundary():
            return replace(state, permissions_boundary=None)
        case TagRole(tags=tags):
            return replace(state, tags={**state.tags, **tags})
        case UntagRole(keys=keys):
            return replace(state, tags={k: v for k, v in state.tags.items() if k not in keys})
        case AttachPolicy(policy_arn=arn):
            return replace(state, managed_policies=state.managed_policies | {arn})
        case DetachPolicy(policy_arn=arn):
            return replace(state, managed_policies=state.managed_policies - {arn})
        case RemoveFromInstanceProfile(profile=profile):
            kept_profiles = tuple(p for p in state.instance_profiles if p != profile)
            return replace(state, instance_profiles=kept_profiles)
        case AddToInstanceProfile(profile=profile):
            return replace(state, instance_profiles=(*state.instance_profiles, profile))
        case CreateRole() | DeleteRole():
            return state
        case _:
            assert_never(action)


def plan_delete(
    names: Sequence[str],
    observed: Observed,
    *,
    made_by: str | None = None,
    digests: Mapping[str, str] | None = None,
    adopt: bool = False,
) -> tuple[RolePlan, ...]:
    """Return, per named role, what removes it in the order IAM requires.

    A role another spec made (its SPEC_TAG is not ``made_by``) is refused unless ``adopt``,
    or unless that spec said the same of it as this one (its digest is in ``digests``).
    """
    plans = []
    for name in names:
        state = observed.get(name)
        if state is None:
            plans.append(RolePlan(name))
        elif not state.owned:
            remedy = "delete it by hand, or tag it first if it really is qbroles'"
            plans.append(RolePlan(name, refusal=unowned_refusal(state, "delete", remedy)))
        elif made_by and state.other_spec(made_by, (digests or {}).get(name)) and not adopt:
            plans.append(RolePlan(name, refusal=other_spec_refusal(state, made_by, "delete")))
        else:
            plans.append(RolePlan(name, _removal(state), role_id=state.role_id))
    return tuple(plans)


def _removal(state: RoleState) -> tuple[Action, ...]:
    name = state.name
    return (
        *(RemoveFromInstanceProfile(name, profile) for profile in state.instance_profiles),
        *(DetachPolicy(name, arn) for arn in sorted(state.managed_policies)),
        *(
            DeleteInlinePolicy(name, policy, state.inline_policies[policy])
            for policy in sorted(state.inline_policies)
        ),
        DeleteRole(name, was=state),
    )
