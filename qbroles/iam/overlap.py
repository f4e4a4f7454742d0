"""Calls made at the same time, on one bounded pool for the run: the roles, and within a role
its reads and its writes of one stage.

Every call runs to its end before the first failure is raised, so nothing is still in
flight when the caller goes on. A batch of calls made from one of the pool's own threads
(a role's reads, made while the role is worked on in the pool) is never stuck behind
busy threads: its caller takes the batch's calls too, so it finishes even when every
other thread is busy, and nesting cannot deadlock the pool.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from qbroles.errors import first_failure

T = TypeVar("T")

POOL = 16  # threads shared by every role of the run: --workers is at most 16

# How often the main thread wakes while the pool works. The kernel may hand Ctrl-C or
# SIGTERM to a worker thread; Python then only notes it, and runs the handler in the main
# thread (https://docs.python.org/3/library/signal.html) when that thread next runs: a
# main thread blocked until the workers finish would wait out a hung call before stopping.
# So the main thread never makes a call itself: it hands them to the pool, and waits.
SIGNAL_CHECK = 0.2

_pooled = threading.local()  # marks the pool's own threads


class Overlap:
    """Runs independent calls at the same time on one bounded pool, made when first needed."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def run(self, calls: Sequence[Callable[[], T]], at_most: int = POOL) -> list[T]:
        """Return the calls' results in their order, at most ``at_most`` in flight at once.

        Every call runs to its end; then the first failure, in the calls' order, is raised.
        """
        if len(calls) <= 1 or at_most <= 1:
            outcomes = [_outcome(call) for call in calls]
        else:
            batch = _Batch(calls)
            inside = getattr(_pooled, "busy", False)
            width = min(at_most, len(calls))
            pool = self._made()
            for _ in range(width - 1 if inside else width):
                pool.submit(batch.work)
            if inside:  # the caller takes its share: the batch ends even with no thread free
                batch.work()
            outcomes = batch.outcomes()
        failures = [outcome.error for outcome in outcomes if isinstance(outcome, _Failed)]
        if failures:
            raise first_failure(failures)
        return cast("list[T]", outcomes)

    def _made(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    POOL, thread_name_prefix="qbroles", initializer=_mark_pooled
                )
            return self._pool


def _mark_pooled() -> None:
    _pooled.busy = True


@dataclass(frozen=True)
class _Failed:
    error: Exception


def _outcome(call: Callable[[], T]) -> T | _Failed:
    """Return the call's result, or its failure (an interrupt goes through at once)."""
    try:
        return call()
    except Exception as error:
        return _Failed(error)


class _Batch(Generic[T]):
    """Calls taken in order by whichever threads work on them; outcomes in the calls' order."""

    def __init__(self, calls: Sequence[Callable[[], T]]) -> None:
        self._waiting = deque(enumerate(calls))
        self._found: dict[int, T | _Failed] = {}
        self._count = len(calls)
        self._done = threading.Condition()

    def work(self) -> None:
        """Take the batch's next call and make it, until none is left to take."""
        while True:
            with self._done:
                if not self._waiting:
                    return
                index, call = self._waiting.popleft()
            outcome = _outcome(call)
            with self._done:
                self._found[index] = outcome
                self._done.notify_all()

    def outcomes(self) -> list[T | _Failed]:
        """Wait until every call has been made; an interrupt starts no more of them."""
        try:
            with self._done:
                while len(self._found) < self._count:
                    self._done.wait(timeout=SIGNAL_CHECK)
        except BaseException:
            with self._done:
                self._waiting.clear()
            raise
        return [self._found[index] for index in range(self._count)]
