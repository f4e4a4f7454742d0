"""Reaching AWS: the options, validated before anything is sent, and connect().

botocore is imported only when a gateway is built, so --help and spec errors never load it."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from qbroles import __version__
from qbroles.catalog import DEFAULT_BUDGET
from qbroles.errors import AwsError, InputError
from qbroles.iam.errors import redacted, reject_non_xml
from qbroles.iam.gateway import Gateway
from qbroles.iam.pacing import SCALE_VARIABLE, Pacer
from qbroles.model.events import Progress
from qbroles.partitions import data_loader, partition_of

REGION_SHAPE = re.compile(r"[a-z]{2,}(-[a-z]+)+-\d{1,2}")

# Where botocore looks for an endpoint when --endpoint-url is not given, most specific first.
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL")
MAX_ATTEMPTS = 100  # per call; Terraform's AWS provider makes up to 25
MAX_BUDGET = 3600.0  # seconds


@dataclass(frozen=True)
class AwsOptions:
    """Where and how to reach AWS; None means "as botocore finds it" (env, config files)."""

    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    max_attempts: int | None = None  # attempts per call, at most (else the budget decides)
    retry_budget: float = DEFAULT_BUDGET  # seconds of waiting for retries, a run in all
    patience: float = 120.0  # seconds to keep retrying what IAM's eventual consistency causes
    debug: bool = False  # each request on stderr (--debug)
    # An assumed role's (access key, secret key, session token): another account's run.
    credentials: tuple[str, str, str] | None = None

    def validate(self, environ: Mapping[str, str] | None = None) -> None:
        """Reject malformed settings, from options or the environment, before anything is sent."""
        env = os.environ if environ is None else environ
        regions = [(self.region, "--region or AWS_REGION")]
        regions.append((env.get("AWS_DEFAULT_REGION"), "AWS_DEFAULT_REGION"))
        for region, source in regions:
            # The shape first (no botocore needed to refuse "mars"), then the partitions.
            if region and (not REGION_SHAPE.fullmatch(region) or partition_of(region) is None):
                raise InputError(
                    f"region {region!r} ({source}) is not an AWS region name such as eu-west-1 "
                    "(none of the partitions botocore knows has it)."
                )
        endpoints = [(self.endpoint_url, "--endpoint-url")]
        if self.endpoint_url is None:
            endpoints += [(env.get(name), name) for name in ENDPOINT_VARIABLES]
        for url, source in endpoints:
            if url:
                _check_url(url, source)
        if self.max_attempts is not None:
            _check_attempts(str(self.max_attempts), "--max-attempts")
        elif env.get("AWS_MAX_ATTEMPTS"):
            _check_attempts(env["AWS_MAX_ATTEMPTS"], "AWS_MAX_ATTEMPTS")
        if not 0 <= self.retry_budget <= MAX_BUDGET:
            raise InputError(
                f"--retry-budget must be from 0 to {MAX_BUDGET:g} seconds, "
                f"not {self.retry_budget:g}."
            )
        _retry_scale(env)


def _check_attempts(value: str, source: str) -> None:
    if not (value.strip().isdigit() and 1 <= int(value) <= MAX_ATTEMPTS):
        raise InputError(
            f"{source} must be a whole number from 1 to {MAX_ATTEMPTS}, not {value!r}."
        )


def _retry_scale(environ: Mapping[str, str]) -> float:
    """Return the factor on every retry wait (QBROLES_RETRY_SCALE, 0 to 1; default 1)."""
    value = environ.get(SCALE_VARIABLE, "").strip()
    if not value:
        return 1.0
    try:
        scale = float(value)
    except ValueError:
        scale = -1.0
    if not 0 <= scale <= 1:
        raise InputError(f"{SCALE_VARIABLE} must be a number from 0 to 1, not {value!r}.")
    return scale


def _check_url(url: str, source: str) -> None:
    parts = urlsplit(url)
    shown = redacted(url)
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise InputError(f"{source} {shown!r} has an invalid port.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{source} {shown!r} is not an http(s) URL such as http://127.0.0.1:5000.")


def connect(options: AwsOptions, progress: Progress | None = None) -> Gateway:
    """Build the botocore session and IAM client; fail with one clear line if that cannot work.

    ``progress`` hears of every retry and its wait.
    """
    options.validate()
    # botocore directly: boto3's Session adds nothing IAM, STS or ECS clients use, and
    # importing boto3 (it loads s3transfer) costs about 25 ms a run.
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    try:
        core = botocore.session.Session(profile=options.profile)
        core.register_component("data_loader", data_loader())  # its data already read
        if options.region is not None:
            core.set_config_variable("region", options.region)
        if options.credentials is not None:
            core.set_credentials(*options.credentials)
        # Unless --max-attempts: AWS_MAX_ATTEMPTS or the profile's max_attempts, as botocore
        # reads them.
        configured = core.get_config_variable("max_attempts")
    except ProfileNotFound:
        name = options.profile or os.environ.get("AWS_PROFILE", "")
        raise AwsError(
            f"AWS profile {name!r} is not in the AWS config or credentials files; check "
            "--profile or AWS_PROFILE (aws configure list-profiles shows the profiles)."
        ) from None
    except (BotoCoreError, ValueError) as exc:  # a config file botocore cannot parse
        raise AwsError(_setup_failed(exc)) from None
    max_attempts = options.max_attempts
    if max_attempts is None and configured is not None:
        _check_attempts(str(configured), "max_attempts in the AWS config file")
        max_attempts = int(configured)
    pacer = Pacer(
        budget=options.retry_budget,
        max_attempts=max_attempts,
        scale=_retry_scale(os.environ),
        progress=progress,
    )
    # One attempt a call for botocore: the pacer decides every retry (see qbroles.pacing).
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=10,
        read_timeout=30,
        user_agent_extra=f"qbroles/{__version__}",  # who made a change, in CloudTrail
    )

    def client(service: str, region: str | None) -> Any:
        made = core.create_client(
            service, region_name=region, endpoint_url=options.endpoint_url, config=config
        )
        pacer.attach(made)
        if options.debug:
            from qbroles.iam.debug import trace

            trace(made)
        return made

    try:
        if core.get_credentials() is None:
            raise AwsError(
                "no AWS credentials found; set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (any values do for a local emulator)."
            )
        region = core.get_config_variable("region")
        partition = core.get_partition_for_region(region) if region else "aws"
        # IAM is global; with no region configured it signs in us-east-1 (the aws partition).
        iam = client("iam", region or "us-east-1")
    except (BotoCoreError, ValueError) as exc:  # a value in a profile botocore cannot use
        raise AwsError(_setup_failed(exc)) from None

    def sts() -> Any:
        sts_client = client("sts", region)
        sts_client.meta.events.register("before-parse.sts", reject_non_xml)
        return sts_client

    return Gateway(
        iam,
        partition=partition,
        region=region,
        sts=sts,
        clients=client,
        patience=options.patience,
        pacer=pacer,
        profile=core.profile or "default",
    )


def _setup_failed(exc: Exception) -> str:
    """Return the one line for an AWS setup botocore refused (config file, profile values)."""
    reason = " ".join(redacted(str(exc)).split()).rstrip(".")
    return (
        f"cannot set up the AWS client: {reason}; check the AWS config and credentials files "
        "(AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE) and the profile's values."
    )
