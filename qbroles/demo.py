"""`qbroles demo`: the whole story on moto's in-process emulator. No account, no network."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from qbroles.catalog import DEFAULT_WORKERS
from qbroles.errors import ExitCode, InputError
from qbroles.model.report import Report
from qbroles.reconcile import engine
from qbroles.spec.model import Spec, policy_label

EXTRA_POLICY = "arn:aws:iam::aws:policy/AmazonS3FullAccess"
REGION = "us-east-1"  # the emulated account's region
# Variables that would send the emulated calls elsewhere or name a profile the demo does not need.
_OUTSIDE = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_IAM")


@contextmanager
def emulator() -> Iterator[Any]:
    """Yield a boto3 IAM client on moto's in-process emulator, AWS managed policies loaded."""
    try:
        from moto import mock_aws
    except ImportError:
        raise InputError(
            "qbroles demo needs the local emulator moto; install it with: "
            "pip install 'qbroles[local]'."
        ) from None
    import boto3

    clean = {key: value for key, value in os.environ.items() if key not in _OUTSIDE}
    with (
        mock.patch.dict(os.environ, clean, clear=True),
        mock_aws(config={"iam": {"load_aws_managed_policies": True}}),
    ):
        yield boto3.client("iam", region_name=REGION)


def run_demo(
    spec: Spec,
    show: Callable[[Report], int],
    *,
    announce: Callable[[str], None],
    workers: int = DEFAULT_WORKERS,
) -> int:
    """Create, verify, drift, catch, repair, delete; return 0 when every step did as expected."""
    import boto3

    from qbroles.iam.gateway import Gateway

    with emulator() as client:
        gateway = Gateway(
            client,
            partition="aws",
            region=REGION,
            sts=lambda: boto3.client("sts", region_name=REGION),
            patience=5.0,
        )
        announce("1. create the roles on an empty (emulated) account")
        created = show(engine.create(gateway, spec, workers=workers))

        announce("2. verify them")
        clean = show(engine.verify(gateway, spec, workers=workers))

        victim = spec.roles[-1]
        removed = victim.policy_arns("aws")[:1]
        drift = [f"detach {policy_label(arn)}" for arn in removed]
        drift.append(f"attach {policy_label(EXTRA_POLICY)}")
        announce(f"3. a colleague changes {victim.name} by hand: {', '.join(drift)}")
        for arn in removed:
            client.detach_role_policy(RoleName=victim.name, PolicyArn=arn)
        client.attach_role_policy(RoleName=victim.name, PolicyArn=EXTRA_POLICY)

        announce("4. verify catches the drift (exit 1, with the reasons)")
        drifted = show(engine.verify(gateway, spec, workers=workers))

        announce("5. create --prune repairs it")
        repaired = show(engine.create(gateway, spec, prune=True, workers=workers))

        announce("6. delete removes what qbroles owns")
        deleted = show(engine.delete(gateway, spec, workers=workers))

    codes = (created, clean, drifted, repaired, deleted)
    if codes != (0, 0, 1, 0, 0):
        raise RuntimeError(f"the demo's steps ended with exit codes {codes}, not (0, 0, 1, 0, 0)")
    return ExitCode.OK
