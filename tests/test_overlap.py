"""A role's independent writes go out together, in the stages IAM's rules need; real IAM's
ConcurrentModification answer to overlapping writes is retried until the roles converge.

The installed qbroles with the options a user types, through tests/chaos.py's proxy in
front of a moto server (moto never answers ConcurrentModification; real IAM may).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.chaos import ChaosProxy
from tests.conftest import EXEC_ROLE, TASK_ROLE, server_client
from tests.figures import count
from tests.servers import MotoServer, qbroles
from tests.test_engine import assert_guide_roles

pytestmark = pytest.mark.e2e
SCALE = {"QBROLES_RETRY_SCALE": "0.01"}
ROLES = (EXEC_ROLE, TASK_ROLE)


def run(env: dict[str, str], proxy: ChaosProxy, *args: str) -> dict[str, Any]:
    done = qbroles({**env, **SCALE, "AWS_ENDPOINT_URL": proxy.url}, "-o", "json", *args)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def spans(proxy: ChaosProxy, action: str, role: str) -> list[tuple[float, float]]:
    return [(start, end) for name, who, start, end in proxy.log if (name, who) == (action, role)]


def test_a_roles_writes_overlap_after_create_role_and_delete_role_comes_last(
    env: dict[str, str], server: MotoServer, proxy_for: Any
) -> None:
    # Each attach (detach) is held until the role's four have arrived: written one after
    # another, the first would wait out gather_wait alone and the overlap would be 1.
    proxy = proxy_for(gather={"AttachRolePolicy": 4, "DetachRolePolicy": 4}, latency=0.01)
    assert run(env, proxy, "create")["ok"]
    assert_guide_roles(server_client(server))
    for role in ROLES:
        assert proxy.overlap[("AttachRolePolicy", role)] == 4, role
        (created,) = spans(proxy, "CreateRole", role)
        assert all(start >= created[1] for start, _ in spans(proxy, "AttachRolePolicy", role))
        count("overlap: roles whose four attaches were in flight together")

    assert run(env, proxy, "delete", "--yes")["ok"]
    for role in ROLES:
        assert proxy.overlap[("DetachRolePolicy", role)] == 4, role
        (deleted,) = spans(proxy, "DeleteRole", role)
        assert all(end <= deleted[0] for _, end in spans(proxy, "DetachRolePolicy", role))
    assert server_client(server).list_roles()["Roles"] == []


def test_concurrent_modification_answers_are_retried_until_the_roles_converge(
    env: dict[str, str], server: MotoServer, proxy_for: Any
) -> None:
    proxy = proxy_for(conflicts=True, latency=0.02)
    assert run(env, proxy, "create")["ok"]
    assert_guide_roles(server_client(server))
    assert proxy.counts["conflicts"] > 0  # the writes did overlap, and IAM refused some
    count("overlap: ConcurrentModification answers retried", proxy.counts["conflicts"])
    assert run(env, proxy, "create")["changed"] is False
    assert run(env, proxy, "delete", "--yes")["ok"]
    assert server_client(server).list_roles()["Roles"] == []
