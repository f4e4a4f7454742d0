"""Benchmark qbroles against its peers and the floor, on a moto server on 127.0.0.1.

    python bench/run.py [--rounds 5] [--latency 0.05] [--roles 50] [--with-ansible]

Every request goes through a proxy that adds a fixed latency (default 50 ms, about an IAM
call from a nearby region): on loopback moto answers in a few ms, which would hide what
overlapping calls buys. Each comparison runs both sides in every round, alternating which
goes first; medians of wall time and of requests counted at the proxy. Ratios are printed
and written to BENCHMARKS.md with the core count and the date. Timings never go into tests.

--with-ansible adds Ansible's amazon.aws.iam_role as a peer. Ansible (with its amazon.aws
collection) is large, so it is installed once into .bench-cache/ansible, a folder the
benchmark creates beside this one and reuses.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qbroles.policy.documents import trust_policy  # noqa: E402
from tests.chaos import ChaosProxy  # noqa: E402
from tests.servers import MotoServer  # noqa: E402

PY = sys.executable
BIN = Path(PY).parent
TRUST = json.dumps(trust_policy("ecs-tasks.amazonaws.com"))
GUIDE = {
    "QuestionBank-ECS-TaskExecutionRole": [
        "service-role/AmazonECSTaskExecutionRolePolicy",
        "AmazonEC2ContainerRegistryReadOnly",
        "CloudWatchLogsFullAccess",
        "SecretsManagerReadWrite",
    ],
    "QuestionBank-ECS-TaskRole": [
        "AmazonRDSReadOnlyAccess",
        "AmazonSSMReadOnlyAccess",
        "CloudWatchLogsFullAccess",
        "SecretsManagerReadWrite",
    ],
}

# The floor: a minimal boto3 script making only the calls the job needs, one after another.
FLOOR = """
import json, sys, boto3
job, roles, trust = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
iam = boto3.client("iam")
for name, policies in roles.items():
    arns = ["arn:aws:iam::aws:policy/" + p for p in policies]
    if job == "create":
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust,
                        Tags=[{"Key": "ManagedBy", "Value": "qbroles"}])
        for arn in arns:
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    elif job == "read":  # what a converged create, plan or verify reads
        iam.get_role(RoleName=name)
        iam.list_attached_role_policies(RoleName=name)
        iam.list_role_policies(RoleName=name)
    elif job == "delete":
        for arn in arns:
            iam.detach_role_policy(RoleName=name, PolicyArn=arn)
        iam.delete_role(RoleName=name)
"""


def aws_cli_script(roles: dict[str, list[str]]) -> str:
    """Return the guide's steps as an AWS CLI shell script."""
    aws = shutil.which("aws", path=str(BIN)) or "aws"
    lines = ["set -e"]
    for name, policies in roles.items():
        lines.append(
            f"{aws} iam create-role --role-name {name} --assume-role-policy-document '{TRUST}' "
            "--tags Key=ManagedBy,Value=qbroles > /dev/null"
        )
        lines += [
            f"{aws} iam attach-role-policy --role-name {name} "
            f"--policy-arn arn:aws:iam::aws:policy/{policy}"
            for policy in policies
        ]
    return "\n".join(lines)


CACHE = ROOT / ".bench-cache"

# The guide's roles as an Ansible playbook: what an Ansible user would write.
PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: the ECS task roles
      amazon.aws.iam_role:
        name: "{{ item.key }}"
        assume_role_policy_document: "{{ trust }}"
        managed_policies: "{{ item.value }}"
        create_instance_profile: false
        tags:
          ManagedBy: ansible
        endpoint_url: "{{ endpoint }}"
        region: us-east-1
      loop: "{{ task_roles | dict2items }}"
"""


def ansible() -> Path:
    """Return ansible-playbook, installed into the cache folder on first use (with boto3)."""
    venv = CACHE / "ansible"
    playbook = venv / "bin" / "ansible-playbook"
    if not playbook.exists():
        print(f"installing ansible into {venv} (once) ...", file=sys.stderr)
        subprocess.run([PY, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "ansible", "boto3"], check=True)
    return playbook


def ansible_command(playbook: Path, folder: Path, endpoint: str) -> list[str]:
    """Return the command that runs the guide's playbook against ``endpoint``."""
    book = folder / "roles.yml"
    book.write_text(PLAYBOOK)
    variables = {
        "task_roles": {
            name: [f"arn:aws:iam::aws:policy/{policy}" for policy in policies]
            for name, policies in GUIDE.items()
        },
        "trust": TRUST,
        "endpoint": endpoint,
        "ansible_python_interpreter": str(playbook.parent / "python"),
    }
    return [str(playbook), "-i", "localhost,", "-e", json.dumps(variables), str(book)]


@dataclass
class Side:
    name: str
    command: list[str]
    setup: Callable[[], None]
    direct: bool = False  # straight to moto, without the proxy's latency


@dataclass
class Result:
    seconds: float
    requests: float


class Bench:
    def __init__(self, latency: float, rounds: int) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="qbroles-bench-"))
        self.server = MotoServer(self.folder / "moto.log")
        self.proxy = ChaosProxy(self.server.url, latency=latency)
        self.rounds = rounds
        base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env = {
            **base,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.proxy.url,
            "AWS_CONFIG_FILE": str(self.folder / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.folder / "credentials"),
        }
        self.direct = {**self.env, "AWS_ENDPOINT_URL": self.server.url}

    def run(self, side: Side) -> Result:
        side.setup()
        before = self.proxy.counts["requests"]
        start = time.perf_counter()
        env = self.direct if side.direct else self.env
        done = subprocess.run(side.command, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{side.name} failed ({done.returncode}): {done.stderr[-500:]}")
        return Result(seconds, self.proxy.counts["requests"] - before)

    def compare(self, sides: list[Side]) -> dict[str, Result]:
        """Run every side in every round, alternating the order; return medians."""
        seen: dict[str, list[Result]] = {side.name: [] for side in sides}
        for round_ in range(self.rounds):
            for side in sides if round_ % 2 == 0 else list(reversed(sides)):
                seen[side.name].append(self.run(side))
        return {
            name: Result(
                statistics.median(r.seconds for r in results),
                statistics.median(r.requests for r in results),
            )
            for name, results in seen.items()
        }

    # --- the states a run starts from

    def empty(self) -> None:
        self.server.reset()
        self.warm()

    def warm(self) -> None:
        """Make moto do now what it does lazily after a reset (load the AWS managed policies,
        and more on the first CreateRole), which would add a second to whatever is timed next."""
        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=self.server.url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
        iam.create_role(RoleName="bench-warm-up", AssumeRolePolicyDocument=TRUST)  # lazy too
        iam.delete_role(RoleName="bench-warm-up")
        # moto renders its first error answer slowly (about 100 ms): a cost real IAM does
        # not have, which would land on whichever side reads a missing role first.
        for read in (iam.get_role, iam.list_attached_role_policies):
            with contextlib.suppress(iam.exceptions.NoSuchEntityException):
                read(RoleName="bench-warm-up")

    def converged(self, *args: str) -> Callable[[], None]:
        return self.arranged([str(BIN / "qbroles"), *args, "create"])

    def arranged(self, command: list[str]) -> Callable[[], None]:
        """Return a setup that resets the account and runs ``command`` on it, unmeasured."""

        def arrange() -> None:
            self.server.reset()
            self.warm()
            subprocess.run(command, env=self.direct, check=True, capture_output=True)

        return arrange

    def stop(self) -> None:
        self.proxy.stop()
        self.server.stop()


def many_roles(count: int) -> tuple[dict[str, list[str]], str]:
    roles = {
        f"Bench-{i:03d}": ["AmazonS3ReadOnlyAccess", "CloudWatchLogsReadOnlyAccess"]
        for i in range(count)
    }
    toml = "".join(
        f'[[role]]\nname = "{name}"\nmanaged_policies = {json.dumps(policies)}\n\n'
        for name, policies in roles.items()
    )
    return roles, toml


def shown(result: Result, delay: str) -> str:
    """Return a side's figures for the table; straight to moto, the proxy counts no request."""
    counted = "" if delay == "0 ms" else f", {result.requests:.0f} requests"
    return f"{result.seconds:.3f} s{counted}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--roles", type=int, default=50)
    parser.add_argument("--with-ansible", action="store_true", help="add Ansible as a peer")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    options = parser.parse_args()

    # Bytecode, as pip writes it on install: an editable checkout may have none (and
    # PYTHONDONTWRITEBYTECODE keeps it so), which would time the compiler, not qbroles.
    compileall.compile_dir(str(ROOT / "qbroles"), quiet=1)
    bench = Bench(options.latency, options.rounds)
    qb = [str(BIN / "qbroles"), "-o", "json"]
    guide = json.dumps(GUIDE)
    floor = [PY, "-c", FLOOR]
    many, toml = many_roles(options.roles)
    spec = bench.folder / "many.toml"
    spec.write_text(toml)
    latency = f"{options.latency * 1000:.0f} ms"
    rows: list[tuple[str, str, Result, Result, str, str]] = []

    def pair(label: str, ours: Side, theirs: Side, ratio_of: str, target: str) -> None:
        results = bench.compare([ours, theirs])
        a, b = results[ours.name], results[theirs.name]
        if ratio_of == "peer/qbroles":
            figure = f"{ratio_of} = {b.seconds / a.seconds:.2f}"
        elif ratio_of == "qbroles - other":
            figure = f"{ratio_of} = {(a.seconds - b.seconds) * 1000:+.0f} ms"
        else:
            figure = f"{ratio_of} = {a.seconds / b.seconds:.2f}"
        figure += f" (target {target})"
        rows.append((label, theirs.name, a, b, figure, "0 ms" if ours.direct else latency))
        print(
            f"{label}: qbroles {a.seconds:.3f}s/{a.requests:.0f} req, {theirs.name} "
            f"{b.seconds:.3f}s/{b.requests:.0f} req -> {figure}"
        )

    def requests(label: str, side: Side, target: str) -> None:
        (result,) = bench.compare([side]).values()
        figure = f"{result.requests:.0f} requests (target {target})"
        rows.append((label, "-", result, Result(0, 0), figure, latency))
        print(f"{label}: {result.seconds:.3f}s/{result.requests:.0f} req -> {figure}")

    create = Side("qbroles create", [*qb, "create"], bench.empty)
    try:
        pair(
            "fresh create, guide's roles",
            create,
            Side("AWS CLI script", ["bash", "-c", aws_cli_script(GUIDE)], bench.empty),
            "peer/qbroles",
            ">= 8",
        )
        pair(
            "fresh create, guide's roles",
            create,
            Side("boto3 floor", [*floor, "create", guide, TRUST], bench.empty),
            "qbroles/floor",
            "<= 0.7",
        )
        if options.with_ansible:
            playbook = ansible_command(ansible(), bench.folder, bench.proxy.url)
            direct = ansible_command(ansible(), bench.folder, bench.server.url)
            pair(
                "fresh create, guide's roles",
                create,
                Side("Ansible iam_role playbook", playbook, bench.empty),
                "peer/qbroles",
                ">= 4",
            )
            pair(
                "converged rerun, guide's roles",
                Side("qbroles create", [*qb, "create"], bench.converged()),
                Side("Ansible iam_role playbook", playbook, bench.arranged(direct)),
                "peer/qbroles",
                ">= 6",
            )
        pair(
            "converged create",
            Side("qbroles create", [*qb, "create"], bench.converged()),
            Side("boto3 floor, same reads", [*floor, "read", guide, TRUST], bench.converged()),
            "qbroles/floor",
            "<= 1.1",
        )
        requests(
            "converged create", Side("qbroles create", [*qb, "create"], bench.converged()), "<= 4"
        )
        requests("converged plan", Side("qbroles plan", [*qb, "plan"], bench.converged()), "<= 4")
        pair(
            "verify",
            Side("qbroles verify", [*qb, "verify"], bench.converged()),
            Side("boto3 floor, same reads", [*floor, "read", guide, TRUST], bench.converged()),
            "qbroles/floor",
            "-",
        )
        requests("verify", Side("qbroles verify", [*qb, "verify"], bench.converged()), "<= 6")
        pair(
            "delete",
            Side("qbroles delete", [*qb, "delete", "--yes"], bench.converged()),
            Side("boto3 floor", [*floor, "delete", guide, TRUST], bench.converged()),
            "qbroles/floor",
            "-",
        )
        pair(
            f"fresh create, {options.roles} roles",
            Side("qbroles create", [*qb, "--spec", str(spec), "create"], bench.empty),
            Side("boto3 floor", [*floor, "create", json.dumps(many), TRUST], bench.empty),
            "qbroles/floor",
            "<= 0.3",
        )
        pair(
            f"fresh create, {options.roles} roles, --workers 8",
            Side(
                "qbroles create",
                [*qb, "--spec", str(spec), "--workers", "8", "create"],
                bench.empty,
            ),
            Side("boto3 floor", [*floor, "create", json.dumps(many), TRUST], bench.empty),
            "qbroles/floor",
            "-",
        )
        pair(
            "converged create, fixed cost",
            Side("qbroles create", [*qb, "create"], bench.converged(), direct=True),
            Side(
                "boto3 floor, same reads",
                [*floor, "read", guide, TRUST],
                bench.converged(),
                direct=True,
            ),
            "qbroles - other",
            "<= +40 ms",
        )
        pair(
            "start-up",
            Side("qbroles --help", [str(BIN / "qbroles"), "--help"], lambda: None, direct=True),
            Side("import click", [PY, "-c", "import click"], lambda: None, direct=True),
            "qbroles - other",
            "<= +10 ms",
        )
    finally:
        bench.stop()

    lines = [
        "# Benchmarks",
        "",
        f"Written by `python bench/run.py --rounds {options.rounds} --latency {options.latency}"
        f"{' --with-ansible' if options.with_ansible else ''}` on "
        f"{datetime.date.today().isoformat()}, {os.cpu_count()} cores. A moto server on "
        f"127.0.0.1 behind a proxy adding {latency} to every request (the latency column; "
        "0 ms: straight to moto, to show fixed costs); medians of "
        f"{options.rounds} rounds, the sides alternating which goes first; the options a "
        "user types (default workers).",
        "",
        "| case | compared with | latency | qbroles | other | figure |",
        "|---|---|---|---|---|---|",
    ]
    for label, other, a, b, figure, delay in rows:
        theirs = "-" if other == "-" else shown(b, delay)
        lines.append(f"| {label} | {other} | {delay} | {shown(a, delay)} | {theirs} | {figure} |")
    Path(options.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {options.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
