"""What a run reports while it works: the roles in hand, retries and their waits, actions done.

``Progress`` records the actions applied, so that a run stopped by an error can still say
what it changed; it shows nothing. ``TerminalProgress`` also shows a live status line on a
terminal's stderr. Both are called from the workers' threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from qbroles.model import Action


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

    Retries are printed above it with their wait: ours (IAM catching up after a write)
    when they are decided, botocore's (throttling, 5xx, lost connections) from the debug
    line botocore logs just before it sleeps, the only place that tells the wait.
    """

    def __init__(self, console: Console, title: str) -> None:
        super().__init__()
        self._console = console
        self._title = title
        self._roles: dict[str, str] = {}
        self._status = console.status(title)
        self._hook = _BotocoreRetries(self)
        self._logger = logging.getLogger("botocore.endpoint")
        self._level = self._logger.level

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
        self._status.stop()
        try:
            yield
        finally:
            self._status.start()

    def _update(self) -> None:
        lines = [f"{role}: {what}" for role, what in self._roles.items()]
        self._status.update("\n".join([self._title, *lines]))

    def start(self) -> None:
        self._logger.addHandler(self._hook)
        self._logger.setLevel(logging.DEBUG)
        self._status.start()

    def stop(self) -> None:
        self._status.stop()
        self._logger.removeHandler(self._hook)
        self._logger.setLevel(self._level)


class _BotocoreRetries(logging.Handler):
    """Turns botocore's "sleeping for N seconds" debug line into a progress report."""

    def __init__(self, progress: Progress) -> None:
        super().__init__(logging.DEBUG)
        self._progress = progress
        self._calls = threading.local()  # the operation each thread is making

    def emit(self, record: logging.LogRecord) -> None:
        args: Any = record.args or ()
        message = record.msg if isinstance(record.msg, str) else ""
        if message.startswith("Making request for") and args:
            self._calls.operation = getattr(args[0], "name", "a call")
        elif message.startswith("Response received to retry") and args:
            operation = getattr(self._calls, "operation", "a call")
            try:
                seconds = float(args[0])
            except (TypeError, ValueError):
                return
            self._progress.waiting(f"AWS did not answer {operation} this time", seconds)
