"""The one AWS gateway: owns boto3, builds the client, and turns botocore errors into ours.

Everything else receives a ``Gateway``; tests build one around a moto-backed client.
boto3 is imported only when a gateway is built, so --help and spec errors never load it.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

from qbroles.errors import AwsError, InputError
from qbroles.model import Action, RoleState
from qbroles.pacing import DEFAULT_BUDGET, SCALE_VARIABLE, GaveUp, Pacer
from qbroles.partitions import partition_of
from qbroles.policies import NotIamAnswer, SourceScope, decode_document
from qbroles.progress import Progress

T = TypeVar("T")

REGION_SHAPE = re.compile(r"[a-z]{2,}(-[a-z]+)+-\d{1,2}")
# Where botocore looks for an endpoint when --endpoint-url is not given, most specific first.
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL")
# Error codes that mean the credentials themselves are bad.
_CREDENTIAL_CODES = {
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "AuthFailure",
}
_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
# The per-role listings: operation -> (boto3 paginator, key of the items in a page).
_LISTINGS = {
    "ListAttachedRolePolicies": ("list_attached_role_policies", "AttachedPolicies"),
    "ListRolePolicies": ("list_role_policies", "PolicyNames"),
    "ListInstanceProfilesForRole": ("list_instance_profiles_for_role", "InstanceProfiles"),
}
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


def redacted(url: str) -> str:
    """Return a URL fit to print: user and password (http://user:secret@host) masked."""
    return re.sub(r"(?<=://)[^/@\s]*@", "***@", url)


def _check_url(url: str, source: str) -> None:
    parts = urlsplit(url)
    shown = redacted(url)
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise InputError(f"{source} {shown!r} has an invalid port.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{source} {shown!r} is not an http(s) URL such as http://127.0.0.1:5000.")


def connect(options: AwsOptions) -> Gateway:
    """Build the boto3 session and IAM client; fail with one clear line if that cannot work."""
    options.validate()
    import boto3
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    try:
        core = botocore.session.Session(profile=options.profile)
        session = boto3.Session(botocore_session=core, region_name=options.region)
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
    )
    # One attempt a call for botocore: the pacer decides every retry (see qbroles.pacing).
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=10, read_timeout=30
    )

    def client(service: str, region: str | None) -> Any:
        made = session.client(
            service, region_name=region, endpoint_url=options.endpoint_url, config=config
        )
        pacer.attach(made)
        return made

    try:
        if session.get_credentials() is None:
            raise AwsError(
                "no AWS credentials found; set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (any values do for a local emulator)."
            )
        region = session.region_name
        partition = session.get_partition_for_region(region) if region else "aws"
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
        ecs=lambda: client("ecs", region),
        patience=options.patience,
        pacer=pacer,
    )


def _setup_failed(exc: Exception) -> str:
    """Return the one line for an AWS setup botocore refused (config file, profile values)."""
    reason = " ".join(redacted(str(exc)).split()).rstrip(".")
    return (
        f"cannot set up the AWS client: {reason}; check the AWS config and credentials files "
        "(AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE) and the profile's values."
    )


class Gateway:
    """IAM, as the rest of qbroles needs it: typed reads and writes with errors translated."""

    def __init__(
        self,
        client: Any,
        *,
        partition: str = "aws",
        region: str | None = None,
        sts: Callable[[], Any] | None = None,
        ecs: Callable[[], Any] | None = None,
        patience: float = 120.0,
        pacer: Pacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        if pacer is None:  # a client built elsewhere: its own retries come first
            pacer = Pacer(sleep=sleep)
            pacer.attach(client)
        self.pacer = pacer
        client.meta.events.register("before-parse.iam", reject_non_xml)
        self.partition = partition
        self.region = region
        self._sts = sts  # builds the STS client, when the account is needed
        self._ecs_client = ecs  # builds the ECS client, when task definitions are read
        self._ecs: Any = None
        self._readers: ThreadPoolExecutor | None = None  # for reads that may overlap
        self._scope: SourceScope | None = None  # the caller's identity, asked once a run
        self.patience = patience
        self._clock = clock

    @property
    def progress(self) -> Progress:
        """Where retries and their waits are reported (the pacer's, so botocore's are too)."""
        return self.pacer.progress

    @progress.setter
    def progress(self, progress: Progress) -> None:
        self.pacer.progress = progress

    # --- reads

    def get_role(self, name: str) -> dict[str, Any] | None:
        """Return GetRole's Role (with tags, description, trust), or None if there is none."""
        with self._translated("GetRole", name):
            try:
                answer = self.client.get_role(RoleName=name)
            except self.client.exceptions.NoSuchEntityException:
                return None
            role = answer.get("Role")
            if not isinstance(role, Mapping):
                raise NotIamAnswer("no Role in the answer to GetRole")
            for key in ("RoleName", "Arn"):
                if not isinstance(role.get(key), str):
                    raise NotIamAnswer(f"a Role without its {key}")
            trust = decode_document(role.get("AssumeRolePolicyDocument"))
        return {**role, "AssumeRolePolicyDocument": trust}

    def role_state(self, name: str) -> RoleState | None:
        """Return what GetRole tells of a role (no policies), or None: one call."""
        role = self.get_role(name)
        return None if role is None else _state(role, frozenset(), {})

    def observe(self, name: str, *, for_delete: bool = False) -> RoleState | None:
        """Return the role as IAM holds it, or None.

        ``for_delete`` also reads the instance profiles. Inline documents are read in a
        second round, never from inside a read: a read that waits on reads submitted to
        the same bounded pool can deadlock it.
        """
        role = self.get_role(name)
        if role is None:  # GetRole first: listing a missing role's policies would be wasted
            return None
        reads: list[Callable[[], Any]] = [
            lambda: self._managed(name),
            lambda: self._list("ListRolePolicies", name),
        ]
        if for_delete:  # IAM requires the role out of its instance profiles first
            reads.append(lambda: self._list("ListInstanceProfilesForRole", name))
        managed, inline_names, *profiles = self._together(reads)
        state = _state(role, managed, self._inline_documents(name, inline_names))
        if profiles:
            names = tuple(profile["InstanceProfileName"] for profile in profiles[0])
            state = replace(state, instance_profiles=names)
        return state

    def reread(self, state: RoleState, parts: frozenset[str]) -> RoleState | None:
        """Return the role with only the given parts read again: "role", "managed", "inline".

        After a write only what it changed is read again: one attach costs one listing.
        """
        name = state.name
        reads: dict[str, Callable[[], Any]] = {
            "role": lambda: self.get_role(name),
            "managed": lambda: self._managed(name),
            "inline": lambda: self._list("ListRolePolicies", name),
        }
        wanted = [part for part in reads if part in parts]
        got = dict(zip(wanted, self._together([reads[p] for p in wanted]), strict=True))
        fresh = state
        if "role" in got:
            if got["role"] is None:
                return None
            fresh = _state(got["role"], state.managed_policies, state.inline_policies)
        if "managed" in got:
            fresh = replace(fresh, managed_policies=got["managed"])
        if "inline" in got:  # the documents in a second round: no read waits on reads
            fresh = replace(fresh, inline_policies=self._inline_documents(name, got["inline"]))
        return fresh

    def _together(self, reads: Sequence[Callable[[], T]]) -> list[T]:
        """Return the results of independent reads, made at the same time (writes never are).

        A read must not call this itself: it would wait on the pool it occupies, and enough
        such waits deadlock it. Called from a reader thread, it runs the reads in turn.
        """
        if len(reads) <= 1 or getattr(_reader, "busy", False):
            return [read() for read in reads]
        if self._readers is None:
            self._readers = ThreadPoolExecutor(max_workers=16, thread_name_prefix="qbroles-read")
        futures = [self._readers.submit(_as_reader, read) for read in reads]
        return [future.result() for future in futures]

    def _managed(self, name: str) -> frozenset[str]:
        attached = self._list("ListAttachedRolePolicies", name)
        return frozenset(policy["PolicyArn"] for policy in attached)

    def _inline_documents(self, name: str, policies: Sequence[str]) -> dict[str, Any]:
        fetch = [partial(self.inline_policy, name, policy) for policy in policies]
        return dict(zip(policies, self._together(fetch), strict=True))

    def inline_policy(self, role: str, policy: str) -> dict[str, Any] | None:
        """Return an inline policy's document (None if it went away meanwhile)."""
        with self._translated("GetRolePolicy", role):
            try:
                answer = self.client.get_role_policy(RoleName=role, PolicyName=policy)
            except self.client.exceptions.NoSuchEntityException:
                return None
            return decode_document(answer["PolicyDocument"])

    def managed_policy_document(self, arn: str) -> dict[str, Any] | None:
        """Return the default version of a managed policy's document (two reads)."""
        with self._translated("GetPolicy", arn, subject="policy"):
            try:
                version = self.client.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
                answer = self.client.get_policy_version(PolicyArn=arn, VersionId=version)
            except self.client.exceptions.NoSuchEntityException:
                return None
            return decode_document(answer["PolicyVersion"]["Document"])

    def source_scope(self) -> SourceScope:
        """Return the caller's account, region and partition (one sts:GetCallerIdentity a run)."""
        if self._scope is not None:
            return self._scope
        if self.region is None or self._sts is None:
            raise InputError(
                "these roles are scoped to the account and region, but no region is set; "
                "pass --region or set AWS_REGION."
            )
        with self._translated(
            "GetCallerIdentity", "the caller", subject="identity of", service="sts"
        ):
            arn = self._sts().get_caller_identity()["Arn"]
        _, partition, _, _, account, _ = arn.split(":", 5)
        self._scope = SourceScope(partition=partition, account=account, region=self.region)
        return self._scope

    def ecs(self) -> Any:
        """Return the ECS client of the run's region (task definitions are regional)."""
        if self._ecs is None:
            if self.region is None:
                raise InputError(
                    "task definitions live in a region, but no region is set; pass --region "
                    "or set AWS_REGION."
                )
            if self._ecs_client is None:
                import boto3

                self._ecs_client = lambda: boto3.client("ecs", region_name=self.region)
            self._ecs = self._ecs_client()
        return self._ecs

    def task_definition(self, reference: str) -> dict[str, Any] | None:
        """Return a task definition from ECS (family, family:revision or ARN), or None."""
        from botocore.exceptions import ClientError

        ecs = self.ecs()
        with self._translated(
            "DescribeTaskDefinition", reference, subject="task definition", service="ecs"
        ):
            try:
                answer = ecs.describe_task_definition(taskDefinition=reference)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("ClientException",):
                    return None
                raise
            found = answer.get("taskDefinition")
            if not isinstance(found, Mapping):
                raise NotIamAnswer("no taskDefinition in the answer to DescribeTaskDefinition")
            return dict(found)

    def live_task_definitions(self) -> list[dict[str, Any]]:
        """Return every ACTIVE task definition of the region (listed, then read, overlapped)."""
        ecs = self.ecs()
        arns: list[str] = []
        with self._translated(
            "ListTaskDefinitions", "of the region", subject="task definitions", service="ecs"
        ):
            for page in ecs.get_paginator("list_task_definitions").paginate(status="ACTIVE"):
                arns.extend(page.get("taskDefinitionArns") or [])
        found = self._together([partial(self.task_definition, arn) for arn in arns])
        return [document for document in found if document is not None]

    def _list(self, operation: str, role: str) -> list[Any]:
        """Return every item of a paginated per-role listing."""
        paginator_name, key = _LISTINGS[operation]
        items: list[Any] = []
        with self._translated(operation, role):
            for page in self.client.get_paginator(paginator_name).paginate(RoleName=role):
                if not isinstance(page.get(key), list):
                    raise NotIamAnswer(f"no {key} in the answer to {operation}")
                items.extend(page[key])
        return items

    # --- writes

    def execute(
        self,
        action: Action,
        *,
        fresh: bool = False,
        before_retry: Callable[[], str] | None = None,
    ) -> bool:
        """Make the action's IAM call; return once IAM holds the change.

        Return False if IAM answered that it was so already (a code in the call's
        ``done_if``: the answer to an earlier attempt was lost, or another run raced us).
        ``fresh``: the role was created moments ago. ``before_retry``: see ``_write``.
        """
        from botocore import xform_name

        call = action.call()
        method = getattr(self.client, xform_name(call.operation))
        return self._write(
            call.operation,
            action.role,
            lambda: method(**call.params),
            done_if=call.done_if,
            retry_if=call.retry_if,
            fresh=fresh,
            before_retry=before_retry,
        )

    # --- the mechanism

    def _write(
        self,
        operation: str,
        role: str,
        call: Callable[[], Any],
        *,
        done_if: set[str] | frozenset[str] = frozenset(),
        retry_if: set[str] | frozenset[str] = frozenset(),
        fresh: bool = False,
        before_retry: Callable[[], str] | None = None,
    ) -> bool:
        """Run a write; return False if IAM answered with a code in ``done_if``.

        botocore (standard mode) already retries throttling, 5xx and lost connections.
        Retried here, with backoff for up to ``patience`` seconds, is what it does not
        know to be passing: ConcurrentModification, the codes in ``retry_if``, and, for a
        role created moments ago (``fresh``), IAM not seeing the role or its principal yet.
        ``before_retry`` runs before each retry of a ``retry_if`` code: it may raise to stop,
        and says why the call is waiting.
        """
        from botocore.exceptions import ClientError

        deadline = self._clock() + self.patience
        attempt = 0
        why = ""
        while True:
            attempt += 1
            with self._translated(operation, role):
                try:
                    call()
                    return True
                except ClientError as exc:
                    code = exc.response.get("Error", {}).get("Code", "")
                    if code in done_if:
                        return False
                    passing = self._passing(code, exc, retry_if, fresh)
                    if passing and code in retry_if and self._clock() >= deadline:
                        raise AwsError(
                            f"{operation} on role {role}: IAM kept answering {code} for "
                            f"{self.patience:.0f} s ({why or 'no reason given'}); resolve that, "
                            "then rerun."
                        ) from None
                    if not (passing and self._clock() < deadline):
                        raise
            if before_retry is not None and code in retry_if:
                why = before_retry()
            delay = min(8.0, 0.25 * 2 ** min(attempt, 5)) * random.uniform(0.5, 1.0)
            wait = max(0.0, min(delay, deadline - self._clock()))
            left = max(0.0, deadline - self._clock())
            reason = f" ({why}; waiting up to {left:.0f} s more)" if why else ""
            self.progress.waiting(f"IAM answered {code} to {operation} on {role}{reason}", wait)
            self.pacer.sleep(wait)

    @staticmethod
    def _passing(
        code: str, exc: Exception, retry_if: set[str] | frozenset[str], fresh: bool
    ) -> bool:
        if code == "ConcurrentModification" or code in retry_if:
            return True
        if not fresh:
            return False
        message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", "")).lower()
        if code == "NoSuchEntity":
            # The role is not visible yet; a missing *policy* ("Policy arn:... does not exist")
            # will not appear by waiting, and its ARN may well contain the word "Role".
            return not message.startswith("policy") and "role" in message
        return code == "MalformedPolicyDocument" and "invalid principal" in message

    @contextmanager
    def _translated(
        self, operation: str, role: str, subject: str = "role", service: str = "iam"
    ) -> Iterator[None]:
        """Turn botocore's exceptions into one-line AwsErrors naming the call and the role."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
            ReadTimeoutError,
        )
        from botocore.parsers import ResponseParserError

        where = f"{operation} on {subject} {role}"
        endpoint = redacted(str(self.client.meta.endpoint_url))
        try:
            with self.pacer.calling(where):
                yield
        except ClientError as exc:
            # The call that failed, exactly (one block may make several calls).
            action = f"{service}:{getattr(exc, 'operation_name', None) or operation}"
            raise AwsError(
                client_error_message(exc, action, where, self.pacer.gave_up())
            ) from None
        except (NoCredentialsError, PartialCredentialsError):
            raise AwsError(
                f"{where}: no usable AWS credentials; set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY."
            ) from None
        except (
            EndpointConnectionError,
            ConnectTimeoutError,
            ReadTimeoutError,
            ConnectionClosedError,
        ):
            gave_up = self.pacer.gave_up()
            tried = f" ({gave_up.reason()})" if gave_up else ""
            remedy = gave_up.remedy() if gave_up else "check the network or --endpoint-url"
            raise AwsError(
                f"{where}: could not reach IAM at {endpoint}{tried}; {remedy}, then rerun."
            ) from None
        except json.JSONDecodeError:
            raise AwsError(
                f"{where}: {endpoint} answered with a policy document that "
                "is not JSON, as AWS IAM never does; check --endpoint-url."
            ) from None
        except ResponseParserError:
            raise AwsError(
                f"{where}: {endpoint} did not answer like AWS IAM; check --endpoint-url."
            ) from None
        except NotIamAnswer as exc:
            raise AwsError(
                f"{where}: {endpoint} did not answer like AWS IAM ({exc}); check --endpoint-url."
            ) from None
        except BotoCoreError as exc:
            raise AwsError(f"{where} failed: {redacted(str(exc))}.") from None


_reader = threading.local()  # marks the threads of the read pool


def _as_reader(read: Callable[[], T]) -> T:
    _reader.busy = True
    return read()


def _state(
    role: Mapping[str, Any], managed: frozenset[str], inline: Mapping[str, Any]
) -> RoleState:
    """Return a RoleState from GetRole's answer and the role's policies."""
    return RoleState(
        name=role["RoleName"],
        arn=role["Arn"],
        trust=decode_document(role.get("AssumeRolePolicyDocument")),
        description=role.get("Description", ""),
        tags={tag["Key"]: tag["Value"] for tag in role.get("Tags", [])},
        managed_policies=managed,
        inline_policies=dict(inline),
        permissions_boundary=role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn"),
        max_session_duration=role.get("MaxSessionDuration", 3600),
        path=role.get("Path", "/"),
        role_id=role.get("RoleId", ""),
    )


def reject_non_xml(response_dict: dict[str, Any], **_: Any) -> None:
    """Refuse to parse an answer that is not IAM's XML (an HTML page, garbage).

    botocore's XML parser meets such a body with a bare KeyError; raising its own
    ResponseParserError here turns it into the one-line "did not answer like AWS IAM".
    """
    from botocore.parsers import ResponseParserError

    body = response_dict.get("body") or b""
    head = body.lstrip()[:64].lower()
    if head and (not head.startswith(b"<") or head.startswith((b"<html", b"<!doctype"))):
        raise ResponseParserError(f"not an IAM answer: {head[:32]!r}")


def client_error_message(exc: Any, action: str, where: str, gave_up: GaveUp | None) -> str:
    error = exc.response.get("Error", {})
    code = error.get("Code", "") or str(
        exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    )
    message = str(error.get("Message", "")).rstrip(".") or "no message"
    if code in _DENIED_CODES:
        return (
            f"AWS denied {action} ({where}): {message}; grant {action} to the "
            "caller or use a profile that has it."
        )
    if code in _CREDENTIAL_CODES:
        return (
            f"AWS rejected the credentials ({where}): {message}; refresh them or check "
            "AWS_PROFILE / AWS_ACCESS_KEY_ID."
        )
    if gave_up is not None:  # retried until a limit stopped it
        kept = "throttling" if gave_up.throttled else f"failing ({code}: {message})"
        return (
            f"AWS kept {kept} {where}: {gave_up.reason()}; wait a minute and rerun "
            f"(a rerun resumes where this one stopped), or {gave_up.remedy()}."
        )
    if code == "NoSuchEntity" and message.lower().startswith("policy"):
        return (
            f"{where}: {message}; check the policy name in the spec (AWS managed policies under "
            "a path need it, e.g. service-role/AmazonECSTaskExecutionRolePolicy)."
        )
    if code == "ConcurrentModification":
        return f"{where}: IAM kept reporting a concurrent modification; rerun in a minute."
    return f"AWS refused {where}: {code}: {message}."
