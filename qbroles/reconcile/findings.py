"""Security findings: what a role can do that it should not need to. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

from qbroles.catalog import NARROWER, RoleKind, broad
from qbroles.model.checks import FINDING, Check, CheckKind, Severity
from qbroles.model.state import RoleState
from qbroles.partitions import arn_field
from qbroles.policy.documents import listed, statements
from qbroles.spec.model import policy_label

# Every check made here is a finding: its kind says so, for the report to count them.
_finding = partial(Check, kind=CheckKind.FINDING)


def findings(
    name: str,
    state: RoleState,
    *,
    strict: bool = False,
    kms_key_arn: str | None = None,
    kind: RoleKind | None = None,
) -> tuple[Check, ...]:
    """Return the security findings of one role: warnings, or failures when ``strict``.

    Confused-deputy conditions are asked of every role but the execution role: AWS
    documents them for the task role ("Amazon ECS task IAM role",
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html),
    not for the execution role, where they are reported as a risk instead.
    """
    severity = Severity.ERROR if strict else Severity.WARNING
    found: list[Check] = list(_trust_findings(name, state, severity, kind))
    if kind != RoleKind.EXECUTION and _trusts_service_without_source(state.trust):
        found.append(
            _finding(
                f"{FINDING}confused deputy",
                False,
                "aws:SourceAccount and aws:SourceArn conditions",
                "none",
                f"the trust policy of {name} lets the service assume it on behalf of any "
                "account; add aws:SourceAccount and aws:SourceArn conditions "
                "(source_conditions = true in the spec; the least-privilege preset has them)",
                severity,
            )
        )
    for arn in sorted(state.managed_policies):
        label = policy_label(arn)
        too_broad = broad(label)
        if too_broad is not None:
            why, instead = too_broad.why, too_broad.instead
            found.append(
                _finding(
                    f"{FINDING}broad policy {label}",
                    False,
                    "narrow grants",
                    label,
                    f"{label} {why}; {instead} ({NARROWER})",
                    severity,
                )
            )
    for policy, document in sorted(state.inline_policies.items()):
        if document is not None and any(_everything(s) for s in _allows(document)):
            found.append(
                _finding(
                    f"{FINDING}broad inline policy {policy}",
                    False,
                    "narrow grants",
                    "*:* on *",
                    f"inline policy {policy} allows every action on every resource; grant the "
                    "actions the app needs on its own resources",
                    severity,
                )
            )
    if kms_key_arn and _reads_secrets(state) and not _decrypts(state, kms_key_arn):
        found.append(
            _finding(
                f"{FINDING}secrets without kms:Decrypt",
                False,
                f"kms:Decrypt on {kms_key_arn}",
                "none",
                f"{name} may read secrets but not decrypt those under the customer key "
                f"{kms_key_arn}, so tasks fail with ResourceInitializationError; grant "
                "kms:Decrypt on that key (--kms-key-arn with the least-privilege preset)",
                severity,
            )
        )
    return tuple(found)


def _trust_findings(
    name: str, state: RoleState, severity: Severity, kind: RoleKind | None
) -> Iterator[Check]:
    """Yield what is wrong with whom the trust policy lets assume the role."""
    account = arn_field(state.arn, "account") or ""
    for statement in _allows(state.trust or {}):
        principal = statement.get("Principal", {})
        entries = (
            [("*", principal)]
            if not isinstance(principal, Mapping)
            else [(k, v) for k, vs in principal.items() for v in listed(vs)]
        )
        for key, value in entries:
            text = str(value)
            if text == "*":
                yield _finding(
                    f"{FINDING}anyone may assume it",
                    False,
                    "named principals",
                    f"{key}: *",
                    f"the trust policy of {name} lets any principal assume it; name the "
                    "service or accounts that need it",
                    severity,
                )
            elif key == "AWS" and account and account not in text:
                yield _finding(
                    f"{FINDING}another account may assume it",
                    False,
                    f"principals of {account}",
                    text,
                    f"the trust policy of {name} lets {text}, outside this account, assume it; "
                    "remove it unless that account must use the role",
                    severity,
                )
        for block in (statement.get("Condition") or {}).values():
            if not isinstance(block, Mapping):
                continue
            for key, values in block.items():
                if key.lower() in ("aws:sourceaccount", "aws:sourcearn") and "*" in map(
                    str, listed(values)
                ):
                    yield _finding(
                        f"{FINDING}{key} is *",
                        False,
                        "this account",
                        "*",
                        f"the trust policy of {name} has {key} = *, which protects nothing; "
                        "set it to this account",
                        severity,
                    )
    if (
        kind == RoleKind.EXECUTION
        and not _trusts_service_without_source(state.trust)
        and any(_allows(state.trust or {}))
    ):
        yield _finding(
            f"{FINDING}conditions on the execution role's trust",
            False,
            "no aws:SourceAccount/aws:SourceArn conditions",
            "conditions",
            f"the trust policy of {name} has confused-deputy conditions, which AWS documents "
            "for the task role only; if ECS does not meet them when it assumes the execution "
            "role, no task starts; keep them only if you have seen tasks start with them",
            Severity.WARNING,
        )


def _trusts_service_without_source(trust: Mapping[str, Any] | None) -> bool:
    for statement in _allows(trust or {}):
        principal = statement.get("Principal", {})
        if isinstance(principal, Mapping) and "Service" in principal:
            keys = {
                key.lower()
                for block in (statement.get("Condition") or {}).values()
                if isinstance(block, Mapping)
                for key in block
            }
            if not keys & {"aws:sourceaccount", "aws:sourcearn"}:
                return True
    return False


def _allows(document: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for statement in statements(document):
        if statement.get("Effect") == "Allow":
            yield statement


def _everything(statement: Mapping[str, Any]) -> bool:
    actions = {str(a) for a in listed(statement.get("Action", []))}
    resources = {str(r) for r in listed(statement.get("Resource", []))}
    return bool(actions & {"*", "*:*"}) and "*" in resources


def _inline_actions(state: RoleState) -> Iterator[tuple[str, list[Any]]]:
    for document in state.inline_policies.values():
        for statement in _allows(document or {}):
            for action in listed(statement.get("Action", [])):
                yield str(action).lower(), listed(statement.get("Resource", []))


def _reads_secrets(state: RoleState) -> bool:
    if any(policy_label(arn) == "SecretsManagerReadWrite" for arn in state.managed_policies):
        return True
    return any(
        action in ("secretsmanager:getsecretvalue", "secretsmanager:*", "*")
        for action, _ in _inline_actions(state)
    )


def _decrypts(state: RoleState, key: str) -> bool:
    return any(
        action in ("kms:decrypt", "kms:*", "*") and (key in resources or "*" in resources)
        for action, resources in _inline_actions(state)
    )
