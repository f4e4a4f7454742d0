"""The pacer: which answers are retried, how long each wait is, the budget, and the workers."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from qbroles.errors import AwsError
from qbroles.iam.gateway import Gateway
from qbroles.iam.pacing import SERVER_ERROR_ATTEMPTS
from qbroles.reconcile import engine
from tests.conftest import EXEC_ROLE, default_spec, error_response, inject

THROTTLE = error_response("Throttling", "Rate exceeded")
UNAVAILABLE = error_response("ServiceUnavailable", "try again", status=503)


def waits_of(gateway: Gateway, jitter: float) -> list[float]:
    """Make the gateway's pacer record its waits, with a fixed jitter factor."""
    waits: list[float] = []
    gateway.pacer.sleep = waits.append
    gateway.pacer._rand = lambda: jitter  # the random factor of full jitter, fixed
    return waits


@pytest.mark.parametrize(
    ("answer", "base", "times"),
    [(THROTTLE, 1.0, 12), (UNAVAILABLE, 0.05, SERVER_ERROR_ATTEMPTS - 1)],
    ids=["throttled", "503"],
)
def test_each_wait_doubles_from_its_base_up_to_20_seconds_times_the_jitter(
    gateway: Gateway, answer: Any, base: float, times: int
) -> None:
    waits = waits_of(gateway, jitter=0.5)
    seen = inject(gateway.client, "GetRole", [answer] * times)
    assert gateway.role_state(EXEC_ROLE) is None  # the last attempt reaches moto
    assert seen[0] == times + 1
    expected = [0.5 * min(base * 2**attempt, 20.0) for attempt in range(times)]
    assert waits == pytest.approx(expected)


def test_a_server_error_that_persists_stops_its_call_not_the_runs_whole_budget(
    gateway: Gateway,
) -> None:
    """An endpoint that never answers one operation (an emulator, a proxy) costs seconds.

    Throttling between the server errors does not count: only it may use the whole budget.
    """
    waits = waits_of(gateway, jitter=1.0)
    answers = [UNAVAILABLE, THROTTLE] * (SERVER_ERROR_ATTEMPTS - 1) + [UNAVAILABLE] * 5
    seen = inject(gateway.client, "GetRole", answers)
    with pytest.raises(AwsError, match="each answered with a server error") as raised:
        gateway.role_state(EXEC_ROLE)
    assert seen[0] == 2 * SERVER_ERROR_ATTEMPTS - 1  # ten server errors, nine throttles between
    assert "check --endpoint-url" in str(raised.value)
    assert sum(waits) < gateway.pacer.budget
    assert gateway.pacer.figures().failed == SERVER_ERROR_ATTEMPTS


def test_an_error_no_retry_can_mend_is_not_retried(gateway: Gateway) -> None:
    waits = waits_of(gateway, jitter=1.0)
    seen = inject(gateway.client, "GetRole", [error_response("ValidationError", "bad name")])
    with pytest.raises(AwsError, match="ValidationError"):
        gateway.role_state(EXEC_ROLE)
    assert (seen[0], waits) == (1, [])
    assert gateway.pacer.figures().retries == 0


def test_the_budget_is_shared_by_every_call_of_the_run(gateway: Gateway) -> None:
    gateway.pacer.budget = 10.0
    waits = waits_of(gateway, jitter=1.0)
    # GetRole waits 1 + 2 + 4 = 7 s, then goes through; the next call has 3 s left.
    inject(gateway.client, "GetRole", [THROTTLE] * 3)
    gateway.role_state(EXEC_ROLE)
    inject(gateway.client, "GetRole", [THROTTLE] * 10)
    with pytest.raises(AwsError, match=r"waited 3.0 s over 3 attempts, and the run's retry"):
        gateway.role_state(EXEC_ROLE)
    assert waits == [1.0, 2.0, 4.0, 1.0, 2.0]  # the next (4 s) no longer fits
    assert sum(waits) <= 10.0


def test_each_throttled_answer_halves_the_workers_and_each_answer_through_adds_some_back(
    gateway: Gateway,
) -> None:
    pacer = gateway.pacer
    waits_of(gateway, jitter=0.0)
    with pacer.turn(4):
        assert pacer.workers == 4
        inject(gateway.client, "GetRole", [THROTTLE] * 3)
        gateway.role_state(EXEC_ROLE)  # 4 -> 2 -> 1 -> 1, then through: + 1/1
        assert pacer.workers == 2
        figures = pacer.figures()
        assert (figures.workers, figures.fewest, figures.shrunk) == (4, 1, 2)
        growth = []
        for _ in range(6):  # + 1/2, + 1/2.5, ...: back to 4, never past it
            gateway.role_state(EXEC_ROLE)
            growth.append(pacer.workers)
    assert growth == [2, 2, 3, 3, 3, 4]
    gateway.role_state(EXEC_ROLE)
    assert pacer.workers == 4


def test_a_role_waits_for_its_turn_while_the_workers_are_lowered(gateway: Gateway) -> None:
    pacer = gateway.pacer
    waits_of(gateway, jitter=0.0)
    with pacer.turn(2):
        inject(gateway.client, "GetRole", [THROTTLE])
        gateway.role_state(EXEC_ROLE)  # 2 -> 1, then through: 1 + 1/1 = 2
        inject(gateway.client, "GetRole", [THROTTLE, THROTTLE])
        pacer.max_attempts = 2  # no answer goes through: the workers stay at 1
        with pytest.raises(AwsError):
            gateway.role_state(EXEC_ROLE)
        assert pacer.workers == 1
        started = threading.Event()

        def second() -> None:
            with pacer.turn(2):
                started.set()

        other = threading.Thread(target=second)
        other.start()
        assert not started.wait(0.2)  # one role at a time: the other waits its turn
    assert started.wait(5)  # and goes on once this one is done
    other.join()


def test_the_retry_scale_shrinks_every_wait_iam_catching_up_included(
    moto_iam: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qbroles.iam.connect import AwsOptions, connect

    monkeypatch.setenv("QBROLES_RETRY_SCALE", "0.01")
    gateway = connect(AwsOptions(region="us-east-1"))
    waits: list[float] = []
    gateway.pacer.sleep = waits.append
    busy = error_response("ConcurrentModification", "Rate of modification too high")
    inject(gateway.client, "CreateRole", [busy, busy, THROTTLE])
    assert engine.create(gateway, default_spec(), workers=1).ok
    # Unscaled, IAM catching up waits 0.25 s to 8 s and throttling up to 20 s.
    assert len(waits) == 3
    assert all(wait <= 0.08 for wait in waits), waits
