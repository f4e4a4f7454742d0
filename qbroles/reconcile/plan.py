"""The planner: desired roles + observed roles -> actions. Pure: no I/O, no AWS."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from qbroles.model.actions import (
    Action,
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
        return _creation(role)
    refusal = _refusal(role, state, adopt=adopt, prune=prune)
    if refusal:
        # plan shows a refused role all the same, as terraform shows an import: a role
        # nobody claims, with what --adopt would do to it. Never written: create refuses.
        if not adopt and not state.owned and state.ownership is Ownership.NOBODY:
            adopted = plan_role(role, state, adopt=True, prune=prune)
            if adopted.refusal is None:
                return RolePlan(
                    role.name, refusal=refusal, would=adopted.actions, allowed_by="--adopt"
                )
        return RolePlan(role.name, refusal=refusal)
    changed_spec = spec_change(role, state)
    actions = [
        # Tags first: an adopted role is marked as qbroles' before anything else changes.
        *_tag_actions(role, state, keep_record=not adopt and not changed_spec),
        *_role_actions(role, state, prune=prune),
        *_policy_actions(role, state, prune=prune),
    ]
    if _label_only(actions, role, state):
        actions = []  # the same spec by another name (init wrote the preset as a file)
    return RolePlan(
        role.name,
        tuple(actions),
        role_id=state.role_id,
        adopting=not state.owned,
        # --adopt hands the role to this spec: that is the consent a change of spec needs.
        other_spec=changed_spec if actions and not adopt else None,
    )


def _label_only(actions: list[Action], role: DesiredRole, state: RoleState) -> bool:
    """Return whether the plan would only rename the spec the role records: the same
    roles, said the same (the digest agrees), read from qbroles.toml instead of the preset
    init wrote it from. That is no change to make, so plan --detailed-exitcode exits 0 and
    verify agrees; the label follows with the next real write."""
    return (
        state.digest is not None
        and state.digest == role.digest
        and tag_value(state.tags, SPEC_TAG) is not None  # a role with no record gets one
        and len(actions) == 1
        and isinstance(actions[0], TagRole)
        and set(actions[0].tags) == {SPEC_TAG}
    )


def _creation(role: DesiredRole) -> RolePlan:
    """Return the plan that makes a missing role: the role, then its policies."""
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


def _refusal(role: DesiredRole, state: RoleState, *, adopt: bool, prune: bool) -> str | None:
    """Return why nothing may be done to an existing role (None: it may be converged)."""
    # --adopt takes over a role nobody claims, never one tagged as another tool's.
    if not state.owned and not (adopt and state.ownership is Ownership.NOBODY):
        remedy = "rerun with --adopt to take it over, or choose another --app"
        return unowned_refusal(state, "modify", remedy)
    # A role another qbroles spec set (another preset, another file) is a change of spec,
    # with or without --prune: shown, with what it removes, and asked about first like any
    # (consent.needs_yes; --yes off a terminal). --adopt is for roles qbroles does not own.
    if state.path != role.path:
        return (
            f"role {role.name} has the path {state.path}, not {role.path}, and IAM cannot "
            "move a role; delete the spec's roles and create them again (qbroles delete, "
            "--yes off a terminal, then qbroles create), or change the spec's path."
        )
    return None


def _tag_actions(role: DesiredRole, state: RoleState, *, keep_record: bool) -> list[Action]:
    """Return the tags to set and those qbroles set earlier that the spec dropped.

    ``keep_record``: a role another spec set before digests were recorded keeps that
    spec's record, as nobody is asked; where a change of spec is asked about, or --adopt
    given, the yes hands the role over.
    """
    wanted = dict(role.tags)
    if keep_record and state.other_spec(role.made_by, role.digest):
        wanted[SPEC_TAG] = str(state.made_by)
        wanted[DIGEST_TAG] = state.digest or role.digest
    actions: list[Action] = []
    missing = {k: v for k, v in wanted.items() if tag_value(state.tags, k) != v}
    if missing:
        changing = {key.lower() for key in missing}
        replaced = {k: v for k, v in state.tags.items() if k.lower() in changing}
        actions.append(TagRole(role.name, missing, before=replaced))
    # A record of tags found on a role qbroles did not own is anyone's word: not trusted.
    dropped = _dropped_tags(wanted, state.tags, trusted=state.owned)
    if dropped:
        actions.append(
            UntagRole(role.name, dropped, values={key: state.tags[key] for key in dropped})
        )
    return actions


def _role_actions(role: DesiredRole, state: RoleState, *, prune: bool) -> list[Action]:
    """Return the changes to the role itself: its trust, description, session, boundary."""
    actions: list[Action] = []
    if not same_policy(state.trust, role.trust):
        actions.append(UpdateTrustPolicy(role.name, role.trust, before=state.trust))
    # Only what the spec states is converged; UpdateRole sends both, the other as IAM has it.
    now = (state.description, state.max_session_duration)
    wanted = (
        role.description if "description" in role.stated else state.description,
        role.max_session_duration
        if "max_session_duration" in role.stated
        else state.max_session_duration,
    )
    if now != wanted:
        actions.append(UpdateRole(role.name, *wanted, before=now))
    if role.permissions_boundary and state.permissions_boundary != role.permissions_boundary:
        actions.append(
            PutBoundary(role.name, role.permissions_boundary, before=state.permissions_boundary)
        )
    if prune and state.permissions_boundary and not role.permissions_boundary:
        actions.append(DeleteBoundary(role.name, state.permissions_boundary))
    return actions


def _policy_actions(role: DesiredRole, state: RoleState, *, prune: bool) -> list[Action]:
    """Return the inline policies to put and the managed ones to attach; with ``prune``,
    those the spec does not list to delete and detach."""
    actions: list[Action] = [
        PutInlinePolicy(role.name, name, document, before=state.inline_policies.get(name))
        for name, document in role.inline_policies.items()
        if not same_policy(state.inline_policies.get(name), document)
    ]
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
        detached = sorted(state.managed_policies - set(role.managed_policies))
        actions.extend(DetachPolicy(role.name, arn) for arn in detached)
    return actions


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
