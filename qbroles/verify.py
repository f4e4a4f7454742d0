"""The verifier: desired roles + observed roles -> checks. Pure: no I/O, no AWS."""

from __future__ import annotations

from qbroles.model import Check, RoleState, Severity
from qbroles.policies import same_policy, trust_policy, trust_summary
from qbroles.spec import OWNER_TAG, RoleSpec, policy_label

PRESENT, MISSING = "present", "missing"
ATTACHED, NOT_ATTACHED = "attached", "not attached"


def verify_role(
    role: RoleSpec, state: RoleState | None, partition: str, *, tolerate_extra: bool = False
) -> tuple[Check, ...]:
    """Return one check per property of the role the spec asks for.

    ``tolerate_extra`` makes unexpected managed policies a warning: create without --prune
    leaves them attached on purpose, so they do not make its result fail.
    """
    if state is None:
        return (Check("exists", False, PRESENT, MISSING, f"role {role.name} does not exist"),)
    checks = [Check("exists", True, PRESENT, PRESENT, f"role {role.name} exists")]

    wanted_trust = trust_policy(role.trusted_service)
    trust_ok = same_policy(state.trust, wanted_trust)
    checks.append(
        Check(
            "trust policy",
            trust_ok,
            wanted_trust,
            state.trust,
            f"trusts {trust_summary(state.trust)}"
            if trust_ok
            else f"trust policy differs: expected {trust_summary(wanted_trust)}, "
            f"found {trust_summary(state.trust)}",
        )
    )
    checks.append(
        Check(
            "description",
            state.description == role.description,
            role.description,
            state.description,
            "description as specified"
            if state.description == role.description
            else "description differs from the spec",
        )
    )

    wanted = role.policy_arns(partition)
    for arn in wanted:
        attached = arn in state.managed_policies
        label = policy_label(arn)
        checks.append(
            Check(
                f"policy {label}",
                attached,
                ATTACHED,
                ATTACHED if attached else NOT_ATTACHED,
                f"{label} is attached" if attached else f"{label} is missing",
            )
        )
    extra = sorted(state.managed_policies - set(wanted))
    for arn in extra:
        label = policy_label(arn)
        checks.append(
            Check(
                f"unexpected policy {label}",
                False,
                NOT_ATTACHED,
                ATTACHED,
                f"{label} is attached but not in the spec (create --prune detaches it)",
                Severity.WARNING if tolerate_extra else Severity.ERROR,
            )
        )
    if not extra:
        checks.append(
            Check("no unexpected policies", True, [], [], "no managed policy beyond the spec")
        )

    for key, value in role.tags:
        actual = state.tags.get(key)
        checks.append(
            Check(
                f"tag {key}",
                actual == value,
                value,
                actual,
                f"tag {key}={value}"
                if actual == value
                else f"tag {key} is {actual!r}, not {value!r}",
            )
        )
    owner_key, owner_value = OWNER_TAG
    checks.append(
        Check(
            "owned by qbroles",
            state.owned,
            f"{owner_key}={owner_value}",
            f"{owner_key}={state.tags[owner_key]}" if owner_key in state.tags else None,
            "carries the ownership tag"
            if state.owned
            else f"no tag {owner_key}={owner_value}: create refuses to change it without --adopt, "
            "delete never deletes it",
            Severity.WARNING,
        )
    )
    return tuple(checks)


def verify_absent(name: str, state: RoleState | None) -> tuple[Check, ...]:
    """Return the check that a deleted role is gone."""
    return (
        Check(
            "deleted",
            state is None,
            "absent",
            "absent" if state is None else PRESENT,
            f"role {name} is gone" if state is None else f"role {name} still exists",
        ),
    )
