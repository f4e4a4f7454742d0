"""What a run reports while it works: the roles in hand, retries and their waits, actions done.

``Progress`` is what the lower layers tell (the engine, the gateway, the pacer): it records
the actions applied, so that a run stopped by an error can still say what it changed, and
shows nothing. report.progress.TerminalProgress shows it on a terminal. Both are called
from the workers' threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qbroles.model.actions import Action


class Progress:
    """Records the actions applied; shows nothing (off a terminal, or with --quiet)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.applied: list[Action] = []

    def working(self, role: str, what: str) -> None:
        """Say what is being done to a role now."""

    def finished(self, role: str) -> None:
        """Say that the work on a role is over."""

    def waiting(self, what: str, seconds: float) -> None:
        """Say that a call is retried after a wait (throttling, or IAM catching up)."""

    def done(self, action: Action) -> None:
        """Record an action IAM has applied."""
        with self._lock:
            self.applied.append(action)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop showing progress while something else talks to the terminal (a question)."""
        yield

    def start(self) -> None:
        """Start showing progress."""

    def stop(self) -> None:
        """Stop showing progress (the output is left as the terminal shows it)."""

    def __enter__(self) -> Progress:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
