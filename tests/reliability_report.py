"""Write RELIABILITY.md from the figures the last test run recorded (.reliability/figures.json).

Run the suite, then this: python -m pytest && python tests/reliability_report.py
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / ".reliability" / "figures.json"

SUITES = [
    (
        "Flaky endpoint (`tests/test_chaos.py`, `tests/chaos.py`)",
        "create, create again, verify, drift, create --prune, delete, delete again, with the "
        "default options (4 workers, the 300 s retry budget; waits scaled by "
        'QBROLES_RETRY_SCALE=0.01, so a figure "x100" is the seconds the same waits take '
        "against AWS), through a proxy on 127.0.0.1 that throttles every 2nd "
        "request and drops every 3rd answer it forwards (and every 3rd / 5th), counted across "
        "workers; or, with fixed seeds, throttles 15%, answers 500/503 to 10%, drops 10% of "
        "answers and delays the rest; each step checked directly against moto. Throttling on "
        "every request: the budget is spent, exit 3, one line naming the call and its wait, "
        "and a rerun converges; --max-attempts still caps each call.",
        [
            "chaos: requests through the proxy",
            "chaos: throttled answers survived or reported",
            "chaos: failed answers survived or reported",
            "chaos: lost answers survived or reported",
            "chaos: throttled (as qbroles reported them)",
            "chaos: failed (as qbroles reported them)",
            "chaos: retries (as qbroles reported them)",
            "chaos: seconds waited for retries, x100 (scaled waits)",
            "chaos: times throttling lowered the workers",
        ],
    ),
    (
        "Fifty roles, every 2nd request throttled (`tests/test_chaos.py`)",
        "create of a 50-role spec with the default options through the proxy: every role made, "
        "qbroles' own count of requests and throttled answers equal to the proxy's, the workers "
        "lowered from 4 to 1 while throttled, and the figures on stderr and in JSON `retries`. "
        "Unscaled, its waits would take about the whole default budget: a pattern that throttles "
        "every 2nd request whatever the rate is the worst case, which backing off cannot ease.",
        [
            "fifty roles: requests",
            "fifty roles: throttled",
            "fifty roles: seconds waited, x100 (scaled waits)",
            "fifty roles: times the workers were lowered",
        ],
    ),
    (
        "Lifecycle state machine (`tests/test_lifecycle.py`)",
        "hypothesis RuleBasedStateMachine on moto in-process: create (with and without --prune "
        "and --adopt), delete, and a colleague's changes by hand (attach/detach, put/delete "
        "inline, change the trust, remove the ownership tag, instance profiles, delete the role, "
        "a same-named unowned role, unrelated roles). After every step: create then verify is in "
        "sync unless refused for ownership, a second create writes nothing, a refusal changes "
        "nothing, delete removes nothing unowned or outside the spec, unrelated roles untouched.",
        ["state machine: examples", "state machine: steps"],
    ),
    (
        "Interruption and concurrency (`tests/test_chaos.py`, `tests/test_e2e.py`)",
        "SIGINT and SIGTERM after the third write, and while a call hangs: exit 130 at once, one "
        "line, and a rerun converges. Two creates started at the same moment: both succeed and "
        "IAM holds exactly the spec.",
        ["interruptions survived", "concurrent creates raced"],
    ),
    (
        "Hostile input (`tests/test_hostile.py`)",
        "AccessDenied on each call qbroles makes: exit 3 naming the denied action. Fuzzed spec "
        "data, spec text, spec files through the CLI, policy documents and scope options: never "
        "a traceback, exit 2 with the file named, no AWS request.",
        [
            "access denied: calls covered",
            "fuzz: spec data",
            "fuzz: spec text",
            "fuzz: spec files through the CLI",
            "fuzz: policy documents",
            "fuzz: scope options",
        ],
    ),
    (
        "Files qbroles writes (`tests/test_init.py`, `tests/test_export.py`)",
        "hypothesis: any table of strings, integers, booleans, lists and tables written as TOML "
        "(init) and as YAML (export) reads back equal through tomllib and PyYAML. Every "
        "CloudFormation template, resolved for an account, equals the spec's roles; cfn-lint "
        "passes on them; stacks on moto's CloudFormation yield the roles, their trust, inline "
        "policies and tags, and qbroles leaves a stack's roles alone.",
        [
            "writers: TOML documents read back",
            "writers: YAML documents read back",
            "export: templates linted",
            "export: stacks deployed to moto",
        ],
    ),
    (
        "Ownership races (`tests/test_races.py`)",
        "the installed qbroles through a proxy that holds chosen requests while the test acts "
        "as a colleague: a policy attached during delete, then the ownership tag removed or the "
        "role deleted and made again, stops delete with exit 4 and the role kept; another tool "
        "tagging a role between qbroles' read and its first adopting write stops it with "
        "nothing written; other tools' marks in any case are never adopted; roles another spec "
        "made are not deleted without --adopt, nor pruned unasked.",
        [
            "races: ownership changes caught before a retried delete",
            "races: owners appearing before an adoption caught",
        ],
    ),
    (
        "The fresh read before the first write (`tests/test_fresh_read.py`)",
        "a colleague changes the role between the plan and the first write: on a pseudo-"
        "terminal while the question waits, and off one while the proxy holds the read made "
        "just before the first write. Retagged by another tool, deleted and made again, or "
        "taken by another spec: exit 4 and nothing written. Its inline policy rewritten: asked "
        "again on the terminal (a no keeps it; a yes removes it and the restore file holds "
        "the document really removed), exit 4 off one.",
        [
            "fresh read: changes caught on a terminal",
            "fresh read: changes caught off a terminal",
        ],
    ),
    (
        "Restore (`tests/test_restore.py`)",
        "a colleague's drift in every attribute, then create --prune --yes, then qbroles restore "
        "with the file it wrote: IAM equals the state before, key by key (trust, description, "
        "boundary, tags, managed and inline policies, instance profiles); the same after delete "
        "then restore; run again, it changes nothing. A hand-edited file that grants more "
        "(AdministratorAccess, a trust of anyone, a role without the ownership tag) is refused "
        "without --yes, and with it restored as qbroles' own, its findings reported; a file of "
        "another account is refused, exit 4; every malformed shape (a role twice, an empty "
        "entry, a name IAM refuses, a trust with a Resource, NaN, over IAM's quotas) is exit 2 "
        "with no request.",
        [
            "restore: prune then restore, key by key",
            "restore: delete then restore, key by key",
            "restore: hostile files refused",
        ],
    ),
    (
        "Hostile files and streams (`tests/test_hostile_files.py`)",
        "task definitions with fields of the wrong type, nesting 600 levels deep, /dev/zero as "
        "input, inline policies IAM refuses, malformed AWS config, credentials in the endpoint "
        "URL, unwritable folders, FIFOs, devices and links as output paths, IAM answers without "
        "a Role or an Arn: one line, the documented exit code, no request; stdout closed or "
        "full: exit 2; a reader that stops early: exit 0.",
        ["hostile files: refused in one line"],
    ),
    (
        "Task definitions (`tests/test_taskdefs.py`, `tests/taskdefs/verdicts.json`)",
        "24 task definitions written for this project, each with the verdict real ECS would "
        "give per preset and the AWS page that says why, checked through the CLI on moto in "
        "the register and the describe shape.",
        [
            "task definitions: verdicts checked (workshop)",
            "task definitions: verdicts checked (least-privilege)",
        ],
    ),
    (
        "The resource side of task definitions (`tests/test_resources.py`)",
        "32 cases made on moto (customer keys and key policies, secrets under them and with "
        "resource policies, SecureString parameters, ECR images, log groups, S3 objects, "
        "gMSA credential specs, a FireLens output), and what moto cannot hold answered as "
        "AWS documents it (another account's secret, key, parameter, repository or bucket, "
        "denied reads, pull-through rules): the verdict ECS would give per preset, from a "
        "file and as a live task definition, with the AWS page behind each.",
        [
            "task definitions: resource-side verdicts checked (workshop)",
            "task definitions: resource-side verdicts checked (least-privilege)",
            "task definitions: resource-side verdicts checked live",
        ],
    ),
]


def main() -> int:
    if not FIGURES.exists():
        print(f"no figures at {FIGURES}: run the tests first (python -m pytest)", file=sys.stderr)
        return 1
    figures = json.loads(FIGURES.read_text())
    lines = [
        "# Reliability",
        "",
        "What the test suite proves about qbroles under faults, races and hostile input, with the",
        "counts of its last run. This file is written by `python tests/reliability_report.py`",
        "from the figures that run recorded; it is not edited by hand. Deeper runs:",
        "`python -m pytest --hypothesis-profile=deep` (ten times the examples).",
        "",
        f"Last run: {datetime.date.today().isoformat()}, {os.cpu_count()} cores.",
        "",
        "| suite | what it shows | figures of the last run |",
        "|---|---|---|",
    ]
    for name, what, keys in SUITES:
        counts = "<br>".join(f"{key}: {figures.get(key, 0)}" for key in keys)
        lines.append(f"| {name} | {what} | {counts} |")
    (ROOT / "RELIABILITY.md").write_text("\n".join(lines) + "\n")
    print("wrote RELIABILITY.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
