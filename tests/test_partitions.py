"""Every partition botocore knows: regions resolved offline, ARNs in the region's partition."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from qbroles.cli import cli
from qbroles.errors import ExitCode
from qbroles.partitions import partition_of

# One region of each partition (eusc-de-east-1 is a real region of aws-eusc; the iso ones
# are listed by botocore; the last is unknown to it but matches aws's region pattern).
REGIONS = {
    "us-east-1": "aws",
    "cn-north-1": "aws-cn",
    "us-gov-west-1": "aws-us-gov",
    "us-iso-east-1": "aws-iso",
    "us-isob-east-1": "aws-iso-b",
    "eu-isoe-west-1": "aws-iso-e",
    "us-isof-south-1": "aws-iso-f",
    "eusc-de-east-1": "aws-eusc",
    "ap-southeast-99": "aws",
}


@pytest.mark.parametrize(("region", "partition"), sorted(REGIONS.items()))
def test_plan_uses_the_partition_of_the_region(
    moto_iam: None, monkeypatch: pytest.MonkeyPatch, region: str, partition: str
) -> None:
    assert partition_of(region) == partition
    monkeypatch.setenv("AWS_REGION", region)
    result = CliRunner().invoke(cli, ["-o", "json", "plan"])
    assert result.exit_code == 0, result.stderr
    changes = [c for r in json.loads(result.stdout)["roles"] for c in r["changes"]]
    arns = [c["arn"] for c in changes if c["action"] == "attach_policy"]
    assert len(arns) == 8
    assert all(arn.startswith(f"arn:{partition}:iam::aws:policy/") for arn in arns)


def test_a_region_no_partition_has_is_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch, calls: list[str]
) -> None:
    monkeypatch.setenv("AWS_REGION", "moon-base-1")
    result = CliRunner().invoke(cli, ["plan"])
    assert result.exit_code == ExitCode.USAGE
    assert "moon-base-1" in result.stderr
    assert calls == []


def test_verify_names_each_policy_by_its_full_arn(moto_iam: None) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["create"]).exit_code == 0
    report: Any = json.loads(runner.invoke(cli, ["-o", "json", "verify"]).stdout)
    policies = [c for r in report["roles"] for c in r["checks"] if c["check"].startswith("policy ")]
    assert len(policies) == 8
    assert all(c["arn"].startswith("arn:aws:iam::aws:policy/") for c in policies)
