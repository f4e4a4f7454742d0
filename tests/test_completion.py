"""Shell completion, as the shell asks the installed command for it (issue 23, §1).

CliRunner skips the guarded standard streams, where completion crashed (click writes its
script as bytes); so each case runs the installed qbroles in a subprocess."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.servers import tool


def complete(
    instruction: str, words: str = "", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run qbroles as bash, zsh or fish asks it to complete ``words`` (the cursor at the end)."""
    count = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "_QBROLES_COMPLETE": instruction,
        "COMP_WORDS": words,
        "COMP_CWORD": str(count),
    }
    return subprocess.run(
        [tool("qbroles")], env=env, capture_output=True, text=True, cwd=cwd, timeout=60
    )


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o nosort -F"), ("zsh", "#compdef qbroles"), ("fish", "complete ")],
)
def test_each_shells_completion_script_is_printed(shell: str, marker: str) -> None:
    done = complete(f"{shell}_source")
    assert done.returncode == 0, done.stderr
    assert marker in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("qbroles --preset ", {"workshop", "least-privilege"}),
        ("qbroles -o ", {"table", "json"}),
        ("qbroles ver", {"verify"}),
        ("qbroles verify --live", {"--live-task-definitions", "--live-regions"}),
    ],
)
def test_options_values_and_commands_complete(words: str, expected: set[str]) -> None:
    done = complete("bash_complete", words)
    assert done.returncode == 0, done.stderr
    offered = {line.split(",", 1)[1] for line in done.stdout.splitlines()}
    assert offered >= expected


def test_restore_completes_the_folders_restore_files_newest_first(tmp_path: Path) -> None:
    folder = tmp_path / ".qbroles"
    folder.mkdir()
    for stamp in ("20261201T100000Z", "20261202T100000Z"):
        (folder / f"backup-{stamp}.json").write_text("{}")
    done = complete("bash_complete", "qbroles restore ", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "plain,.qbroles/backup-20261202T100000Z.json",
        "plain,.qbroles/backup-20261201T100000Z.json",
    ]
    elsewhere = complete("bash_complete", "qbroles restore ", cwd=tmp_path / ".qbroles")
    assert elsewhere.stdout.splitlines() == ["file,"]  # no such folder here: the shell's paths
