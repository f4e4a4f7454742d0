"""Running work on many roles at once: a bounded pool, paced while AWS throttles."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

from qbroles.errors import first_failure
from qbroles.iam.gateway import Gateway
from qbroles.iam.overlap import SIGNAL_CHECK
from qbroles.iam.pacing import Pacer
from qbroles.model.events import Progress
from qbroles.model.state import RoleState

T = TypeVar("T")
R = TypeVar("R")


def for_each(
    items: Sequence[T], work: Callable[[T], R], workers: int, pacer: Pacer | None = None
) -> list[R]:
    """Run ``work`` on every item, at most ``workers`` at a time; results in the items' order.

    With a ``pacer``, fewer go on while AWS throttles (see qbroles.pacing). Every item runs
    to its end even when another fails (roles are independent); then the first failure, in
    the items' order, is raised.
    """

    def paced(item: T) -> R:
        if pacer is None:
            return work(item)
        with pacer.turn(workers):  # also one at a time: a role's writes follow the pace
            return work(item)

    if workers <= 1 or len(items) <= 1:
        results: list[R] = []
        failures: list[Exception] = []
        for item in items:
            try:
                results.append(paced(item))
            except Exception as failure:  # the others still run; an interrupt stops at once
                failures.append(failure)
        if failures:
            raise first_failure(failures)
        return results
    pool = ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="qbroles")

    try:
        futures = [pool.submit(paced, item) for item in items]
        while wait(futures, timeout=SIGNAL_CHECK).not_done:
            pass  # awake now and then, to run a signal's handler (see SIGNAL_CHECK)
        errors = [future.exception() for future in futures]
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    failed = [error for error in errors if error is not None]
    if failed:
        raise first_failure(failed)
    return [future.result() for future in futures]


def observe_all(
    gateway: Gateway,
    names: Sequence[str],
    workers: int,
    progress: Progress,
    *,
    for_delete: bool = False,
) -> dict[str, RoleState | None]:
    """Read every named role (and nothing else) from IAM."""

    def read(name: str) -> RoleState | None:
        progress.working(name, "reading")
        state = gateway.observe(name, for_delete=for_delete)
        progress.finished(name)
        return state

    return dict(zip(names, for_each(names, read, workers, gateway.pacer), strict=True))
