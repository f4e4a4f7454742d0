"""Calls made at the same time: a role's reads, and its writes of one stage.

A bounded pool shared by the run; every call runs to its end before the first failure is
raised, so nothing is still in flight when the caller goes on.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TypeVar, cast

from qbroles.errors import first_failure

T = TypeVar("T")

POOL = 16  # threads for calls that overlap, shared by every role of the run

# How often the main thread wakes while workers run. The kernel may hand Ctrl-C or SIGTERM
# to a worker thread; Python then only notes it, and runs the handler in the main thread
# (https://docs.python.org/3/library/signal.html) when that thread next runs: a main
# thread blocked until the workers finish would wait out a hung call before stopping.
SIGNAL_CHECK = 0.2


class Overlap:
    """Runs independent calls at the same time on one bounded pool, made when first needed."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def run(self, calls: Sequence[Callable[[], T]], at_most: int = POOL) -> list[T]:
        """Return the calls' results in their order, at most ``at_most`` in flight at once.

        Every call runs to its end; then the first failure, in the calls' order, is raised.
        A call must not call this itself: it would wait on the pool it occupies, and enough
        such waits deadlock it; called from a pool thread, it runs the calls in turn.
        """
        if len(calls) <= 1 or at_most <= 1 or getattr(_pooled, "busy", False):
            outcomes = [_outcome(call) for call in calls]
        else:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(POOL, thread_name_prefix="qbroles-call")
            outcomes = _run_bounded(self._pool, calls, at_most)
        failures = [outcome.error for outcome in outcomes if isinstance(outcome, _Failed)]
        if failures:
            raise first_failure(failures)
        return cast("list[T]", outcomes)


_pooled = threading.local()  # marks the threads of the gateway's pool


@dataclass(frozen=True)
class _Failed:
    error: Exception


def _outcome(call: Callable[[], T]) -> T | _Failed:
    """Return the call's result, or its failure (an interrupt goes through at once)."""
    try:
        return call()
    except Exception as error:
        return _Failed(error)


def _pooled_outcome(call: Callable[[], T]) -> T | _Failed:
    _pooled.busy = True
    return _outcome(call)


def _run_bounded(
    pool: ThreadPoolExecutor, calls: Sequence[Callable[[], T]], at_most: int
) -> list[T | _Failed]:
    """Run the calls on the pool, at most ``at_most`` at once; outcomes in the calls' order."""
    waiting = deque(enumerate(calls))
    running: dict[Future[T | _Failed], int] = {}
    found: dict[int, T | _Failed] = {}
    while waiting or running:
        while waiting and len(running) < at_most:
            index, call = waiting.popleft()
            running[pool.submit(_pooled_outcome, call)] = index
        finished, _ = wait(running, timeout=SIGNAL_CHECK, return_when=FIRST_COMPLETED)
        for future in finished:
            found[running.pop(future)] = future.result()
    return [found[index] for index in range(len(calls))]
