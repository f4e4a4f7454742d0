"""What a run reports while it works: the roles in hand, retries and their waits, actions done.

``Progress`` records the actions applied, so that a run stopped by an error can still say
what it changed; it shows nothing. ``TerminalProgress`` also shows a live status line on a
terminal's stderr. Both are called from the workers' threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from qbroles.reconcile.actions import Action


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


class TerminalProgress(Progress):
    """A live status line on stderr (a terminal): each role and what is done to it now.

    Retries are printed above it with their wait, when they are decided: IAM catching up
    after a write, and AWS throttling or failing a call (qbroles.pacing).
    """

    def __init__(self, console: Console, title: str, *, live: bool = True) -> None:
        """``live``: keep a status line redrawn in place. Without it (--no-color, NO_COLOR)
        no cursor movement or other escape code is sent; retries are still printed."""
        super().__init__()
        self._console = console
        self._title = title
        self._roles: dict[str, str] = {}
        self._status = console.status(title) if live else None

    def working(self, role: str, what: str) -> None:
        with self._lock:
            self._roles[role] = what
            self._update()

    def finished(self, role: str) -> None:
        with self._lock:
            self._roles.pop(role, None)
            self._update()

    def waiting(self, what: str, seconds: float) -> None:
        with self._lock:
            self._console.print(f"  {what}: retrying in {seconds:.1f} s", highlight=False)

    @contextmanager
    def paused(self) -> Iterator[None]:
        self.stop()
        try:
            yield
        finally:
            self.start()

    def _update(self) -> None:
        if self._status is not None:
            lines = [f"{role}: {what}" for role, what in self._roles.items()]
            self._status.update("\n".join([self._title, *lines]))

    def start(self) -> None:
        if self._status is not None:
            self._status.start()

    def stop(self) -> None:
        if self._status is not None:
            self._status.stop()
