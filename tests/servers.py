"""Servers and commands for the end-to-end suites: a moto server, the installed tools."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """Return the path of a command installed beside this Python (the venv's bin)."""
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed; install the project with its test extra"
    return found


class MotoServer:
    """A moto server subprocess on 127.0.0.1 with AWS managed policies loaded."""

    def __init__(self, log: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(
            os.environ,
            MOTO_IAM_LOAD_MANAGED_POLICIES="true",
            MOTO_ENABLE_RECORDING="true",
            # The recorder writes a file; by default ./moto_recording, in whatever folder.
            MOTO_RECORDER_FILEPATH=str(log.with_name(log.name + ".recording")),
        )
        self._log = log.open("w")
        self.process = subprocess.Popen(  # moto's server, its policies parsed once
            [sys.executable, "-m", "tests.moto_policies", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            cwd=Path(__file__).resolve().parent.parent,  # where tests.moto_policies is found
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1).close()
                break
            except OSError:
                assert self.process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "moto server did not start in 30 s"
                time.sleep(0.1)

    def post(self, path: str) -> bytes:
        request = urllib.request.Request(self.url + path, method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            body: bytes = answer.read()
        return body

    def reset(self) -> None:
        self.post("/moto-api/reset")

    def start_recording(self) -> None:
        self.post("/moto-api/recorder/reset-recording")
        self.post("/moto-api/recorder/start-recording")

    def recorded_actions(self) -> list[str]:
        """Return the AWS actions received since start_recording, in order."""
        self.post("/moto-api/recorder/stop-recording")
        with urllib.request.urlopen(self.url + "/moto-api/recorder/download-recording") as answer:
            lines = answer.read().decode().splitlines()
        actions = []
        for line in lines:
            entry = json.loads(line)
            raw = entry.get("body") or ""
            if entry.get("body_encoded"):
                raw = base64.b64decode(raw).decode()
            body = parse_qs(raw)
            actions.extend(body.get("Action", []))
        return actions

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


def qbroles(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed qbroles with no terminal, as CI does."""
    return subprocess.run(
        [tool("qbroles"), *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
