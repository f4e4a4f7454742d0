"""Progress: a live status on a terminal's stderr, retries with their wait, actions listed."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
from typing import Any

import botocore.handlers
import pytest
from click.testing import CliRunner
from rich.console import Console

from qbroles.cli import cli
from qbroles.errors import ExitCode
from qbroles.iam.gateway import Gateway
from qbroles.model.actions import stages
from qbroles.model.events import Progress
from qbroles.reconcile import engine
from qbroles.report.progress import TerminalProgress
from tests.conftest import EXEC_ROLE, TASK_ROLE, default_spec, error_response, inject
from tests.servers import tool


class Recorder(Progress):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, str]] = []
        self.waits: list[tuple[str, float]] = []

    def working(self, role: str, what: str) -> None:
        with self._lock:
            self.events.append((role, what))

    def finished(self, role: str) -> None:
        with self._lock:
            self.events.append((role, "finished"))

    def waiting(self, what: str, seconds: float) -> None:
        with self._lock:
            self.waits.append((what, seconds))


def test_each_role_reports_its_steps_in_order(gateway: Gateway) -> None:
    recorder = Recorder()
    report = engine.create(gateway, default_spec(), progress=recorder)
    for role in report.roles:
        steps = [what for name, what in recorder.events if name == role.name]
        assert steps[:2] == ["reading", "finished"]
        assert steps[-2:] == ["reading it back to verify", "finished"]
        # One step per stage of writes (CreateRole, then the four attaches at once).
        rounds = stages(role.changes)
        assert [len(stage) for stage in rounds] == [1, 4]
        assert steps[2:-2] == [
            rounds[0][0].describe(),
            rounds[1][0].describe() + " (and 3 more at once)",
        ]
    changes = [change for role in report.roles for change in role.changes]
    assert len(recorder.applied) == len(changes) == 10
    assert all(change in recorder.applied for change in changes)


def test_retries_are_reported_with_their_wait(gateway: Gateway) -> None:
    shown = TerminalProgress(
        Console(file=(out := io.StringIO()), force_terminal=True, width=200), "qbroles: creating"
    )
    gateway.pacer.progress = shown  # the gateway's retries, as connect(options, progress) sets
    busy = error_response("ConcurrentModification", "busy")
    inject(gateway.client, "CreateRole", [busy])
    inject(gateway.client, "AttachRolePolicy", [error_response("Throttling", "Rate exceeded")])
    with shown:
        engine.create(gateway, default_spec(), workers=1, progress=shown)
    text = out.getvalue()
    assert "IAM answered ConcurrentModification to CreateRole on " + EXEC_ROLE in text
    # Which call, on which role, why, and how much of the budget the waits have used.
    assert re.search(
        rf"AWS throttled AttachRolePolicy on role {EXEC_ROLE} \(attempt 1; "
        r"[\d.]+ of the 300 s retry budget used\): retrying in [\d.]+ s",
        text,
    ), text
    assert "qbroles: creating" in text  # the status line itself


def test_off_a_terminal_stderr_has_only_the_summary(moto_iam: None) -> None:
    result = CliRunner().invoke(cli, ["create"])
    assert result.exit_code == ExitCode.OK
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("qbroles create: 10 changes applied")


@pytest.fixture
def attach_denied() -> Any:
    """Every client created during the test is denied AttachRolePolicy."""

    def deny(**_: Any) -> Any:
        return error_response(
            "AccessDenied", "not authorized to perform: iam:AttachRolePolicy", 403
        )

    hook = ("before-send.iam.AttachRolePolicy", deny)
    botocore.handlers.BUILTIN_HANDLERS.append(hook)
    yield
    botocore.handlers.BUILTIN_HANDLERS.remove(hook)


@pytest.mark.usefixtures("moto_iam", "attach_denied")
def test_a_run_stopped_by_an_error_lists_what_it_changed_first() -> None:
    result = CliRunner().invoke(cli, ["--workers", "1", "create"])
    assert result.exit_code == ExitCode.AWS
    lines = result.stderr.splitlines()
    assert lines[0] == "qbroles: changed before it stopped (rerun the command to finish):"
    # One worker still works on every role: both were created before the error is raised.
    assert lines[1] == f"  + create role {EXEC_ROLE} (Allow ecs-tasks.amazonaws.com sts:AssumeRole)"
    assert lines[2] == f"  + create role {TASK_ROLE} (Allow ecs-tasks.amazonaws.com sts:AssumeRole)"
    assert lines[3].startswith("qbroles: error: AWS denied iam:AttachRolePolicy")
    assert result.stdout == ""


def read_terminal(leader: int) -> str:
    """Return everything written to a pseudo-terminal until its other side closes."""
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        assert ready, "qbroles wrote nothing to the terminal for 60 s"
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        seen += chunk
    return seen.decode(errors="replace")


def answer_on_terminal(args: list[str], env: dict[str, str], answer: bytes) -> tuple[int, str]:
    """Run qbroles on a pseudo-terminal, as a person at it who types ``answer``; return its
    exit code and everything it showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [tool("qbroles"), *args], env=env, stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    os.write(leader, answer)
    terminal = read_terminal(leader)
    return process.wait(timeout=60), terminal


@pytest.mark.e2e
@pytest.mark.parametrize("how", ["NO_COLOR", "--no-color"])
def test_without_colour_a_terminal_gets_no_escape_code_at_all(
    env: dict[str, str], how: str
) -> None:
    """No colour, and no cursor movement either: no live line redrawn in place."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [tool("qbroles"), *([how] if how.startswith("--") else []), "create"],
        env={k: v for k, v in env.items() if k != "NO_COLOR"}
        | {"TERM": "xterm"}
        | ({how: "1"} if how == "NO_COLOR" else {}),
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    terminal = read_terminal(leader)
    assert process.wait(timeout=60) == ExitCode.OK
    assert "qbroles create: 10 changes applied" in terminal
    assert "\x1b" not in terminal, repr(terminal[:300])


@pytest.mark.e2e
def test_on_a_terminal_the_status_goes_to_stderr_and_stdout_stays_clean(
    env: dict[str, str],
) -> None:
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [tool("qbroles"), "create"],
        env={k: v for k, v in env.items() if k != "NO_COLOR"} | {"TERM": "xterm"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
    )
    os.close(follower)
    terminal = read_terminal(leader)
    stdout = process.stdout.read() if process.stdout else ""
    assert process.wait(timeout=60) == ExitCode.OK
    assert "qbroles: creating" in terminal
    assert "\x1b[" in terminal  # drawn and redrawn in place
    assert "qbroles create: 10 changes applied" in terminal
    assert "qbroles: creating" not in stdout
    assert TASK_ROLE in stdout  # the roles' lines
