"""End to end: the installed qbroles, run as a shell script would, against a moto server.

The server runs on 127.0.0.1 only and is started and stopped here. What qbroles left in
IAM is checked with the AWS CLI, a client nobody here wrote; the server's request
recorder counts the calls qbroles made.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXEC_ROLE, MANAGED, TASK_ROLE, TRUST
from tests.servers import MotoServer, qbroles, tool

pytestmark = pytest.mark.e2e


def aws(env: dict[str, str], *args: str, check: bool = True) -> Any:
    """Run the AWS CLI (the independent witness) and return its JSON answer."""
    done = subprocess.run(
        [tool("aws"), "--output", "json", *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    if not check:
        return done
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def not_ok(stdout: str, severity: str = "error") -> list[dict[str, Any]]:
    """Return the checks of a JSON report that are not ok, of one severity."""
    checks = [c for r in json.loads(stdout)["roles"] for c in r["checks"]]
    return [c for c in checks if not c["ok"] and c["severity"] == severity]


def witnessed_policies(env: dict[str, str], role: str) -> set[str]:
    answer = aws(env, "iam", "list-attached-role-policies", "--role-name", role)
    return {policy["PolicyArn"] for policy in answer["AttachedPolicies"]}


def test_create_verify_and_a_second_create_that_writes_nothing(
    env: dict[str, str], server: MotoServer
) -> None:
    created = qbroles(env, "-o", "json", "create")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["changed"] is True

    for name in (EXEC_ROLE, TASK_ROLE):
        role = aws(env, "iam", "get-role", "--role-name", name)["Role"]
        statement = role["AssumeRolePolicyDocument"]["Statement"][0]
        assert statement["Principal"]["Service"] == "ecs-tasks.amazonaws.com"
        assert {"Key": "ManagedBy", "Value": "qbroles"} in role["Tags"]
    assert witnessed_policies(env, EXEC_ROLE) == {
        MANAGED + "service-role/AmazonECSTaskExecutionRolePolicy",
        MANAGED + "AmazonEC2ContainerRegistryReadOnly",
        MANAGED + "CloudWatchLogsFullAccess",
        MANAGED + "SecretsManagerReadWrite",
    }
    assert witnessed_policies(env, TASK_ROLE) == {
        MANAGED + "AmazonRDSReadOnlyAccess",
        MANAGED + "AmazonSSMReadOnlyAccess",
        MANAGED + "CloudWatchLogsFullAccess",
        MANAGED + "SecretsManagerReadWrite",
    }

    server.start_recording()
    again = qbroles(env, "-o", "json", "create")
    actions = server.recorded_actions()
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["changed"] is False
    # A converged create, plan and verify read the same, three things a role (sent
    # together: one round trip), so they report the same differences.
    reads = sorted(["GetRole", "ListAttachedRolePolicies", "ListRolePolicies"] * 2)
    assert sorted(actions) == reads

    server.start_recording()
    plan = qbroles(env, "plan", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stderr
    assert sorted(server.recorded_actions()) == reads

    server.start_recording()
    verified = qbroles(env, "verify")
    assert verified.returncode == 0
    assert "2 roles match the spec" in verified.stderr
    # verify reads three things a role: the inline policies too (what findings judge).
    assert sorted(server.recorded_actions()) == sorted(
        ["GetRole", "ListAttachedRolePolicies", "ListRolePolicies"] * 2
    )


def test_drift_by_hand_is_caught_and_repaired(env: dict[str, str]) -> None:
    assert qbroles(env, "create").returncode == 0
    aws(env, "iam", "detach-role-policy", "--role-name", TASK_ROLE,
        "--policy-arn", MANAGED + "AmazonSSMReadOnlyAccess")  # fmt: skip
    aws(env, "iam", "attach-role-policy", "--role-name", TASK_ROLE,
        "--policy-arn", MANAGED + "AmazonS3FullAccess")  # fmt: skip

    drifted = qbroles(env, "-o", "json", "verify")
    assert drifted.returncode == 1
    failed = [c["check"] for c in not_ok(drifted.stdout)]
    assert failed == ["policy AmazonSSMReadOnlyAccess", "unexpected policy AmazonS3FullAccess"]

    repaired = qbroles(env, "create", "--prune")
    assert repaired.returncode == 0, repaired.stderr
    assert "attach AmazonSSMReadOnlyAccess" in repaired.stdout
    assert "detach AmazonS3FullAccess" in repaired.stdout
    assert MANAGED + "AmazonS3FullAccess" not in witnessed_policies(env, TASK_ROLE)
    assert qbroles(env, "verify").returncode == 0


def test_a_role_made_by_hand_is_refused_untouched(env: dict[str, str]) -> None:
    aws(env, "iam", "create-role", "--role-name", EXEC_ROLE,
        "--assume-role-policy-document", TRUST)  # fmt: skip
    refused = qbroles(env, "-o", "json", "create")
    assert refused.returncode == 4
    assert refused.stdout == ""
    assert "not managed by qbroles" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    roles = aws(env, "iam", "list-roles")["Roles"]
    assert [role["RoleName"] for role in roles] == [EXEC_ROLE]  # and the other was not created
    assert witnessed_policies(env, EXEC_ROLE) == set()

    assert qbroles(env, "delete", "--yes").returncode == 4
    assert len(aws(env, "iam", "list-roles")["Roles"]) == 1


def test_delete_clears_profiles_and_inline_policies_and_leaves_the_rest(
    env: dict[str, str],
) -> None:
    assert qbroles(env, "create").returncode == 0
    aws(env, "iam", "create-instance-profile", "--instance-profile-name", "web")
    aws(env, "iam", "add-role-to-instance-profile", "--instance-profile-name", "web",
        "--role-name", TASK_ROLE)  # fmt: skip
    aws(env, "iam", "put-role-policy", "--role-name", EXEC_ROLE, "--policy-name", "extra",
        "--policy-document",
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket",'
        '"Resource":"*"}]}')  # fmt: skip
    aws(env, "iam", "create-role", "--role-name", "Unrelated",
        "--assume-role-policy-document", TRUST)  # fmt: skip

    unconfirmed = qbroles(env, "delete")  # no terminal, no --yes
    assert unconfirmed.returncode == 4
    assert "--yes" in unconfirmed.stderr

    deleted = qbroles(env, "delete", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    for name in (EXEC_ROLE, TASK_ROLE):
        gone = aws(env, "iam", "get-role", "--role-name", name, check=False)
        assert gone.returncode != 0
        assert "NoSuchEntity" in gone.stderr
    assert [r["RoleName"] for r in aws(env, "iam", "list-roles")["Roles"]] == ["Unrelated"]
    profile = aws(env, "iam", "get-instance-profile", "--instance-profile-name", "web")
    assert profile["InstanceProfile"]["Roles"] == []

    assert qbroles(env, "delete", "--yes").returncode == 0  # already gone is fine


def test_the_readme_shell_example(env: dict[str, str], tmp_path: Path) -> None:
    script = (
        f'if "{tool("qbroles")}" -o json verify > state.json; then echo in-sync; '
        f'else echo "drift: $?"; fi\n'
        f'"{tool("qbroles")}" create > /dev/null 2>&1\n'
        f'if "{tool("qbroles")}" -o json verify > state.json; then echo in-sync; fi\n'
    )
    done = subprocess.run(
        ["bash", "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.split() == ["drift:", "1", "in-sync"], done.stderr
    assert json.loads((tmp_path / "state.json").read_text())["ok"] is True


@pytest.mark.parametrize("answer", [b"<html><body>hello</body></html>", b"hello, this is not XML"])
def test_endpoint_that_is_not_aws(env: dict[str, str], answer: bytes) -> None:
    """A web server that answers HTML or garbage: exit 3 and one line, no traceback."""
    import http.server
    import threading

    class Html(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = answer
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Html)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        done = qbroles(env, "--endpoint-url", url, "verify")
    finally:
        httpd.shutdown()
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{url} did not answer like AWS IAM" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_while_waiting_on_aws_exits_130_at_once(
    env: dict[str, str], sig: signal.Signals
) -> None:
    """A signal while a call hangs: exit 130 with one line, without waiting for the call."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        process = subprocess.Popen(
            [tool("qbroles"), "--endpoint-url", url, "verify"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        connection, _ = silent.accept()  # qbroles has sent a request and waits for the answer
        with connection:
            process.send_signal(sig)
            try:
                out, err = process.communicate(timeout=15)  # the read timeout alone is 30 s
            finally:
                process.kill()
    assert process.returncode == 130, err
    assert err.strip() == "qbroles: interrupted; rerun the same command to finish."
    assert out == ""


TASKDEF = str(Path(__file__).parent / "taskdefs" / "questionbank.json")


def test_least_privilege_end_to_end_then_the_task_definition_check(
    env: dict[str, str], tmp_path: Path
) -> None:
    created = qbroles(env, "--preset", "least-privilege", "create")
    assert created.returncode == 0, created.stderr

    # The witness: the documents IAM now holds. Trust conditions on the task role only.
    role = aws(env, "iam", "get-role", "--role-name", EXEC_ROLE)["Role"]
    assert "Condition" not in role["AssumeRolePolicyDocument"]["Statement"][0]
    role = aws(env, "iam", "get-role", "--role-name", TASK_ROLE)["Role"]
    condition = role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
    assert condition["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert condition["ArnLike"] == {"aws:SourceArn": "arn:aws:ecs:*:123456789012:*"}
    assert witnessed_policies(env, EXEC_ROLE) == {
        MANAGED + "service-role/AmazonECSTaskExecutionRolePolicy"
    }
    assert witnessed_policies(env, TASK_ROLE) == set()
    inline = aws(env, "iam", "get-role-policy", "--role-name", TASK_ROLE,
                 "--policy-name", "qbroles-task")["PolicyDocument"]  # fmt: skip
    by_sid = {s["Sid"]: s for s in inline["Statement"]}
    assert by_sid["ReadAppSecrets"]["Resource"] == [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:questionbank/*"
    ]
    assert by_sid["WriteAppLogs"]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]

    checked = qbroles(
        env, "--preset", "least-privilege", "-o", "json", "verify", "--strict",
        "--task-definition", materialized(env, TASKDEF, tmp_path),
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    checks = [c for r in json.loads(checked.stdout)["roles"] for c in r["checks"]]
    assert sum(c["check"].startswith("can ") for c in checks) == 8
    assert all(c["ok"] for c in checks)
    (task,) = json.loads(checked.stdout)["task_definitions"]
    assert task["verdict"] == "starts"
    assert task["resources_read"]


def materialized(env: dict[str, str], path: str, tmp_path: Path) -> str:
    """Make on the moto server what the task definition names; return its file, with the
    secrets' ARNs as the server made them."""
    from unittest import mock

    from tests.resources import materialize

    with mock.patch.dict(os.environ, {k: v for k, v in env.items() if k.startswith("AWS_")}):
        made = materialize(json.loads(Path(path).read_text()))
    target = tmp_path / f"made-{Path(path).name}"
    target.write_text(json.dumps(made))
    return str(target)


def test_workshop_findings_are_warnings_and_strict_fails(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert qbroles(env, "create").returncode == 0
    relaxed = qbroles(env, "-o", "json", "verify")
    assert relaxed.returncode == 0
    warnings = [c["check"] for c in not_ok(relaxed.stdout, "warning")]
    assert "finding: broad policy SecretsManagerReadWrite" in warnings
    assert "finding: confused deputy" in warnings
    assert qbroles(env, "verify", "--strict").returncode == 1
    ssm_task = materialized(env, str(Path(TASKDEF).with_name("questionbank-ssm.json")), tmp_path)
    denied = qbroles(env, "-o", "json", "verify", "--task-definition", ssm_task)
    assert denied.returncode == 1
    failed = [c["message"] for c in not_ok(denied.stdout)]
    assert failed == [
        f"{EXEC_ROLE} cannot ssm:GetParameters on "
        "arn:aws:ssm:us-east-1:123456789012:parameter/questionbank/api-url, "
        "needed to inject API_URL into api"
    ]


def test_the_largest_worker_count_never_hangs_on_many_roles_with_inline_policies(
    env: dict[str, str], tmp_path: Path
) -> None:
    """32 roles of two inline policies each, 16 workers: create and verify finish.

    Inline documents used to be fetched from inside a read running on the same bounded
    pool, which deadlocked it in most runs; ``qbroles`` is killed if it takes 120 s.
    """
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    roles = "".join(
        f'[[role]]\nname = "Many{index}"\n'
        f"inline_policies = {{ one = {json.dumps(json.dumps(policy))}, "
        f"two = {json.dumps(json.dumps(policy))} }}\n"
        for index in range(32)
    )
    (tmp_path / "one.json").write_text(json.dumps(policy))
    spec = tmp_path / "many.toml"
    spec.write_text(roles.replace(json.dumps(json.dumps(policy)), '"one.json"'))
    for command in ("create", "verify"):
        done = qbroles(env, "--workers", "16", "--spec", str(spec), "-o", "json", command)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert len(report["roles"]) == 32
        assert all(role["ok"] for role in report["roles"])


def recipes(section: str | None = None, file: str = "README.md") -> list[str]:
    """Return the sh blocks of a document (or of one of its sections), in the order written."""
    body = (Path(__file__).parent.parent / file).read_text()
    if section is not None:
        body = body.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [part.split("```", 1)[0].split("\n", 1)[1] for part in body.split("```sh")[1:]]


def run_blocks(blocks: list[str], env: dict[str, str], cwd: Path) -> None:
    """Run each block in bash -euo pipefail, as CI runs a script, with qbroles on PATH."""
    shell = {**env, "PATH": f"{Path(tool('qbroles')).parent}:{env.get('PATH', '')}"}
    for number, block in enumerate(blocks, start=1):
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            env=shell, cwd=cwd, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, f"block {number}:\n{block}\n{done.stdout}\n{done.stderr}"


def test_the_readme_scripting_recipes_run_as_written(env: dict[str, str], tmp_path: Path) -> None:
    """Scripting and CI, block after block, in bash with -euo pipefail as CI runs them,
    against the moto server: the pipeline's role, a qbroles.toml, a taskdef.json whose
    resources exist (issue 23, §1: the recipe verified the file before the ARNs were in)."""
    blocks = recipes("Scripting and CI")
    assert len(blocks) >= 2
    aws(env, "iam", "create-role", "--role-name", "ci-deployer",
        "--assume-role-policy-document", TRUST)  # fmt: skip
    made = subprocess.run([tool("qbroles"), "init"], env=env, cwd=tmp_path, capture_output=True)
    assert made.returncode == 0, made.stderr
    task = taskdef_without_roles(env, tmp_path)
    run_blocks(blocks, env, tmp_path)
    registered = aws(env, "ecs", "describe-task-definition", "--task-definition", task["family"])
    assert registered["taskDefinition"]["executionRoleArn"].endswith(f"role/{EXEC_ROLE}")


def taskdef_without_roles(env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    """Write ./taskdef.json, the sample task definition with its resources made and no role
    ARNs (outputs --merge sets them); return it."""
    task: dict[str, Any] = json.loads(Path(materialized(env, TASKDEF, tmp_path)).read_text())
    for key in ("executionRoleArn", "taskRoleArn"):
        task.pop(key)
    (tmp_path / "taskdef.json").write_text(json.dumps(task))
    return task


# Each document's recipes, and what the world holds before them (what the text before the
# first block says the reader has): None, the qbroles command run first, or "organization":
# an Organization whose OU prod holds two member accounts.
DOCUMENTS = {
    "README.md#From nothing to a task definition": None,
    "docs/spec-file.md": None,
    "docs/task-definitions.md": "create",
    "docs/many-accounts.md": "organization",
    "README.md#To production: roles narrowed to what runs": "create",
    "docs/tighten.md": "create",
    "docs/ci.md": "create",
}


@pytest.mark.parametrize("document", sorted(DOCUMENTS))
def test_every_recipe_of_the_docs_runs_as_written(
    env: dict[str, str], tmp_path: Path, document: str
) -> None:
    """Issue 23, §1: every shell recipe, block after block in the order written, against
    the moto server; the world: the sample task definition's resources (and, registered,
    the task definition questionbank), the app's customer key alias/questionbank."""
    file, _, section = document.partition("#")
    blocks = recipes(section or None, file)
    assert blocks, document
    task = taskdef_without_roles(env, tmp_path)
    registered = {**task, "executionRoleArn": f"arn:aws:iam::123456789012:role/{EXEC_ROLE}"}
    registered["taskRoleArn"] = f"arn:aws:iam::123456789012:role/{TASK_ROLE}"
    (tmp_path / "registered.json").write_text(json.dumps(registered))
    aws(env, "ecs", "register-task-definition", "--cli-input-json",
        f"file://{tmp_path / 'registered.json'}")  # fmt: skip
    key = aws(env, "kms", "create-key", "--region", "eu-west-1")["KeyMetadata"]["KeyId"]
    aws(env, "kms", "create-alias", "--region", "eu-west-1", "--alias-name",
        "alias/questionbank", "--target-key-id", key)  # fmt: skip
    before = DOCUMENTS[document]
    if before == "organization":
        aws(env, "organizations", "create-organization", "--feature-set", "ALL")
        root = aws(env, "organizations", "list-roots")["Roots"][0]["Id"]
        ou = aws(env, "organizations", "create-organizational-unit", "--parent-id", root,
                 "--name", "prod")["OrganizationalUnit"]["Id"]  # fmt: skip
        for number in range(2):
            made = aws(env, "organizations", "create-account", "--account-name", f"app{number}",
                       "--email", f"app{number}@example.com")  # fmt: skip
            aws(env, "organizations", "move-account", "--account-id",
                made["CreateAccountStatus"]["AccountId"], "--source-parent-id", root,
                "--destination-parent-id", ou)  # fmt: skip
    elif before:
        done = subprocess.run([tool("qbroles"), before], env=env, cwd=tmp_path, capture_output=True)
        assert done.returncode == 0, done.stderr
    run_blocks(blocks, env, tmp_path)
