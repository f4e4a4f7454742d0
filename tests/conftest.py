"""Shared fixtures: a clean AWS environment, moto in-process, a call recorder, fault injection."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.handlers
import hypothesis
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from qbroles.iam.connect import AwsOptions, connect
from qbroles.iam.gateway import Gateway
from qbroles.spec.model import Spec
from qbroles.spec.presets import Scope, preset_spec
from tests.moto_policies import parse_once
from tests.servers import MotoServer

MANAGED = "arn:aws:iam::aws:policy/"
EXEC_ROLE = "QuestionBank-ECS-TaskExecutionRole"
TASK_ROLE = "QuestionBank-ECS-TaskRole"
TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
    '"Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
)
OWNER = [{"Key": "ManagedBy", "Value": "qbroles"}]
WRITES = {
    "CreateRole",
    "UpdateAssumeRolePolicy",
    "UpdateRole",
    "TagRole",
    "UntagRole",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "PutRolePolicy",
    "DeleteRolePolicy",
    "RemoveRoleFromInstanceProfile",
    "AddRoleToInstanceProfile",
    "DeleteRole",
}


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Give every test fake credentials and no profile, config file or endpoint of the machine's."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.chdir(tmp_path)  # the restore files qbroles writes land in the test's folder


@pytest.fixture
def moto_iam() -> Iterator[None]:
    """Run the test on moto's in-process IAM, AWS managed policies loaded."""
    with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
        yield


@pytest.fixture
def iam(moto_iam: None) -> Any:
    """A plain boto3 IAM client on moto, for arranging and checking state by hand."""
    return boto3.client("iam", region_name="us-east-1")


@pytest.fixture
def calls() -> Iterator[list[str]]:
    """Record the name of every AWS API call made by any client created during the test."""
    made: list[str] = []

    def record(model: Any, **_: Any) -> None:
        made.append(model.name)

    handler = ("before-call", record)
    botocore.handlers.BUILTIN_HANDLERS.append(handler)
    yield made
    botocore.handlers.BUILTIN_HANDLERS.remove(handler)


@pytest.fixture
def gateway(moto_iam: None, calls: list[str]) -> Gateway:
    """A Gateway built as qbroles builds it, on moto; its retries do not sleep."""
    built = connect(AwsOptions(region="us-east-1"))
    built.patience = 5.0
    built.pacer.sleep = lambda _: None
    return built


@pytest.fixture
def spec() -> Any:
    return default_spec()


def writes(made: list[str]) -> list[str]:
    return [name for name in made if name in WRITES]


def attached(iam: Any, role: str) -> set[str]:
    policies = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    return {policy["PolicyArn"] for policy in policies}


def make_role(iam: Any, name: str, *, owned: bool = True, policies: tuple[str, ...] = ()) -> None:
    """Create a role by hand, as a colleague would."""
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST, Tags=OWNER if owned else [])
    for policy in policies:
        iam.attach_role_policy(RoleName=name, PolicyArn=MANAGED + policy)


class _Raw:
    """The smallest raw body botocore's AWSResponse reads."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body

    def read(self, *_: Any) -> bytes:
        return self._body


def error_response(code: str, message: str, status: int = 400) -> AWSResponse:
    """Return an IAM (query protocol) error answer, as AWS sends it."""
    body = (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>injected</RequestId></ErrorResponse>"
    ).encode()
    return AWSResponse("https://iam.amazonaws.com/", status, {}, _Raw(body))


def inject(
    client: Any, operation: str, answers: list[Callable[[Any], Any] | AWSResponse | None]
) -> list[int]:
    """Make the client's next attempts at ``operation`` meet the given answers, in order.

    Each answer is a canned response, None (go through to moto), or a callable run with
    the request (to raise, or to act on the side). Runs inside botocore's retry loop.
    Returns a one-element list counting the attempts seen.
    """
    seen = [0]

    def handler(request: Any, **_: Any) -> Any:
        index = seen[0]
        seen[0] += 1
        if index >= len(answers):
            return None
        answer = answers[index]
        return answer(request) if callable(answer) else answer

    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_first(f"before-send.{service}.{operation}", handler)
    return seen


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    moto = MotoServer(tmp_path_factory.mktemp("moto") / "server.log")
    yield moto
    moto.stop()


def server_client(server: MotoServer) -> Any:
    """Return an IAM client straight to the moto server, behind any proxy: the judge of IAM."""
    return boto3.client(
        "iam",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def env(server: MotoServer, tmp_path: Path) -> dict[str, str]:
    """A shell environment that points every AWS client at the moto server, as a user would."""
    server.reset()
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {
        **base,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": server.url,
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "NO_COLOR": "1",
    }


def pytest_configure(config: pytest.Config) -> None:
    parse_once()  # moto's AWS managed policies, for every in-process mock of the run


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Keep the reliability figures of this run (see tests/figures.py)."""
    from tests.figures import save

    save()


# `pytest --hypothesis-profile=deep` runs every property and state-machine suite ten times longer.
hypothesis.settings.register_profile("deep", max_examples=1000)


def default_spec(app: str | None = None) -> Spec:
    """The deployment guide's two roles for the given application name."""
    return preset_spec("workshop", app, Scope())


def all_commands() -> dict[str, Any]:
    """Return every qbroles command by name, loaded (the group loads them only when used)."""
    import click

    from qbroles.cli import cli

    context = click.Context(cli)
    return {name: cli.get_command(context, name) for name in cli.list_commands(context)}


@pytest.fixture
def proxy_for(server: MotoServer) -> Iterator[Any]:
    """Make chaos proxies in front of the moto server; each is stopped after the test."""
    from tests.chaos import ChaosProxy  # it reads WRITES from here
    from tests.figures import count

    made: list[ChaosProxy] = []

    def make(**options: Any) -> ChaosProxy:
        made.append(ChaosProxy(server.url, **options))
        return made[-1]

    yield make
    for proxy in made:
        proxy.stop()
        for name in ("throttled", "failed", "lost"):
            count(f"chaos: {name} answers survived or reported", proxy.counts[name])
        count("chaos: requests through the proxy", proxy.counts["requests"])


# What makes a test end to end: it starts or reaches a process (the moto server, the
# installed qbroles through it). Every such test carries the e2e marker (-m e2e, -m "not
# e2e"), checked at collection, so the marker cannot drift from what a test does.
END_TO_END = {"server", "env", "proxy_for"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [
        item.nodeid
        for item in items
        if END_TO_END & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("e2e") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "end-to-end tests without the e2e marker: " + ", ".join(sorted(unmarked))
        )
