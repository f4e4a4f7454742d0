"""Applying a saved plan: IAM read again must hold what the plan was made from, and the
plan made again from that read must be the file's, action for action; else exit 4.

Otherwise the plan takes the one path (the fresh read just before the first write, the
restore file, apply, verify), as every change does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qbroles import __version__
from qbroles.catalog import DEFAULT_WORKERS
from qbroles.errors import SafetyError
from qbroles.iam.gateway import Gateway
from qbroles.model.events import Progress
from qbroles.reconcile import path
from qbroles.reconcile.backup import action_document
from qbroles.reconcile.executor import observe_all
from qbroles.reconcile.saved import SavedPlan, account_here, plain, remake, state_document


def replay(
    gateway: Gateway,
    saved: SavedPlan,
    *,
    dry_run: bool = False,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> path.Plan:
    """Return the saved plan, made again from a fresh read that must find IAM as the plan
    was made from; refuse (SafetyError, exit 4) before any write if it does not, if the
    credentials are another account's, or if this qbroles plans the roles otherwise."""
    from qbroles.reconcile.engine import plan_create

    progress = progress or Progress()
    names = [role.name for role in saved.desired]
    observed = observe_all(gateway, names, workers, progress)
    partition = gateway.partition
    account = account_here(
        gateway,
        observed,
        f"plan file {saved.path} is for account {saved.account}, and qbroles must know whose "
        "credentials these are to compare",
    )
    if (account, partition) != (saved.account, saved.partition):
        raise SafetyError(
            f"plan file {saved.path} is for account {saved.account} ({saved.partition}), and "
            f"these credentials are of account {account} ({partition}); nothing was changed."
        )
    moved = [
        f"role {name}: {'; '.join(changes)}"
        for name in names
        if (changes := changed(saved.reads[name], state_document(observed[name])))
    ]
    if moved:
        raise SafetyError(
            f"IAM changed since the plan in {saved.path} was made ({saved.made}): "
            f"{'; '.join(moved)}; nothing was changed: {remake(saved.path, saved)}."
        )
    plan = plan_create(
        gateway,
        "create",
        saved.desired,
        observed,
        saved.options,
        spec={k: v for k, v in saved.spec.items() if k != "digest"},
        dry_run=dry_run,
    )
    for role_plan in plan.roles:
        now = [plain(action_document(action)) for action in role_plan.actions]
        if now != saved.actions[role_plan.role]:
            raise SafetyError(
                f"qbroles {__version__} plans role {role_plan.role} otherwise than the "
                f"qbroles {saved.version or '(unknown version)'} that wrote {saved.path}, "
                f"from the same read; nothing was changed: {remake(saved.path, saved)}."
            )
    return plan


# What each part of a role is called where a saved plan says what changed.
_PARTS = {
    "trust": "its trust policy",
    "description": "its description",
    "permissions_boundary": "its permissions boundary",
    "max_session_duration": "its maximum session duration",
    "path": "its path",
    "arn": "its ARN",
    "instance_profiles": "its instance profiles",
}


def changed(before: Mapping[str, Any] | None, now: Mapping[str, Any] | None) -> list[str]:
    """Return what differs between a role as the plan file recorded it and as IAM holds it
    now, in words (empty: the same)."""
    if before is None or now is None:
        if before == now:
            return []
        return ["it was created since" if before is None else "it was deleted since"]
    if before.get("role_id") != now.get("role_id"):
        return ["it was deleted and created again under the same name"]
    said: list[str] = []
    for key in sorted(set(before) | set(now)):
        was: Any = before.get(key)
        is_: Any = now.get(key)
        if was == is_:
            continue
        listed = all(isinstance(v, list) and all(isinstance(i, str) for i in v) for v in (was, is_))
        if key == "managed_policies" and listed:
            said += [f"{arn} was attached" for arn in sorted(set(is_) - set(was))]
            said += [f"{arn} was detached" for arn in sorted(set(was) - set(is_))]
        elif key in ("inline_policies", "tags") and all(isinstance(v, dict) for v in (was, is_)):
            noun = "inline policy" if key == "inline_policies" else "tag"
            for name in sorted(set(was) | set(is_)):
                old, new = was.get(name), is_.get(name)
                if old != new:
                    what = (
                        "added" if name not in was else "removed" if name not in is_ else "changed"
                    )
                    said.append(f"its {noun} {name} was {what}")
        else:
            said.append(f"{_PARTS.get(key, key)} changed")
    return said
