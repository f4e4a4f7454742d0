"""Hostile input: AccessDenied on every call, and fuzzed specs and policy documents.

Whatever comes in: never a traceback, always the documented exit code and one line that
says where, and no AWS request for input that is invalid.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from botocore.awsrequest import AWSResponse
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qbroles.cli import cli
from qbroles.errors import AwsError, ExitCode, InputError
from qbroles.iam.gateway import Gateway
from qbroles.policy.documents import policy_problem, trust_policy
from qbroles.reconcile import engine
from qbroles.reconcile.taskdef import load_task_definition
from qbroles.spec.load import ROLE_KEYS, TOP_KEYS, load_spec, parse_spec
from qbroles.spec.presets import Scope, preset_spec
from tests.conftest import MANAGED, _Raw, error_response, inject
from tests.figures import count, scaled

TASKDEF = str(Path(__file__).parent / "taskdefs" / "questionbank.json")
FULL = {
    "role": [
        {
            "name": "Full",
            "kind": "execution",
            "description": "stated, so verified and converged",
            "permissions_boundary": "PowerUserAccess",
            "source_conditions": True,
            "managed_policies": ["AmazonS3ReadOnlyAccess"],
            "inline_policies": {
                "read": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
                }
            },
            "tags": {"Team": "web"},
        }
    ]
}


def full(**changes: Any) -> Any:
    return parse_spec({"role": [{**FULL["role"][0], **changes}]}, source="test")


EC2_TRUST = json.dumps(trust_policy("ec2.amazonaws.com"))


def drift(iam: Any) -> None:
    """Change the Full role by hand in every way create then has to repair."""
    iam.update_assume_role_policy(RoleName="Full", PolicyDocument=EC2_TRUST)
    iam.update_role(RoleName="Full", Description="by hand", MaxSessionDuration=7200)
    iam.delete_role_permissions_boundary(RoleName="Full")
    iam.attach_role_policy(RoleName="Full", PolicyArn=MANAGED + "AmazonS3FullAccess")
    iam.put_role_policy(
        RoleName="Full",
        PolicyName="extra",
        PolicyDocument=json.dumps(FULL["role"][0]["inline_policies"]["read"]),
    )
    iam.untag_role(RoleName="Full", TagKeys=["Team"])
    iam.tag_role(
        RoleName="Full",
        Tags=[{"Key": "Old", "Value": "x"}, {"Key": "qbroles:tags", "Value": "Old Team"}],
    )


def with_profile(iam: Any) -> None:
    iam.create_instance_profile(InstanceProfileName="p")
    iam.add_role_to_instance_profile(InstanceProfileName="p", RoleName="Full")


# operation -> (how to arrange IAM, the command that must call it)
Flow = Callable[[Gateway], Any]
# The writes only a repair makes: create, a drift by hand, then create --prune.
REPAIR: tuple[Callable[[Gateway, Any], Any], Flow] = (
    lambda g, iam: (engine.create(g, full()), drift(iam)),
    lambda g: engine.create(g, full(), prune=True),
)
FLOWS: dict[str, tuple[Callable[[Gateway, Any], None], Flow]] = {
    "GetCallerIdentity": (lambda g, iam: None, lambda g: engine.verify(g, full())),
    "GetRole": (lambda g, iam: None, lambda g: engine.verify(g, full())),
    "ListAttachedRolePolicies": (
        lambda g, iam: engine.create(g, full()),
        lambda g: engine.verify(g, full()),
    ),
    "ListRolePolicies": (
        lambda g, iam: engine.create(g, full()),
        lambda g: engine.verify(g, full()),
    ),
    "GetRolePolicy": (lambda g, iam: engine.create(g, full()), lambda g: engine.verify(g, full())),
    "CreateRole": (lambda g, iam: None, lambda g: engine.create(g, full())),
    "PutRolePolicy": (lambda g, iam: None, lambda g: engine.create(g, full())),
    "AttachRolePolicy": (lambda g, iam: None, lambda g: engine.create(g, full())),
    **dict.fromkeys(
        [
            "UpdateAssumeRolePolicy",
            "UpdateRole",
            "PutRolePermissionsBoundary",
            "DetachRolePolicy",
            "DeleteRolePolicy",
            "TagRole",
            "UntagRole",
        ],
        REPAIR,
    ),
    "DeleteRolePermissionsBoundary": (
        lambda g, iam: engine.create(g, full()),
        lambda g: engine.create(g, full(permissions_boundary=None), prune=True),
    ),
    "ListInstanceProfilesForRole": (
        lambda g, iam: engine.create(g, full()),
        lambda g: engine.delete(g, full()),
    ),
    "RemoveRoleFromInstanceProfile": (
        lambda g, iam: (engine.create(g, full()), with_profile(iam)),
        lambda g: engine.delete(g, full()),
    ),
    "DeleteRole": (lambda g, iam: engine.create(g, full()), lambda g: engine.delete(g, full())),
    "GetPolicy": (
        lambda g, iam: engine.create(g, full()),
        lambda g: engine.verify(g, full(), task=load_task_definition(TASKDEF)),
    ),
    "GetPolicyVersion": (
        lambda g, iam: engine.create(g, full()),
        lambda g: engine.verify(g, full(), task=load_task_definition(TASKDEF)),
    ),
}


@pytest.mark.parametrize("operation", sorted(FLOWS))
def test_access_denied_on_each_call_names_the_action(
    gateway: Gateway, iam: Any, operation: str
) -> None:
    arrange, act = FLOWS[operation]
    arrange(gateway, iam)
    service = "sts" if operation == "GetCallerIdentity" else "iam"
    denied = error_response(
        "AccessDenied",
        f"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: "
        f"{service}:{operation}",
        403,
    )
    client = gateway._sts() if service == "sts" and gateway._sts else gateway.client
    if service == "sts":
        sts = client
        gateway._sts = lambda: sts
    seen = inject(client, operation, [denied] * 50)
    with pytest.raises(AwsError) as caught:
        act(gateway)
    assert seen[0] >= 1, f"the flow never called {operation}"
    message = str(caught.value)
    assert message.startswith(f"AWS denied {service}:{operation} (")
    assert f"grant {service}:{operation}" in message
    assert "\n" not in message
    assert caught.value.exit_code == ExitCode.AWS
    count("access denied: calls covered")


# --- fuzzing the spec loader and the policy validator

# The spec's own keys (a role's, less the name, are the optional ones) and a policy's.
ROLE_OPTIONAL = sorted(ROLE_KEYS - {"name"})
POLICY_KEYS = ["Version", "Statement", "Effect", "Action", "Resource", "NotAction", "Condition"]
KEYS = sorted(TOP_KEYS | ROLE_KEYS) + POLICY_KEYS
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.text(alphabet=string.printable, min_size=200, max_size=3000)
    | st.sampled_from(
        [
            "{app}-R",
            "QuestionBank",
            "ecs-tasks.amazonaws.com",
            "arn:aws:iam::aws:policy/X",
            "arn:aws:iam::aws:nope",
            "2012-10-17",
            "Allow",
            "s3:GetObject",
            "*",
            "/ecs/",
            "💥",
            "a\x00b",
        ]
    )
)
keys = st.sampled_from(KEYS) | st.text(max_size=12)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)
roles = st.fixed_dictionaries(
    {"name": st.sampled_from(["R", "{app}-R", "bad name", 3])},
    optional={k: values for k in ROLE_OPTIONAL},
)
specs = st.fixed_dictionaries(
    {"role": st.lists(roles, max_size=3) | values}, optional={"app": values, "extra": values}
)


@settings(max_examples=scaled(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs)
def test_fuzzed_spec_data_is_a_spec_or_one_clear_input_error(data: dict[str, Any]) -> None:
    count("fuzz: spec data")
    try:
        spec = parse_spec(data, source="fuzz.toml")
    except InputError as exc:
        message = str(exc)
        assert message.startswith(("fuzz.toml", "--app")), message
        assert message.endswith(".")
        return
    assert spec.roles


@settings(max_examples=scaled(200), deadline=None)
@given(st.text(max_size=400) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_fuzzed_spec_text_never_escapes_as_anything_but_input_error(text: str) -> None:
    count("fuzz: spec text")
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.toml"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        message = str(path)
        try:
            load_spec(path)
        except InputError as exc:
            message = str(exc)
        assert str(path) in message


documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=30,
)


@settings(max_examples=scaled(400), deadline=None)
@given(documents)
def test_fuzzed_policy_documents_are_judged_never_crash(document: Any) -> None:
    count("fuzz: policy documents")
    problem = policy_problem(document)
    assert problem is None or isinstance(problem, str)
    if problem is None:  # accepted documents are what IAM's grammar requires
        assert document["Version"] in ("2012-10-17", "2008-10-17")


def test_deep_nesting_and_huge_documents(tmp_path: Path) -> None:
    deep: Any = "x"
    for _ in range(500):
        deep = {"a": [deep]}
    assert policy_problem(deep) is not None
    spec = tmp_path / "deep.toml"
    spec.write_text("a = " + "[" * 300 + "]" * 300 + "\n")
    with pytest.raises(InputError):
        load_spec(spec)


@settings(
    max_examples=scaled(60),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(specs)
def test_fuzzed_spec_files_through_the_cli_exit_2_with_no_request(
    tmp_path: Path, calls: list[str], data: dict[str, Any]
) -> None:
    count("fuzz: spec files through the CLI")
    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError):  # not expressible in TOML (None): nothing to feed the CLI
        return
    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    calls.clear()
    try:
        valid = bool(load_spec(path))
    except InputError:
        valid = False
    if valid:
        return
    result = CliRunner().invoke(
        cli, ["--endpoint-url", "http://127.0.0.1:9", "--spec", str(path), "verify"]
    )
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr.startswith(f"qbroles: error: {path}")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert calls == []


def test_preset_scope_fuzz_is_input_error() -> None:
    for weird in ["", " ", "arn:", "💥", "x" * 5000, "/a b/", "\x00"]:
        for scope in (
            Scope(secret_arns=(weird,)),
            Scope(ssm_path=weird),
            Scope(log_group=weird),
            Scope(kms_key_arn=weird),
        ):
            with pytest.raises(InputError):
                preset_spec("least-privilege", None, scope)
            count("fuzz: scope options")


def test_duplicate_keys_are_refused_in_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "dup.toml"
    toml.write_text('[[role]]\nname = "A"\nname = "B"\n')
    with pytest.raises(InputError, match="is not valid TOML"):
        load_spec(toml)
    (tmp_path / "p.json").write_text(
        '{"Version": "2012-10-17", "Statement": '
        '{"Effect": "Deny", "Effect": "Allow", "Action": "*", "Resource": "*"}}'
    )
    spec = tmp_path / "spec.toml"
    spec.write_text('[[role]]\nname = "R"\n[role.inline_policies]\np = "p.json"\n')
    with pytest.raises(InputError, match="the key 'Effect' appears twice"):
        load_spec(spec)
    task = tmp_path / "task.json"
    task.write_text('{"containerDefinitions": [], "containerDefinitions": []}')
    with pytest.raises(InputError, match="appears twice"):
        load_task_definition(str(task))
    count("fuzz: duplicate keys")


def test_a_policy_document_that_is_not_json_is_exit_3_naming_the_call(gateway: Gateway) -> None:
    body = (
        b"<GetRoleResponse><GetRoleResult><Role><Path>/</Path><RoleName>R</RoleName>"
        b"<RoleId>AROAEXAMPLE</RoleId><Arn>arn:aws:iam::123456789012:role/R</Arn>"
        b"<CreateDate>2026-01-01T00:00:00Z</CreateDate>"
        b"<AssumeRolePolicyDocument>%7B%27Version%27%3A%20%272012-10-17%27%7D"
        b"</AssumeRolePolicyDocument></Role></GetRoleResult></GetRoleResponse>"
    )
    answer = AWSResponse("https://iam.amazonaws.com/", 200, {}, _Raw(body))
    inject(gateway.client, "GetRole", [answer])
    with pytest.raises(AwsError) as caught:
        gateway.observe("R")
    assert str(caught.value).startswith("GetRole on role R: ")
    assert "policy document that is not JSON" in str(caught.value)
