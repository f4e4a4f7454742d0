"""Work on many roles at once: on the run's one pool, paced while AWS throttles."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

from qbroles.iam.gateway import Gateway
from qbroles.model.events import Progress
from qbroles.model.state import RoleState

T = TypeVar("T")
R = TypeVar("R")


def for_each(gateway: Gateway, items: Sequence[T], work: Callable[[T], R], workers: int) -> list[R]:
    """Run ``work`` on every item, at most ``workers`` at a time; results in the items' order.

    On the run's one pool (iam.overlap), where a role's own reads and writes go out too;
    fewer go on while AWS throttles (the pacer's turns, see iam.pacing). Every item runs
    to its end even when another fails (roles are independent); then the first failure,
    in the items' order, is raised.
    """

    def paced(item: T) -> R:
        with gateway.pacer.turn(workers):  # also one at a time: a role's writes follow the pace
            return work(item)

    return gateway.together([partial(paced, item) for item in items], at_most=workers)


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

    return dict(zip(names, for_each(gateway, names, read, workers), strict=True))
