"""Hostile files, streams and answers: one line, the documented exit code, no request.

Each case here once ended in exit 70 with a traceback, some after several AWS requests.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from click.testing import CliRunner

from qbroles.cli import cli
from qbroles.errors import AwsError, ExitCode
from qbroles.iam.gateway import Gateway
from qbroles.streams import interrupt, settle
from tests.conftest import _Raw, inject
from tests.figures import count
from tests.servers import qbroles, tool

TASKDEF = json.loads((Path(__file__).parent / "taskdefs" / "questionbank.json").read_text())


def run(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), input=stdin)


def one_line(result: Any, code: int) -> str:
    """Assert the documented exit code and one line on stderr without a traceback."""
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    count("hostile files: refused in one line")
    return lines[0]


def container(**fields: Any) -> dict[str, Any]:
    return {**TASKDEF, "containerDefinitions": [{**TASKDEF["containerDefinitions"][0], **fields}]}


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (container(repositoryCredentials="arn:aws:secretsmanager:x"), "repositoryCredentials"),
        (container(secrets=["X"]), "secrets[0]"),
        (container(secrets="X"), "secrets must be a list"),
        (container(logConfiguration="awslogs"), "logConfiguration"),
        (container(logConfiguration={"logDriver": "awslogs", "options": ["x"]}), "options"),
        (
            container(logConfiguration={"logDriver": "x", "secretOptions": [1]}),
            "secretOptions[0]",
        ),
        (container(image=["nginx"]), "image"),
        ({**TASKDEF, "executionRoleArn": 7}, "executionRoleArn"),
    ],
)
def test_task_definition_fields_of_the_wrong_type_are_exit_2_before_any_request(
    moto_iam: None, tmp_path: Path, calls: list[str], document: Any, field: str
) -> None:
    path = tmp_path / "taskdef.json"
    path.write_text(json.dumps(document))
    line = one_line(run("verify", "--task-definition", str(path)), ExitCode.USAGE)
    assert field in line
    assert str(path) in line
    assert calls == []


def nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


DEEP_INLINE = '[[role]]\nname = "R"\ninline_policies = { deep = "deep.json" }\n'


@pytest.mark.parametrize(
    ("files", "args"),
    [
        ({"t.json": nested(600)}, ("verify", "--task-definition", "t.json")),
        ({"spec.toml": "a = " + "[" * 600 + "]" * 600 + "\n"}, ("--spec", "spec.toml", "plan")),
        ({"spec.toml": DEEP_INLINE, "deep.json": nested(600)}, ("--spec", "spec.toml", "plan")),
        ({"spec.toml": DEEP_INLINE, "deep.json": nested(40)}, ("--spec", "spec.toml", "plan")),
        ({"r.json": nested(600)}, ("restore", "r.json")),
    ],
    ids=["task definition", "TOML spec", "inline policy", "inline policy, 40 deep", "restore"],
)
def test_nesting_deep_enough_to_overflow_is_exit_2_before_any_request(
    moto_iam: None, tmp_path: Path, calls: list[str], files: dict[str, str], args: tuple[str, ...]
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    one_line(run(*args), ExitCode.USAGE)
    assert calls == []


@pytest.mark.parametrize(
    "args",
    [
        ("--spec", "/dev/zero", "plan"),
        ("verify", "--task-definition", "/dev/zero"),
        ("restore", "/dev/zero"),
    ],
)
def test_unbounded_input_is_read_only_up_to_its_limit(
    moto_iam: None, calls: list[str], args: tuple[str, ...]
) -> None:
    line = one_line(run(*args), ExitCode.USAGE)
    assert "larger than 4 MiB" in line
    assert calls == []


@pytest.mark.parametrize(
    "document",
    [
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "bucket"}],
        },
        {
            "Version": "2012-10-17",
            "Id": 7,
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        },
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "A", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
                {"Sid": "A", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"},
            ],
        },
    ],
    ids=["resource not an ARN", "Id not a string", "Sid twice"],
)
def test_an_inline_policy_iam_refuses_is_exit_2_before_the_role_is_created(
    moto_iam: None, tmp_path: Path, calls: list[str], document: Any
) -> None:
    (tmp_path / "p.json").write_text(json.dumps(document))
    (tmp_path / "s.toml").write_text('[[role]]\nname = "R"\ninline_policies = { p = "p.json" }\n')
    one_line(run("--spec", "s.toml", "create"), ExitCode.USAGE)
    assert calls == []


def unwritable(tmp_path: Path) -> Path:
    """Return a folder this process cannot create files in (as root: /sys)."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o500)
    return folder


@pytest.mark.parametrize("command", [("init",), ("export", "--out")])
def test_an_unwritable_folder_is_exit_2_naming_the_path(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    target = str(unwritable(tmp_path) / "roles.yaml")
    line = one_line(run(*command, target), ExitCode.USAGE)
    assert target in line


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda p: os.mkfifo(p), "a FIFO"),
        (lambda p: os.symlink("/etc/hostname", p), "a symbolic link"),
        (lambda p: os.symlink("nowhere", p), "a symbolic link"),
    ],
)
@pytest.mark.parametrize("command", [("init",), ("export", "--out")])
def test_force_never_replaces_anything_but_a_regular_file(
    tmp_path: Path, make: Any, kind: str, command: tuple[str, ...]
) -> None:
    target = tmp_path / "roles.yaml"
    make(target)
    before = os.lstat(target)
    line = one_line(run(*command, str(target), "--force"), ExitCode.SAFETY)
    assert kind in line
    assert os.lstat(target).st_mode == before.st_mode
    assert not stat.S_ISREG(os.lstat(target).st_mode)


def test_force_onto_a_device_is_refused(tmp_path: Path) -> None:
    line = one_line(run("init", "/dev/null", "--force"), ExitCode.SAFETY)
    assert "a character device" in line
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_an_existing_file_keeps_its_mode_and_a_new_one_follows_the_umask(tmp_path: Path) -> None:
    kept = tmp_path / "kept.toml"
    kept.write_text("old")
    kept.chmod(0o640)
    assert run("init", str(kept), "--force").exit_code == 0
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    old = os.umask(0o022)
    try:
        assert run("init", str(tmp_path / "new.toml")).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.toml").stat().st_mode) == 0o644


# --- answers AWS IAM never gives


def answer(role: str) -> AWSResponse:
    body = f"<GetRoleResponse><GetRoleResult>{role}</GetRoleResult></GetRoleResponse>".encode()
    return AWSResponse("https://iam.amazonaws.com/", 200, {}, _Raw(body))


ROLE = (
    "<Role><Path>/</Path><RoleName>R</RoleName><RoleId>AROAEXAMPLE</RoleId>{arn}"
    "<CreateDate>2026-01-01T00:00:00Z</CreateDate>"
    "<AssumeRolePolicyDocument>{trust}</AssumeRolePolicyDocument></Role>"
)
ARN = "<Arn>arn:aws:iam::123456789012:role/R</Arn>"
TRUST = "%7B%22Version%22%3A%222012-10-17%22%7D"


@pytest.mark.parametrize(
    "role",
    [
        "",
        ROLE.format(arn="", trust=TRUST),
        ROLE.format(arn=ARN, trust="%5B1%2C2%5D"),  # [1,2]
        ROLE.format(arn=ARN, trust="%7B%22a%22%3A" * 600 + "1" + "%7D" * 600),
    ],
    ids=["no Role", "no Arn", "trust is a list", "trust nested 600 deep"],
)
def test_an_answer_iam_never_gives_is_exit_3(gateway: Gateway, role: str) -> None:
    inject(gateway.client, "GetRole", [answer(role)])
    with pytest.raises(AwsError) as caught:
        gateway.observe("R")
    assert "did not answer like AWS IAM" in str(caught.value)
    assert caught.value.exit_code == ExitCode.AWS


# --- the environment: AWS config, endpoints with credentials


@pytest.mark.parametrize(
    "config",
    ["[default\nregion = eu-west-1\n", "[default]\nmax_attempts = abc\n", "[default]\n= x\n"],
    ids=["broken section", "max_attempts = abc", "key without a name"],
)
def test_a_malformed_aws_config_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str
) -> None:
    (tmp_path / "config").write_text(config)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    result = run("--endpoint-url", "http://127.0.0.1:9", "verify")
    assert result.exit_code in (ExitCode.USAGE, ExitCode.AWS), result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "url",
    ["http://user:s3cret@127.0.0.1:9", "http://user:s3cret@127.0.0.1:99999", "ftp://u:s3cret@h"],
)
def test_credentials_in_an_endpoint_url_are_never_echoed(url: str) -> None:
    result = run("--endpoint-url", url, "--max-attempts", "1", "verify")
    assert result.exit_code in (ExitCode.USAGE, ExitCode.AWS), result.output
    assert "s3cret" not in result.output
    assert "***@" in result.stderr


# --- streams, pipes, questions and signals, as a shell sees them


def shell(env: dict[str, str], script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script],
        env={**env, "PATH": f"{Path(tool('qbroles')).parent}:{env.get('PATH', '')}"},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


@pytest.mark.e2e
@pytest.mark.parametrize(
    "command",
    ["explain", "--help", "-o json verify", "outputs", "-o json plan", "export"],
)
def test_a_reader_that_stops_early_is_no_error(env: dict[str, str], command: str) -> None:
    assert qbroles(env, "create").returncode == 0
    done = shell(env, f"qbroles {command} | (exit 0); exit ${{PIPESTATUS[0]}}")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "Exception ignored" not in done.stderr


@pytest.mark.e2e
@pytest.mark.parametrize("command", ["outputs", "-o json verify", "explain"])
@pytest.mark.parametrize("redirect", [">&-", ">/dev/full"])
def test_a_closed_or_full_stdout_is_exit_2_never_a_silent_success(
    env: dict[str, str], command: str, redirect: str
) -> None:
    assert qbroles(env, "create").returncode == 0
    done = shell(env, f"qbroles {command} {redirect}")
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip().splitlines()[0]], done.stderr
    assert "cannot write to standard output" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.e2e
def test_a_closed_stderr_keeps_the_exit_code_and_stdout_clean(env: dict[str, str]) -> None:
    assert qbroles(env, "create").returncode == 0
    done = shell(env, "qbroles -o json verify 2>&-")
    assert done.returncode == 0
    assert json.loads(done.stdout)["ok"] is True
    failed = shell(env, "qbroles --region nowhere -o json verify 2>&-")
    assert failed.returncode == ExitCode.USAGE
    assert failed.stdout == ""
    full = shell(env, "qbroles --region nowhere verify 2>/dev/full")
    assert full.returncode == ExitCode.USAGE
    assert "Traceback" not in full.stdout


def test_a_signal_after_the_work_is_done_does_not_change_the_answer() -> None:
    import signal

    before = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, interrupt)  # as the console script sets it
    try:
        with pytest.raises(KeyboardInterrupt):
            interrupt(15, None)
        settle()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN  # the result stands
    finally:
        signal.signal(signal.SIGTERM, before)


class CtrlC:
    """Standard input where the user presses Ctrl-C at the question."""

    def readline(self) -> str:
        raise KeyboardInterrupt


class SysWithCtrlC:
    """The sys module as qbroles.session sees it, but for its standard input (CliRunner
    sets its own sys.stdin, which cannot be interrupted)."""

    stdin = CtrlC()

    def __getattr__(self, name: str) -> Any:
        return getattr(sys, name)


@pytest.mark.usefixtures("moto_iam")
@pytest.mark.parametrize(
    ("ctrl_c", "code", "said"),
    [
        (False, ExitCode.SAFETY, "not confirmed"),  # end of input: a no
        (True, ExitCode.INTERRUPTED, "qbroles: interrupted at the question; nothing was changed."),
    ],
)
def test_no_answer_at_the_delete_question_changes_nothing_and_says_so(
    monkeypatch: pytest.MonkeyPatch, iam: Any, ctrl_c: bool, code: int, said: str
) -> None:
    assert run("create").exit_code == 0
    monkeypatch.setattr("qbroles.session.interactive", lambda: True)
    if ctrl_c:
        monkeypatch.setattr("qbroles.session.sys", SysWithCtrlC())
    result = run("delete", stdin="")
    assert result.exit_code == code
    assert said in result.stderr.strip().splitlines()[-1]
    assert len(iam.list_roles()["Roles"]) == 2


def _leaves(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Return the path to every value inside a JSON document."""
    found = [at]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _leaves(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _leaves(item, (*at, index))
    return found


@pytest.mark.usefixtures("moto_iam")
def test_a_saved_plan_edited_anywhere_and_digested_again_never_ends_in_a_traceback(
    tmp_path: Path,
) -> None:
    """A plan file's digest catches an edit; one whose digest was made again (by hand, or
    by a tool) is still read field by field: exit 2 or 4 in one line, or the plan it says."""
    from hypothesis import HealthCheck, example, given, settings
    from hypothesis import strategies as st

    from qbroles.reconcile.saved import _digest

    saved = tmp_path / "plan.json"
    assert run("plan", "--out", str(saved)).exit_code == ExitCode.OK
    original = json.loads(saved.read_text())
    paths = [path for path in _leaves(original) if path and path[0] != "digest"]
    junk = st.one_of(
        st.none(), st.booleans(), st.integers(), st.text(max_size=5),
        st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.none()),
    )  # fmt: skip

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(where=st.sampled_from(paths), value=junk)
    @example(where=("spec",), value={"": None})  # found by this test: a KeyError once
    def edited(where: tuple[Any, ...], value: Any) -> None:
        data = json.loads(json.dumps(original))
        parent = data
        for step in where[:-1]:
            parent = parent[step]
        parent[where[-1]] = value
        path = tmp_path / "edited.json"
        path.write_text(json.dumps({**data, "digest": _digest(data)}))
        result = run("create", str(path), "--dry-run")
        assert "Traceback" not in result.stderr + result.stdout
        assert result.exit_code in (ExitCode.OK, ExitCode.USAGE, ExitCode.SAFETY), result.output

    edited()
