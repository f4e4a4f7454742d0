"""Patience under throttling: one retry budget for the whole run, fewer workers while AWS throttles.

IAM's request quotas are per account and shared by every pipeline in it; botocore's standard
mode gives up after three attempts of a call. So qbroles decides retries itself: its clients
are built to make one attempt (``total_max_attempts=1``), and a ``Pacer`` answers botocore's
``needs-retry`` event, the hook botocore's own retry modes answer, for every client of a run.

- What is retried is what botocore's standard mode retries (throttling, 5xx, lost
  connections), judged by botocore's own checkers.
- Each wait is capped exponential backoff with full jitter, as AWS SDKs compute it: a random
  fraction of ``min(base * 2 ** (attempt - 1), 20 s)``, the base 1 s after throttling and
  50 ms after other errors (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html;
  full jitter: https://aws.amazon.com/builders-library/timeouts-retries-and-backoff-with-jitter/).
- The waits of all calls together are drawn from one budget (``--retry-budget``, seconds):
  a call is retried as long as its wait fits in what is left; summed over workers, so the
  run never spends longer than the budget waiting. ``--max-attempts`` / ``AWS_MAX_ATTEMPTS``
  / the profile's ``max_attempts`` cap the attempts of each call when given.
- A connection that cannot be made at all (an endpoint that is not there) is tried three
  times, botocore's default, not for the whole budget: that is a setup error, not a busy IAM.
- Only throttling draws on the budget without a cap of attempts: it says the account's quota
  is busy, and waiting is what mends it. A server error or a lost answer is retried at most
  ``SERVER_ERROR_ATTEMPTS`` times in one call (about 13 s of waits on average): more than
  botocore's standard mode (3) and legacy mode (5), so a rough patch of IAM is ridden out,
  but a call that the endpoint will never answer (an emulator's unimplemented operation, a
  proxy's 502) does not spend the whole run's budget on one read.
- Workers adapt (additive increase, multiplicative decrease): each throttled answer halves
  how many roles may be worked on at once, down to one; each answer that goes through adds
  back ``1 / workers``, up to ``--workers``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from qbroles.catalog import DEFAULT_BUDGET
from qbroles.model.events import Progress
from qbroles.model.report import plural

T = TypeVar("T")
MAX_BACKOFF = 20.0  # seconds: the cap AWS SDKs put on one wait
THROTTLING_BASE = 1.0
OTHER_BASE = 0.05
UNREACHABLE_ATTEMPTS = 3  # botocore's default, for a connection that cannot be made at all
SERVER_ERROR_ATTEMPTS = 10  # per call, for 5xx and lost answers that are not throttling
# Multiplies every wait: 1 for AWS; tests against a local emulator shrink the waits with it.
SCALE_VARIABLE = "QBROLES_RETRY_SCALE"


@dataclass
class Figures:
    """What the retries of a run came to, for the summary line and the JSON document.

    The pacer keeps one, changed only under its lock; ``Pacer.figures()`` hands out copies.
    """

    requests: int = 0  # answers (and lost answers) from AWS, every attempt counted
    throttled: int = 0
    failed: int = 0  # 5xx and lost connections
    retries: int = 0
    waited: float = 0.0  # seconds, in all
    longest: float = 0.0  # seconds, the longest single wait
    budget: float = DEFAULT_BUDGET
    workers: int = 0  # the most roles worked on at once (--workers); 0 if none were
    fewest: int = 0  # the fewest the throttling left
    shrunk: int = 0  # how many times the throttling lowered the workers

    def document(self) -> dict[str, Any]:
        """Return the figures for the JSON document."""
        return {
            "requests": self.requests,
            "throttled": self.throttled,
            "failed": self.failed,
            "retries": self.retries,
            "waited_seconds": round(self.waited, 3),
            "longest_wait_seconds": round(self.longest, 3),
            "budget_seconds": self.budget,
            "workers": self.workers,
            "fewest_workers": self.fewest,
            "workers_shrunk": self.shrunk,
        }

    def line(self) -> str | None:
        """Return one line for people if anything was retried, else None."""
        if not self.retries and not self.throttled and not self.failed:
            return None
        parts = [f"AWS throttled {self.throttled} of {self.requests} requests"]
        if self.failed:
            parts.append(f"{self.failed} failed or lost their answer")
        parts.append(
            f"{self.retries} retried after {self.waited:.1f} s of waiting in all "
            f"(longest {self.longest:.1f} s; retry budget {self.budget:g} s)"
        )
        if self.shrunk:
            parts.append(
                f"workers lowered {plural(self.shrunk, 'time')}, to {self.fewest} at the fewest "
                f"(--workers {self.workers})"
            )
        return "qbroles: " + "; ".join(parts) + "."


@dataclass(frozen=True)
class GaveUp:
    """Why the last retryable answer a thread met was not retried: the error line names it."""

    attempts: int
    waited: float  # this call's own waits, seconds
    limit: str  # "budget", "attempts" (--max-attempts), "server" or "unreachable"
    throttled: bool
    budget: float

    def reason(self) -> str:
        waited = f"it waited {self.waited:.1f} s over {plural(self.attempts, 'attempt')}"
        if self.limit == "budget":
            return f"{waited}, and the run's retry budget of {self.budget:g} s is spent"
        if self.limit == "attempts":
            return f"{waited}, the most --max-attempts / AWS_MAX_ATTEMPTS allows"
        if self.limit == "server":
            return f"{waited}, each answered with a server error"
        return f"tried {self.attempts} times"

    def remedy(self) -> str:
        return {
            "budget": "raise --retry-budget",
            "attempts": "raise --max-attempts",
            "server": "check --endpoint-url if it does not point at AWS",
        }.get(self.limit, "check the network or --endpoint-url")


class Pacer:
    """Decides every retry of a run, keeps its budget and figures, and paces the workers."""

    def __init__(
        self,
        *,
        budget: float = DEFAULT_BUDGET,
        max_attempts: int | None = None,
        scale: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        progress: Progress | None = None,
    ) -> None:
        from botocore.retries.standard import StandardRetryConditions, ThrottledRetryableChecker

        self.budget = budget
        self.max_attempts = max_attempts
        self.scale = scale
        self.sleep = sleep
        self.progress = progress or Progress()  # where each wait is shown
        self._rand = rand
        # botocore's standard-mode judgement of what is worth retrying; the attempts are ours.
        self._retryable = StandardRetryConditions(max_attempts=2**31).is_retryable
        self._throttling = ThrottledRetryableChecker().is_retryable
        self._cond = threading.Condition()
        self._calls = threading.local()  # per thread: where the call is, and its waits
        self._counts = Figures(budget=budget)
        self._limit: float | None = None  # roles at once; None until workers are paced
        self._active = 0

    # --- botocore's side

    def attach(self, client: Any) -> None:
        """Decide the retries of this client (built with total_max_attempts=1)."""
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"needs-retry.{service}", self._needs_retry)

    def _needs_retry(self, **kwargs: Any) -> float | None:
        """Answer botocore's needs-retry event: None for no retry, else retry at once.

        The wait is made here (so that it is counted, shown and can be scaled), and 0 is
        returned: botocore then retries without sleeping again.
        """
        from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError
        from botocore.retries.standard import RetryEventAdapter

        context = RetryEventAdapter().create_retry_context(**kwargs)
        attempt = context.attempt_number
        call = self._calls
        if attempt == 1:
            call.waited, call.failures = 0.0, 0
        throttled = self._throttling(context) or _status(context) == 429
        retryable = throttled or self._retryable(context)
        unreachable = isinstance(
            context.caught_exception, EndpointConnectionError | ConnectTimeoutError
        )
        counts = self._counts
        with self._cond:
            counts.requests += 1
            if throttled:
                counts.throttled += 1
                self._decrease()
            elif retryable:
                counts.failed += 1
                call.failures += 1
            elif context.caught_exception is None:
                self._increase()
            if not retryable:
                return None
            base = THROTTLING_BASE if throttled else OTHER_BASE
            wait = self._rand() * min(base * 2 ** (attempt - 1), MAX_BACKOFF) * self.scale
            limit = None
            if unreachable and attempt >= UNREACHABLE_ATTEMPTS:
                limit = "unreachable"
            elif self.max_attempts is not None and attempt >= self.max_attempts:
                limit = "attempts"
            elif not throttled and call.failures >= SERVER_ERROR_ATTEMPTS:
                limit = "server"
            elif counts.waited + wait > self.budget:
                limit = "budget"
            if limit is not None:
                call.gave_up = GaveUp(attempt, call.waited, limit, throttled, self.budget)
                return None
            counts.retries += 1
            counts.waited += wait
            counts.longest = max(counts.longest, wait)
            used = counts.waited
        call.waited += wait
        what = _what(context, throttled)
        where = getattr(call, "where", None) or kwargs["operation"].name
        self.progress.waiting(
            f"{what} {where} (attempt {attempt}; {used:.1f} of the {self.budget:g} s retry "
            "budget used)",
            wait,
        )
        self.sleep(wait)
        return 0

    # --- the gateway's side

    @contextmanager
    def calling(self, where: str) -> Iterator[None]:
        """Name the call this thread makes, for the waits shown while it is retried."""
        self._calls.where, self._calls.gave_up = where, None
        try:
            yield
        finally:
            self._calls.where = None

    def gave_up(self) -> GaveUp | None:
        """Return why this thread's last call was not retried further, if a limit stopped it."""
        return getattr(self._calls, "gave_up", None)

    def poll(
        self, what: str, answer: Callable[[], T | None], patience: float,
        clock: Callable[[], float], *, first: float, longest: float,
    ) -> T | None:  # fmt: skip
        """Ask ``answer`` until it has one (a job AWS runs: IAM's last-accessed report, a
        policy generation): the waits between asks from ``first`` seconds, doubling up to
        ``longest``, each shown and shrunk by the run's scale, for at most ``patience``
        seconds (shrunk alike); None if it never had one."""
        deadline, wait = clock() + patience * self.scale, first
        while True:
            found = answer()
            if found is not None:
                return found
            if clock() >= deadline:
                return None
            self.progress.waiting(what, wait)
            self.sleep(wait * self.scale)
            wait = min(wait * 2, longest)

    # --- the workers

    @contextmanager
    def turn(self, workers: int) -> Iterator[None]:
        """Work on one role once fewer than the current number of workers are busy."""
        with self._cond:
            if self._limit is None or self._counts.workers != workers:
                self._limit = float(workers)
                self._counts.workers = self._counts.fewest = workers
            while self._active >= int(self._limit):
                self._cond.wait()
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    @property
    def workers(self) -> int:
        """Return how many roles may be worked on at once now (0 before any were)."""
        with self._cond:
            return 0 if self._limit is None else int(self._limit)

    def _decrease(self) -> None:
        if self._limit is None:
            return
        before = int(self._limit)
        self._limit = max(1.0, self._limit / 2)
        if int(self._limit) < before:
            self._counts.shrunk += 1
            self._counts.fewest = min(self._counts.fewest, int(self._limit))

    def _increase(self) -> None:
        ceiling = self._counts.workers
        if self._limit is None or self._limit >= ceiling:
            return
        before = int(self._limit)
        self._limit = min(float(ceiling), self._limit + 1 / self._limit)
        if int(self._limit) > before:
            self._cond.notify_all()

    def figures(self) -> Figures:
        """Return what the retries of the run came to so far (a copy)."""
        with self._cond:
            return replace(self._counts, budget=self.budget)


def _status(context: Any) -> int | None:
    response = context.http_response
    return None if response is None else int(response.status_code)


def _what(context: Any, throttled: bool) -> str:
    if throttled:
        return "AWS throttled"
    code = context.get_error_code() or _status(context)
    if code:
        return f"AWS answered {code} to"
    return "no answer came to"
