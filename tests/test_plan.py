"""The planner, pure: one small test per situation. No moto, no AWS."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from qbroles.model.actions import (
    AttachPolicy,
    CreateRole,
    DeleteBoundary,
    DeleteInlinePolicy,
    DeleteRole,
    DetachPolicy,
    PutBoundary,
    PutInlinePolicy,
    RemoveFromInstanceProfile,
    TagRole,
    UntagRole,
    UpdateRole,
    UpdateTrustPolicy,
)
from qbroles.model.state import RoleState
from qbroles.policy.documents import SourceScope, trust_policy
from qbroles.reconcile.desired import DesiredRole, resolve_role
from qbroles.reconcile.plan import plan_create, plan_delete, plan_role
from qbroles.spec.model import RoleSpec

SPEC = "file=test.toml app=App"  # the spec identity these roles are planned for


def resolve(role: RoleSpec, partition: str, scope: SourceScope | None) -> DesiredRole:
    return resolve_role(role, partition, scope, SPEC)


ARN = "arn:aws:iam::aws:policy/"
ROLE = RoleSpec(
    name="App-ECS-TaskRole",
    description="the task role",
    managed_policies=("AmazonRDSReadOnlyAccess", "service-role/AmazonECSTaskExecutionRolePolicy"),
    tags=(("Team", "web"),),
)
DESIRED = resolve(ROLE, "aws", None)
WANTED = frozenset(
    {ARN + "AmazonRDSReadOnlyAccess", ARN + "service-role/AmazonECSTaskExecutionRolePolicy"}
)
OWNED = {
    "ManagedBy": "qbroles",
    "Team": "web",
    "qbroles:tags": "Team",
    "qbroles:spec": SPEC,
    "qbroles:digest": ROLE.digest,
}


def state(**changes: Any) -> RoleState:
    """Return the role as IAM would hold it when in sync, with the given differences."""
    fields: dict[str, Any] = {
        "name": ROLE.name,
        "arn": f"arn:aws:iam::123456789012:role/{ROLE.name}",
        "trust": trust_policy("ecs-tasks.amazonaws.com"),
        "description": ROLE.description,
        "tags": OWNED,
        "managed_policies": WANTED,
    }
    fields.update(changes)
    return RoleState(**fields)


def actions(
    role_state: RoleState | None,
    *,
    adopt: bool = False,
    prune: bool = False,
    role: DesiredRole = DESIRED,
) -> tuple[Any, ...]:
    if role_state is not None and role_state.digest == ROLE.digest:
        # Last set by the role planned here (the digest tests set another on purpose).
        role_state = replace(role_state, tags={**role_state.tags, "qbroles:digest": role.digest})
    plan = plan_role(role, role_state, adopt=adopt, prune=prune)
    assert plan.refusal is None
    return plan.actions


def test_missing_role_is_created_with_trust_description_tags_then_policies_attached() -> None:
    create, *attach = actions(None)
    assert create == CreateRole(
        ROLE.name, trust_policy("ecs-tasks.amazonaws.com"), "the task role", OWNED
    )
    assert attach == [
        AttachPolicy(ROLE.name, ARN + "AmazonRDSReadOnlyAccess"),
        AttachPolicy(ROLE.name, ARN + "service-role/AmazonECSTaskExecutionRolePolicy"),
    ]


def test_nothing_to_do_when_in_sync() -> None:
    assert actions(state()) == ()


def test_trust_that_differs_is_updated() -> None:
    other = trust_policy("ec2.amazonaws.com")
    assert actions(state(trust=other)) == (
        UpdateTrustPolicy(ROLE.name, trust_policy("ecs-tasks.amazonaws.com")),
    )


def test_trust_equal_but_shaped_differently_is_left_alone() -> None:
    reshaped = {
        "Statement": {
            "Action": ["sts:AssumeRole"],
            "Principal": {"Service": ["ecs-tasks.amazonaws.com"]},
            "Effect": "Allow",
        },
        "Version": "2012-10-17",
    }
    assert actions(state(trust=reshaped)) == ()


def test_missing_policy_is_attached() -> None:
    assert actions(state(managed_policies=frozenset({ARN + "AmazonRDSReadOnlyAccess"}))) == (
        AttachPolicy(ROLE.name, ARN + "service-role/AmazonECSTaskExecutionRolePolicy"),
    )


def test_extra_policy_is_kept_without_prune() -> None:
    assert actions(state(managed_policies=WANTED | {ARN + "AmazonS3FullAccess"})) == ()


def test_extra_policy_is_detached_with_prune() -> None:
    extra = state(managed_policies=WANTED | {ARN + "AmazonS3FullAccess"})
    assert actions(extra, prune=True) == (DetachPolicy(ROLE.name, ARN + "AmazonS3FullAccess"),)


def test_description_that_differs_is_updated() -> None:
    assert actions(state(description="old")) == (UpdateRole(ROLE.name, "the task role", 3600),)


def test_session_duration_that_differs_is_updated() -> None:
    assert actions(state(max_session_duration=7200)) == (
        UpdateRole(ROLE.name, "the task role", 3600),
    )


DOC = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}],
}
WITH_EXTRAS = resolve(
    RoleSpec(
        name=ROLE.name,
        description=ROLE.description,
        managed_policies=ROLE.managed_policies,
        tags=ROLE.tags,
        inline_policies=(("read", DOC),),
        permissions_boundary="PowerUserAccess",
    ),
    "aws",
    None,
)


def test_missing_inline_policy_and_boundary_are_put() -> None:
    assert actions(state(), role=WITH_EXTRAS) == (
        PutBoundary(ROLE.name, ARN + "PowerUserAccess"),
        PutInlinePolicy(ROLE.name, "read", DOC),
    )


def test_inline_policy_equal_in_meaning_is_left_alone() -> None:
    reshaped = {
        "Statement": {"Resource": ["*"], "Action": ["s3:Get*"], "Effect": "Allow"},
        "Version": "2012-10-17",
    }
    found = state(inline_policies={"read": reshaped}, permissions_boundary=ARN + "PowerUserAccess")
    assert actions(found, role=WITH_EXTRAS) == ()


def test_changed_inline_policy_is_put_again() -> None:
    changed = {**DOC, "Statement": [{**DOC["Statement"][0], "Action": "s3:*"}]}
    found = state(inline_policies={"read": changed}, permissions_boundary=ARN + "PowerUserAccess")
    assert actions(found, role=WITH_EXTRAS) == (PutInlinePolicy(ROLE.name, "read", DOC),)


def test_extra_inline_policy_and_boundary_go_only_with_prune() -> None:
    found = state(inline_policies={"hand": DOC}, permissions_boundary=ARN + "PowerUserAccess")
    assert actions(found) == ()
    assert actions(found, prune=True) == (
        DeleteBoundary(ROLE.name),
        DeleteInlinePolicy(ROLE.name, "hand"),
    )


def test_a_different_path_is_refused_since_iam_cannot_move_a_role() -> None:
    plan = plan_role(DESIRED, state(path="/other/"))
    assert plan.actions == ()
    assert plan.refusal is not None
    assert "cannot move a role" in plan.refusal


def test_source_conditions_go_into_the_trust_policy_and_are_converged() -> None:
    scope = SourceScope("aws", "123456789012", "eu-west-1")
    scoped = RoleSpec(
        name=ROLE.name,
        description=ROLE.description,
        managed_policies=ROLE.managed_policies,
        tags=ROLE.tags,
        source_conditions=True,
    )
    desired = resolve(scoped, "aws", scope)
    assert desired.trust["Statement"][0]["Condition"] == {
        "ArnLike": {"aws:SourceArn": "arn:aws:ecs:*:123456789012:*"},
        "StringEquals": {"aws:SourceAccount": "123456789012"},
    }
    assert actions(state(), role=desired) == (UpdateTrustPolicy(ROLE.name, desired.trust),)
    assert actions(state(trust=desired.trust), role=desired) == ()


def test_missing_or_changed_spec_tag_is_set_and_foreign_tags_kept() -> None:
    tags = {**OWNED, "Team": "ops", "CostCenter": "42"}
    assert actions(state(tags=tags)) == (TagRole(ROLE.name, {"Team": "web"}),)


def test_a_role_made_before_qbroles_recorded_its_spec_is_tagged_with_it() -> None:
    tags = {key: value for key, value in OWNED.items() if key != "qbroles:spec"}
    assert actions(state(tags=tags)) == (TagRole(ROLE.name, {"qbroles:spec": SPEC}),)


# --- tag keys are one key to IAM whatever their case


def test_another_tools_mark_in_lower_case_is_refused_even_with_adopt() -> None:
    for tags in ({"managedby": "terraform"}, {"MANAGEDBY": "CloudFormation"}):
        plan = plan_role(DESIRED, state(tags=tags), adopt=True, prune=True)
        assert plan.actions == ()
        assert plan.refusal is not None
        assert "managed by" in plan.refusal


def test_qbroles_mark_in_another_case_is_qbroles_and_not_tagged_again() -> None:
    tags = {"managedby": "qbroles", "team": "web", "QBROLES:TAGS": "Team", "qbroles:Spec": SPEC}
    assert actions(state(tags={**tags, "QBROLES:Digest": ROLE.digest})) == ()


def test_a_spec_tag_in_another_case_is_no_reason_to_untag_it() -> None:
    tags = {**OWNED, "TEAM": "web", "Old": "x", "qbroles:tags": "team old"}
    del tags["Team"]
    assert actions(state(tags=tags)) == (
        TagRole(ROLE.name, {"qbroles:tags": "Team"}),
        UntagRole(ROLE.name, ("Old",)),
    )


def test_a_record_found_on_a_role_qbroles_did_not_own_removes_nothing() -> None:
    """Adopting never removes a tag qbroles did not set, whatever a found record says."""
    tags = {"CostCenter": "42", "Owner": "ana", "qbroles:tags": "CostCenter Owner"}
    found = state(tags=tags)
    plan = plan_role(DESIRED, found, adopt=True)
    assert not any(
        isinstance(action, UntagRole) and "CostCenter" in action.keys for action in plan.actions
    )
    assert not any(
        isinstance(action, UntagRole) and "Owner" in action.keys for action in plan.actions
    )
    assert plan.adopting


# --- roles another spec made


# Another spec, which said something else of the role (another digest).
OTHER = {**OWNED, "qbroles:spec": "preset=workshop app=App", "qbroles:digest": "0123456789abcdef"}


def test_prune_of_a_role_another_spec_made_is_a_change_of_spec_asked_first() -> None:
    """No --adopt: that is for roles qbroles does not own (issue 23, §2). The plan says
    whose spec it overrides, for the one question, and shows what it removes."""
    extra = WANTED | {ARN + "AmazonS3FullAccess"}
    plan = plan_role(DESIRED, state(tags=OTHER, managed_policies=extra), prune=True)
    assert plan.refusal is None
    assert plan.other_spec is not None
    assert "preset=workshop app=App" in plan.other_spec
    assert any(isinstance(action, DetachPolicy) for action in plan.actions)


def test_create_without_prune_keeps_the_mark_of_a_spec_that_recorded_no_digest() -> None:
    before = {key: value for key, value in OTHER.items() if key != "qbroles:digest"}
    assert actions(state(tags=before)) == (TagRole(ROLE.name, {"qbroles:digest": ROLE.digest}),)
    assert plan_role(DESIRED, state(tags=before)).other_spec is None  # nobody is asked


def test_applying_another_spec_hands_the_role_over_once_asked() -> None:
    """The change of spec is a question (other_spec); its yes hands the role over."""
    plan = plan_role(DESIRED, state(tags=OTHER))
    assert plan.other_spec == "another spec (preset=workshop app=App)"
    assert plan.actions == (
        TagRole(ROLE.name, {"qbroles:spec": SPEC, "qbroles:digest": ROLE.digest}),
    )


def test_adopt_hands_a_role_of_another_spec_to_this_one() -> None:
    plan = plan_role(DESIRED, state(tags=OTHER), adopt=True, prune=True)
    assert plan.refusal is None
    assert plan.actions == (
        TagRole(ROLE.name, {"qbroles:spec": SPEC, "qbroles:digest": ROLE.digest}),
    )


def test_a_spec_that_said_the_same_of_a_role_is_no_other_spec() -> None:
    """The preset, then the file init wrote of it: same digest, so the role is this spec's;
    its new name alone is no change (it follows with the next real write), and prune and
    delete need no --adopt."""
    same = {**OWNED, "qbroles:spec": "preset=workshop app=App"}
    plan = plan_role(DESIRED, state(tags=same), prune=True)
    assert plan.refusal is None
    assert plan.other_spec is None
    assert plan.actions == ()
    renamed = state(tags=same, managed_policies=frozenset())  # a real write to make
    assert TagRole(ROLE.name, {"qbroles:spec": SPEC}) in plan_role(DESIRED, renamed).actions
    found = {ROLE.name: state(tags=same)}
    (deleted,) = plan_delete([ROLE.name], found, made_by=SPEC, digests={ROLE.name: ROLE.digest})
    assert deleted.refusal is None


def test_delete_of_a_role_another_spec_made_is_refused_without_adopt() -> None:
    found = {ROLE.name: state(tags=OTHER, role_id="AROAOTHER")}
    (refused,) = plan_delete([ROLE.name], found, made_by=SPEC)
    assert refused.refusal is not None
    assert refused.actions == ()
    (adopted,) = plan_delete([ROLE.name], found, made_by=SPEC, adopt=True)
    assert adopted.refusal is None
    assert adopted.role_id == "AROAOTHER"
    assert isinstance(adopted.actions[-1], DeleteRole)


def test_a_tag_qbroles_set_and_the_spec_dropped_is_removed_others_never() -> None:
    tags = {**OWNED, "Old": "x", "Other": "y", "qbroles:tags": "Old Team"}
    assert actions(state(tags=tags)) == (
        TagRole(ROLE.name, {"qbroles:tags": "Team"}),
        UntagRole(ROLE.name, ("Old",)),
    )


def test_a_spec_without_tags_removes_what_qbroles_set_and_its_record() -> None:
    untagged = resolve(
        RoleSpec(
            name=ROLE.name, description=ROLE.description, managed_policies=ROLE.managed_policies
        ),
        "aws",
        None,
    )
    found = state(tags={**OWNED, "Other": "y"})
    assert actions(found, role=untagged) == (UntagRole(ROLE.name, ("Team", "qbroles:tags")),)


def test_unowned_role_is_refused_without_adopt() -> None:
    plan = plan_role(DESIRED, state(tags={}), prune=True)
    assert plan.actions == ()
    assert plan.refusal is not None
    assert "--adopt" in plan.refusal
    assert ROLE.name in plan.refusal


def test_role_tagged_by_another_tool_is_not_owned() -> None:
    plan = plan_role(DESIRED, state(tags={"ManagedBy": "terraform"}))
    assert plan.refusal is not None


def test_adopt_tags_the_role_first_then_converges() -> None:
    found = state(tags={}, managed_policies=frozenset())
    first, *rest = actions(found, adopt=True)
    assert first == TagRole(ROLE.name, OWNED)
    assert len(rest) == 2
    assert all(isinstance(action, AttachPolicy) for action in rest)


def test_partition_goes_into_policy_arns() -> None:
    (_, *attach) = plan_role(resolve(ROLE, "aws-cn", None), None).actions
    assert [a.policy_arn for a in attach] == [
        "arn:aws-cn:iam::aws:policy/AmazonRDSReadOnlyAccess",
        "arn:aws-cn:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
    ]


def test_full_arn_in_spec_is_used_as_given() -> None:
    custom = "arn:aws:iam::123456789012:policy/team/Custom"
    role = RoleSpec(name="R", description="d", managed_policies=(custom,))
    (_, attach) = plan_role(resolve(role, "aws", None), None).actions
    assert attach == AttachPolicy("R", custom)


def test_plan_create_covers_every_role_in_order() -> None:
    other = resolve(RoleSpec(name="Other", description="d"), "aws", None)
    plans = plan_create((DESIRED, other), {ROLE.name: state(), "Other": None})
    assert [p.role for p in plans] == [ROLE.name, "Other"]
    assert plans[0].actions == ()
    assert isinstance(plans[1].actions[0], CreateRole)


# --- delete


def test_delete_removes_in_the_order_iam_requires() -> None:
    found = state(inline_policies={"inline": None}, instance_profiles=("profile",))
    (plan,) = plan_delete([ROLE.name], {ROLE.name: found})
    assert plan.actions == (
        RemoveFromInstanceProfile(ROLE.name, "profile"),
        DetachPolicy(ROLE.name, ARN + "AmazonRDSReadOnlyAccess"),
        DetachPolicy(ROLE.name, ARN + "service-role/AmazonECSTaskExecutionRolePolicy"),
        DeleteInlinePolicy(ROLE.name, "inline"),
        DeleteRole(ROLE.name),
    )


def test_delete_of_a_missing_role_does_nothing() -> None:
    (plan,) = plan_delete([ROLE.name], {ROLE.name: None})
    assert plan.actions == ()
    assert plan.refusal is None


@pytest.mark.parametrize(
    ("tags", "why"),
    [
        ({}, "not managed by qbroles (no tag ManagedBy=qbroles)"),
        (
            {"ManagedBy": "CloudFormation"},
            "managed by CloudFormation (tag ManagedBy=CloudFormation)",
        ),
    ],
)
def test_delete_refuses_a_role_qbroles_does_not_own(tags: dict[str, str], why: str) -> None:
    (plan,) = plan_delete([ROLE.name], {ROLE.name: state(tags=tags)})
    assert plan.actions == ()
    assert plan.refusal is not None
    assert why in plan.refusal


def test_adopt_takes_over_an_unclaimed_role_but_never_another_tools() -> None:
    unclaimed = plan_role(DESIRED, state(tags={}), adopt=True)
    assert unclaimed.refusal is None
    assert unclaimed.actions
    claimed = plan_role(DESIRED, state(tags={"ManagedBy": "CloudFormation"}), adopt=True)
    assert claimed.actions == ()
    assert claimed.refusal is not None
    assert "change it through CloudFormation" in claimed.refusal


def test_a_roles_writes_go_out_in_stages_additions_before_removals() -> None:
    from qbroles.model.actions import stages

    name, trust = "R", trust_policy("ecs-tasks.amazonaws.com")
    state = RoleState(name, "arn:aws:iam::1:role/R", trust, "d", {}, frozenset({ARN + "Old"}))
    actions = (
        DetachPolicy(name, ARN + "Old"),
        AttachPolicy(name, ARN + "New"),
        UntagRole(name, ("gone",)),
        UpdateTrustPolicy(name, trust),
        TagRole(name, {"ManagedBy": "qbroles"}),
        PutInlinePolicy(name, "p", {"Version": "2012-10-17", "Statement": []}),
        RemoveFromInstanceProfile(name, "profile"),
        DeleteRole(name, was=state),
        CreateRole(name, trust, "d", {}),
    )
    assert [[type(action).__name__ for action in stage] for stage in stages(actions)] == [
        ["CreateRole"],
        ["TagRole"],  # an adopted role is marked as qbroles' before anything else
        ["AttachPolicy", "UpdateTrustPolicy", "PutInlinePolicy"],
        ["DetachPolicy", "UntagRole", "RemoveFromInstanceProfile"],
        ["DeleteRole"],
    ]
    # Every removal waits for the additions: the role never lacks what old or new grants.
    for stage in stages(actions)[2:4]:
        assert len({action.sign == "-" for action in stage}) == 1


@pytest.mark.usefixtures("moto_iam")
def test_init_of_the_active_preset_is_no_pending_change(tmp_path: Path) -> None:
    """qbroles init writes the preset as qbroles.toml: the same roles, said the same. plan
    --detailed-exitcode exits 0 (it planned a retag of the spec's label), verify agrees,
    and the label follows with the next real write (issue 23, §2)."""
    import boto3
    from click.testing import CliRunner

    from qbroles.cli import cli

    runner = CliRunner()
    assert runner.invoke(cli, ["create"]).exit_code == 0
    assert runner.invoke(cli, ["init"]).exit_code == 0
    planned = runner.invoke(cli, ["plan", "--detailed-exitcode"])
    assert planned.exit_code == 0, planned.stdout + planned.stderr
    assert runner.invoke(cli, ["verify"]).exit_code == 0
    iam = boto3.client("iam", region_name="us-east-1")
    iam.detach_role_policy(
        RoleName="QuestionBank-ECS-TaskRole",
        PolicyArn="arn:aws:iam::aws:policy/AmazonRDSReadOnlyAccess",
    )
    assert runner.invoke(cli, ["create"]).exit_code == 0
    tags = iam.list_role_tags(RoleName="QuestionBank-ECS-TaskRole")["Tags"]
    label = {t["Key"]: t["Value"] for t in tags}["qbroles:spec"]
    assert "qbroles.toml" in label
