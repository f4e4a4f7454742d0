"""The process around the commands: signals, and standard streams that may be closed or full."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable
from typing import Any

from qbroles.errors import ExitCode, QbrolesError


def interrupt(signum: int, frame: object) -> None:
    """Stop the command: SIGINT and SIGTERM, until ``settle``."""
    raise KeyboardInterrupt


def settle() -> None:
    """Say the command's work is done: a signal from now on does not change the answer,
    so SIGINT and SIGTERM are ignored while the result is written (where ``interrupt``
    handles them: the console script, not a test's runner). Only the main thread says so:
    one account's work ending in a worker (--accounts, --ou) is not the command's end, and
    Python lets no other thread set a handler."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(signum) is interrupt:
            signal.signal(signum, signal.SIG_IGN)


class OutputError(QbrolesError):
    """Standard output could not be written: the answer did not reach its reader."""

    exit_code = ExitCode.USAGE


class _Guarded(io.TextIOBase):
    """A standard stream whose failures are the command's answer, never a traceback.

    A reader that stops early (``| head``) is no error: the rest is dropped and the exit
    code stays the command's. Any other failure of stdout (closed, full) is an
    OutputError (exit 2) at the write or flush that meets it; of stderr, nothing more can
    be said, so the rest is dropped. Once failed, the descriptor points at /dev/null, so
    the interpreter's last flush cannot fail again.
    """

    def __init__(self, stream: Any, fd: int, *, closed: bool = False) -> None:
        self._stream = stream
        self._fd = fd
        self._failed: str | None = "it is closed" if closed else None
        self._broken = False

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return bool(self._stream is not None and self._stream.isatty())

    def fileno(self) -> int:
        return self._fd

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self._stream, "encoding", None) or "utf-8")

    def write(self, text: str | bytes) -> int:
        if isinstance(text, bytes):  # click.echo of bytes with no .buffer to write them to
            text = text.decode(self.encoding, "replace")  # (shell completion's script)
        if self._failed is not None:
            self._refuse()
        elif not self._broken:
            self._guarded(lambda: self._stream.write(text))
        return len(text)

    def flush(self) -> None:
        if self._failed is None and not self._broken:
            self._guarded(self._stream.flush)

    def _guarded(self, act: Callable[[], object]) -> None:
        try:
            act()
        except BrokenPipeError:
            self._broken = True
            self._to_null()
        except (OSError, ValueError) as exc:
            self._failed = getattr(exc, "strerror", None) or str(exc)
            self._to_null()
            self._refuse()

    def _refuse(self) -> None:
        if self._fd == 1:
            raise OutputError(
                f"cannot write to standard output ({self._failed}); what was to be printed "
                "there is lost."
            )

    def _to_null(self) -> None:
        with contextlib.suppress(OSError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._fd)
            os.close(null)


def guard_streams() -> None:
    """Give closed standard streams /dev/null, and guard stdout and stderr (see _Guarded).

    A closed descriptor 0, 1 or 2 would otherwise be taken by the next file opened, and
    output meant for people or scripts would land in it.
    """
    closed = set()
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed.add(fd)
            os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)  # takes fd
    sys.stdout = _Guarded(sys.stdout, 1, closed=1 in closed)
    sys.stderr = _Guarded(sys.stderr, 2, closed=2 in closed)
