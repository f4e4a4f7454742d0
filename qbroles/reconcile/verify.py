"""The verifier: desired roles + observed roles -> checks. Pure: no I/O, no AWS."""

from __future__ import annotations

from typing import Any

from qbroles.model.checks import EXTRA, OTHER_SPEC, OWNED, Check, CheckKind, Severity
from qbroles.model.state import Ownership, RoleState
from qbroles.policy.documents import same_policy, trust_summary
from qbroles.reconcile.desired import DesiredRole
from qbroles.spec.model import OWN_TAGS, OWNER_TAG, policy_label, tag_value

PRESENT, MISSING = "present", "missing"
ATTACHED, NOT_ATTACHED = "attached", "not attached"


def verify_role(
    role: DesiredRole, state: RoleState | None, *, pruning: bool = False
) -> tuple[Check, ...]:
    """Return one check per property of the role the spec asks for.

    What the role has that the spec does not list fails it, for create as for verify (one
    answer for the same state): kept (CheckKind.EXTRA), create exits 1 saying create
    --prune removes it; ``pruning``, it is a difference the plan removes.
    """
    if state is None:
        missing = f"role {role.name} does not exist"
        return (Check("exists", False, PRESENT, MISSING, missing, heading="does not exist"),)
    extra = CheckKind.SPEC if pruning else CheckKind.EXTRA
    return (
        *_role_checks(role, state),
        *_inline_checks(role, state, extra),
        *_managed_checks(role, state, extra),
        *(
            _equal(f"tag {key}", value, tag_value(state.tags, key))
            for key, value in role.tags.items()
            if key not in OWN_TAGS
        ),
        _owner_check(state),
        *_spec_checks(role, state),
    )


def _role_checks(role: DesiredRole, state: RoleState) -> list[Check]:
    """Return the checks of the role itself: it exists, its path, trust, description,
    session and boundary."""
    trust_ok = same_policy(state.trust, role.trust)
    checks = [
        Check("exists", True, PRESENT, PRESENT, f"role {role.name} exists"),
        _equal("path", role.path, state.path, "IAM cannot move a role: delete and create it"),
        Check(
            "trust policy",
            trust_ok,
            role.trust,
            state.trust,
            f"trusts {trust_summary(state.trust)}"
            if trust_ok
            else f"trust policy differs: expected {trust_summary(role.trust)}, "
            f"found {trust_summary(state.trust)}",
        ),
    ]
    # Only what the spec states: qbroles' own default description is not asked of a role
    # made by hand.
    if "description" in role.stated:
        checks.append(_equal("description", role.description, state.description))
    if "max_session_duration" in role.stated:
        checks.append(
            _equal("max session duration", role.max_session_duration, state.max_session_duration)
        )
    if role.permissions_boundary or state.permissions_boundary:
        checks.append(
            _equal("permissions boundary", role.permissions_boundary, state.permissions_boundary)
        )

    return checks


def _inline_checks(role: DesiredRole, state: RoleState, extra: CheckKind) -> list[Check]:
    """Return the checks of the inline policies: the spec's, and those it does not list."""
    checks = []
    for name, document in role.inline_policies.items():
        actual = state.inline_policies.get(name)
        same = same_policy(actual, document)
        checks.append(
            Check(
                f"inline policy {name}",
                same,
                document,
                actual,
                f"inline policy {name} as specified"
                if same
                else f"inline policy {name} is {'missing' if actual is None else 'different'}",
            )
        )
    for name in sorted(set(state.inline_policies) - set(role.inline_policies)):
        checks.append(
            Check(
                f"{EXTRA}inline policy {name}",
                False,
                None,
                state.inline_policies[name],
                f"inline policy {name} is not in the spec (create --prune deletes it)",
                kind=extra,
            )
        )

    return checks


def _managed_checks(role: DesiredRole, state: RoleState, extra: CheckKind) -> list[Check]:
    """Return the checks of the managed policies: the spec's, and those it does not list."""
    checks = []
    for arn in role.managed_policies:
        attached = arn in state.managed_policies
        label = policy_label(arn)
        checks.append(
            Check(
                f"policy {label}",
                attached,
                ATTACHED,
                ATTACHED if attached else NOT_ATTACHED,
                f"{label} is attached" if attached else f"{label} is missing",
                arn=arn,
            )
        )
    unlisted = sorted(state.managed_policies - set(role.managed_policies))
    for arn in unlisted:
        label = policy_label(arn)
        checks.append(
            Check(
                f"{EXTRA}policy {label}",
                False,
                NOT_ATTACHED,
                ATTACHED,
                f"{label} is attached but not in the spec (create --prune detaches it)",
                arn=arn,
                kind=extra,
            )
        )
    if not unlisted:
        checks.append(
            Check("no unexpected policies", True, [], [], "no managed policy beyond the spec")
        )

    return checks


def _owner_check(state: RoleState) -> Check:
    """Return the check of whose the role is (a warning: create and delete refuse it)."""
    owner_key, owner_value = OWNER_TAG
    owner = state.owner
    match state.ownership:
        case Ownership.QBROLES:
            heading, message = None, "carries the ownership tag"
        case Ownership.ANOTHER:
            heading = f"managed by {owner} ({state.owner_key}={owner})"
            message = f"{heading}: create and delete leave it to {owner}"
        case Ownership.UNCLEAR:
            heading, message = state.claim, f"{state.claim}: create and delete leave it alone"
        case Ownership.NOBODY:
            heading = f"no tag {owner_key}={owner_value}"
            message = (
                f"{heading}: create refuses to change it without --adopt, delete never deletes it"
            )
    return Check(
        OWNED,
        state.owned,
        f"{owner_key}={owner_value}",
        f"{owner_key}={owner}" if owner else None,
        message,
        Severity.WARNING,
        heading=heading,
    )


def _spec_checks(role: DesiredRole, state: RoleState) -> list[Check]:
    """Return the check that this spec last set the role, if another did (a warning)."""
    checks = []
    changed = spec_change(role, state)
    other = state.other_spec(role.made_by, role.digest) is not None
    if changed or other:
        refusals = (
            ""
            if not other
            else "; delete refuses it without --adopt"
            if state.made_by == role.made_by
            else "; delete and create --prune refuse it without --adopt"
        )
        asks = (
            ": create shows the plan and asks before applying this spec to it (--yes off "
            "a terminal)"
        )
        setter = f"last set by {changed or f'another spec ({state.made_by})'}"
        checks.append(
            Check(
                OTHER_SPEC,
                False,
                f"{role.made_by} (digest {role.digest})",
                f"{state.made_by} (digest {state.digest or 'not recorded'})",
                f"{setter}, not by this spec ({role.made_by}){asks if changed else ''}{refusals}",
                Severity.WARNING,
                kind=CheckKind.OTHER_SPEC,
                heading=setter,
            )
        )
    return checks


def spec_change(role: DesiredRole, state: RoleState) -> str | None:
    """Return which spec last set an owned role, if it said something else of it than this
    one does (None: the same, or not recorded).

    A role whose tag records a digest other than this spec's was set by another spec (a
    preset, a file) or by an earlier version of this one: applying this one is a change of
    mind, asked about first. A role set before digests were recorded is taken as this spec's.
    """
    if not state.owned or not state.digest or state.digest == role.digest:
        return None
    made = state.made_by or "not recorded"
    if made == role.made_by:
        return f"an earlier version of this spec, or another of the same name ({made})"
    return f"another spec ({made})"


def _equal(check: str, expected: Any, actual: Any, remedy: str = "") -> Check:
    """Return the check that a plain attribute has its expected value."""
    if expected == actual:
        return Check(check, True, expected, actual, f"{check} as specified")
    message = f"{check} is {actual!r}, not {expected!r}"
    return Check(check, False, expected, actual, f"{message}; {remedy}" if remedy else message)


def verify_absent(name: str, state: RoleState | None) -> tuple[Check, ...]:
    """Return the check that a deleted role is gone."""
    return (
        Check(
            "deleted",
            state is None,
            "absent",
            "absent" if state is None else PRESENT,
            f"role {name} is gone" if state is None else f"role {name} still exists",
            heading="still exists",
        ),
    )
