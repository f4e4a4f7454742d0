"""Export a spec for the engines that roll roles out to many accounts: CloudFormation, Terraform.

Pure: no AWS. What qbroles resolves per run (the partition, account and region in trust
conditions and policies) becomes the template's own pseudo parameters or data sources,
so one template serves every account and region it is deployed to, unless the spec names an
ARN with its own account (``--secret-arn``, ``--kms-key-arn``): ``fixed_accounts`` finds those.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from qbroles import __version__
from qbroles.errors import InputError
from qbroles.files import check_encodable
from qbroles.partitions import arn_field
from qbroles.policy.documents import SourceScope, strings, trust_policy
from qbroles.spec.model import OWNER_TAG, RoleSpec, Spec, policy_arn

# A spec's placeholders, and the trust conditions built from them.
_PLACEHOLDERS = SourceScope(partition="{partition}", account="{account}", region="{region}")
_CFN = {"partition": "AWS::Partition", "account": "AWS::AccountId", "region": "AWS::Region"}
_TF = {
    "partition": "data.aws_partition.current.partition",
    "account": "data.aws_caller_identity.current.account_id",
    "region": "data.aws_region.current.region",
}
_PLACEHOLDER = re.compile(r"\{(partition|account|region)\}")


def fixed_accounts(spec: Spec) -> dict[str, list[str]]:
    """Return each account a role's documents name literally, with the ARNs that name it.

    Such an ARN means the same resource in every account the template is deployed to: right
    for a key or secret shared from one account, wrong for each account's own.
    """
    found: dict[str, list[str]] = {}
    for role in spec.roles:
        _, managed, boundary = _documents(role)
        inline = [document for _, document in role.inline_policies]
        for text in strings([inline, managed, boundary]):
            account = arn_field(text, "account") or ""  # "aws", "{account}" or "*": not one
            if re.fullmatch(r"\d{12}", account) and text not in found.setdefault(account, []):
                found[account].append(text)
    return found


def one_account_warnings(spec: Spec, command: str) -> list[str]:
    """Return a warning for each account the spec names literally (``fixed_accounts``)."""
    warnings = []
    for account, arns in fixed_accounts(spec).items():
        more = f" and {len(arns) - 1} more" if len(arns) > 1 else ""
        warnings.append(
            f"qbroles {command}: warning: the spec names account {account} in {arns[0]}{more}, "
            "so in every account the template is deployed to, the roles are granted that "
            "account's resource; unless it is shared from there, deploy the template to "
            "that account only, or write the ARN with {account} and {region} in a spec "
            "(qbroles init writes one)."
        )
    return warnings


def _documents(role: RoleSpec) -> tuple[dict[str, Any], list[str], str | None]:
    """Return the role's trust, managed policy ARNs and boundary with placeholders left in."""
    source = _PLACEHOLDERS if role.source_conditions else None
    trust = trust_policy(role.trusted_service, source=source)
    boundary = role.permissions_boundary
    arn = None if boundary is None else policy_arn(boundary, "{partition}")
    return trust, list(role.policy_arns("{partition}")), arn


def _logical_ids(spec: Spec) -> list[str]:
    """Return a resource name per role: ExecutionRole, TaskRole, else from the role's name."""
    ids: list[str] = []
    for role in spec.roles:
        base = f"{role.kind.capitalize()}Role" if role.kind else _alnum(role.name) + "Role"
        name, number = base, 2
        while name in ids:
            name, number = f"{base}{number}", number + 1
        ids.append(name)
    return ids


def _alnum(text: str) -> str:
    return "".join(c for c in text.title() if c.isalnum()) or "Role"


# --- CloudFormation


def cloudformation(spec: Spec) -> dict[str, Any]:
    """Return a CloudFormation template with an AWS::IAM::Role per role and its ARN as output."""
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for logical, role in zip(_logical_ids(spec), spec.roles, strict=True):
        trust, managed, boundary = _documents(role)
        properties: dict[str, Any] = {
            "RoleName": role.name,
            "Description": role.description,
            "Path": role.path,
            "MaxSessionDuration": role.max_session_duration,
            "AssumeRolePolicyDocument": _cfn(trust),
        }
        # Written even when empty: CloudFormation's drift detection checks only the
        # properties a template sets ("Only resource properties explicitly defined in the
        # stack template are checked for drift", StackResourceDrift:
        # https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackResourceDrift.html),
        # so a policy attached or put by hand is drift only where the list is written.
        properties["ManagedPolicyArns"] = _cfn(managed)
        properties["Policies"] = [
            {"PolicyName": name, "PolicyDocument": _cfn(document)}
            for name, document in role.inline_policies
        ]
        if boundary:
            properties["PermissionsBoundary"] = _cfn(boundary)
        # The spec's tags, and whose the role is: the stack's, so qbroles leaves it alone.
        properties["Tags"] = [
            *({"Key": key, "Value": value} for key, value in role.tags),
            {"Key": OWNER_TAG[0], "Value": "CloudFormation"},
            {"Key": "CloudFormationStack", "Value": {"Ref": "AWS::StackName"}},
        ]
        resources[logical] = {"Type": "AWS::IAM::Role", "Properties": properties}
        outputs[f"{logical}Arn"] = {
            "Description": f"The ARN of {role.name}"
            + (f" (the task definition's {role.kind}RoleArn)" if role.kind else ""),
            "Value": {"Fn::GetAtt": [logical, "Arn"]},
            "Export": {"Name": {"Fn::Sub": f"${{AWS::StackName}}-{logical}Arn"}},
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"The IAM roles of {spec.app}'s ECS tasks, exported by qbroles "
        f"{__version__} from {spec.source}.",
        "Resources": resources,
        "Outputs": outputs,
    }


def _cfn(value: Any) -> Any:
    """Return a value with the spec's placeholders turned into CloudFormation pseudo parameters.

    Only strings with a placeholder become Fn::Sub (with any ``${`` of their own, such as an
    IAM policy variable, escaped as ``${!``); the rest stay as they are.
    """
    if isinstance(value, Mapping):
        return {key: _cfn(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_cfn(item) for item in value]
    if not isinstance(value, str) or not _PLACEHOLDER.search(value):
        return value
    whole = _PLACEHOLDER.fullmatch(value)
    if whole:
        return {"Ref": _CFN[whole.group(1)]}
    text = value.replace("${", "${!")
    return {"Fn::Sub": _PLACEHOLDER.sub(lambda m: "${" + _CFN[m.group(1)] + "}", text)}


# --- Terraform (JSON configuration syntax)


def terraform(spec: Spec) -> dict[str, Any]:
    """Return a Terraform JSON configuration: aws_iam_role and exclusive policy attachments."""
    roles: dict[str, Any] = {}
    attachments: dict[str, Any] = {}
    inline: dict[str, Any] = {}
    inline_exclusive: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for logical, role in zip(_logical_ids(spec), spec.roles, strict=True):
        key = re.sub(r"(?<!^)(?=[A-Z])", "_", logical).lower()  # ExecutionRole -> execution_role
        trust, managed, boundary = _documents(role)
        resource: dict[str, Any] = {
            "name": role.name,
            "description": _tf_literal(role.description),
            "path": _tf_literal(role.path),
            "max_session_duration": role.max_session_duration,
            "assume_role_policy": _tf(json.dumps(trust)),
        }
        if boundary:
            resource["permissions_boundary"] = _tf(boundary)
        resource["tags"] = {key: _tf_literal(value) for key, value in role.tags} | {
            OWNER_TAG[0]: "Terraform"
        }
        roles[key] = resource
        # Exclusive: Terraform detaches what the configuration does not list, like --prune.
        attachments[key] = {
            "role_name": f"${{aws_iam_role.{key}.name}}",
            "policy_arns": [_tf(arn) for arn in managed],
        }
        names = []
        for index, (name, document) in enumerate(role.inline_policies, start=1):
            inline[f"{key}_{index}"] = {
                "role": f"${{aws_iam_role.{key}.id}}",
                "name": name,
                "policy": _tf(json.dumps(document)),
            }
            names.append(f"${{aws_iam_role_policy.{key}_{index}.name}}")
        inline_exclusive[key] = {
            "role_name": f"${{aws_iam_role.{key}.name}}",
            "policy_names": names,
        }
        outputs[f"{key}_arn"] = {"value": f"${{aws_iam_role.{key}.arn}}"}
    resources: dict[str, Any] = {
        "aws_iam_role": roles,
        "aws_iam_role_policy_attachments_exclusive": attachments,
        "aws_iam_role_policies_exclusive": inline_exclusive,
    }
    if inline:
        resources["aws_iam_role_policy"] = inline
    return {
        "//": f"The IAM roles of {spec.app}'s ECS tasks, exported by qbroles {__version__} "
        f"from {spec.source}.",
        "terraform": {
            "required_providers": {"aws": {"source": "hashicorp/aws", "version": ">= 6.0"}}
        },
        "data": {
            "aws_partition": {"current": {}},
            "aws_caller_identity": {"current": {}},
            "aws_region": {"current": {}},
        },
        "resource": resources,
        "output": outputs,
    }


def _tf(text: str) -> str:
    """Return a policy string as a Terraform template: placeholders become data sources."""
    return _PLACEHOLDER.sub(lambda m: "${" + _TF[m.group(1)] + "}", _tf_literal(text))


def _tf_literal(text: str) -> str:
    """Return text as a Terraform string that means just that text (every string is a template:
    its own ${ and %{ are escaped)."""
    return text.replace("${", "$${").replace("%{", "%%{")


# --- writing


def template_text(template: Mapping[str, Any], path: str | None, *, stdout: str = "yaml") -> str:
    """Return the template as JSON (.json) or YAML (.yaml, .yml) by ``path``'s extension.

    Without a path (or with -), in the ``stdout`` format.
    """
    from pathlib import PurePath

    suffix = stdout if path is None or path == "-" else PurePath(path).suffix.lower()[1:]
    if suffix == "json":
        return json.dumps(template, indent=2) + "\n"
    if suffix in ("yaml", "yml"):
        return yaml_dumps(template)
    raise InputError(
        f"--out {path}: give a file ending in .json, .yaml or .yml (the format follows it)."
    )


# YAML 1.1 reads these plain words as booleans or null; such keys are quoted.
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}
_PLAIN_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*(::?[A-Za-z0-9_]+)*")
# Escaped in strings: what YAML may not hold as is, or reads as a line break (NEL, LS, PS).
_ESCAPED = re.compile(
    "[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)


def yaml_dumps(data: Mapping[str, Any]) -> str:
    """Return block-style YAML for tables, lists, strings, integers and booleans.

    Strings are always double-quoted, in JSON's escapes (which YAML's include), so no
    string is ever read back as a number, a boolean or a date. (Why not PyYAML:
    CONTRIBUTING.md.)
    """
    return "\n".join(_yaml_block(data, 0)) + "\n"


def _yaml_block(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            head = f"{pad}{_yaml_key(key)}:"
            if _yaml_nested(item):
                lines += [head, *_yaml_block(item, indent + 2)]
            else:
                lines.append(f"{head} {_yaml_scalar(item)}")
        return lines
    for item in value:
        if _yaml_nested(item):
            inner = _yaml_block(item, indent + 2)
            lines += [f"{pad}- {inner[0].lstrip()}", *inner[1:]]
        else:
            lines.append(f"{pad}- {_yaml_scalar(item)}")
    return lines


def _yaml_nested(value: Any) -> bool:
    return isinstance(value, Mapping | list) and bool(value)


def _yaml_key(key: str) -> str:
    if _PLAIN_KEY.fullmatch(key) and key.lower() not in _YAML_WORDS:
        return key
    return _yaml_scalar(key)


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        check_encodable(value, "YAML")
        text = json.dumps(value, ensure_ascii=False)
        return _ESCAPED.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[]"
    raise TypeError(f"a template holds no {type(value).__name__} values")
