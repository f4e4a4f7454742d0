"""What to run next, after a plan, a create or a verify: the report's "Next:" line.

Each step names a command that does not fail for the reason just reported: a plan made
with --prune is applied with --prune, what create keeps names --prune, roles made by hand
name --adopt, a need the spec lacks names the spec. tests/test_next.py follows each one.
"""

from __future__ import annotations

from qbroles.model.checks import OWNED, TASK_KINDS, Check
from qbroles.model.report import Report, RoleReport


def next_step(report: Report) -> str | None:
    """Return what to run next, after a plan, a create or a verify.

    A plan's step carries the options it was made with (a plan made with --prune is
    applied with --prune). What the roles have that the spec does not list, create keeps
    without --prune and exits 1, so while something is kept the step names --prune.
    """
    flags = report.flags
    if report.refused and report.command == "delete":
        return (
            "qbroles delete refuses (exit 4): do what Refused says, then run qbroles delete "
            "--dry-run again."
        )
    if report.refused:
        options = {role.allowed_by for role in report.refused}
        if options == {"--adopt"}:
            names = ", ".join(role.name for role in report.refused)
            return (
                f"qbroles create{flags} --adopt applies this plan, taking over {names} "
                "(nothing tags it as anyone's); without --adopt, create refuses it."
            )
        return (
            "qbroles create refuses this plan (exit 4): do what Refused says, then run "
            f"qbroles plan{flags} again."
        )
    ask = ", asking first (--yes off a terminal)" if report.needs_yes else ""
    if report.planned and report.breaks:
        return (
            "qbroles create refuses this plan (exit 4): change the spec so that the live task "
            f"definitions named keep what they need, or qbroles create{flags} --force applies "
            f"it anyway{ask}, breaking them."
        )
    if report.planned and report.plan_file:
        return (
            f"qbroles create {report.plan_file} applies exactly this plan, asking nothing "
            "(review the file first); it refuses (exit 4) if IAM changes before."
        )
    if report.planned and report.changed and report.kept:
        return (
            f"qbroles create{flags} --prune applies this plan{ask} and removes what the spec "
            f"does not list as well (qbroles plan{flags} --prune shows that plan); without "
            "--prune, create keeps it and exits 1."
        )
    if report.planned and report.changed:
        return f"qbroles create{flags} applies this plan{ask}."
    prune = " --prune" if report.kept else ""
    if report.planned and report.kept:
        return (
            f"qbroles plan{flags} --prune shows what the spec does not list and --prune "
            f"removes; qbroles create{flags} --prune removes it (asking first on a terminal)."
        )
    if report.command not in ("create", "verify") or report.dry_run:
        return None
    if any(not exists(role) for role in report.roles):
        return f"qbroles create{prune} makes the missing roles."
    if any(c.failed and c.kind not in TASK_KINDS for c in _role_checks(report)):
        return f"qbroles plan{prune} shows the repair; qbroles create{prune} applies it."
    if not report.ok:  # the roles are the spec's: create cannot repair what the tasks lack
        return _beyond_the_spec(report)
    unclaimed = [  # the spec's roles, made by hand: outputs prints only qbroles' own
        role.name
        for role in report.roles
        if any(c.check == OWNED and not c.ok and c.actual is None for c in role.checks)
    ]
    if unclaimed:
        return (
            f"qbroles create --adopt takes over {', '.join(unclaimed)} (it tags them "
            "ManagedBy=qbroles; qbroles plan --adopt shows it first); then qbroles outputs "
            "--merge taskdef.json --out taskdef-with-roles.json sets their ARNs in the task "
            "definition."
        )
    return (
        "qbroles outputs --merge taskdef.json --out taskdef-with-roles.json sets these ARNs "
        "as the task definition's executionRoleArn and taskRoleArn."
    )


def _role_checks(report: Report) -> list[Check]:
    return [check for role in report.roles for check in role.checks]


# The spec options of the least-privilege preset that grant a need, by service.
_SCOPE_OPTIONS = {
    "secretsmanager": "--secret-arn",
    "ssm": "--ssm-path",
    "logs": "--log-group",
    "kms": "--kms-key-arn",
}


def _beyond_the_spec(report: Report) -> str:
    """Return the next step when the roles match their spec and a task definition still
    fails: grant what the spec lacks by editing it, or mend what lies outside the roles."""
    failing = [c for role in report.roles for c in role.checks if c.failed and c.kind in TASK_KINDS]
    grants = [c for c in failing if "can " in c.check and "policy of" not in str(c.actual)]
    if not grants:
        return (
            f"what stops it lies outside the roles ({failing[0].message}); mend that, then "
            "run qbroles verify again."
        )
    needed = sorted({f"{c.check.rsplit('can ', 1)[1]} on {c.expected}" for c in grants})
    services = {str(c.expected).split(":")[2] for c in grants if str(c.expected).count(":") > 2}
    options = sorted(_SCOPE_OPTIONS[name] for name in services if name in _SCOPE_OPTIONS)
    preset = report.spec is not None and report.spec.get("source") == "preset least-privilege"
    hint = f", or pass {' / '.join(options)} to the preset" if preset and options else ""
    return (
        f"the roles match their spec, which does not grant {'; '.join(needed)}: add it to "
        f"the spec (qbroles init writes the spec as qbroles.toml to edit{hint}); qbroles "
        "plan then shows the change and qbroles create applies it, asking first (a change "
        "of spec; --yes off a terminal)."
    )


def exists(role: RoleReport) -> bool:
    """Return whether the role exists (a verify of a missing role says so, not its checks)."""
    return not any(c.check == "exists" and not c.ok for c in role.checks)
