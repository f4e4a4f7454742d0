"""Chaos: the installed qbroles through a flaky endpoint, interrupted, and racing itself.

Every outcome is checked directly against the moto server behind the proxy.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.chaos import ChaosProxy
from tests.conftest import MANAGED, TASK_ROLE, server_client
from tests.figures import count
from tests.servers import MotoServer, qbroles, tool
from tests.test_engine import assert_guide_roles

pytestmark = pytest.mark.e2e
PATIENT = ("--max-attempts", "10", "--workers", "1")


@pytest.fixture
def iam(server: MotoServer, env: dict[str, str]) -> Any:
    """A client straight to the moto server, behind any proxy: the judge of what IAM holds."""
    return server_client(server)


@pytest.fixture
def proxy_for(server: MotoServer) -> Iterator[Any]:
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


def through(env: dict[str, str], proxy: ChaosProxy) -> dict[str, str]:
    return {**env, "AWS_ENDPOINT_URL": proxy.url}


def run_json(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = qbroles(env, *PATIENT, "-o", "json", *args)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_lifecycle_survives_a_flaky_endpoint(
    env: dict[str, str], iam: Any, proxy_for: Any, seed: int
) -> None:
    proxy = proxy_for(seed=seed, throttle=0.15, fail=0.1, lose=0.1, delay=0.01)
    flaky = through(env, proxy)

    assert run_json(flaky, "create")["ok"]
    assert_guide_roles(iam)
    assert run_json(flaky, "create")["changed"] is False
    assert run_json(flaky, "verify")["ok"]

    iam.detach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonRDSReadOnlyAccess")
    iam.attach_role_policy(RoleName=TASK_ROLE, PolicyArn=MANAGED + "AmazonS3FullAccess")
    assert run_json(flaky, "create", "--prune")["ok"]
    assert_guide_roles(iam)
    assert run_json(flaky, "create", "--prune")["changed"] is False

    assert run_json(flaky, "delete", "--yes")["ok"]
    assert iam.list_roles()["Roles"] == []
    assert run_json(flaky, "delete", "--yes")["changed"] is False
    for fault in ("throttled", "failed", "lost"):
        assert proxy.counts[fault] > 0, f"seed {seed} injected no {fault} answer"


def test_retries_exhausted_is_exit_3_and_a_rerun_converges(
    env: dict[str, str], iam: Any, proxy_for: Any
) -> None:
    proxy = proxy_for(throttle=1.0)
    done = qbroles(through(env, proxy), "--max-attempts", "2", "create")
    assert done.returncode == 3
    assert "kept throttling GetRole on role" in done.stderr
    assert "rerun" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert qbroles(env, "create").returncode == 0
    assert qbroles(env, "verify").returncode == 0
    assert_guide_roles(iam)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_after_some_writes_then_a_rerun_converges(
    env: dict[str, str], iam: Any, proxy_for: Any, sig: signal.Signals
) -> None:
    proxy = proxy_for(hold_after_writes=3)
    process = subprocess.Popen(
        [tool("qbroles"), "--workers", "1", "create"],
        env=through(env, proxy),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proxy.held.wait(30), "qbroles never reached its fourth write"
        process.send_signal(sig)
        _, err = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode == 130
    lines = [line for line in err.splitlines() if line]  # click ends a ^C with a blank line
    assert lines[-1] == "qbroles: interrupted; rerun the same command to finish."
    # The three writes IAM answered are listed first: what a rerun builds on.
    assert lines[0] == "qbroles: changed before it stopped (rerun the command to finish):"
    assert [line.split(" ", 4)[2:4] for line in lines[1:-1]] == [
        ["+", "create"],
        ["+", "attach"],
        ["+", "attach"],
    ]
    assert len(iam.list_roles()["Roles"]) == 1  # part-way: one role, not all its policies

    assert qbroles(env, "create").returncode == 0
    assert_guide_roles(iam)
    assert json.loads(qbroles(env, "-o", "json", "create").stdout)["changed"] is False
    count("interruptions survived")


def test_two_creates_at_the_same_moment(env: dict[str, str], iam: Any, server: MotoServer) -> None:
    for _ in range(3):
        server.reset()
        racers = [
            subprocess.Popen(
                [tool("qbroles"), "-o", "json", "create"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        results = [racer.communicate(timeout=120) for racer in racers]
        for racer, (out, err) in zip(racers, results, strict=True):
            assert racer.returncode == 0, err
            assert json.loads(out)["ok"]
        assert_guide_roles(iam)
        assert len(iam.list_roles()["Roles"]) == 2
        count("concurrent creates raced")
