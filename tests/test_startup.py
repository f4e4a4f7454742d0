"""Start-up: help, version, usage and spec errors never load boto3, botocore, moto or rich."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("boto3", "botocore", "moto", "rich")


def imported(*args: str, cwd: Path | None = None) -> tuple[int, set[str]]:
    """Run qbroles in a fresh interpreter; return its exit code and the modules it imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "qbroles", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )
    modules = {
        line.split("|")[-1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return done.returncode, modules


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--help"], 0),
        (["--version"], 0),
        (["create", "--help"], 0),
        (["--output", "yaml", "verify"], 2),
        (["--region", "mars", "verify"], 2),
        (["frobnicate"], 2),
    ],
)
def test_no_heavy_import(args: list[str], code: int) -> None:
    exit_code, modules = imported(*args)
    assert exit_code == code
    assert "click" in modules  # the measurement sees imports at all
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_a_spec_error_is_reported_before_boto3_is_loaded(tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text('[[role]]\nname = "not valid"\n')
    exit_code, modules = imported("--spec", str(spec), "create")
    assert exit_code == 2
    assert not modules & set(HEAVY)


def test_a_real_command_does_load_boto3(tmp_path: Path) -> None:
    """The same measurement sees boto3 when a command needs AWS (so the tests above can fail)."""
    exit_code, modules = imported(
        "--endpoint-url", "http://127.0.0.1:9", "--max-attempts", "1", "verify"
    )
    assert exit_code == 3
    assert "boto3" in modules
