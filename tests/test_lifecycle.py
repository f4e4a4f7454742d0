"""The whole lifecycle as a state machine: qbroles' commands and a colleague's changes by hand.

Invariants after every step: create then verify is in sync (unless create refused for
ownership); a second create writes nothing; delete never removes an unowned role or
anything outside the spec; unrelated roles are never touched; a refusal changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from moto import mock_aws

from qbroles.errors import SafetyError
from qbroles.iam.gateway import Gateway
from qbroles.policy.documents import trust_policy
from qbroles.reconcile import engine
from qbroles.spec.load import parse_spec
from tests.conftest import MANAGED, TRUST, WRITES
from tests.figures import count, scaled

REGION = "us-east-1"
READ = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}
# Two roles: the guide's execution role, and one with an inline policy and tags.
SPEC = parse_spec(
    {
        "role": [
            {
                "name": "{app}-ECS-TaskExecutionRole",
                "managed_policies": [
                    "service-role/AmazonECSTaskExecutionRolePolicy",
                    "CloudWatchLogsFullAccess",
                ],
            },
            {
                "name": "{app}-ECS-TaskRole",
                "managed_policies": ["AmazonRDSReadOnlyAccess"],
                "inline_policies": {"read": READ},
                "tags": {"Team": "web"},
            },
        ]
    },
    source="lifecycle",
)
OTHER_TRUST = json.dumps(trust_policy("ec2.amazonaws.com"))
names = st.sampled_from(SPEC.names)
policies = st.sampled_from(
    [
        MANAGED + p
        for p in ("AmazonS3FullAccess", "CloudWatchLogsFullAccess", "AmazonRDSReadOnlyAccess")
    ]
)


class Lifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.mock = mock_aws(config={"iam": {"load_aws_managed_policies": True}})
        self.mock.start()
        self.iam = boto3.client("iam", region_name=REGION)
        client = boto3.client("iam", region_name=REGION)
        self.writes: list[str] = []
        client.meta.events.register("before-call.iam", self._record)
        self.gateway = Gateway(client, region=REGION, patience=0.5, sleep=lambda _: None)
        self.unrelated: dict[str, Any] = {}
        self.counter = 0
        self.make_unrelated_role()
        count("state machine: examples")

    def _record(self, model: Any, **_: Any) -> None:
        if model.name in WRITES:
            self.writes.append(model.name)

    def teardown(self) -> None:
        self.mock.stop()

    # --- what IAM holds

    def snapshot(self) -> dict[str, Any]:
        """Return every role with everything qbroles could touch."""
        found = {}
        for page in self.iam.get_paginator("list_roles").paginate():
            for role in page["Roles"]:
                name = role["RoleName"]
                full = self.iam.get_role(RoleName=name)["Role"]
                inline = self.iam.list_role_policies(RoleName=name)["PolicyNames"]
                profiles = self.iam.list_instance_profiles_for_role(RoleName=name)
                found[name] = {
                    "trust": full["AssumeRolePolicyDocument"],
                    "description": full.get("Description"),
                    "tags": {t["Key"]: t["Value"] for t in full.get("Tags", [])},
                    "managed": sorted(
                        p["PolicyArn"]
                        for p in self.iam.list_attached_role_policies(RoleName=name)[
                            "AttachedPolicies"
                        ]
                    ),
                    "inline": {
                        p: self.iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
                        for p in inline
                    },
                    "profiles": sorted(
                        p["InstanceProfileName"] for p in profiles["InstanceProfiles"]
                    ),
                }
        return found

    def exists(self, name: str) -> bool:
        return name in self.snapshot()

    # --- qbroles

    @rule(prune=st.booleans(), adopt=st.booleans())
    def create(self, prune: bool, adopt: bool) -> None:
        count("state machine: steps")
        before = self.snapshot()
        self.writes.clear()
        try:
            report = engine.create(self.gateway, SPEC, prune=prune, adopt=adopt, workers=2)
        except SafetyError:
            assert not adopt
            assert any(
                before.get(n, {}).get("tags", {}).get("ManagedBy") != "qbroles"
                for n in SPEC.names
                if n in before
            )
            assert self.writes == []
            assert self.snapshot() == before
            return
        failing = {
            c.check for r in engine.verify(self.gateway, SPEC).roles for c in r.checks if c.failed
        }
        # create's answer is verify's: ok, or failing only for what it kept (no --prune).
        created = {c.check for r in report.roles for c in r.checks if c.failed}
        assert report.ok == (failing == set())
        assert created == failing
        if prune:
            assert failing == set()
        else:
            assert all(check.startswith("unexpected") for check in failing), failing
        self.writes.clear()
        again = engine.create(self.gateway, SPEC, prune=prune, adopt=adopt)
        assert not again.changed
        assert self.writes == []

    @rule()
    def delete(self) -> None:
        count("state machine: steps")
        before = self.snapshot()
        self.writes.clear()
        try:
            engine.delete(self.gateway, SPEC, workers=2)
        except SafetyError:
            assert any(
                before[n]["tags"].get("ManagedBy") != "qbroles" for n in SPEC.names if n in before
            )
            assert self.writes == []
            assert self.snapshot() == before
            return
        after = self.snapshot()
        assert not set(SPEC.names) & set(after)
        assert {n: r for n, r in after.items()} == {
            n: {**r, "profiles": after[n]["profiles"]}
            for n, r in before.items()
            if n not in SPEC.names
        }

    # --- a colleague, by hand

    @rule(name=names, policy=policies)
    def attach_by_hand(self, name: str, policy: str) -> None:
        count("state machine: steps")
        if self.exists(name):
            self.iam.attach_role_policy(RoleName=name, PolicyArn=policy)

    @rule(name=names, policy=policies)
    def detach_by_hand(self, name: str, policy: str) -> None:
        count("state machine: steps")
        if self.exists(name) and policy in self.snapshot()[name]["managed"]:
            self.iam.detach_role_policy(RoleName=name, PolicyArn=policy)

    @rule(name=names, changed=st.booleans())
    def put_inline_by_hand(self, name: str, changed: bool) -> None:
        count("state machine: steps")
        if self.exists(name):
            document = {**READ, "Statement": [{**READ["Statement"][0], "Action": "s3:*"}]}
            policy = "read" if changed else "extra"
            self.iam.put_role_policy(
                RoleName=name, PolicyName=policy, PolicyDocument=json.dumps(document)
            )

    @rule(name=names)
    def delete_inline_by_hand(self, name: str) -> None:
        count("state machine: steps")
        if self.exists(name):
            for policy in self.snapshot()[name]["inline"]:
                self.iam.delete_role_policy(RoleName=name, PolicyName=policy)

    @rule(name=names)
    def change_trust_by_hand(self, name: str) -> None:
        count("state machine: steps")
        if self.exists(name):
            self.iam.update_assume_role_policy(RoleName=name, PolicyDocument=OTHER_TRUST)

    @rule(name=names)
    def remove_ownership_tag_by_hand(self, name: str) -> None:
        count("state machine: steps")
        if self.exists(name):
            self.iam.untag_role(RoleName=name, TagKeys=["ManagedBy"])

    @rule(name=names)
    def add_to_instance_profile_by_hand(self, name: str) -> None:
        count("state machine: steps")
        if self.exists(name):
            self.counter += 1
            profile = f"profile-{self.counter}"
            self.iam.create_instance_profile(InstanceProfileName=profile)
            self.iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=name)

    @rule(name=names)
    def delete_role_by_hand(self, name: str) -> None:
        count("state machine: steps")
        state = self.snapshot().get(name)
        if state is None:
            return
        for profile in state["profiles"]:
            self.iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=name)
        for policy in state["managed"]:
            self.iam.detach_role_policy(RoleName=name, PolicyArn=policy)
        for policy in state["inline"]:
            self.iam.delete_role_policy(RoleName=name, PolicyName=policy)
        self.iam.delete_role(RoleName=name)

    @rule(name=names)
    def create_same_named_unowned_role(self, name: str) -> None:
        count("state machine: steps")
        if not self.exists(name):
            self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)

    @rule()
    def make_unrelated_role(self) -> None:
        count("state machine: steps")
        self.counter += 1
        name = f"Unrelated-{self.counter}"
        self.iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=TRUST,
            Tags=[{"Key": "ManagedBy", "Value": "qbroles"}],  # even looking like ours
        )
        self.iam.attach_role_policy(RoleName=name, PolicyArn=MANAGED + "AmazonS3FullAccess")
        self.iam.put_role_policy(RoleName=name, PolicyName="read", PolicyDocument=json.dumps(READ))
        self.unrelated[name] = self.snapshot()[name]

    @invariant()
    def unrelated_roles_are_never_touched(self) -> None:
        now = self.snapshot()
        assert {n: now.get(n) for n in self.unrelated} == self.unrelated


Lifecycle.TestCase.settings = settings(
    max_examples=scaled(12),
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_lifecycle = Lifecycle.TestCase
