"""Exit codes and the errors a user can cause, each carrying its exit code."""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum


class ExitCode(IntEnum):
    """The process exit codes: the contract scripts and CI rely on."""

    OK = 0  # success, or in sync
    DIFFERENCES = 1  # verify found differences
    USAGE = 2  # bad option, bad spec, invalid name
    AWS = 3  # AWS refused or could not be reached
    SAFETY = 4  # refused for safety: not owned by qbroles, delete not confirmed
    BUG = 70  # an internal error: a bug in qbroles, reported with its traceback
    INTERRUPTED = 130  # interrupted by SIGINT or SIGTERM


class QbrolesError(Exception):
    """An error a user can cause: shown as one line, no traceback."""

    exit_code: ExitCode = ExitCode.BUG
    label = "error: "  # after "qbroles: " on stderr


class InputError(QbrolesError):
    """Invalid input: a malformed spec, an invalid name, a bad option value."""

    exit_code = ExitCode.USAGE


class AwsError(QbrolesError):
    """AWS refused a call or could not be reached."""

    exit_code = ExitCode.AWS


class AccessDenied(AwsError):
    """AWS denied the caller one or more actions: each is named, so one grant fixes them all."""

    def __init__(self, actions: Sequence[str], where: Sequence[str], detail: str) -> None:
        self.actions = tuple(dict.fromkeys(actions))
        self.where = tuple(dict.fromkeys(where))
        self.detail = detail
        listed = ", ".join(self.actions)
        them = "it" if len(self.actions) == 1 else "them"
        super().__init__(
            f"AWS denied {listed} ({'; '.join(self.where)}): {detail}; grant {listed} to the "
            f"caller or use a profile that has {them} (qbroles permissions prints the policy "
            "each command needs)."
        )


def first_failure(failures: Sequence[BaseException]) -> BaseException:
    """Return the failure to raise of several, the first in order; when that is an access
    denied, every action denied among them is named in it, not one a run."""
    denied = [failure for failure in failures if isinstance(failure, AccessDenied)]
    if len(denied) < 2 or failures[0] is not denied[0]:
        return failures[0]
    return AccessDenied(
        [action for failure in denied for action in failure.actions],
        [where for failure in denied for where in failure.where],
        denied[0].detail,
    )


class SafetyError(QbrolesError):
    """Refused because it would touch something qbroles does not own, or is unconfirmed."""

    exit_code = ExitCode.SAFETY


class Interrupted(QbrolesError):
    """Interrupted (Ctrl-C) before anything was changed, as at a question."""

    exit_code = ExitCode.INTERRUPTED
    label = ""


class MissingRoleError(QbrolesError):
    """A role the command reads does not exist (yet): a difference from the spec."""

    exit_code = ExitCode.DIFFERENCES
