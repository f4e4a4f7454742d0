"""The commands that write a document: init, export, permissions, and outputs (the ARNs, or
a task definition with them set)."""

from __future__ import annotations

import click

from qbroles.catalog import (
    DEFAULT_SPEC_FILE,
    EXPORT_FORMATS,
    OUTPUT_FORMATS,
)
from qbroles.commands import summary
from qbroles.errors import ExitCode, InputError
from qbroles.session import Settings


@click.command(short_help=summary("init"))
@click.argument("path", default=DEFAULT_SPEC_FILE, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@click.pass_obj
def init(settings: Settings, path: str, force: bool) -> int:
    """Write a spec (--spec, else the preset with its options) as a commented TOML file.

    PATH defaults to qbroles.toml; - writes to stdout. An existing file is not replaced
    without --force (exit 4). Edit the file: every command in its folder reads
    ./qbroles.toml when no --spec or --preset is given; another file is passed with
    --spec. Role names keep their {app}, so --app still applies. No AWS call.

    \b
    Examples:
      qbroles init
      qbroles --preset least-privilege --ssm-path /qb/prod/ init prod.toml
      qbroles --spec prod.toml plan
    """
    from qbroles.files import write_new
    from qbroles.spec.write import commented_toml

    if path == "-" and settings.output == "json":
        raise InputError(
            "init writes TOML, and -o json promises one JSON document on stdout; drop -o json "
            "to print the TOML, or name a file to write."
        )
    spec = settings.spec(folder=False)  # a new file: from --spec or a preset, not itself
    text = commented_toml(spec, spec.source)
    if path == "-":
        click.echo(text, nl=False)
        return ExitCode.OK
    write_new(path, text, force=force)
    use = "qbroles plan" if path == DEFAULT_SPEC_FILE else f"qbroles --spec {path} plan"
    settings.say(f"qbroles init: wrote {path}; see what it would change with {use}.")
    return ExitCode.OK


@click.command(short_help=summary("export"))
@click.option(
    "--format",
    "form",
    type=click.Choice(EXPORT_FORMATS),
    default="cloudformation",
    show_default=True,
    help="cloudformation: a template (JSON or YAML); terraform: a JSON configuration (.tf.json).",
)
@click.option(
    "--out",
    metavar="FILE",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write to FILE instead of stdout; for cloudformation, .json gives JSON and "
    ".yaml/.yml YAML (stdout: YAML, or JSON with -o json).",
)
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.pass_obj
def export(settings: Settings, form: str, out: str | None, force: bool) -> int:
    """Export the active spec for CloudFormation (StackSets) or Terraform. No AWS call.

    The trust conditions, policy ARNs and inline policies use the template's own
    partition, account and region (AWS::Partition, AWS::AccountId, AWS::Region), so one
    template serves every account: roll it out to an organization with StackSets. An ARN
    the spec gives with its account (--secret-arn, --kms-key-arn) stays as it is, with a
    warning that it names one account's resource in every account. The
    two role ARNs are stack outputs. The roles carry the spec's tags and
    ManagedBy=CloudFormation (or Terraform): they belong to the stack, and qbroles create
    and delete leave them alone (verify still checks them).

    \b
    Examples:
      qbroles export > roles.yaml
      qbroles --preset least-privilege export --out roles.json
      qbroles export --format terraform --out qbroles.tf.json
    """
    from qbroles.export import cloudformation, one_account_warnings, template_text, terraform
    from qbroles.files import write_new

    spec = settings.spec()
    for warning in one_account_warnings(spec, "export"):
        settings.say(warning)
    if form == "terraform":
        if out not in (None, "-") and not str(out).endswith(".tf.json"):
            raise InputError(
                f"--out {out}: Terraform reads JSON configuration only from files ending in "
                ".tf.json; name it so."
            )
        import json

        text = json.dumps(terraform(spec), indent=2) + "\n"
    else:
        stdout = "json" if settings.output == "json" else "yaml"
        text = template_text(cloudformation(spec), out, stdout=stdout)
    if out in (None, "-"):
        click.echo(text, nl=False)
    else:
        from qbroles.model.report import plural

        write_new(out, text, force=force)
        settings.say(f"qbroles export: wrote {out} ({form}, {plural(len(spec.roles), 'role')}).")
    return ExitCode.OK


@click.command(short_help=summary("permissions"))
@click.argument(
    "command",
    default="all",
    type=click.Choice(["create", "verify", "delete", "restore", "tighten", "all"]),
)
@click.option(
    "--account",
    metavar="ID",
    help="Scope the role ARNs to this account ID (default: *, which an identity policy can "
    "only ever use in its own account).",
)
@click.option(
    "--ci",
    type=click.Choice(["github"]),
    help="Also print the trust policy of the pipeline role that runs qbroles: github, for "
    "GitHub Actions' OIDC provider (with --repo, and --ref or --environment; needs --account).",
)
@click.option("--repo", metavar="OWNER/REPO", help="With --ci github: the repository.")
@click.option(
    "--ref",
    metavar="REF",
    help="With --ci github: the branch or tag whose workflows may assume the role "
    "(default: refs/heads/main).",
)
@click.option(
    "--environment",
    metavar="NAME",
    help="With --ci github: the environment whose jobs may assume the role, instead of --ref.",
)
@click.pass_obj
def permissions(
    settings: Settings,
    command: str,
    account: str | None,
    ci: str | None,
    repo: str | None,
    ref: str | None,
    environment: str | None,
) -> int:
    """Print the IAM policy the caller of a command needs for the active spec, as JSON.

    COMMAND is create (plan and --prune included), verify, delete, restore, tighten (the
    last-accessed report, and CheckNoNewAccess), or all (the default). With --accounts or
    --ou: {"caller_policy", "policy"}, what the caller needs (sts:AssumeRole into each
    account; Organizations' listings for --ou) and what the role assumed there needs.
    Role actions are scoped to the spec's roles by ARN; iam:TagRole is included because
    CreateRole with tags needs it. Reading policy documents and task definitions (the
    task-definition checks) is included for create, verify and tighten. The partition follows
    --region. qbroles never passes the roles: whoever registers the task definition needs
    iam:PassRole on them, which is said on stderr. No AWS call.

    \b
    Examples:
      qbroles permissions create > qbroles-ci.json
      aws iam put-role-policy --role-name ci --policy-name qbroles \\
          --policy-document file://qbroles-ci.json
      qbroles --preset least-privilege permissions verify --account 123456789012
    """
    import os

    from qbroles.partitions import partition_of
    from qbroles.permissions import COMMANDS, pass_role_note, policy
    from qbroles.report.render import write_json

    if account is not None and not (account.isdigit() and len(account) == 12):
        raise InputError(f"--account {account!r} is not a 12-digit AWS account ID.")
    from qbroles.permissions import check_ci

    check_ci(ci, account, repo, ref, environment)
    spec = settings.spec()
    region = settings.aws.region or os.environ.get("AWS_DEFAULT_REGION")
    partition = (partition_of(region) if region else None) or "aws"
    chosen = COMMANDS if command == "all" else (command,)
    printed = policy(spec, chosen, partition, account or "*")
    beside: dict[str, object] = {}  # what else the pipeline or the caller needs
    if ci == "github" and account and repo:
        from qbroles.permissions import github_trust

        beside["trust_policy"] = github_trust(
            partition, account, repo, ref=ref or "refs/heads/main", environment=environment
        )
    if settings.accounts is not None:  # a many-account read: its caller, beside each role
        from qbroles.permissions import caller_policy

        targets = settings.accounts  # any account's role, for --ou: listed at run time
        accounts = [*targets.accounts, *(["*"] if targets.ous else [])]
        roles = [targets.role(one, partition) for one in accounts]
        beside["caller_policy"] = caller_policy(roles, bool(targets.ous))
    write_json({**beside, "policy": printed} if beside else printed)
    settings.say(pass_role_note(spec, partition, account or "*", chosen))
    return ExitCode.OK


@click.command(short_help=summary("outputs"))
@click.option(
    "--format",
    "form",
    type=click.Choice(OUTPUT_FORMATS),
    help="env: KEY=value lines (docker --env-file, $GITHUB_ENV); shell: export lines for "
    "eval; json: keyed like a task definition (default: json with -o json, else env).",
)
@click.option(
    "--merge",
    metavar="TASKDEF",
    type=click.Path(dir_okay=False),
    help="Print this task definition (register input or describe output) with "
    "executionRoleArn and taskRoleArn set to the roles' ARNs, instead of the ARNs alone.",
)
@click.option(
    "--out",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="With --merge: write the merged task definition to FILE instead of stdout.",
)
@click.option("--force", is_flag=True, help="With --out: replace FILE if it exists.")
@click.option(
    "--keep-shape",
    is_flag=True,
    help="With --merge: keep the file's shape (describe-task-definition's answer stays one) "
    "instead of writing what aws ecs register-task-definition --cli-input-json takes.",
)
@click.pass_obj
def outputs(
    settings: Settings,
    form: str | None,
    merge: str | None,
    out: str | None,
    force: bool,
    keep_shape: bool,
) -> int:
    """Print the role ARNs for the next deployment step. Read only.

    env and shell print QB_EXECUTION_ROLE_ARN and QB_TASK_ROLE_ARN; json prints
    executionRoleArn and taskRoleArn, the keys of an ECS task definition. --merge writes
    the task definition with them set, as aws ecs register-task-definition --cli-input-json
    takes it (describe-task-definition's answer too; --keep-shape keeps the file's shape).
    Only roles that are the spec's own are printed: if one does not exist, is not
    qbroles', was made by another spec or has another path, prints nothing on stdout and
    exits 1 naming it (qbroles verify checks the rest). env values are literal, as docker
    and $GITHUB_ENV read them; an ARN whose path holds other characters than letters,
    digits and _+=,.@/:- is refused there (exit 2): use shell.

    \b
    Examples:
      qbroles outputs >> "$GITHUB_ENV"
      eval "$(qbroles outputs --format shell)"
      qbroles outputs --format json > roles.json
      qbroles outputs --merge taskdef.json --out taskdef-with-roles.json
      qbroles --ou ou-ab12-cdef3456 outputs       # JSON: each account's two ARNs
    """
    from qbroles.catalog import RoleKind
    from qbroles.outputs import arns_text, role_arns, roles_by_kind

    if (out or force or keep_shape) and not merge:
        raise InputError(
            "--out, --force and --keep-shape go with --merge TASKDEF; drop them, or add --merge."
        )
    if merge and form:
        raise InputError("--merge prints a task definition; drop --format.")
    spec = settings.spec()
    roles = roles_by_kind(spec)
    if settings.accounts is not None:
        from qbroles.accounts import show_outputs

        return show_outputs(settings, form, merge, roles, spec.identity)
    task = None
    if merge:
        from qbroles.reconcile.taskdef import load_task_definition

        task = load_task_definition(merge)
    arns, _ = settings.run(
        "qbroles: reading",
        lambda gateway, _: role_arns(gateway, roles, spec.identity, settings.workers),
    )
    if task is not None:
        import json

        merged = task.with_roles(arns) if keep_shape else task.registrable(arns)
        text = json.dumps(merged, indent=2) + "\n"
        if out:
            from qbroles.files import write_new

            write_new(out, text, force=force)
            settings.say(f"qbroles outputs: wrote {out} with the role ARNs set.")
            return ExitCode.OK
        click.echo(text, nl=False)
        return ExitCode.OK
    click.echo(arns_text(arns, form or ("json" if settings.output == "json" else "env")), nl=False)
    described = ", ".join(
        f"{RoleKind(kind).task_definition_key} {role.name}" for kind, role in roles.items()
    )
    settings.say(f"qbroles outputs: {described}.")
    return ExitCode.OK
