"""What a run shows while it works on a terminal: a live status line (``TerminalProgress``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from qbroles.model.events import Progress

if TYPE_CHECKING:
    from rich.console import Console


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
