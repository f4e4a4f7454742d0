"""The one AWS gateway: typed reads, execute(action) for writes, botocore's errors turned into ours.

Everything else receives a ``Gateway``; tests build one around a moto-backed client."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

from qbroles.errors import AwsError, InputError
from qbroles.iam.errors import (
    no_such_entity,
    passes_with_time,
    redacted,
    reject_non_xml,
    translated,
)
from qbroles.iam.overlap import POOL, Overlap
from qbroles.iam.pacing import Pacer
from qbroles.model.actions import Action
from qbroles.model.state import RoleState
from qbroles.policy.documents import ROLES_SCOPED, NotIamAnswer, SourceScope, decode_document

T = TypeVar("T")

# The per-role listings: operation -> (boto3 paginator, key of the items in a page).
_LISTINGS = {
    "ListAttachedRolePolicies": ("list_attached_role_policies", "AttachedPolicies"),
    "ListRolePolicies": ("list_role_policies", "PolicyNames"),
    "ListInstanceProfilesForRole": ("list_instance_profiles_for_role", "InstanceProfiles"),
}


class Gateway:
    """IAM, as the rest of qbroles needs it: typed reads and writes with errors translated."""

    def __init__(
        self,
        client: Any,
        *,
        partition: str = "aws",
        region: str | None = None,
        sts: Callable[[], Any] | None = None,
        clients: Callable[[str, str], Any] | None = None,
        patience: float = 120.0,
        pacer: Pacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        profile: str = "default",
    ) -> None:
        self.client = client
        if pacer is None:  # a client built elsewhere: its own retries come first
            pacer = Pacer(sleep=sleep)
            pacer.attach(client)
        self.pacer = pacer
        client.meta.events.register("before-parse.iam", reject_non_xml)
        self.partition = partition
        self.profile = profile  # whose credentials sign the calls, for the messages
        self.region = region
        self._sts = sts  # builds the STS client, when the account is needed
        self._make_client = clients or _boto3_client  # a service's client in a region
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()  # a botocore session is not thread-safe
        self._overlap = Overlap()  # for calls that may overlap
        self._scope: SourceScope | None = None  # the caller's identity, asked once a run
        self.patience = patience
        self._clock = clock

    # --- reads

    def get_role(self, name: str) -> dict[str, Any] | None:
        """Return GetRole's Role (with tags, description, trust), or None if there is none."""
        with self.translating("GetRole", name):
            try:
                answer = self.client.get_role(RoleName=name)
            except Exception as exc:
                if not no_such_entity(exc):
                    raise
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
        return None if role is None else RoleState.from_get_role(role, frozenset(), {})

    def observe(self, name: str, *, for_delete: bool = False) -> RoleState | None:
        """Return the role as IAM holds it, or None.

        GetRole and the policy listings go out together: one round trip for a role that
        exists (every rerun), at the cost of listings answered NoSuchEntity for one that
        does not. ``for_delete`` also lists the instance profiles. Inline documents are read
        in a second round, never from inside a read: a read that waits on reads submitted
        to the same bounded pool can deadlock it.
        """

        def listings(missing_ok: bool) -> list[Callable[[], Any]]:
            reads: list[Callable[[], Any]] = [
                partial(self._managed, name, missing_ok=missing_ok),
                partial(self._list, "ListRolePolicies", name, missing_ok=missing_ok),
            ]
            if for_delete:  # IAM requires the role out of its instance profiles first
                reads.append(
                    partial(self._list, "ListInstanceProfilesForRole", name, missing_ok=missing_ok)
                )
            return reads

        first: list[Callable[[], Any]] = [partial(self.get_role, name), *listings(True)]
        role, *found = self.together(first)
        if role is None:
            return None
        if any(items is None for items in found):  # created between the reads: list again
            found = self.together(listings(False))
        managed, names, *profiles = found
        state = RoleState.from_get_role(role, managed, self._inline_documents(name, names))
        if profiles:
            held = tuple(profile["InstanceProfileName"] for profile in profiles[0])
            state = replace(state, instance_profiles=held)
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
        got = dict(zip(wanted, self.together([reads[p] for p in wanted]), strict=True))
        fresh = state
        if "role" in got:
            if got["role"] is None:
                return None
            fresh = RoleState.from_get_role(
                got["role"], state.managed_policies, state.inline_policies
            )
        if "managed" in got:
            fresh = replace(fresh, managed_policies=got["managed"])
        if "inline" in got:  # the documents in a second round: no read waits on reads
            fresh = replace(fresh, inline_policies=self._inline_documents(name, got["inline"]))
        return fresh

    def together(self, calls: Sequence[Callable[[], T]], *, at_most: int = POOL) -> list[T]:
        """Return the results of independent calls, made at the same time (iam.overlap)."""
        return self._overlap.run(calls, at_most)

    def _managed(self, name: str, *, missing_ok: bool = False) -> frozenset[str] | None:
        """Return the ARNs of the role's attached policies (None: no such role, if
        ``missing_ok``)."""
        attached = self._list("ListAttachedRolePolicies", name, missing_ok=missing_ok)
        return None if attached is None else frozenset(p["PolicyArn"] for p in attached)

    def _inline_documents(self, name: str, policies: Sequence[str]) -> dict[str, Any]:
        fetch = [partial(self.inline_policy, name, policy) for policy in policies]
        return dict(zip(policies, self.together(fetch), strict=True))

    def inline_policy(self, role: str, policy: str) -> dict[str, Any] | None:
        """Return an inline policy's document (None if it went away meanwhile)."""
        with self.translating("GetRolePolicy", role):
            try:
                answer = self.client.get_role_policy(RoleName=role, PolicyName=policy)
            except Exception as exc:
                if not no_such_entity(exc):
                    raise
                return None
            return decode_document(answer["PolicyDocument"])

    def source_scope(self, needed_for: str = ROLES_SCOPED) -> SourceScope:
        """Return the caller's account, region and partition (one sts:GetCallerIdentity a run).

        ``needed_for`` says why, in the message when no region is set: the roles' own
        conditions, or the ARNs a task definition names by account and region.
        """
        if self._scope is not None:
            return self._scope
        if self.region is None or self._sts is None:
            raise InputError(
                f"{needed_for}, but no region is set; pass --region or set AWS_REGION."
            )
        sts = self._sts()
        with self.translating(
            "GetCallerIdentity", "the caller", subject="identity of", service="sts", client=sts
        ):
            arn = sts.get_caller_identity()["Arn"]
        _, partition, _, _, account, _ = arn.split(":", 5)
        self._scope = SourceScope(partition=partition, account=account, region=self.region)
        return self._scope

    def service(self, name: str, region: str | None = None) -> Any:
        """Return a service's client in a region (the run's unless given), made once a run."""
        region = region or self.region
        if region is None:
            raise InputError(
                "task definitions and what they name live in a region, but no region is set; "
                "pass --region or set AWS_REGION."
            )
        with self._clients_lock:
            if (name, region) not in self._clients:
                self._clients[name, region] = self._make_client(name, region)
            return self._clients[name, region]

    def _list(self, operation: str, role: str, *, missing_ok: bool = False) -> Any:
        """Return every item of a paginated per-role listing (None: no such role, if
        ``missing_ok``)."""
        paginator_name, key = _LISTINGS[operation]
        items: list[Any] = []
        with self.translating(operation, role):
            try:
                for page in self.client.get_paginator(paginator_name).paginate(RoleName=role):
                    if not isinstance(page.get(key), list):
                        raise NotIamAnswer(f"no {key} in the answer to {operation}")
                    items.extend(page[key])
            except Exception as exc:
                if not (missing_ok and no_such_entity(exc)):
                    raise
                return None
        return items

    # --- writes: each returns once IAM holds the change

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

        Throttling, 5xx and lost connections are retried by the pacer, inside botocore.
        Retried here, with backoff for up to ``patience`` seconds, is what IAM's eventual
        consistency makes pass: ConcurrentModification, the call's ``retry_if`` codes, and,
        for a role created moments ago (``fresh``), IAM not seeing the role or its principal
        yet. ``before_retry`` runs before each retry of a ``retry_if`` code: it may raise to
        stop, and says why the call is waiting.
        """
        from botocore import xform_name
        from botocore.exceptions import ClientError

        call = action.call()
        method = getattr(self.client, xform_name(call.operation))
        operation, role = call.operation, action.role
        deadline = self._clock() + self.patience
        attempt = 0
        why = ""
        while True:
            attempt += 1
            with self.translating(operation, role):
                try:
                    method(**call.params)
                    return True
                except ClientError as exc:
                    code = exc.response.get("Error", {}).get("Code", "")
                    if code in call.done_if:
                        return False
                    passing = passes_with_time(code, exc, call.retry_if, fresh)
                    if passing and code in call.retry_if and self._clock() >= deadline:
                        raise AwsError(
                            f"{operation} on role {role}: IAM kept answering {code} for "
                            f"{self.patience:.0f} s ({why or 'no reason given'}); resolve that, "
                            "then rerun."
                        ) from None
                    if not (passing and self._clock() < deadline):
                        raise
            if before_retry is not None and code in call.retry_if:
                why = before_retry()
            delay = min(8.0, 0.25 * 2 ** min(attempt, 5)) * random.uniform(0.5, 1.0)
            delay *= self.pacer.scale  # QBROLES_RETRY_SCALE shrinks every wait alike
            wait = max(0.0, min(delay, deadline - self._clock()))
            left = max(0.0, deadline - self._clock())
            reason = f" ({why}; waiting up to {left:.0f} s more)" if why else ""
            self.pacer.progress.waiting(
                f"IAM answered {code} to {operation} on {role}{reason}", wait
            )
            self.pacer.sleep(wait)

    def translating(
        self,
        operation: str,
        role: str,
        subject: str = "role",
        service: str = "iam",
        client: Any = None,
    ) -> AbstractContextManager[None]:
        """Turn botocore's exceptions into one-line AwsErrors naming the call and the role,
        and the endpoint of the ``client`` that made it (IAM's unless given)."""
        return translated(
            operation,
            " ".join(part for part in (operation, "on", subject, role) if part),
            endpoint=redacted(str((client or self.client).meta.endpoint_url)),
            service=service,
            pacer=self.pacer,
            profile=self.profile,
        )


def _boto3_client(service: str, region: str) -> Any:
    import boto3  # a plain client, for a gateway built around a client made elsewhere

    return boto3.client(service, region_name=region)
