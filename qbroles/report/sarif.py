"""-o sarif: a report as SARIF 2.1.0, the format GitHub code scanning and other CI tools read.

One result per failing check, warning or unknown (a refused role too), each under a rule
that names its kind of check, so an alert keeps its identity from run to run; the level
is error for a difference and warning for a warning or an unknown (error under --strict).
Each result is anchored where a person would mend it: the line of qbroles.toml that sets
what the check is about (the role's header where the key is not written), or the
container of the task definition file it comes from. A preset has no file: its results
name the role only (logicalLocations), which code scanning cannot show on a line.

Many accounts are one run, each result named by its account: GitHub takes at most 20
runs a file and 25,000 results a run ("SARIF results exceed one or more limits",
https://docs.github.com/en/code-security/code-scanning/troubleshooting-sarif-uploads/results-exceed-limit).
Fingerprints are qbroles's own (account, role, rule and check), as "SARIF support for code
scanning" asks of a tool whose results are not lines of source
(https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qbroles import __version__
from qbroles.model.checks import EXTRA, FINDING, Check, CheckKind, Severity
from qbroles.model.report import AccountReport, Report
from qbroles.spec.lines import json_line, toml_line

SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)


@dataclass(frozen=True)
class Rule:
    start: str  # how the names of its checks start
    id: str
    says: str  # what a result of it means, for the rule's short description
    key: str | None = None  # the spec key it is set by; None: the role itself
    # The check names what it is about after its start (a policy): anchored to that line.
    named: bool = False


# (how the check's name starts, rule id, what a result means, the spec key, named):
# the first row whose start the name has is its rule.
_ROWS = (
    ("exists", "role-missing", "a role of the spec does not exist", None, False),
    ("deleted", "role-still-exists", "a role to delete still exists", None, False),
    ("trust policy", "trust-policy", "the trust policy differs", "trusted_service", False),
    ("path", "path", "the IAM path differs", "path", False),
    ("description", "description", "the description differs", "description", False),
    (
        "max session duration",
        "max-session-duration",
        "the max session duration differs",
        "max_session_duration",
        False,
    ),
    (
        "permissions boundary",
        "permissions-boundary",
        "the permissions boundary differs",
        "permissions_boundary",
        False,
    ),
    ("tag ", "tag", "a tag differs", "tags", True),
    (
        f"{EXTRA}inline policy ",
        "unexpected-inline-policy",
        "the role has an inline policy the spec does not list",
        "inline_policies",
        False,
    ),
    (
        f"{EXTRA}policy ",
        "unexpected-policy",
        "the role has a managed policy the spec does not list",
        "managed_policies",
        False,
    ),
    ("inline policy ", "inline-policy", "an inline policy differs", "inline_policies", True),
    (
        "policy ",
        "policy-not-attached",
        "a managed policy is not attached",
        "managed_policies",
        True,
    ),
    ("owned by qbroles", "not-owned", "the role is not tagged as qbroles's", None, False),
    ("made by this spec", "other-spec", "the role was last set by another spec", None, False),
    (
        f"{FINDING}confused deputy",
        "confused-deputy",
        "the service may assume the role on behalf of any account",
        "source_conditions",
        False,
    ),
    (
        f"{FINDING}broad inline policy ",
        "broad-inline-policy",
        "an inline policy grants more than the task needs",
        "inline_policies",
        True,
    ),
    (
        f"{FINDING}broad policy ",
        "broad-policy",
        "a managed policy grants more than the task needs",
        "managed_policies",
        True,
    ),
    (
        f"{FINDING}secrets without",
        "secrets-without-decrypt",
        "secrets under a customer managed key cannot be read",
        "managed_policies",
        False,
    ),
    (
        f"{FINDING}anyone may",
        "anyone-may-assume",
        "anyone may assume the role",
        "trusted_service",
        False,
    ),
    (
        f"{FINDING}another account",
        "another-account-may-assume",
        "another account may assume the role",
        "trusted_service",
        False,
    ),
    (
        f"{FINDING}conditions on",
        "execution-trust-conditions",
        "the execution role's trust has conditions",
        "source_conditions",
        False,
    ),
    (FINDING, "finding", "a security finding", None, False),
)
_RULES = tuple(Rule(*row) for row in _ROWS)
_BY_KIND: dict[CheckKind, Rule] = {
    CheckKind.TASK: Rule("", "task-cannot-start", "ECS cannot start the task definition"),
    CheckKind.APP: Rule("", "task-cannot-run", "the running task cannot do what it needs"),
    CheckKind.LIVE: Rule("", "live-task-breaks", "the change would break a live task definition"),
}
_REFUSED = Rule("", "refused", "create refuses the role")
_OTHER = Rule("", "difference", "the role differs from the spec")
_LIVE = re.compile(r"^live \S+: ")  # a live task definition's check: "live web:3: can …"


def rule_of(check: Check) -> Rule:
    """Return the rule a check's result is reported under."""
    if check.kind in _BY_KIND:
        return _BY_KIND[check.kind]
    return next((rule for rule in _RULES if check.check.startswith(rule.start)), _OTHER)


@dataclass(frozen=True)
class _Files:
    """Where the results of one report are anchored: its spec file and task definition."""

    spec: tuple[str, str, tuple[str, ...]] | None  # (uri, text, role names in order)
    task: tuple[str, str] | None  # (uri, text)

    @classmethod
    def of(cls, report: Report) -> _Files:
        spec = None
        source = (report.spec or {}).get("source", "")
        if source and not source.startswith("preset ") and Path(source).is_file():
            from qbroles.spec.load import load_spec

            names = load_spec(source, (report.spec or {}).get("app")).names
            spec = (_uri(source), Path(source).read_text(encoding="utf-8"), names)
        files = [t.task for t in report.tasks if Path(t.task).is_file()]
        task = (_uri(files[0]), Path(files[0]).read_text(encoding="utf-8")) if files else None
        return cls(spec, task)

    def location(self, role: str, rule: Rule, check: Check | None) -> dict[str, Any]:
        logical = {"name": role, "kind": "resource"}
        physical: tuple[str, int] | None = None
        task = check is not None and check.kind in (CheckKind.TASK, CheckKind.APP)
        if task and self.task and check and not _LIVE.match(check.check):  # the file given
            uri, text = self.task
            physical = (uri, (json_line(text, check.at) if check.at else None) or 1)
        if physical is None and self.spec and role in self.spec[2]:
            uri, text, names = self.spec
            number = names.index(role) + 1
            key = f": key '{rule.key}'" if rule.key else ""
            line = toml_line(text, f"role {number}{key}") or 1
            if rule.named and check:  # the line of the policy or tag, if it is written
                line = _naming(text, line, check.check.removeprefix(rule.start).strip()) or line
            physical = (uri, line)
        found: dict[str, Any] = {"logicalLocations": [logical]}
        if physical:
            found["physicalLocation"] = {
                "artifactLocation": {"uri": physical[0]},
                "region": {"startLine": physical[1]},
            }
        return found


def _naming(text: str, start: int, name: str) -> int | None:
    """Return the first line from ``start`` on, within its role, that holds ``name``."""
    word = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
    for number, line in enumerate(text.splitlines()[start - 1 :], start):
        if number > start and line.strip().startswith("[[role]]"):
            return None
        if word.search(line):
            return number
    return None


def _uri(path: str) -> str:
    """Return a file's path as code scanning reads it: from the repository's root (the
    nearest folder above holding .git), else from the current folder, with / between."""
    whole = Path(path).resolve()
    for folder in whole.parents:
        if (folder / ".git").exists():
            return whole.relative_to(folder).as_posix()
    try:
        return whole.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return whole.as_posix()


def sarif(outcomes: Sequence[AccountReport]) -> str:
    """Return the reports of one account (None: the one account) or many as one SARIF log."""
    rules: dict[str, Rule] = {}
    results: list[dict[str, Any]] = []
    anchors: dict[tuple[str, tuple[str, ...]], _Files] = {}
    for account, report, error in outcomes:
        if report is None:
            rule = Rule("", "account-not-read", "an account could not be read")
            rules[rule.id] = rule
            where = {"logicalLocations": [{"name": account, "kind": "module"}]}
            results.append(_result(rule, "error", str(error), account, "", None, where))
            continue
        # Every account's report is of the same files: each is read and parsed once.
        key = (str(report.spec), tuple(t.task for t in report.tasks))
        if key not in anchors:
            anchors[key] = _Files.of(report)
        files = anchors[key]
        for role in report.roles:
            for check in role.checks:
                if check.ok:
                    continue
                unknown = check.severity is Severity.UNKNOWN
                level = "error" if check.failed or (unknown and report.strict) else "warning"
                rule = rule_of(check)
                rules[rule.id] = rule
                where = files.location(role.name, rule, check)
                results.append(
                    _result(rule, level, check.message, account, role.name, check, where)
                )
            if role.refusal:
                rules[_REFUSED.id] = _REFUSED
                where = files.location(role.name, _REFUSED, None)
                results.append(
                    _result(_REFUSED, "error", role.refusal, account, role.name, None, where)
                )
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "qbroles",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": [_rule(rule) for rule in rules.values()],
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def _rule(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": "".join(part.title() for part in rule.id.split("-")),
        "shortDescription": {"text": rule.says[:1].upper() + rule.says[1:]},
        "fullDescription": {"text": f"qbroles verify or plan found that {rule.says}."},
        "properties": {"tags": ["iam", "ecs"]},
    }


def _result(
    rule: Rule,
    level: str,
    message: str,
    account: str | None,
    role: str,
    check: Check | None,
    where: dict[str, Any],
) -> dict[str, Any]:
    said = f"{account}: {message}" if account else message
    identity = "\x1f".join((account or "", role, rule.id, check.check if check else "refused"))
    result: dict[str, Any] = {
        "ruleId": rule.id,
        "level": level,
        "message": {"text": said},
        "locations": [where],
        "partialFingerprints": {"qbroles/v1": hashlib.sha256(identity.encode()).hexdigest()[:32]},
        "properties": {"role": role} if role else {},
    }
    if account:
        result["properties"]["account"] = account
    return result
