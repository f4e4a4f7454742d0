"""The one path's fresh read: a colleague changes the role between the plan and the first write.

On a terminal the question waits while the colleague acts; off one, the proxy holds the
request the fresh read makes (the last before the first write) while the colleague acts.
Either way no write may follow from facts that are no longer true, and the restore file
holds what is really removed.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qbroles.errors import ExitCode
from tests.chaos import ChaosProxy
from tests.conftest import MANAGED, TRUST, server_client
from tests.figures import count
from tests.servers import MotoServer, qbroles, tool

pytestmark = pytest.mark.e2e

ONE_ROLE = '[[role]]\nname = "Raced"\nmanaged_policies = ["AmazonS3ReadOnlyAccess"]\n'


def document(action: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}],
        }
    )


SEEN, REWRITTEN = document("s3:GetObject"), document("dynamodb:Query")


@pytest.fixture
def iam(server: MotoServer, env: dict[str, str]) -> Any:
    """A client straight to the moto server: the colleague, and the judge of what IAM holds."""
    return server_client(server)


@pytest.fixture
def prepared(env: dict[str, str], iam: Any, tmp_path: Path) -> list[str]:
    """A role qbroles made, then an inline policy the spec does not list: --prune removes it."""
    (tmp_path / "raced.toml").write_text(ONE_ROLE)
    spec = ["--spec", str(tmp_path / "raced.toml")]
    made = qbroles(env, *spec, "create")
    assert made.returncode == 0, made.stderr
    iam.put_role_policy(RoleName="Raced", PolicyName="extra", PolicyDocument=SEEN)
    return spec


def inline(iam: Any) -> dict[str, Any]:
    return {
        name: iam.get_role_policy(RoleName="Raced", PolicyName=name)["PolicyDocument"]
        for name in iam.list_role_policies(RoleName="Raced")["PolicyNames"]
    }


def tags(iam: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in iam.get_role(RoleName="Raced")["Role"].get("Tags", [])}


def rewrite(iam: Any) -> None:
    """The colleague rewrites the inline policy the plan deletes."""
    iam.put_role_policy(RoleName="Raced", PolicyName="extra", PolicyDocument=REWRITTEN)


def retag(iam: Any) -> None:
    """The colleague hands the role to another tool."""
    iam.tag_role(RoleName="Raced", Tags=[{"Key": "ManagedBy", "Value": "Terraform"}])


def hand_over(iam: Any) -> None:
    """Another project's qbroles takes the role (its spec, its digest)."""
    iam.tag_role(
        RoleName="Raced",
        Tags=[
            {"Key": "qbroles:spec", "Value": "file=other.toml app=Other"},
            {"Key": "qbroles:digest", "Value": "0123456789abcdef"},
        ],
    )


def replace_role(iam: Any) -> None:
    """The colleague deletes the role and makes another of that name, marked as qbroles'."""
    iam.delete_role_policy(RoleName="Raced", PolicyName="extra")
    iam.detach_role_policy(RoleName="Raced", PolicyArn=MANAGED + "AmazonS3ReadOnlyAccess")
    iam.delete_role(RoleName="Raced")
    iam.create_role(
        RoleName="Raced",
        AssumeRolePolicyDocument=TRUST,
        Tags=[{"Key": "ManagedBy", "Value": "qbroles"}],
    )
    iam.put_role_policy(RoleName="Raced", PolicyName="extra", PolicyDocument=SEEN)


class Terminal:
    """qbroles on a pseudo-terminal, read as a person reads it, answered when asked."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.leader, follower = pty.openpty()
        self.process = subprocess.Popen(
            [tool("qbroles"), *args], env=env, stdin=follower, stdout=follower, stderr=follower
        )
        os.close(follower)
        self.seen = b""

    def wait_for(self, text: str, timeout: float = 60) -> str:
        """Read until ``text`` has appeared (spaces folded: the terminal wraps lines)."""
        deadline = time.monotonic() + timeout
        while text not in " ".join(self.screen.split()):
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never appeared:\n{self.screen}"
            ready, _, _ = select.select([self.leader], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.leader, 65536)
                except OSError:
                    chunk = b""
                assert chunk, f"qbroles ended before {text!r}:\n{self.screen}"
                self.seen += chunk
        return self.screen

    def type(self, answer: str) -> None:
        os.write(self.leader, answer.encode())

    def end(self) -> tuple[int, str]:
        while True:
            ready, _, _ = select.select([self.leader], [], [], 60)
            assert ready, "qbroles wrote nothing for 60 s"
            try:
                chunk = os.read(self.leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.seen += chunk
        return self.process.wait(timeout=60), self.screen

    @property
    def screen(self) -> str:
        return self.seen.decode(errors="replace")


QUESTION = "[y/N]:"


@pytest.fixture
def terminal(env: dict[str, str]) -> Iterator[Callable[..., Terminal]]:
    made: list[Terminal] = []

    def start(*args: str) -> Terminal:
        made.append(Terminal(list(args), env))
        return made[-1]

    yield start
    for one in made:
        if one.process.poll() is None:
            one.process.kill()
        os.close(one.leader)


def restore_files(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob(".qbroles/*.json"))]


def test_a_policy_rewritten_during_the_question_is_asked_about_again_and_a_no_keeps_it(
    prepared: list[str], iam: Any, terminal: Any, tmp_path: Path
) -> None:
    run = terminal(*prepared, "create", "--prune")
    run.wait_for(QUESTION)
    rewrite(iam)  # while the question waits
    run.type("y\n")
    screen = run.wait_for("Apply the plan as it is now? [y/N]:")
    said = " ".join(screen.split())
    assert (
        "Raced changed since the plan was made (now: delete inline policy extra of Raced, "
        "which is not what it was)" in said
    )
    assert '"dynamodb:Query"' in screen  # the plan shown again, as it is now
    run.type("n\n")
    code, screen = run.end()
    assert code == ExitCode.SAFETY, screen
    assert "create not confirmed; nothing was changed." in " ".join(screen.split())
    assert inline(iam) == {"extra": json.loads(REWRITTEN)}
    assert restore_files(tmp_path) == []
    count("fresh read: changes caught on a terminal")


def test_a_yes_to_the_new_plan_keeps_what_is_really_removed_in_the_restore_file(
    prepared: list[str], iam: Any, terminal: Any, tmp_path: Path
) -> None:
    run = terminal(*prepared, "create", "--prune")
    run.wait_for(QUESTION)
    rewrite(iam)
    run.type("y\n")
    run.wait_for("Apply the plan as it is now? [y/N]:")
    run.type("y\n")
    code, screen = run.end()
    assert code == ExitCode.OK, screen
    assert inline(iam) == {}
    (kept,) = restore_files(tmp_path)
    (entry,) = kept["roles"]
    # What the colleague wrote, read just before the write: not the document first seen.
    assert entry["restore"] == [
        {
            "action": "put_inline_policy",
            "role": "Raced",
            "policy": "extra",
            "document": json.loads(REWRITTEN),
        }
    ]


@pytest.mark.parametrize(
    ("colleague", "said"),
    [
        (retag, "role Raced changed since qbroles read it (its ManagedBy tag is now Terraform)"),
        (replace_role, "it was deleted and created again under the same name"),
    ],
    ids=["retagged", "replaced"],  # handed to another spec: asked again (the test below)
)
def test_a_role_that_changed_hands_during_the_question_is_not_written(
    prepared: list[str], iam: Any, terminal: Any, colleague: Any, said: str, tmp_path: Path
) -> None:
    run = terminal(*prepared, "create", "--prune")
    run.wait_for(QUESTION)
    colleague(iam)
    before = (tags(iam), inline(iam))
    run.type("y\n")
    code, screen = run.end()
    assert code == ExitCode.SAFETY, screen
    assert said in " ".join(screen.split())
    assert "Traceback" not in screen
    assert (tags(iam), inline(iam)) == before
    assert restore_files(tmp_path) == []
    count("fresh read: changes caught on a terminal")


def test_a_role_handed_to_another_spec_during_the_question_is_asked_about_again(
    prepared: list[str], iam: Any, terminal: Any
) -> None:
    """Without --prune: the plan rewrites the trust someone widened, a question on a
    terminal; meanwhile another project's spec takes the role: a change of spec to ask."""
    trust = iam.get_role(RoleName="Raced")["Role"]["AssumeRolePolicyDocument"]
    trust["Statement"].append(
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
    )
    iam.update_assume_role_policy(RoleName="Raced", PolicyDocument=json.dumps(trust))
    run = terminal(*prepared, "create")
    run.wait_for(QUESTION)
    hand_over(iam)
    run.type("y\n")
    screen = run.wait_for("Apply the plan as it is now? [y/N]:")
    assert "last set by another spec (file=other.toml app=Other)" in " ".join(screen.split())
    run.type("n\n")
    code, _ = run.end()
    assert code == ExitCode.SAFETY
    assert tags(iam)["qbroles:spec"] == "file=other.toml app=Other"
    held = iam.get_role(RoleName="Raced")["Role"]["AssumeRolePolicyDocument"]
    assert held == trust


@pytest.mark.parametrize(
    ("colleague", "said"),
    [
        (rewrite, "role Raced changed since the plan was made (now: delete inline policy extra"),
        (retag, "role Raced changed since qbroles read it (its ManagedBy tag is now Terraform)"),
        (hand_over, "role Raced changed since the plan was made (now: tag Raced with"),
        (replace_role, "it was deleted and created again under the same name"),
    ],
    ids=["rewritten", "retagged", "handed-over", "replaced"],
)
def test_off_a_terminal_a_change_before_the_first_write_stops_the_run(
    env: dict[str, str],
    server: MotoServer,
    prepared: list[str],
    iam: Any,
    colleague: Any,
    said: str,
    tmp_path: Path,
) -> None:
    """The proxy holds the fresh read (the second GetRole: the first is the plan's) while
    the colleague acts: the run stops with exit 4 and writes nothing."""
    proxy = ChaosProxy(server.url, hold_actions=("GetRole", "GetRole"))
    try:
        run = subprocess.Popen(
            [tool("qbroles"), *prepared, "create", "--prune", "--yes"],
            env={**env, "AWS_ENDPOINT_URL": proxy.url},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proxy.wait_for_hold()  # the plan's read
        proxy.go_on()
        assert proxy.wait_for_hold()  # the read just before the first write
        colleague(iam)
        before = (tags(iam), inline(iam))
        proxy.go_on()
        _, stderr = run.communicate(timeout=120)
        writes = proxy.counts["writes"]
    finally:
        proxy.stop()
    assert run.returncode == ExitCode.SAFETY, stderr
    assert said in " ".join(stderr.split())
    assert "nothing was changed" in stderr
    assert writes == 0
    assert (tags(iam), inline(iam)) == before
    assert restore_files(tmp_path) == []
    count("fresh read: changes caught off a terminal")
