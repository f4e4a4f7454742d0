"""qbroles export: CloudFormation and Terraform equivalent to the spec, for every account."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given

from qbroles.catalog import EXPORT_FORMATS as FORMATS
from qbroles.catalog import PRESETS
from qbroles.cli import cli
from qbroles.errors import ExitCode
from qbroles.export import cloudformation, terraform, yaml_dumps
from qbroles.policy.documents import SourceScope, decode_document
from qbroles.reconcile.desired import DesiredRole, resolve
from qbroles.spec.load import load_spec
from qbroles.spec.model import DIGEST_TAG, OWNER_TAG, RECORD_TAG, SPEC_TAG, Spec
from qbroles.spec.presets import Scope, preset_spec
from tests.conftest import all_commands
from tests.figures import count
from tests.servers import MotoServer, qbroles, tool
from tests.strategies import tables

ACCOUNT, REGION = "123456789012", "us-east-1"
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::StackName": "qbroles-roles",
}

CUSTOM = """
app = "Acme"
[[role]]
name = "{app}-Worker"
description = "Worker of {app}: ${costs} %{if} {account}, as written"
path = "/apps/"
max_session_duration = 7200
source_conditions = true
managed_policies = ["ReadOnlyAccess", "arn:aws:iam::123456789012:policy/Mine"]
permissions_boundary = "PowerUserAccess"
tags = { Team = "web", "cost:centre" = "42" }
[role.inline_policies.home]
Version = "2012-10-17"
[[role.inline_policies.home.Statement]]
Effect = "Allow"
Action = "s3:GetObject"
Resource = "arn:{partition}:s3:::acme-{account}/home/${aws:username}/*"
[[role.inline_policies.home.Statement]]
Effect = "Allow"
Action = "s3:ListAllMyBuckets"
Resource = "arn:aws:s3:::${aws:username}"
"""


def specs(tmp_path: Path) -> list[Spec]:
    custom = tmp_path / "custom.toml"
    custom.write_text(CUSTOM)
    return [*(preset_spec(name, None, Scope()) for name in PRESETS), load_spec(custom)]


@given(tables)
def test_pyyaml_reads_back_exactly_what_the_yaml_writer_wrote(document: dict[str, Any]) -> None:
    assert yaml.safe_load(yaml_dumps(document)) == (document or None)
    count("writers: YAML documents read back")


def test_the_format_choices_are_the_formats_export_writes() -> None:
    command = all_commands()["export"]
    (option,) = [p for p in command.params if p.name == "form"]
    assert tuple(option.type.choices) == FORMATS


def evaluate(value: Any) -> Any:
    """Resolve the intrinsic functions a qbroles template uses, as CloudFormation would."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return PSEUDO[value["Ref"]]
        if set(value) == {"Fn::Sub"}:
            substituted = re.sub(
                r"\$\{([^!}][^}]*)\}", lambda m: PSEUDO[m.group(1)], value["Fn::Sub"]
            )
            return substituted.replace("${!", "${")
        return {key: evaluate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [evaluate(item) for item in value]
    return value


def moto_inline_policy(document: Any) -> Any:
    """Return an inline policy moto's CloudFormation made.

    moto keeps a template's PolicyDocument object as it is and answers GetRolePolicy with its
    Python repr, not JSON (AWS answers JSON); read that repr for what it holds.
    """
    if isinstance(document, str) and document.startswith("{'"):
        return ast.literal_eval(document)
    return decode_document(document)


def desired(spec: Spec) -> tuple[DesiredRole, ...]:
    return resolve(spec, "aws", SourceScope("aws", ACCOUNT, REGION))


def test_the_cloudformation_template_resolves_to_the_spec_in_any_account(tmp_path: Path) -> None:
    for spec in specs(tmp_path):
        template = cloudformation(spec)
        resources = template["Resources"]
        assert len(resources) == len(spec.roles)
        for (logical, resource), role, wanted in zip(
            resources.items(), spec.roles, desired(spec), strict=True
        ):
            assert resource["Type"] == "AWS::IAM::Role"
            got = evaluate(resource["Properties"])
            assert got["RoleName"] == wanted.name
            assert got["AssumeRolePolicyDocument"] == wanted.trust
            # Both written, empty too: CloudFormation's drift detection sees only these.
            assert got["ManagedPolicyArns"] == list(wanted.managed_policies)
            assert {p["PolicyName"]: p["PolicyDocument"] for p in got["Policies"]} == dict(
                wanted.inline_policies
            )
            assert got.get("PermissionsBoundary") == wanted.permissions_boundary
            assert (got["Description"], got["Path"], got["MaxSessionDuration"]) == (
                wanted.description,
                wanted.path,
                wanted.max_session_duration,
            )
            # The spec's tags, and the stack's ownership instead of qbroles'.
            assert {t["Key"]: t["Value"] for t in got["Tags"]} == {
                **dict(role.tags),
                "ManagedBy": "CloudFormation",
                "CloudFormationStack": "qbroles-roles",
            }
            assert template["Outputs"][f"{logical}Arn"]["Value"] == {"Fn::GetAtt": [logical, "Arn"]}


def test_policy_variables_survive_and_strings_without_placeholders_stay_plain(
    tmp_path: Path,
) -> None:
    custom = specs(tmp_path)[-1]
    resource = cloudformation(custom)["Resources"]["AcmeWorkerRole"]
    statements = resource["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert statements[0]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::acme-${AWS::AccountId}/home/${!aws:username}/*"
    }
    assert statements[1]["Resource"] == "arn:aws:s3:::${aws:username}"  # no Fn::Sub, as written


def test_cfn_lint_passes(tmp_path: Path) -> None:
    """Every preset and a custom spec, as YAML and as JSON: six templates, one cfn-lint run
    (it takes seconds to start), which names the file of any finding."""
    (tmp_path / "custom.toml").write_text(CUSTOM)
    cases = ([], ["--preset", "least-privilege"], ["--spec", str(tmp_path / "custom.toml")])
    templates = []
    for suffix in ("yaml", "json"):
        for number, args in enumerate(cases):
            out = tmp_path / f"template-{number}.{suffix}"
            result = CliRunner().invoke(cli, [*args, "export", "--out", str(out)])
            assert result.exit_code == ExitCode.OK, result.stderr
            templates.append(str(out))
    lint = subprocess.run([tool("cfn-lint"), *templates], capture_output=True, text=True)
    assert (lint.returncode, lint.stdout) == (0, ""), lint.stdout + lint.stderr
    count("export: templates linted", len(templates))


def test_export_writes_yaml_on_stdout_and_json_or_yaml_by_extension(
    tmp_path: Path, calls: list[str]
) -> None:
    result = CliRunner().invoke(cli, ["export"])
    assert result.exit_code == ExitCode.OK
    template = cloudformation(preset_spec("workshop", None, Scope()))
    assert yaml.safe_load(result.stdout) == template
    assert not result.stdout.lstrip().startswith("{")
    as_json = CliRunner().invoke(cli, ["-o", "json", "export"])
    assert json.loads(as_json.stdout) == template  # -o json: JSON on stdout
    for name, load in (
        ("t.json", json.loads),
        ("t.yml", yaml.safe_load),
        ("t.YAML", yaml.safe_load),
    ):
        assert CliRunner().invoke(cli, ["export", "--out", str(tmp_path / name)]).exit_code == 0
        assert load((tmp_path / name).read_text()) == template
    assert calls == []


def test_export_warns_when_the_spec_names_one_accounts_resources(calls: list[str]) -> None:
    """--secret-arn and --kms-key-arn are one account's: the template is not for every account."""
    scoped = ["--preset", "least-privilege"]
    quiet = CliRunner().invoke(cli, [*scoped, "export"])
    assert (quiet.exit_code, quiet.stderr) == (ExitCode.OK, "")  # {account} placeholders only
    secret = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:db-AbCdEf"
    key = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    result = CliRunner().invoke(
        cli, [*scoped, "--secret-arn", secret, "--kms-key-arn", key, "export"]
    )
    assert result.exit_code == ExitCode.OK
    lines = result.stderr.splitlines()
    assert [line.split(" in ")[0] for line in lines] == [
        "qbroles export: warning: the spec names account 111111111111",
        "qbroles export: warning: the spec names account 222222222222",
    ]
    assert secret in lines[0]
    assert "{account} and {region}" in lines[0]
    assert secret in json.dumps(yaml.safe_load(result.stdout))  # kept as given, not rewritten
    assert calls == []


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["export", "--out", "t.txt"], ExitCode.USAGE, ".json, .yaml or .yml"),
        (["export", "--format", "terraform", "--out", "t.json"], ExitCode.USAGE, ".tf.json"),
        (["export", "--format", "ansible"], ExitCode.USAGE, "ansible"),
    ],
)
def test_bad_export_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], code: int, needle: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == code
    assert needle in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_export_does_not_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "roles.yaml"
    out.write_text("mine")
    result = CliRunner().invoke(cli, ["export", "--out", str(out)])
    assert result.exit_code == ExitCode.SAFETY
    assert out.read_text() == "mine"
    assert CliRunner().invoke(cli, ["export", "--out", str(out), "--force"]).exit_code == 0
    assert yaml.safe_load(out.read_text())["Resources"]


@pytest.mark.e2e
def test_a_stack_on_moto_cloudformation_yields_the_roles(
    tmp_path: Path, env: dict[str, str], server: MotoServer
) -> None:
    spec = specs(tmp_path)[1]  # least-privilege: trust conditions and inline policies
    out = tmp_path / "roles.yaml"
    assert qbroles(env, "--preset", "least-privilege", "export", "--out", str(out)).returncode == 0
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    cfn = session.client("cloudformation", endpoint_url=server.url)
    iam = session.client("iam", endpoint_url=server.url)
    cfn.create_stack(
        StackName="qbroles-roles",
        TemplateBody=out.read_text(),
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    count("export: stacks deployed to moto")
    stack = cfn.describe_stacks(StackName="qbroles-roles")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    for wanted in desired(spec):
        role = iam.get_role(RoleName=wanted.name)["Role"]
        assert decode_document(role["AssumeRolePolicyDocument"]) == wanted.trust
        assert role["Description"] == wanted.description
        tags = {t["Key"]: t["Value"] for t in role.get("Tags", [])}
        assert tags == {"ManagedBy": "CloudFormation", "CloudFormationStack": "qbroles-roles"}
        for name, document in wanted.inline_policies.items():
            got = iam.get_role_policy(RoleName=wanted.name, PolicyName=name)["PolicyDocument"]
            assert moto_inline_policy(got) == document
        kind = "ExecutionRoleArn" if wanted.kind == "execution" else "TaskRoleArn"
        assert outputs[kind] == role["Arn"]
    # The roles are the stack's: their ARNs are the stack's outputs, not qbroles'.
    printed = qbroles(env, "--preset", "least-privilege", "outputs", "--format", "json")
    assert printed.returncode == ExitCode.DIFFERENCES
    assert printed.stdout == ""
    assert (
        "is managed by CloudFormation (tag ManagedBy=CloudFormation) (take its ARN from "
        "CloudFormation)" in printed.stderr
    )
    # moto answers GetRolePolicy on these roles with a Python repr: one line, exit 3.
    broken = qbroles(env, "--preset", "least-privilege", "verify")
    assert broken.returncode == ExitCode.AWS
    assert "answered with a policy document that is not JSON" in broken.stderr
    assert "Traceback" not in broken.stderr


@pytest.mark.e2e
def test_qbroles_leaves_roles_a_stack_owns_alone(
    tmp_path: Path, env: dict[str, str], server: MotoServer
) -> None:
    out = tmp_path / "roles.json"
    assert qbroles(env, "--app", "Stacked", "export", "--out", str(out)).returncode == 0
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    session.client("cloudformation", endpoint_url=server.url).create_stack(
        StackName="stacked", TemplateBody=out.read_text(), Capabilities=["CAPABILITY_NAMED_IAM"]
    )
    count("export: stacks deployed to moto")
    for command in (("create",), ("delete", "--yes")):
        refused = qbroles(env, "--app", "Stacked", *command)
        assert refused.returncode == ExitCode.SAFETY, refused.stderr
        assert "is managed by CloudFormation" in refused.stderr
        assert "change it through CloudFormation" in refused.stderr
    iam = session.client("iam", endpoint_url=server.url)
    assert iam.get_role(RoleName="Stacked-ECS-TaskRole")["Role"]["Arn"]
    # verify reads them; that qbroles does not own them is a warning, not a difference.
    checks = {
        check["check"]: (check["ok"], check["severity"], check["message"])
        for role in json.loads(qbroles(env, "--app", "Stacked", "-o", "json", "verify").stdout)[
            "roles"
        ]
        for check in role["checks"]
    }
    assert checks["owned by qbroles"] == (
        False,
        "warning",
        "managed by CloudFormation (ManagedBy=CloudFormation): create and delete leave it to "
        "CloudFormation",
    )
    assert checks["trust policy"][:2] == (True, "error")
    assert "description" not in checks  # the preset's own words are not asked of a role


@pytest.mark.e2e
def test_a_tagged_custom_stack_carries_its_tags_on_moto(
    tmp_path: Path, env: dict[str, str], server: MotoServer
) -> None:
    spec = specs(tmp_path)[-1]
    template = cloudformation(spec)
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    cfn = session.client("cloudformation", endpoint_url=server.url)
    cfn.create_stack(
        StackName="custom", TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_NAMED_IAM"]
    )
    count("export: stacks deployed to moto")
    role = session.client("iam", endpoint_url=server.url).get_role(RoleName="Acme-Worker")["Role"]
    assert {t["Key"]: t["Value"] for t in role["Tags"]} == {
        **dict(spec.roles[0].tags),
        "ManagedBy": "CloudFormation",
        "CloudFormationStack": "custom",
    }
    assert role["Path"] == "/apps/"
    assert role["MaxSessionDuration"] == 7200


def test_terraform_configuration_is_consistent_and_resolves_to_the_spec(tmp_path: Path) -> None:
    data = {
        "data.aws_partition.current.partition": "aws",
        "data.aws_caller_identity.current.account_id": ACCOUNT,
        "data.aws_region.current.region": REGION,
    }

    def interpolate(text: str) -> str:
        """Evaluate a Terraform string template as Terraform would, data sources known."""
        resolved = re.sub(r"(?<!\$)\$\{(data\.[^}]+)\}", lambda m: data[m.group(1)], text)
        # Anything else unescaped is an expression Terraform would try to evaluate.
        assert not re.search(
            r"(?<!\$)\$\{|(?<!%)%\{", resolved.replace("$${", "").replace("%%{", "")
        )
        return resolved.replace("$${", "${").replace("%%{", "%{")

    for spec in specs(tmp_path):
        config = json.loads(json.dumps(terraform(spec)))
        resources = config["resource"]
        defined = {f"{kind}.{name}" for kind, items in resources.items() for name in items}
        text = json.dumps(config)
        for reference in re.findall(r"(?<!\$)\$\{(aws_[a-z_]+\.[a-z0-9_]+)\.[a-z_]+\}", text):
            assert reference in defined, reference
        for reference in re.findall(r"(?<!\$)\$\{(data\.[a-z_]+\.current)\.[a-z_]+\}", text):
            kind = reference.split(".")[1]
            assert kind in config["data"], reference
        roles = resources["aws_iam_role"]
        for (key, role), wanted in zip(roles.items(), desired(spec), strict=True):
            assert role["name"] == wanted.name
            assert interpolate(role["description"]) == wanted.description
            assert interpolate(role["path"]) == wanted.path
            assert {k: interpolate(v) for k, v in role["tags"].items()} == {
                k: v
                for k, v in wanted.tags.items()
                if k not in (OWNER_TAG[0], RECORD_TAG, SPEC_TAG, DIGEST_TAG)
            } | {"ManagedBy": "Terraform"}
            assert json.loads(interpolate(role["assume_role_policy"])) == wanted.trust
            attached = resources["aws_iam_role_policy_attachments_exclusive"][key]
            assert attached["role_name"] == f"${{aws_iam_role.{key}.name}}"
            assert [interpolate(a) for a in attached["policy_arns"]] == list(
                wanted.managed_policies
            )
            inline = {
                p["name"]: json.loads(interpolate(p["policy"]))
                for p in resources.get("aws_iam_role_policy", {}).values()
                if p["role"] == f"${{aws_iam_role.{key}.id}}"
            }
            assert inline == dict(wanted.inline_policies)
            exclusive = resources["aws_iam_role_policies_exclusive"][key]["policy_names"]
            assert len(exclusive) == len(inline)
            assert config["output"][f"{key}_arn"]["value"] == f"${{aws_iam_role.{key}.arn}}"
            boundary = role.get("permissions_boundary")
            assert (interpolate(boundary) if boundary else None) == wanted.permissions_boundary
