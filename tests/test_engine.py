"""observe / apply / verify / delete against moto's in-process IAM, with faults injected."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError
from moto.core.models import botocore_stubber

from qbroles.errors import AwsError, InputError, SafetyError
from qbroles.iam.gateway import Gateway
from qbroles.model.events import Progress
from qbroles.policy.documents import trust_policy
from qbroles.reconcile import engine
from qbroles.spec.load import parse_spec
from tests.conftest import (
    EXEC_ROLE,
    MANAGED,
    TASK_ROLE,
    attached,
    default_spec,
    error_response,
    inject,
    make_role,
    writes,
)

THROTTLE = error_response("Throttling", "Rate exceeded")
EXEC_POLICIES = {
    MANAGED + "service-role/AmazonECSTaskExecutionRolePolicy",
    MANAGED + "AmazonEC2ContainerRegistryReadOnly",
    MANAGED + "CloudWatchLogsFullAccess",
    MANAGED + "SecretsManagerReadWrite",
}
TASK_POLICIES = {
    MANAGED + "AmazonRDSReadOnlyAccess",
    MANAGED + "AmazonSSMReadOnlyAccess",
    MANAGED + "CloudWatchLogsFullAccess",
    MANAGED + "SecretsManagerReadWrite",
}


def assert_guide_roles(iam: Any) -> None:
    """Check IAM directly: the two roles exactly as the deployment guide has them."""
    for name, policies in ((EXEC_ROLE, EXEC_POLICIES), (TASK_ROLE, TASK_POLICIES)):
        role = iam.get_role(RoleName=name)["Role"]
        statement = role["AssumeRolePolicyDocument"]["Statement"][0]
        assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        assert statement["Action"] == "sts:AssumeRole"
        assert {"Key": "ManagedBy", "Value": "qbroles"} in role["Tags"]
        assert role["Description"]
        assert attached(iam, name) == policies


def test_create_on_an_empty_account(gateway: Gateway, iam: Any, calls: list[str]) -> None:
    report = engine.create(gateway, default_spec())
    assert report.ok
    assert report.changed
    assert_guide_roles(iam)
    assert sorted(writes(calls)) == ["AttachRolePolicy"] * 8 + ["CreateRole"] * 2
    for role in report.roles:
        assert role.arn == f"arn:aws:iam::123456789012:role/{role.name}"
        assert not any(check.failed for check in role.checks)
    # The workshop's broad policies are named as findings of the role create made.
    found = {c.check for role in report.roles for c in role.checks if c.warns}
    assert "finding: broad policy SecretsManagerReadWrite" in found
    assert "finding: confused deputy" in found


def test_second_create_makes_no_write_and_reads_little(gateway: Gateway, calls: list[str]) -> None:
    engine.create(gateway, default_spec())
    calls.clear()
    report = engine.create(gateway, default_spec())
    assert not report.changed
    assert report.ok
    assert writes(calls) == []
    # The call budget of a converged create, with --prune or without: per role GetRole
    # and the two policy listings, what verify reads.
    reads = sorted(["GetRole", "ListAttachedRolePolicies", "ListRolePolicies"] * 2)
    assert sorted(calls) == reads
    calls.clear()
    assert engine.create(gateway, default_spec(), prune=True).ok
    assert sorted(calls) == reads


def test_dry_run_plans_but_writes_nothing(gateway: Gateway, iam: Any, calls: list[str]) -> None:
    report = engine.create(gateway, default_spec(), dry_run=True)
    assert report.dry_run
    assert report.changed
    assert sum(len(role.changes) for role in report.roles) == 10
    assert writes(calls) == []
    assert iam.list_roles()["Roles"] == []


def test_create_repairs_drift_and_prune_detaches_extras(gateway: Gateway, iam: Any) -> None:
    engine.create(gateway, default_spec())
    iam.detach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonRDSReadOnlyAccess")
    iam.attach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonS3FullAccess")
    iam.update_assume_role_policy(
        RoleName=EXEC_ROLE, PolicyDocument=json.dumps(trust_policy("ec2.amazonaws.com"))
    )

    # The preset does not ask for its own description: a change to it is no drift.
    iam.update_role(RoleName=EXEC_ROLE, Description="changed by hand")

    drifted = engine.verify(gateway, default_spec())
    assert not drifted.ok
    failed = {(r.name, c.check) for r in drifted.roles for c in r.checks if c.failed}
    assert failed == {
        (EXEC_ROLE, "trust policy"),
        (TASK_ROLE, "policy AmazonRDSReadOnlyAccess"),
        (TASK_ROLE, "unexpected policy AmazonS3FullAccess"),
    }

    kept = engine.create(gateway, default_spec())
    # Without --prune the extra policy is kept, and create's answer is verify's: it fails.
    assert [c.check for r in kept.roles for c in r.checks if c.failed] == [
        "unexpected policy AmazonS3FullAccess"
    ]
    assert [c.check for c in kept.kept] == ["unexpected policy AmazonS3FullAccess"]
    assert MANAGED + "AmazonS3FullAccess" in attached(iam, TASK_ROLE)

    engine.create(gateway, default_spec(), prune=True)
    assert engine.verify(gateway, default_spec()).ok
    assert_guide_roles(iam)


def test_create_refuses_an_unowned_role_and_changes_nothing(
    gateway: Gateway, iam: Any, calls: list[str]
) -> None:
    make_role(iam, TASK_ROLE, owned=False)
    calls.clear()
    with pytest.raises(SafetyError, match=f"{TASK_ROLE} exists and is not managed by qbroles"):
        engine.create(gateway, default_spec())
    assert writes(calls) == []
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == [TASK_ROLE]


def test_adopt_takes_over_an_unowned_role(gateway: Gateway, iam: Any) -> None:
    make_role(iam, TASK_ROLE, owned=False, policies=("AmazonS3FullAccess",))
    report = engine.create(gateway, default_spec(), adopt=True)
    assert [c.check for c in report.kept] == ["unexpected policy AmazonS3FullAccess"]
    assert_guide_roles_or_extra = attached(iam, TASK_ROLE)
    assert assert_guide_roles_or_extra == TASK_POLICIES | {MANAGED + "AmazonS3FullAccess"}
    tags = iam.get_role(RoleName=TASK_ROLE)["Role"]["Tags"]
    assert {"Key": "ManagedBy", "Value": "qbroles"} in tags


def test_verify_reports_missing_roles_and_unowned_as_warning(gateway: Gateway, iam: Any) -> None:
    report = engine.verify(gateway, default_spec())
    assert not report.ok
    assert [c.check for r in report.roles for c in r.checks] == ["exists", "exists"]

    engine.create(gateway, default_spec())
    iam.untag_role(RoleName=EXEC_ROLE, TagKeys=["ManagedBy"])
    report = engine.verify(gateway, default_spec())
    assert report.ok  # a missing ownership tag is a warning
    (owner,) = [c for c in report.roles[0].checks if c.check == "owned by qbroles"]
    assert not owner.ok
    assert owner.severity.value == "warning"


def test_roles_outside_the_spec_are_never_read_or_touched(
    gateway: Gateway, iam: Any, calls: list[str]
) -> None:
    make_role(iam, "Unrelated", policies=("AmazonS3FullAccess",))
    engine.create(gateway, default_spec(), prune=True)
    engine.delete(gateway, default_spec())
    assert attached(iam, "Unrelated") == {MANAGED + "AmazonS3FullAccess"}
    assert "ListRoles" not in calls


def test_delete_removes_profiles_policies_and_inline_then_the_role(
    gateway: Gateway, iam: Any
) -> None:
    engine.create(gateway, default_spec())
    iam.create_instance_profile(InstanceProfileName="profile")
    iam.add_role_to_instance_profile(InstanceProfileName="profile", RoleName=TASK_ROLE)
    iam.put_role_policy(
        RoleName=TASK_ROLE,
        PolicyName="inline",
        PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}',
    )
    report = engine.delete(gateway, default_spec())
    assert report.ok
    assert iam.list_roles()["Roles"] == []
    # The instance profile is not qbroles': it stays, without the role.
    profile = iam.get_instance_profile(InstanceProfileName="profile")["InstanceProfile"]
    assert profile["Roles"] == []
    actions = [type(a).__name__ for a in report.roles[1].changes]
    assert actions[0] == "RemoveFromInstanceProfile"
    assert actions[-2:] == ["DeleteInlinePolicy", "DeleteRole"]


def test_delete_refuses_unowned_and_deletes_nothing(
    gateway: Gateway, iam: Any, calls: list[str]
) -> None:
    engine.create(gateway, default_spec())
    iam.untag_role(RoleName=TASK_ROLE, TagKeys=["ManagedBy"])
    calls.clear()
    with pytest.raises(SafetyError, match="will not delete"):
        engine.delete(gateway, default_spec())
    assert writes(calls) == []
    assert len(iam.list_roles()["Roles"]) == 2


def test_delete_of_absent_roles_is_fine(gateway: Gateway, calls: list[str]) -> None:
    report = engine.delete(gateway, default_spec())
    assert report.ok
    assert not report.changed
    assert writes(calls) == []


def test_a_delete_plan_is_a_value_that_changes_nothing(
    gateway: Gateway, iam: Any, calls: list[str]
) -> None:
    """Planning reads and plans; the writes wait until the command layer hands it back."""
    engine.create(gateway, default_spec())
    calls.clear()
    plan = engine.delete_plan(gateway, default_spec())
    assert writes(calls) == []
    assert [type(plan.actions[-1]).__name__ for plan in plan.changing] == ["DeleteRole"] * 2
    assert len(iam.list_roles()["Roles"]) == 2


def test_listings_paginate(gateway: Gateway, iam: Any) -> None:
    """More attached policies than one page of 2: all are seen (the paginator follows Marker)."""
    engine.create(gateway, default_spec())
    seen: list[int] = []

    def small_pages(params: dict[str, Any], **_: Any) -> None:
        params["MaxItems"] = 2
        seen.append(1)

    gateway.client.meta.events.register(
        "provide-client-params.iam.ListAttachedRolePolicies", small_pages
    )
    state = gateway.observe(EXEC_ROLE)
    assert state is not None
    assert state.managed_policies == EXEC_POLICIES
    assert len(seen) >= 2  # two pages of two (moto may add an empty third)


def test_partition_from_region(moto_iam: None) -> None:
    from qbroles.iam.connect import AwsOptions, connect

    assert connect(AwsOptions(region="cn-north-1")).partition == "aws-cn"
    assert connect(AwsOptions(region="us-gov-west-1")).partition == "aws-us-gov"
    assert connect(AwsOptions(region="eu-west-1")).partition == "aws"


# --- faults


def test_throttled_writes_are_retried_by_botocore(gateway: Gateway, iam: Any) -> None:
    seen = inject(gateway.client, "AttachRolePolicy", [THROTTLE, THROTTLE])
    assert engine.create(gateway, default_spec(), workers=1).ok
    assert seen[0] == 8 + 2  # every attach once, and the two throttled attempts again
    assert_guide_roles(iam)


def test_throttling_that_never_ends_spends_the_budget_then_exit_3_and_a_rerun_converges(
    gateway: Gateway, iam: Any
) -> None:
    from qbroles.iam.connect import AwsOptions, connect

    seen = inject(gateway.client, "AttachRolePolicy", [THROTTLE] * 1000)
    with pytest.raises(
        AwsError,
        match=r"AWS kept throttling AttachRolePolicy on role \S+: it waited [\d.]+ s over "
        r"\d+ attempts, and the run's retry budget of 300 s is spent; .* raise --retry-budget",
    ):
        engine.create(gateway, default_spec(), workers=1)
    figures = gateway.pacer.figures()
    # Far more patient than botocore's three attempts, and never past the budget.
    assert seen[0] > 10
    assert figures.throttled == seen[0]
    assert 300 - 20 < figures.waited <= 300
    rerun = connect(AwsOptions(region="us-east-1"))  # a new run, a new budget
    assert engine.create(rerun, default_spec()).ok
    assert_guide_roles(iam)


@pytest.mark.parametrize("attempts", [1, 2, 4])
def test_max_attempts_counts_attempts_in_all(moto_iam: None, attempts: int) -> None:
    from qbroles.iam.connect import AwsOptions, connect

    gateway = connect(AwsOptions(max_attempts=attempts))
    gateway.pacer.sleep = lambda _: None
    seen = inject(gateway.client, "GetRole", [THROTTLE] * 10)
    counted = "1 attempt" if attempts == 1 else f"{attempts} attempts"
    with pytest.raises(AwsError, match=rf"over {counted}, the most --max-attempts"):
        gateway.observe(EXEC_ROLE)
    assert seen[0] == attempts


def test_the_profiles_max_attempts_caps_each_call(
    moto_iam: None, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qbroles.iam.connect import AwsOptions, connect

    (tmp_path / "config").write_text("[default]\nmax_attempts = 2\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    gateway = connect(AwsOptions())
    gateway.pacer.sleep = lambda _: None
    seen = inject(gateway.client, "GetRole", [THROTTLE] * 10)
    with pytest.raises(AwsError, match=r"over 2 attempts"):
        gateway.observe(EXEC_ROLE)
    assert seen[0] == 2


def test_concurrent_modification_is_retried(gateway: Gateway, iam: Any) -> None:
    busy = error_response("ConcurrentModification", "Rate of modification too high")
    seen = inject(gateway.client, "CreateRole", [busy, busy])
    assert engine.create(gateway, default_spec(), workers=1).ok
    assert seen[0] == 4
    assert_guide_roles(iam)


def test_concurrent_modification_gives_up_after_patience(iam: Any) -> None:
    import boto3

    clock = [0.0]
    client = boto3.client("iam", region_name="us-east-1")
    gateway = Gateway(
        client,
        patience=10.0,
        sleep=lambda s: clock.__setitem__(0, clock[0] + s),
        clock=lambda: clock[0],
    )
    inject(client, "CreateRole", [error_response("ConcurrentModification", "busy")] * 1000)
    with pytest.raises(AwsError, match="concurrent modification"):
        engine.create(gateway, default_spec(), workers=1)
    # Each of the two roles, one after the other, waits out its own patience.
    assert 20.0 <= clock[0] < 30.0


def test_lost_answer_on_create_role_counts_as_done(gateway: Gateway, iam: Any) -> None:
    def reach_aws_then_lose_the_answer(request: Any) -> None:
        botocore_stubber(event_name="before-send.iam.CreateRole", request=request)
        raise ConnectionClosedError(endpoint_url=request.url)

    seen = inject(gateway.client, "CreateRole", [reach_aws_then_lose_the_answer])
    report = engine.create(gateway, default_spec(), workers=1)
    assert report.ok
    assert seen[0] == 3  # the lost one, its retry (EntityAlreadyExists), the other role
    assert_guide_roles(iam)


def test_role_created_by_someone_else_meanwhile_is_refused(gateway: Gateway, iam: Any) -> None:
    def someone_else_was_faster(request: Any) -> None:
        make_role(iam, EXEC_ROLE, owned=False)

    inject(gateway.client, "CreateRole", [someone_else_was_faster])
    with pytest.raises(SafetyError, match="someone created it while qbroles ran"):
        engine.create(gateway, default_spec(), workers=1)
    assert attached(iam, EXEC_ROLE) == set()


def test_no_such_entity_right_after_create_is_waited_out(gateway: Gateway, iam: Any) -> None:
    not_yet = error_response(
        "NoSuchEntity", f"The role with name {EXEC_ROLE} cannot be found.", 404
    )
    seen = inject(gateway.client, "AttachRolePolicy", [not_yet, not_yet])
    assert engine.create(gateway, default_spec(), workers=1).ok
    assert seen[0] == 8 + 2
    assert_guide_roles(iam)


def test_a_missing_policy_is_not_waited_for(iam: Any) -> None:
    import boto3

    spec = parse_spec(
        {"role": [{"name": "R", "managed_policies": ["AmazonECSTaskExecutionRolePolicy"]}]},
        source="test",
    )
    slept: list[float] = []
    gateway = Gateway(boto3.client("iam", region_name="us-east-1"), sleep=slept.append)
    with pytest.raises(
        InputError,
        match=r"AmazonECSTaskExecutionRolePolicy \(for R\), did you mean "
        r"service-role/AmazonECSTaskExecutionRolePolicy\?",
    ):
        engine.create(gateway, spec)  # found before any write (preflight), not by the attach
    assert slept == []
    assert iam.list_roles()["Roles"] == []


def test_access_denied_names_the_action(gateway: Gateway) -> None:
    denied = error_response(
        "AccessDenied",
        "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: iam:GetRole",
        403,
    )
    inject(gateway.client, "GetRole", [denied] * 2)
    with pytest.raises(
        AwsError, match=r"AWS denied iam:GetRole \(GetRole on role .*grant iam:GetRole"
    ):
        engine.verify(gateway, default_spec())


def test_one_failing_role_does_not_stop_the_other(gateway: Gateway, iam: Any) -> None:
    denied = error_response("AccessDenied", "not authorized", 403)

    def deny_task_role(request: Any) -> Any:
        return denied if TASK_ROLE in str(request.body) else None

    inject(gateway.client, "CreateRole", [deny_task_role, deny_task_role])
    with pytest.raises(AwsError, match=f"CreateRole on role {TASK_ROLE}"):
        engine.create(gateway, default_spec(), workers=2)
    assert attached(iam, EXEC_ROLE) == EXEC_POLICIES


@pytest.mark.parametrize("workers", [1, 2])
def test_one_failing_role_does_not_stop_the_others_whatever_the_workers(
    gateway: Gateway, iam: Any, workers: int
) -> None:
    """The first role fails; every later one is still created, with one worker too."""
    denied = error_response("AccessDenied", "not authorized", 403)

    def deny_exec_role(request: Any) -> Any:
        return denied if EXEC_ROLE in str(request.body) else None

    inject(gateway.client, "CreateRole", [deny_exec_role, deny_exec_role])
    with pytest.raises(AwsError, match=f"CreateRole on role {EXEC_ROLE}"):
        engine.create(gateway, default_spec(), workers=workers)
    assert attached(iam, TASK_ROLE) == TASK_POLICIES


# --- the attributes beyond the guide: inline policies, boundary, session, path, conditions

READ = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:{partition}:s3:::b/*"}
    ],
}
FULL_SPEC = {
    "role": [
        {
            "name": "Full",
            "path": "/ecs/",
            "max_session_duration": 7200,
            "permissions_boundary": "PowerUserAccess",
            "source_conditions": True,
            "managed_policies": ["AmazonS3ReadOnlyAccess"],
            "inline_policies": {"read": READ},
            "tags": {"Team": "web"},
        }
    ]
}


def full_spec() -> Any:
    return parse_spec(FULL_SPEC, source="test")


def test_every_attribute_is_created_as_specified(gateway: Gateway, iam: Any) -> None:
    assert engine.create(gateway, full_spec()).ok
    role = iam.get_role(RoleName="Full")["Role"]
    assert role["Path"] == "/ecs/"
    assert role["MaxSessionDuration"] == 7200
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == MANAGED + "PowerUserAccess"
    condition = role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
    assert condition["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert condition["ArnLike"] == {"aws:SourceArn": "arn:aws:ecs:*:123456789012:*"}
    document = iam.get_role_policy(RoleName="Full", PolicyName="read")["PolicyDocument"]
    assert document["Statement"][0]["Resource"] == "arn:aws:s3:::b/*"
    assert {"Key": "Team", "Value": "web"} in role["Tags"]


def test_drift_of_each_attribute_is_found_and_repaired(
    gateway: Gateway, iam: Any, calls: list[str]
) -> None:
    engine.create(gateway, full_spec())
    concrete = json.loads(json.dumps(READ).replace("{partition}", "aws"))
    widened = {**concrete, "Statement": [{**concrete["Statement"][0], "Action": "s3:*"}]}
    iam.put_role_policy(RoleName="Full", PolicyName="read", PolicyDocument=json.dumps(widened))
    iam.put_role_policy(RoleName="Full", PolicyName="extra", PolicyDocument=json.dumps(concrete))
    iam.delete_role_permissions_boundary(RoleName="Full")
    # moto (unlike IAM) clears the description when UpdateRole omits it: send it as it is.
    iam.update_role(RoleName="Full", Description="Managed by qbroles.", MaxSessionDuration=3600)
    iam.update_assume_role_policy(
        RoleName="Full",
        PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        '"Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}',
    )

    report = engine.verify(gateway, full_spec())
    failed = {c.check for c in report.roles[0].checks if c.failed}
    assert failed == {
        "trust policy",
        "max session duration",
        "permissions boundary",
        "inline policy read",
        "unexpected inline policy extra",
    }

    calls.clear()
    repaired = engine.create(gateway, full_spec())
    # The extra inline policy stays without --prune: the one difference left.
    assert [c.check for r in repaired.roles for c in r.checks if c.failed] == [
        "unexpected inline policy extra"
    ]
    assert "DeleteRolePolicy" not in calls
    assert engine.create(gateway, full_spec(), prune=True).ok
    assert engine.verify(gateway, full_spec()).ok
    assert iam.list_role_policies(RoleName="Full")["PolicyNames"] == ["read"]

    calls.clear()
    assert not engine.create(gateway, full_spec()).changed
    assert writes(calls) == []


def test_a_role_on_another_path_is_refused(gateway: Gateway, iam: Any, calls: list[str]) -> None:
    iam.create_role(
        RoleName="Full",
        Path="/other/",
        AssumeRolePolicyDocument="{}",
        Tags=[{"Key": "ManagedBy", "Value": "qbroles"}],
    )
    calls.clear()
    with pytest.raises(SafetyError, match="cannot move a role"):
        engine.create(gateway, full_spec())
    assert writes(calls) == []


def test_account_is_asked_once_and_only_when_needed(gateway: Gateway, calls: list[str]) -> None:
    engine.verify(gateway, default_spec())
    assert "GetCallerIdentity" not in calls
    engine.verify(gateway, full_spec())
    assert calls.count("GetCallerIdentity") == 1


def test_scoped_roles_need_a_region(iam: Any, calls: list[str]) -> None:
    import boto3

    from qbroles.errors import InputError

    gateway = Gateway(boto3.client("iam", region_name="us-east-1"))  # no region known
    with pytest.raises(InputError, match="no region is set; pass --region"):
        engine.verify(gateway, full_spec())
    assert calls == []


def test_tags_qbroles_set_follow_the_spec_and_others_stay(gateway: Gateway, iam: Any) -> None:
    def spec_with(tags: dict[str, str]) -> Any:
        return parse_spec({"role": [{"name": "Tagged", "tags": tags}]}, source="test")

    engine.create(gateway, spec_with({"Team": "web", "Old": "x"}))
    iam.tag_role(RoleName="Tagged", Tags=[{"Key": "ByHand", "Value": "keep"}])
    assert engine.create(gateway, spec_with({"Team": "ops"})).ok

    tags = {t["Key"]: t["Value"] for t in iam.get_role(RoleName="Tagged")["Role"]["Tags"]}
    assert tags == {
        "Team": "ops",
        "ByHand": "keep",
        "ManagedBy": "qbroles",
        "qbroles:tags": "Team",
        "qbroles:spec": "file=test app=QuestionBank",
        "qbroles:digest": spec_with({"Team": "ops"}).roles[0].digest,  # the spec applied last
    }
    assert engine.verify(gateway, spec_with({"Team": "ops"})).ok


class _Heard(Progress):
    def __init__(self) -> None:
        super().__init__()
        self.waits: list[str] = []

    def waiting(self, what: str, seconds: float) -> None:
        self.waits.append(what)


def test_delete_names_what_blocks_it_and_how_long_it_waits(gateway: Gateway, iam: Any) -> None:
    engine.create(gateway, default_spec())
    sqs = MANAGED + "AmazonSQSFullAccess"

    def attach_meanwhile(request: Any) -> Any:
        iam.attach_role_policy(RoleName=EXEC_ROLE, PolicyArn=sqs)
        return error_response("DeleteConflict", "Cannot delete entity, must detach all policies")

    def detach_meanwhile(request: Any) -> None:
        iam.detach_role_policy(RoleName=EXEC_ROLE, PolicyArn=sqs)

    # With one worker the execution role goes first: a conflict, then the colleague detaches.
    inject(gateway.client, "DeleteRole", [attach_meanwhile, detach_meanwhile])
    heard = _Heard()
    gateway.pacer.progress = heard
    report = engine.delete(gateway, default_spec(), workers=1)
    assert report.ok
    assert len(heard.waits) == 1
    assert "blocked by policy AmazonSQSFullAccess" in heard.waits[0]
    assert "waiting up to" in heard.waits[0]


# --- verify judges only what the spec asks for


def test_a_role_made_by_hand_as_the_guide_says_is_in_sync(gateway: Gateway, iam: Any) -> None:
    """Name, trust and the four policies, no description, no tags: what the guide asks."""
    make_role(iam, EXEC_ROLE, owned=False, policies=tuple(p[len(MANAGED) :] for p in EXEC_POLICIES))
    make_role(iam, TASK_ROLE, owned=False, policies=tuple(p[len(MANAGED) :] for p in TASK_POLICIES))
    report = engine.verify(gateway, default_spec())
    assert report.ok
    failed = [(r.name, c.check) for r in report.roles for c in r.checks if not c.ok]
    assert "owned by qbroles" in {check for _, check in failed}
    assert not any(check in ("description", "max session duration") for _, check in failed)
    with pytest.raises(SafetyError):  # create still refuses a role it does not own
        engine.create(gateway, default_spec())


def test_a_description_the_spec_states_is_verified_and_converged(
    gateway: Gateway, iam: Any
) -> None:
    stated = parse_spec(
        {"role": [{"name": "R", "description": "the spec's words", "max_session_duration": 7200}]},
        source="test",
    )
    unstated = parse_spec({"role": [{"name": "R"}]}, source="test")
    engine.create(gateway, stated)
    iam.update_role(RoleName="R", Description="by hand", MaxSessionDuration=3600)
    checks = {c.check: c.ok for r in engine.verify(gateway, stated).roles for c in r.checks}
    assert checks["description"] is False
    assert checks["max session duration"] is False
    unstated_checks = {c.check for r in engine.verify(gateway, unstated).roles for c in r.checks}
    assert "description" not in unstated_checks
    assert "max session duration" not in unstated_checks
    # Nothing it asks for differs: it only records that it, not the other spec, set R last.
    (changes,) = (r.changes for r in engine.create(gateway, unstated).roles)
    assert [(type(c).__name__, c.target) for c in changes] == [
        ("TagRole", f"qbroles:digest={unstated.roles[0].digest}")
    ]
    assert engine.create(gateway, stated).ok
    role = iam.get_role(RoleName="R")["Role"]
    assert (role["Description"], role["MaxSessionDuration"]) == ("the spec's words", 7200)


def test_a_role_created_between_get_role_and_its_listings_is_listed_again(
    gateway: Gateway, iam: Any, calls: list[str]
) -> None:
    """GetRole and the listings go out together; a listing that found no role while
    GetRole found one (the role was created in between) is made again, not trusted."""
    engine.create(gateway, default_spec())
    gone = error_response("NoSuchEntity", f"The role with name {EXEC_ROLE} cannot be found.", 404)
    inject(gateway.client, "ListAttachedRolePolicies", [gone])
    calls.clear()
    state = gateway.observe(EXEC_ROLE)
    # The first round (GetRole, both listings), then both listings once more.
    assert sorted(calls) == [
        "GetRole",
        *["ListAttachedRolePolicies"] * 2,
        *["ListRolePolicies"] * 2,
    ]
    assert state is not None
    assert len(state.managed_policies) == 4
    assert state.managed_policies == attached(iam, EXEC_ROLE)


def one_role(*policies: str, boundary: str | None = None) -> Any:
    role: dict[str, Any] = {"name": "App-Role", "managed_policies": list(policies)}
    if boundary:
        role["permissions_boundary"] = boundary
    return parse_spec({"role": [role]}, source="test")


@pytest.mark.parametrize(
    ("policies", "boundary", "named"),
    [
        (
            ("AmazonS3ReadOnlyAccess", "AmazonS3FullAcess"),
            None,
            "AmazonS3FullAcess (for App-Role)",
        ),
        (  # a policy qbroles knows is near: it is suggested
            ("AmazonS3ReadOnlyAccess",),
            "PowerUserAcess",
            "PowerUserAcess (for App-Role), did you mean PowerUserAccess?",
        ),
    ],
)
@pytest.mark.parametrize("dry_run", [True, False])
def test_a_misspelt_policy_or_boundary_stops_plan_and_create_before_any_write(
    gateway: Gateway,
    iam: Any,
    calls: list[str],
    policies: tuple[str, ...],
    boundary: str | None,
    named: str,
    dry_run: bool,
) -> None:
    with pytest.raises(InputError) as caught:
        engine.create(gateway, one_role(*policies, boundary=boundary), dry_run=dry_run)
    assert str(caught.value).startswith(f"no such managed policy: {named};")
    assert str(caught.value).endswith("nothing was changed.")
    assert writes(calls) == []
    assert iam.list_roles()["Roles"] == []


def test_policies_spelt_right_are_asked_for_once_each_and_known_ones_not_at_all(
    gateway: Gateway, iam: Any, calls: list[str]
) -> None:
    spec = one_role("AmazonS3ReadOnlyAccess", "AmazonRDSReadOnlyAccess")  # the 2nd: catalog's
    assert engine.create(gateway, spec).ok
    assert calls.count("GetPolicy") == 1
    calls.clear()
    assert engine.create(gateway, spec).ok  # attached already: nothing to ask
    assert "GetPolicy" not in calls
    # The guide's roles use only policies qbroles knows: no GetPolicy at all.
    calls.clear()
    assert engine.create(gateway, default_spec()).ok
    assert "GetPolicy" not in calls


def test_without_iam_get_policy_the_check_is_skipped_not_failed(gateway: Gateway, iam: Any) -> None:
    denied = error_response("AccessDenied", "not authorized to perform: iam:GetPolicy", 403)
    inject(gateway.client, "GetPolicy", [denied])
    assert engine.create(gateway, one_role("AmazonS3ReadOnlyAccess")).ok
    assert attached(iam, "App-Role") == {MANAGED + "AmazonS3ReadOnlyAccess"}


def test_a_missing_role_is_told_by_its_error_code_not_by_a_class_of_a_racing_build(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore builds a client's exception classes on first use, without a lock: threads
    making a new client's first calls at once may each build a set, and an error raised
    from one set is no instance of the other's class. Here every use builds a new set."""

    def fresh_set(client: Any) -> Any:
        return client._exceptions_factory._create_client_exceptions(client._service_model)

    monkeypatch.setattr(type(gateway.client), "exceptions", property(fresh_set))
    assert gateway.observe("NoSuchRole") is None
    assert gateway.inline_policy("NoSuchRole", "p") is None
    assert engine.verify(gateway, default_spec()).roles[0].arn is None
