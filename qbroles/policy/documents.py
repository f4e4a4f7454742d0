"""Policy documents: the trust policy a role spec asks for, and semantic comparison."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

POLICY_VERSION = "2012-10-17"


def trust_policy(service: str, *, source: SourceScope | None = None) -> dict[str, Any]:
    """Return the trust policy that lets ``service`` assume the role.

    With ``source``, only on behalf of that account (confused-deputy protection, as the
    ECS guide shows for the task role: "Amazon ECS task IAM role",
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html).
    aws:SourceArn is arn:PARTITION:ecs:*:ACCOUNT:* : ECS does not support a cluster ARN
    there, and a role is global, so a region in it would silently keep tasks started in
    any other region from assuming the role.
    """
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if source is not None:
        statement["Condition"] = {
            "ArnLike": {"aws:SourceArn": f"arn:{source.partition}:ecs:*:{source.account}:*"},
            "StringEquals": {"aws:SourceAccount": source.account},
        }
    return {"Version": POLICY_VERSION, "Statement": [statement]}


# Why a run needs the caller's account and region: said when no region is set.
ROLES_SCOPED = "these roles are scoped to the account and region"
TASK_SCOPED = (
    "the task definition names its secrets, parameters and log groups by account and region"
)


@dataclass(frozen=True)
class SourceScope:
    """The account, region and partition a role's ARNs and conditions are scoped to."""

    partition: str
    account: str
    region: str


def fill(document: Any, values: Mapping[str, str]) -> Any:
    """Return the document with ``{name}`` placeholders in its strings replaced by values."""
    if isinstance(document, Mapping):
        return {key: fill(value, values) for key, value in document.items()}
    if isinstance(document, list):
        return [fill(item, values) for item in document]
    if isinstance(document, str):
        for name, value in values.items():
            document = document.replace("{" + name + "}", value)
    return document


def strings(document: Any) -> Iterator[str]:
    """Yield every string of a JSON document (its values, not its keys), depth first."""
    if isinstance(document, Mapping):
        for value in document.values():
            yield from strings(value)
    elif isinstance(document, list):
        for value in document:
            yield from strings(value)
    elif isinstance(document, str):
        yield document


def placeholders(document: Any) -> set[str]:
    """Return the ``{name}`` placeholders used in the document's strings."""
    return {name for text in strings(document) for name in re.findall(r"\{([a-z_]+)\}", text)}


# Nesting no IAM policy or task definition comes near (a Condition sits 5 levels deep).
MAX_DEPTH = 32


def too_deep(document: Any, limit: int = MAX_DEPTH) -> bool:
    """Return whether a decoded JSON value nests deeper than ``limit`` (checked without recursion).

    Documents are walked recursively elsewhere; one nested a few hundred levels would
    overflow the stack there, so it is refused at the door.
    """
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, Mapping):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return False


def compact_size(document: Any) -> int:
    """Return the size IAM counts for a policy document (JSON without white space)."""
    return len(json.dumps(document, separators=(",", ":")))


_ACTION = re.compile(r"\*|[a-zA-Z0-9-]+:[A-Za-z0-9*?]+")
_STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}


def policy_problem(document: Any) -> str | None:
    """Return what is wrong with an identity policy document, or None if IAM would take it."""
    if not isinstance(document, Mapping):
        return "a policy document must be a JSON object"
    if too_deep(document):
        return f"it nests deeper than {MAX_DEPTH} levels, as no IAM policy does"
    unknown = set(document) - {"Version", "Id", "Statement"}
    if unknown:
        return f"unknown top-level key {sorted(unknown)[0]!r}"
    if "Id" in document and not isinstance(document["Id"], str):
        return "'Id' must be a string"
    if document.get("Version") not in ("2012-10-17", "2008-10-17"):
        return "'Version' must be \"2012-10-17\""
    statements = document.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        return "'Statement' must be a statement or a non-empty list of them"
    for number, statement in enumerate(statements, start=1):
        problem = _statement_problem(statement)
        if problem:
            return f"statement {number}: {problem}"
    # "In IAM, the Sid value must be unique within a JSON policy" (IAM JSON policy elements:
    # Sid, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_sid.html)
    sids = [statement["Sid"] for statement in statements if "Sid" in statement]
    twice = sorted({sid for sid in sids if sids.count(sid) > 1})
    if twice:
        return f"the Sid {twice[0]!r} names two statements; IAM wants each Sid unique"
    return None


def _statement_problem(statement: Any) -> str | None:
    if not isinstance(statement, Mapping):
        return "must be a JSON object"
    unknown = set(statement) - _STATEMENT_KEYS
    if unknown:
        return f"unknown key {sorted(unknown)[0]!r} (an identity policy has no Principal)"
    if statement.get("Effect") not in ("Allow", "Deny"):
        return '\'Effect\' must be "Allow" or "Deny"'
    for one, other in (("Action", "NotAction"), ("Resource", "NotResource")):
        if (one in statement) == (other in statement):
            return f"needs exactly one of {one!r} and {other!r}"
        key = one if one in statement else other
        values = _listed(statement[key])
        if not values or not all(isinstance(v, str) and v for v in values):
            return f"{key!r} must be a non-empty string or list of strings"
        if one == "Action" and not all(_ACTION.fullmatch(v) for v in values):
            bad = next(v for v in values if not _ACTION.fullmatch(v))
            return f"{bad!r} is not an action such as s3:GetObject"
        # IAM refuses any other resource: "Resource X must be in ARN format or "*"" (IAM
        # JSON policy elements: Resource, resources are given by ARN or a wildcard,
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html)
        if one == "Resource" and not all(v == "*" or v.startswith("arn:") for v in values):
            bad = next(v for v in values if not (v == "*" or v.startswith("arn:")))
            return f'{key} {bad!r} must be an ARN (arn:...) or "*"'
    condition = statement.get("Condition", {})
    if not isinstance(condition, Mapping) or not all(
        isinstance(v, Mapping) for v in condition.values()
    ):
        return "'Condition' must map operators to tables of keys and values"
    if "Sid" in statement and not (
        isinstance(statement["Sid"], str) and re.fullmatch(r"[A-Za-z0-9]*", statement["Sid"])
    ):
        return "'Sid' may hold only letters and digits"
    return None


def canonical(document: Mapping[str, Any]) -> Any:
    """Return a hashable form of a policy document in which equivalent documents are equal.

    IAM treats a single value and a one-element list alike (``"Action": "x"`` and
    ``["x"]``, ``"Statement": {...}`` and ``[{...}]``), ignores the order of list elements
    and statements, and may return either form; so every value of every key becomes a
    sorted tuple of distinct canonical elements.
    """
    return tuple(sorted((str(key), _values(value)) for key, value in document.items()))


def _values(value: Any) -> tuple[Any, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(sorted({_element(item) for item in items}, key=repr))


def _element(item: Any) -> Any:
    if isinstance(item, Mapping):
        # "Sid": "" (as Terraform and the console write it) is no Sid at all.
        return canonical({k: v for k, v in item.items() if not (k == "Sid" and v == "")})
    if isinstance(item, list):
        return _values(item)
    return item


def same_policy(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Return whether two policy documents grant the same thing (see ``canonical``)."""
    if a is None or b is None:
        return a is b
    return bool(canonical(a) == canonical(b))


class NotIamAnswer(ValueError):
    """An answer AWS IAM never gives: a missing element, a document of the wrong shape."""


def decode_document(document: Any) -> dict[str, Any] | None:
    """Return a policy document as a dict, whether boto3 decoded it already or not.

    NotIamAnswer for what IAM never returns: a document that is not a JSON object, or one
    nested deeper than any policy (it would overflow the stack of what compares it).
    """
    if document is None:
        return None
    if isinstance(document, str):
        from urllib.parse import unquote

        text = document if document.lstrip().startswith("{") else unquote(document)
        try:
            decoded = json.loads(text)
        except RecursionError:
            raise NotIamAnswer("a policy document nested too deeply") from None
    else:
        decoded = document
    if not isinstance(decoded, Mapping):
        raise NotIamAnswer("a policy document that is not a JSON object")
    if too_deep(decoded):
        raise NotIamAnswer(f"a policy document nested deeper than {MAX_DEPTH} levels")
    return dict(decoded)


# Keys whose value IAM may give as one string or a list of them.
_LISTED_KEYS = {"Statement", "Action", "NotAction", "Resource", "NotResource", "Service", "AWS"}


def display_form(document: Any) -> Any:
    """Return a document as people compare it: one-element values as lists, lists sorted.

    Two documents ``same_policy`` calls equal have the same display form, so a diff of
    display forms shows only what differs in meaning.
    """
    if isinstance(document, Mapping):
        return {
            key: display_form(_listed(value) if key in _LISTED_KEYS else value)
            for key, value in sorted(document.items())
        }
    if isinstance(document, list):
        items = [display_form(item) for item in document]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return document


def document_diff(actual: Any, expected: Any) -> list[str]:
    """Return a unified diff, line by line, from what IAM holds to what the spec asks for."""
    import difflib

    def lines(document: Any) -> list[str]:
        return json.dumps(display_form(document), indent=2).splitlines()

    return list(
        difflib.unified_diff(
            lines(actual), lines(expected), "actual (IAM)", "expected (spec)", lineterm="", n=2
        )
    )


def statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Return a policy's statements: IAM takes one statement or a list of them.

    Anything that is not a statement object is left out (validation names it elsewhere).
    """
    found = document.get("Statement", [])
    return [item for item in listed(found) if isinstance(item, Mapping)]


def listed(value: Any) -> list[Any]:
    """Return a policy value as a list: IAM takes one value or a list of them."""
    return value if isinstance(value, list) else [value]


def trust_summary(document: Mapping[str, Any] | None) -> str:
    """Return one line per statement: effect, principal (trust policies), actions."""
    if document is None:
        return "none"
    parts = []
    for statement in statements(document):
        principal = statement.get("Principal", {})
        who: list[str] = []
        if isinstance(principal, Mapping):
            for kind, value in sorted(principal.items()):
                who.extend(f"{kind}:{v}" if kind != "Service" else str(v) for v in _listed(value))
        else:
            who.append(str(principal))
        actions = ",".join(str(a) for a in _listed(statement.get("Action", "?")))
        condition = " if ..." if statement.get("Condition") else ""
        effect = statement.get("Effect", "?")
        parts.append(" ".join(filter(None, [effect, *who, actions])) + condition)
    return "; ".join(parts) or "no statements"


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
