"""Chaos: the installed qbroles through a flaky endpoint, interrupted, and racing itself.

Every outcome is checked directly against the moto server behind the proxy.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.chaos import ChaosProxy
from tests.conftest import MANAGED, TASK_ROLE, server_client
from tests.figures import count
from tests.servers import MotoServer, qbroles, tool
from tests.test_engine import assert_guide_roles

pytestmark = pytest.mark.e2e
# Every retry wait shrunk a hundredfold: the same decisions, minutes of waiting become seconds.
SCALE = {"QBROLES_RETRY_SCALE": "0.01"}


@pytest.fixture
def iam(server: MotoServer, env: dict[str, str]) -> Any:
    """A client straight to the moto server, behind any proxy: the judge of what IAM holds."""
    return server_client(server)


def through(env: dict[str, str], proxy: ChaosProxy) -> dict[str, str]:
    return {**env, **SCALE, "AWS_ENDPOINT_URL": proxy.url}


def run_json(env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run qbroles with the options a user types (none but -o json); it must succeed."""
    done = qbroles(env, "-o", "json", *args)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    for name in ("throttled", "failed", "retries"):
        count(f"chaos: {name} (as qbroles reported them)", document["retries"][name])
    count(
        "chaos: seconds waited for retries, x100 (scaled waits)",
        round(document["retries"]["waited_seconds"] * 100),
    )
    count("chaos: times throttling lowered the workers", document["retries"]["workers_shrunk"])
    return document


def lifecycle(flaky: dict[str, str], iam: Any) -> None:
    """create, create again, verify, drift + create --prune, delete: each converges exactly."""
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


@pytest.mark.parametrize(("throttle_every", "lose_every"), [(2, 3), (3, 5)])
def test_the_lifecycle_converges_with_every_nth_request_throttled_and_answer_lost(
    env: dict[str, str], iam: Any, proxy_for: Any, throttle_every: int, lose_every: int
) -> None:
    """Half the requests throttled and a third of the answers lost, counted across workers.

    Counted over every request from all workers, so one call can be throttled several times
    in a row; botocore's three attempts left half the roles undone here.
    """
    proxy = proxy_for(throttle_every=throttle_every, lose_every=lose_every)
    lifecycle(through(env, proxy), iam)
    assert proxy.counts["throttled"] == proxy.counts["requests"] // throttle_every
    assert proxy.counts["lost"] > 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_lifecycle_survives_a_flaky_endpoint(
    env: dict[str, str], iam: Any, proxy_for: Any, seed: int
) -> None:
    proxy = proxy_for(seed=seed, throttle=0.15, fail=0.1, lose=0.1, delay=0.01)
    lifecycle(through(env, proxy), iam)
    for fault in ("throttled", "failed", "lost"):
        assert proxy.counts[fault] > 0, f"seed {seed} injected no {fault} answer"


def test_fifty_roles_through_a_throttling_endpoint_complete_and_report_what_it_cost(
    env: dict[str, str], iam: Any, proxy_for: Any, tmp_path: Path
) -> None:
    roles = "".join(
        f'[[role]]\nname = "Busy{index}"\nmanaged_policies = ["AmazonS3ReadOnlyAccess"]\n'
        for index in range(50)
    )
    spec = tmp_path / "fifty.toml"
    spec.write_text(roles)
    proxy = proxy_for(throttle_every=2)
    done = qbroles(through(env, proxy), "--spec", str(spec), "-o", "json", "create")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["ok"]
    assert len(document["roles"]) == 50
    assert len(iam.list_roles(MaxItems=100)["Roles"]) == 50
    retries = document["retries"]
    # qbroles counted what the endpoint did: every request, every throttled answer.
    assert retries["requests"] == proxy.counts["requests"]
    assert retries["throttled"] == proxy.counts["throttled"] == proxy.counts["requests"] // 2
    assert retries["retries"] == retries["throttled"]
    assert retries["waited_seconds"] > 0
    # Fewer workers went on while IAM throttled.
    assert retries["workers"] == 4
    assert retries["fewest_workers"] == 1
    assert retries["workers_shrunk"] >= 1
    throttled = f"AWS throttled {retries['throttled']} of {retries['requests']} requests"
    assert throttled in done.stderr
    count("fifty roles: requests", retries["requests"])
    count("fifty roles: throttled", retries["throttled"])
    count(
        "fifty roles: seconds waited, x100 (scaled waits)", round(retries["waited_seconds"] * 100)
    )
    count("fifty roles: times the workers were lowered", retries["workers_shrunk"])


@pytest.mark.parametrize(
    ("limit", "reason"),
    [
        (
            ("--retry-budget", "0.5"),
            r"it waited [\d.]+ s over \d+ attempts?, and the run's retry budget of 0.5 s "
            r"is spent; wait a minute and rerun \(a rerun resumes where this one stopped\), "
            r"or raise --retry-budget\.",
        ),
        (
            ("--max-attempts", "2"),
            r"it waited [\d.]+ s over 2 attempts, the most --max-attempts / "
            r"AWS_MAX_ATTEMPTS allows; wait a minute and rerun \(a rerun resumes where this one "
            r"stopped\), or raise --max-attempts\.",
        ),
    ],
    ids=["budget spent", "max attempts"],
)
def test_throttling_past_the_limit_is_exit_3_naming_the_call_and_its_wait_and_a_rerun_converges(
    env: dict[str, str], iam: Any, proxy_for: Any, limit: tuple[str, str], reason: str
) -> None:
    proxy = proxy_for(throttle_after=8)  # part-way through create, IAM throttles everything
    done = qbroles(through(env, proxy), *limit, "create")
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert lines[0] == "qbroles: changed before it stopped (rerun the command to finish):"
    error = rf"qbroles: error: AWS kept throttling \w+ on role \S+: {reason}"
    assert re.fullmatch(error, lines[-1]), lines[-1]
    assert proxy.counts["throttled"] >= 2  # retried, not given up at the first answer
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
