"""Every "Next:" qbroles prints leads somewhere that works (issue 23, §4).

Each scenario puts the account in a state the suite knows (roles missing, drifted, made
by hand, another tool's, a live task definition a change would break, ...), runs the
installed qbroles on it as a person would, and then does what its "Next:" line says:
every qbroles command it names, with the options the person typed, in the order
written; "again" means the first command once more. No command followed may fail for a
reason the first one reported, and the last leaves nothing to report. A last test holds
the scenarios to report/steps.py: each of its steps is reached by one of them, so a new
step comes with a scenario or this file fails.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from qbroles.commands import COMMANDS
from tests.conftest import EXEC_ROLE, MANAGED, TASK_ROLE, TRUST
from tests.servers import tool
from tests.test_e2e import aws, taskdef_without_roles

pytestmark = pytest.mark.e2e

ACCOUNT = "123456789012"
GUIDE = {  # the deployment guide's roles: its four AWS managed policies each
    EXEC_ROLE: ("service-role/AmazonECSTaskExecutionRolePolicy",
                "AmazonEC2ContainerRegistryReadOnly", "CloudWatchLogsFullAccess",
                "SecretsManagerReadWrite"),
    TASK_ROLE: ("AmazonRDSReadOnlyAccess", "AmazonSSMReadOnlyAccess", "CloudWatchLogsFullAccess",
                "SecretsManagerReadWrite"),
}  # fmt: skip
LEAST = ("--preset", "least-privilege")


@dataclass
class World:
    """The moto server's environment, the scenario's folder, and its commands' options."""

    env: dict[str, str]
    cwd: Path
    options: list[str] = field(default_factory=list)  # global options, before the command

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [tool("qbroles"), *self.options, *args],
            env=self.env, cwd=self.cwd, capture_output=True, text=True,
            stdin=subprocess.DEVNULL, timeout=120,
        )  # fmt: skip

    def aws(self, *args: str) -> Any:
        return aws(self.env, *args)

    def hand_made(self, owned: bool = False) -> None:
        """Make the guide's roles by hand, as its console steps do (no tag unless owned)."""
        tags = ["--tags", "Key=ManagedBy,Value=qbroles"] if owned else []
        for role, policies in GUIDE.items():
            self.aws("iam", "create-role", "--role-name", role,
                     "--assume-role-policy-document", TRUST, *tags)  # fmt: skip
            for policy in policies:
                self.aws("iam", "attach-role-policy", "--role-name", role,
                         "--policy-arn", MANAGED + policy)  # fmt: skip

    def qb(self, *args: str) -> None:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr

    def task_definition(self, **changes: Any) -> Path:
        """Write td.json: the sample task definition, its resources made, the spec's roles
        named, the first container changed by ``changes``; return its path."""
        task = taskdef_without_roles(self.env, self.cwd)
        task["executionRoleArn"] = f"arn:aws:iam::{ACCOUNT}:role/{EXEC_ROLE}"
        task["taskRoleArn"] = f"arn:aws:iam::{ACCOUNT}:role/{TASK_ROLE}"
        task["containerDefinitions"][0].update(changes)
        path = self.cwd / "td.json"
        path.write_text(json.dumps(task))
        return path

    def secret(self, name: str) -> str:
        return str(self.aws("secretsmanager", "create-secret", "--name", name,
                            "--secret-string", "s3cret")["ARN"])  # fmt: skip


@dataclass(frozen=True)
class Scenario:
    """A state, the command a person runs on it, and the human part of its next step."""

    arrange: Callable[[World], list[str]]  # makes the state; returns the first command
    mend: Callable[[World], None] | None = None  # what the step asks beyond qbroles


def _missing(world: World) -> list[str]:
    return ["verify"]


def _drifted(world: World) -> list[str]:
    world.qb("create")
    world.aws("iam", "detach-role-policy", "--role-name", TASK_ROLE,
              "--policy-arn", MANAGED + "AmazonRDSReadOnlyAccess")  # fmt: skip
    return ["verify"]


def _kept(world: World) -> list[str]:
    world.qb("create")
    world.aws("iam", "attach-role-policy", "--role-name", TASK_ROLE,
              "--policy-arn", MANAGED + "ReadOnlyAccess")  # fmt: skip
    return ["verify"]


def _kept_in_a_plan(world: World) -> list[str]:
    _drifted(world)
    world.aws("iam", "attach-role-policy", "--role-name", EXEC_ROLE,
              "--policy-arn", MANAGED + "ReadOnlyAccess")  # fmt: skip
    return ["plan"]


def _kept_planned(world: World) -> list[str]:
    _kept(world)
    return ["plan"]


def _kept_after_create(world: World) -> list[str]:
    _kept(world)
    return ["create"]


def _pending(world: World) -> list[str]:
    world.qb("create")
    world.options = [*LEAST]  # the guide's roles, to least privilege: another spec's roles
    return ["plan", "--prune"]


def _saved(world: World) -> list[str]:
    return ["plan", "--out", "plan.json"]


def _hand_made_plan(world: World) -> list[str]:
    world.hand_made()
    return ["plan"]


def _hand_made_verify(world: World) -> list[str]:
    world.hand_made()
    taskdef_without_roles(world.env, world.cwd)  # ./taskdef.json, which the step names
    return ["verify"]


def _in_sync(world: World) -> list[str]:
    world.qb("create")
    taskdef_without_roles(world.env, world.cwd)
    return ["verify"]


def _moved(world: World) -> list[str]:
    world.aws("iam", "create-role", "--role-name", TASK_ROLE, "--path", "/moved/",
              "--assume-role-policy-document", TRUST,
              "--tags", "Key=ManagedBy,Value=qbroles")  # fmt: skip
    return ["plan"]


def _breaks(world: World) -> list[str]:
    world.qb("create")
    other = world.secret("payments/db")  # outside least privilege's questionbank/*
    path = world.task_definition(secrets=[{"name": "DB", "valueFrom": other}])
    world.aws("ecs", "register-task-definition", "--cli-input-json", f"file://{path}")
    world.options = [*LEAST]
    return ["plan", "--prune", "--check-live-task-definitions", "--live-regions", "us-east-1"]


def _not_granted(world: World) -> list[str]:
    world.options = [*LEAST]
    world.qb("create")
    other = world.secret("payments/db")
    world.task_definition(secrets=[{"name": "DB", "valueFrom": other}])
    return ["verify", "--task-definition", "td.json"]


def _grant_the_secret(world: World) -> None:
    """The step's own words: pass --secret-arn to the preset (or edit init's file)."""
    arn = world.aws("secretsmanager", "describe-secret", "--secret-id", "payments/db")["ARN"]
    world.options += ["--secret-arn", arn]


def _outside(world: World) -> list[str]:
    world.qb("create")
    logs = {"awslogs-group": "/ecs/questionbank-prod", "awslogs-region": "us-east-1",
            "awslogs-stream-prefix": "api"}  # fmt: skip
    world.task_definition(logConfiguration={"logDriver": "awslogs", "options": logs})
    return ["verify", "--task-definition", "td.json"]


def _make_the_log_group(world: World) -> None:
    world.aws("logs", "create-log-group", "--log-group-name", "/ecs/questionbank-prod")


def _hand_made_delete(world: World) -> list[str]:
    world.hand_made()
    return ["delete", "--dry-run"]


def _delete_by_hand(world: World) -> None:
    """The refusal's own words: delete it by hand (the policies detached first)."""
    for role, policies in GUIDE.items():
        for policy in policies:
            world.aws("iam", "detach-role-policy", "--role-name", role,
                      "--policy-arn", MANAGED + policy)  # fmt: skip
        world.aws("iam", "delete-role", "--role-name", role)


SCENARIOS = {
    "roles missing": Scenario(_missing),
    "a policy detached by hand": Scenario(_drifted),
    "a policy attached by hand": Scenario(_kept),
    "a plan with nothing to do but a policy attached by hand": Scenario(_kept_planned),
    "a plan that keeps a policy attached by hand": Scenario(_kept_in_a_plan),
    "a create that kept a policy attached by hand": Scenario(_kept_after_create),
    "the guide's roles to least privilege": Scenario(_pending),
    "a saved plan": Scenario(_saved),
    "the guide's roles made by hand, planned": Scenario(_hand_made_plan),
    "the guide's roles made by hand, verified": Scenario(_hand_made_verify),
    "roles in sync": Scenario(_in_sync),
    "a role at another path": Scenario(_moved),
    "a change that breaks a live task definition": Scenario(_breaks),
    "a need the spec does not grant": Scenario(_not_granted, _grant_the_secret),
    "a log group that does not exist": Scenario(_outside, _make_the_log_group),
    "a delete of roles made by hand, dry run": Scenario(_hand_made_delete, _delete_by_hand),
}
REACHED: dict[str, str] = {}  # scenario: the step of report/steps.py its Next: was


def said(done: subprocess.CompletedProcess[str]) -> str:
    return " ".join((done.stdout + "\n" + done.stderr).split())


def next_line(done: subprocess.CompletedProcess[str]) -> str | None:
    """Return the "Next:" line, its wrapped lines joined, or None."""
    text = said(done)
    if "Next: " not in text:
        return None
    return re.split(r" qbroles \w+: ", text.split("Next: ", 1)[1])[0]


def section(done: subprocess.CompletedProcess[str], heading: str) -> str:
    """Return a section of the report for people, its lines joined."""
    lines = done.stdout.split(f"\n{heading}\n", 1)[1].split("\n\n", 1)[0]
    return " ".join(lines.split())


def reasons(done: subprocess.CompletedProcess[str]) -> set[str]:
    """Return what the report holds against the roles: each difference, refusal or
    failing task definition, by its heading line ("x ROLE: what")."""
    return {line.strip() for line in done.stdout.splitlines() + done.stderr.splitlines()
            if line.startswith("  x ")}  # fmt: skip


ARGUMENT = re.compile(r"--?[a-z][\w-]*|[\w./-]+\.(?:json|toml)|[a-z]{2}(?:-[a-z]+)+-\d(?:,\S+)?")


def commands(step: str, first: list[str]) -> list[list[str]]:
    """Return the qbroles commands a step names, in order, as typed: a command and the
    options after it. "qbroles X refuses" names no step; "qbroles X again" is the first
    command again; "--yes off a terminal" adds --yes to create, as off a terminal here."""
    named = []
    for part in step.split("qbroles ")[1:]:
        command, *words = part.split()
        command = command.rstrip(".,;)")
        if command not in COMMANDS:  # prose: "so qbroles will not delete it"
            continue
        taken = [command]
        for word in words:
            bare = word.rstrip(".,;)")
            if not ARGUMENT.fullmatch(bare):
                break
            taken.append(bare)
            if bare != word:
                break
        after = words[len(taken) - 1] if len(words) >= len(taken) else ""
        if after == "refuses":
            continue
        if after.startswith("again"):
            taken = list(first)
        if taken[0] in ("create", "delete") and "--yes off a terminal" in step:
            taken.append("--yes")
        named.append(taken)
    return named


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_next_step_leads_somewhere_that_works(
    env: dict[str, str], tmp_path: Path, name: str
) -> None:
    scenario = SCENARIOS[name]
    world = World(env, tmp_path)
    first = scenario.arrange(world)
    done = world.run(*first)
    step = next_line(done)
    assert step, f"{name}: no Next: after qbroles {' '.join(first)}\n{said(done)}"
    REACHED[name] = which_step(step)
    reported = reasons(done)
    if scenario.mend is not None:
        scenario.mend(world)
    followed = commands(step, first)
    if "do what Refused says" in step:  # the remedy of each refused role, then the step
        followed = commands(section(done, "Refused"), first) + followed
    assert followed, f"{name}: the step names no command: {step}"
    for command in followed:
        after = world.run(*command)
        again = reported & reasons(after)
        assert not again, f"{name}: qbroles {' '.join(command)} fails again for {again}"
        assert after.returncode == 0, f"{name}: qbroles {' '.join(command)}: {said(after)}"
    last = world.run(*first)
    assert not reasons(last) & reported, f"{name}: still {said(last)}"


def steps() -> dict[str, re.Pattern[str]]:
    """Return every step report/steps.py can say, each as a pattern of its words (what a
    value fills in matches anything), by the line it is returned on."""
    source = (Path(__file__).parent.parent / "qbroles" / "report" / "steps.py").read_text()
    found = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Return) or node.value is None:
            continue
        parts = node.value.values if isinstance(node.value, ast.JoinedStr) else [node.value]
        if not all(isinstance(p, ast.Constant | ast.FormattedValue) for p in parts):
            continue
        if not any(isinstance(p, ast.Constant) and isinstance(p.value, str) for p in parts):
            continue
        pattern = "".join(
            re.escape(p.value) if isinstance(p, ast.Constant) else ".*?" for p in parts
        )
        found[f"steps.py:{node.lineno}"] = re.compile(pattern)
    return found


def which_step(step: str) -> str:
    """Return the step of steps.py a Next: line is: of those whose words it has, the one
    with the most words of its own (a value filled in may hold another's words)."""
    matching = sorted(
        (len(re.sub(r"\.\*\?", "", pattern.pattern)), line)
        for line, pattern in steps().items()
        if pattern.fullmatch(step)
    )
    assert matching, step
    assert len(matching) == 1 or matching[-1][0] > matching[-2][0], (step, matching)
    return matching[-1][1]


def test_every_step_qbroles_can_print_is_reached_by_a_scenario() -> None:
    """Run after the scenarios (pytest keeps file order): each return of steps.py that
    says something was the Next: of at least one of them."""
    if len(REACHED) < len(SCENARIOS):
        pytest.fail("run with the scenarios above: this test checks what they reached")
    assert set(steps()) - set(REACHED.values()) == set()
