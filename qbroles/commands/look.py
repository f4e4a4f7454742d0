"""The commands that only look: verify, explain, the demo, and check (offline)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import click

from qbroles.commands import exec_option, live_regions_option, summary
from qbroles.errors import ExitCode, InputError
from qbroles.session import Settings

if TYPE_CHECKING:  # imported where used, so that --help and usage errors stay instant
    from qbroles.model.report import Report


@click.command(short_help=summary("verify"))
@click.option(
    "--strict",
    is_flag=True,
    help="Security findings fail the check (exit 1) instead of warning, and so does a task "
    "definition that starts only if what qbroles could not read allows it.",
)
@click.option(
    "--task-definition",
    "task_definition",
    metavar="FILE|FAMILY[:REV]|ARN",
    help="Also check that the roles can start this ECS task: a JSON file (as register- or "
    "describe-task-definition has it), or, if no such file exists, a task definition read "
    "from ECS in the run's region. Image pulls, logs, secrets, files, role ARNs, and the "
    "resources they name (see --no-resources).",
)
@click.option(
    "--live-task-definitions",
    is_flag=True,
    help="Also check every ACTIVE task definition, in every enabled region (see "
    "--live-regions), whose execution or task role is one of the spec's roles, one verdict "
    "each (ListTaskDefinitions, DescribeTaskDefinition), against the roles it names.",
)
@exec_option
@click.option(
    "--no-resources",
    is_flag=True,
    help="Judge task definitions by the roles' own policies only: do not read the secrets, "
    "parameters, KMS keys, images, log groups and S3 objects they name (by default each "
    "is read: it exists, and its own policy or key policy allows the role). What cannot "
    "be read is unknown, never allowed.",
)
@click.option(
    "--simulate",
    is_flag=True,
    help="Also ask IAM's policy simulator (SimulatePrincipalPolicy, a real account only) "
    "about each need of a task definition, and report where its answer differs from "
    "qbroles' own: it also applies the organization's SCPs, which qbroles cannot read.",
)
@live_regions_option
@click.pass_obj
def verify(
    settings: Settings,
    strict: bool,
    task_definition: str | None,
    live_task_definitions: bool,
    exec_: bool,
    no_resources: bool,
    simulate: bool,
    live_regions: tuple[str, ...],
) -> int:
    """Compare the roles in IAM with the spec, check by check. Read only.

    Checks for each role: it exists; its trust policy equals the spec's (compared by meaning);
    its description and maximum session, where the spec states them; each expected managed
    policy is attached; no other managed policy is attached; the spec's tags; the ownership
    tag (a warning only). Then security findings (warnings; failures with --strict): a
    trust policy without confused-deputy conditions (on the execution role, their presence
    is reported instead), one anyone or another account may use, broad managed policies,
    *:* grants, secrets readable but not decryptable under --kms-key-arn. Exit 0 in sync,
    1 not. Printed: a line per role (status, ARN), then each difference and warning in
    full; -v shows every check.

    With --task-definition or --live-task-definitions, each task definition gets a
    verdict in the summary and the JSON: starts; starts if (the unknowns named hold: exit
    0, --strict 1); starts, but (something the running task does will fail: exit 1); or
    cannot start (exit 1).

    \b
    Examples:
      qbroles verify
      qbroles --preset least-privilege verify --strict
      qbroles verify --task-definition taskdef.json    # before deploying: can it start?
      qbroles verify --task-definition questionbank:7  # read from ECS
      qbroles verify --live-task-definitions           # every task definition using them
      if qbroles -o json verify > state.json; then echo in sync; fi
    """
    from qbroles.reconcile import engine
    from qbroles.reconcile.taskdef import file_or_reference

    if simulate and not (task_definition or live_task_definitions):
        raise InputError(
            "--simulate asks about a task definition's needs; add --task-definition or "
            "--live-task-definitions."
        )
    if live_regions and not live_task_definitions:
        raise InputError("--live-regions goes with --live-task-definitions; drop it, or add that.")
    spec = settings.spec()
    task, reference = file_or_reference(task_definition) if task_definition else (None, None)
    return settings.read(
        "verify",
        "qbroles: verifying",
        lambda gateway, progress: engine.verify(
            gateway,
            spec,
            strict=strict,
            kms_key_arn=settings.scope.kms_key_arn,
            task=task,
            task_reference=reference,
            live=live_task_definitions,
            exec_=exec_,
            resources=not no_resources,
            live_regions=live_regions,
            simulate=simulate,
            workers=settings.workers,
            progress=progress,
        ),
    )


@click.command(short_help=summary("explain"))
@click.pass_obj
def explain(settings: Settings) -> int:
    """Explain the roles: what each is for, who uses it, what each policy grants. No AWS call.

    First the guide's table (Task Execution Role: what ECS needs to run the container;
    Task Role: what the application needs), then, for each role of the active spec or
    preset, its trust and one line per policy on what it grants, then the security notes
    on broad policies. With -o json, the same as one document.

    \b
    Examples:
      qbroles explain
      qbroles --preset least-privilege explain
      qbroles -o json explain | jq '.roles[].policies[].name'
    """
    from qbroles.explain import explanation, print_explanation
    from qbroles.report.render import write_json

    document = explanation(settings.spec())
    if settings.output == "json":
        write_json(document)
    else:  # the explanation is what was asked for: --quiet silences only the chatter
        print_explanation(document, settings.console())
    return ExitCode.OK


# What the demo ends with: the same story against a real account.
REAL_ACCOUNT = """
Against a real account (NAME: an AWS profile):
  qbroles permissions create > policy.json   # the IAM policy its caller needs
  qbroles init                          # optional: ./qbroles.toml to customise
  qbroles --profile NAME plan           # what create would do; changes nothing
  qbroles --profile NAME create         # create both roles, then verify them
  qbroles --profile NAME outputs --merge taskdef.json   # the ARNs set in it"""


@click.command(short_help=summary("demo"))
@click.pass_obj
def demo(settings: Settings) -> int:
    """Run the whole story on a local AWS emulator; no account needed.

    Runs in-process on moto, with no network. Creates the roles, verifies them, drifts one
    by hand (detaches a policy, attaches an extra one), shows verify catching it, repairs it
    with create --prune, and deletes the roles. Needs moto: pip install 'qbroles[local]'.
    Honours --app, --spec and --output.

    \b
    Examples:
      qbroles demo
      qbroles --app Billing demo
    """
    from qbroles.demo import run_demo
    from qbroles.report.render import report_document, write_json

    if settings.aws.endpoint_url or settings.aws.profile:
        raise InputError(
            "demo always runs on its own in-process emulator; drop --endpoint-url and --profile "
            "(use create/verify/delete to work on them)."
        )
    spec = settings.spec()
    if settings.output != "json":
        code = run_demo(
            spec,
            settings.show,
            announce=lambda step: None if settings.quiet else settings.console().rule(step),
            workers=settings.workers,
        )
        if not settings.quiet:
            settings.console().print(REAL_ACCOUNT, markup=False, soft_wrap=True)
        return code
    steps: list[dict[str, Any]] = []
    current = [""]

    def record(report: Report) -> int:
        steps.append({"step": current[0], **report_document(report)})
        return report.exit_code()

    def announce(step: str) -> None:
        current[0] = step

    code = run_demo(spec, record, announce=announce, workers=settings.workers)
    write_json({"command": "demo", "ok": code == ExitCode.OK, "steps": steps})
    return code


@click.command(short_help=summary("check"))
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
def check(files: tuple[str, ...]) -> int:
    """Check spec files and task definition files offline: no AWS call, no credentials.

    FILES are *.toml spec files and *.json task definitions (as register- or
    describe-task-definition has them); without FILES, the active spec (--spec, else
    ./qbroles.toml, else the preset). Each problem is one line, FILE:LINE: what is wrong,
    as a compiler says it, so editors and pre-commit can jump to it; exit 2 if there is
    one, else 0. What only AWS can tell (does a secret exist, can the roles start the task)
    is verify --task-definition's.

    \b
    Examples:
      qbroles check
      qbroles check qbroles.toml taskdef.json
    """
    settings: Settings = click.get_current_context().obj
    problems = [problem for name in files for problem in _problems(name)] if files else []
    if not files:
        try:
            settings.spec()
        except InputError as exc:
            source = settings.spec_path or "qbroles.toml"
            problems.append(_located(source, str(exc)))
    for problem in problems:
        click.echo(problem, err=True)
    checked = files or ("the active spec",)
    if problems:
        settings.say(f"qbroles check: {_count(problems)} in {_count(checked, 'file')}.")
        return ExitCode.USAGE
    settings.say(f"qbroles check: {_count(checked, 'file')} checked, no problem found.")
    return ExitCode.OK


def _count(items: Any, what: str = "problem") -> str:
    from qbroles.model.report import plural

    return plural(len(items), what)


def _problems(name: str) -> list[str]:
    """Return the problems of one file, each FILE:LINE: message."""
    from qbroles.reconcile.taskdef import load_task_definition
    from qbroles.spec.load import load_spec

    try:
        if name.endswith(".json"):
            load_task_definition(name)
        else:
            load_spec(name)
    except InputError as exc:
        return [_located(name, str(exc))]
    return []


def _located(name: str, message: str) -> str:
    """Return the message as FILE:LINE: what, the line found from what it names."""
    from qbroles.spec.lines import json_line, toml_line

    try:
        with open(name, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return f"{name}: {message}"
    said = message.removeprefix("spec file ").removeprefix("task definition ")
    said = said.removeprefix(f"{name}: ").removeprefix(f"{name} is ").removeprefix(f"{name} ")
    if not name.endswith(".json"):
        line = toml_line(text, said)
    elif found := re.search(r"\bline (\d+)", said):  # the JSON parser's own
        line = int(found.group(1))
    elif path := re.match(r"([A-Za-z]\w*(?:\[\d+\]|\.\w+)*) ", said):
        line = json_line(text, path.group(1)) or json_line(text, f"taskDefinition.{path[1]}")
    else:
        line = None
    return f"{name}:{line}: {said}" if line else f"{name}: {said}"
