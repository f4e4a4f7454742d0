"""The resource side of verify --task-definition: will ECS start it, secrets, keys,
parameters, images, log groups and objects included?

Each case makes its resources on moto (KMS customer keys and key policies, secrets under
them and with resource policies, SecureString parameters, ECR repositories and images,
log groups, S3 objects) and gives the verdict real ECS would give for each preset, with
the AWS page behind it and a phrase the reason must contain. What moto cannot hold (a
resource of another account, a read the caller is denied, pull-through cache rules) is
answered at botocore's before-call event, as AWS documents the answer.

Every case is checked from a file; those without options also as live task definitions
(verify --live-task-definitions), and through plan --check-live-task-definitions from the
workshop roles to the least-privilege ones: a case that starts with the first and cannot
with the second must be named as a break, and no other.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.handlers
import pytest
from botocore.awsrequest import AWSResponse
from click.testing import CliRunner

from qbroles.cli import cli
from tests import resources as make
from tests.conftest import EXEC_ROLE, TASK_ROLE, _Raw
from tests.figures import count

ACCOUNT, OTHER = make.ACCOUNT, "210987654321"
EXEC_ARN = f"arn:aws:iam::{ACCOUNT}:role/{EXEC_ROLE}"
PRESETS = ("workshop", "least-privilege")
IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/questionbank:1.4.2"
LOGS = "/ecs/questionbank"
PAGES = {
    "secrets": "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html",
    "cross": "https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_examples_cross.html",
    "kms": "https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html",
    "ssm": "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-ssm-paramstore.html",
    "logs": "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using_awslogs.html",
    "ecr": "https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-policies.html",
    "pull": "https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-iam.html",
    "s3": "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/use-environment-file.html",
    "eval": "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html",
}
GMSA = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/windows-gmsa.html"


class Answers:
    """Answers, at botocore's before-call event, for what moto cannot hold: a call whose
    name matches and whose request body names ``naming`` gets ``answer`` (or ``error``)."""

    def __init__(self) -> None:
        self.rules: list[tuple[str, str, dict[str, Any] | None, str | None]] = []

    def add(
        self,
        operation: str,
        naming: str,
        answer: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        self.rules.append((operation, naming, answer, error))

    def __call__(self, model: Any, params: Any, **_: Any) -> Any:
        body = params.get("body", b"") if isinstance(params, dict) else b""
        text = body.decode() if isinstance(body, bytes) else str(body)
        text += " " + str(params.get("url", "")) if isinstance(params, dict) else ""
        for operation, naming, answer, error in self.rules:
            if model.name == operation and naming in text:
                status = 400 if error else 200
                http = AWSResponse("https://answered.invalid/", status, {}, _Raw(b"{}"))
                meta = {"ResponseMetadata": {"HTTPStatusCode": status}}
                if error:
                    return http, {"Error": {"Code": error, "Message": "answered"}, **meta}
                return http, {**(answer or {}), **meta}
        return None


@dataclass
class Case:
    name: str
    page: str
    # Makes the resources; returns the container's changes and the options it needs.
    make: Callable[[Answers], tuple[dict[str, Any], tuple[str, ...]]]
    verdict: dict[str, tuple[str, str]] = field(default_factory=dict)  # preset: (verdict, phrase)


def secret_env(arn: str) -> dict[str, Any]:
    return {"secrets": [{"name": "DB_PASSWORD", "valueFrom": arn}]}


def key_policy(*extra: dict[str, Any]) -> dict[str, Any]:
    return make.document(make.statement(f"arn:aws:iam::{ACCOUNT}:root", ["kms:*"]), *extra)


def _secret_aws_key(_: Answers) -> tuple[dict[str, Any], tuple[str, ...]]:
    return secret_env(make.secret("questionbank/db")), ()


def _secret_missing(_: Answers) -> tuple[dict[str, Any], tuple[str, ...]]:
    arn = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:questionbank/gone-AbCdEf"
    return secret_env(arn), ()


def _secret_default_key(_: Answers) -> tuple[dict[str, Any], tuple[str, ...]]:
    return secret_env(make.secret("questionbank/keyed", key=make.customer_key())), ()


def _secret_key_names_role(_: Answers) -> tuple[dict[str, Any], tuple[str, ...]]:
    key = make.customer_key(key_policy(make.statement(EXEC_ARN, ["kms:Decrypt"])))
    return secret_env(make.secret("questionbank/granted", key=key)), ()


def _secret_key_denies(_: Answers) -> tuple[dict[str, Any], tuple[str, ...]]:
    key = make.customer_key(key_policy(make.statement(EXEC_ARN, ["kms:Decrypt"], "Deny")))
    return secret_env(make.secret("questionbank/denied", key=key)), ("--kms-key-arn", key)


def _secret_key_given(_: Answers) -> tuple[dict[str, Any], tuple[str, ...]]:
    key = make.customer_key()
    return secret_env(make.secret("questionbank/given", key=key)), ("--kms-key-arn", key)


def _secret_key_policy_unreadable(answers: Answers) -> tuple[dict[str, Any], tuple[str, ...]]:
    key = make.customer_key()
    answers.add("GetKeyPolicy", key.split("/")[-1], error="AccessDeniedException")
    return secret_env(make.secret("questionbank/hidden", key=key)), ("--kms-key-arn", key)


def _secret_policy_denies(_: Answers) -> tuple[dict[str, Any], tuple[str, ...]]:
    policy = make.document(make.statement(EXEC_ARN, ["secretsmanager:GetSecretValue"], "Deny"))
    return secret_env(make.secret("questionbank/locked", policy=policy)), ()


def _secret_policy_grants(_: Answers) -> tuple[dict[str, Any], tuple[str, ...]]:
    policy = make.document(make.statement(EXEC_ARN, ["secretsmanager:GetSecretValue"]))
    return secret_env(make.secret("shared/db", policy=policy)), ()


def _other_secret(
    answers: Answers, name: str, *, key: bool, policy: bool, readable: bool = True
) -> tuple[dict[str, Any], tuple[str, ...]]:
    arn = f"arn:aws:secretsmanager:us-east-1:{OTHER}:secret:{name}-Zz9Yx8"
    key_arn = f"arn:aws:kms:us-east-1:{OTHER}:key/0b1c2d3e-1111-2222-3333-444455556666"
    if not readable:
        answers.add("DescribeSecret", arn, error="AccessDeniedException")
    else:
        described = {"ARN": arn, "Name": name, **({"KmsKeyId": key_arn} if key else {})}
        answers.add("DescribeSecret", arn, described)
        grant = make.document(make.statement(EXEC_ARN, ["secretsmanager:GetSecretValue"]))
        answers.add(
            "GetResourcePolicy",
            arn,
            {"ARN": arn, "Name": name, **({"ResourcePolicy": json.dumps(grant)} if policy else {})},
        )
        metadata = {"KeyId": key_arn.split("/")[-1], "Arn": key_arn, "KeyManager": "CUSTOMER"}
        answers.add("DescribeKey", key_arn, {"KeyMetadata": metadata})
    # The least-privilege roles are given the secret, and its key once it is known.
    return secret_env(arn), ("--secret-arn", arn, *(("--kms-key-arn", key_arn) if readable else ()))


def _parameter(
    name: str, *, secure: bool = False, key: str | None = None, given: bool = False
) -> tuple[dict[str, Any], tuple[str, ...]]:
    make.parameter(name, secure=secure, key=key)
    return {"secrets": [{"name": "VALUE", "valueFrom": name}]}, (
        ("--kms-key-arn", key) if given and key else ()
    )


def _log_group(name: str, *, create: bool = False) -> dict[str, Any]:
    options = {"awslogs-group": name, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "a"}
    if create:
        options["awslogs-create-group"] = "true"
    return {"logConfiguration": {"logDriver": "awslogs", "options": options}}


def _other_image(answers: Answers, repository: str, policy: str) -> dict[str, Any]:
    image = f"{OTHER}.dkr.ecr.us-east-1.amazonaws.com/{repository}:1"
    if policy == "unreadable":
        answers.add("DescribeImages", repository, error="AccessDeniedException")
        answers.add("GetRepositoryPolicy", repository, error="AccessDeniedException")
        return {"image": image}
    answers.add("DescribeImages", repository, {"imageDetails": [{"imageTags": ["1"]}]})
    if policy == "none":
        answers.add("GetRepositoryPolicy", repository, error="RepositoryPolicyNotFoundException")
    else:
        pulls = [
            "ecr:BatchGetImage",
            "ecr:GetDownloadUrlForLayer",
            "ecr:BatchCheckLayerAvailability",
        ]
        text = json.dumps(make.document({**make.statement(EXEC_ARN, pulls), "Resource": None}))
        answers.add(
            "GetRepositoryPolicy",
            repository,
            {"policyText": text.replace(', "Resource": null', "")},
        )
    return {"image": image}


def _pull_through(answers: Answers, prefixes: list[str]) -> None:
    rules = [{"ecrRepositoryPrefix": prefix} for prefix in prefixes]
    answers.add("DescribePullThroughCacheRules", "", {"pullThroughCacheRules": rules})


S, IF, BUT, NO = "starts", "starts if", "starts, but", "cannot start"
ROUTER = {
    "name": "log_router",
    "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
    "essential": True,
    "firelensConfiguration": {"type": "fluentbit"},
}


def _firelens(group: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The app's logs through FireLens to a CloudWatch Logs group (the task role writes)."""
    options = {"Name": "cloudwatch_logs", "region": "us-east-1", "log_group_name": group}
    return {
        "logConfiguration": {"logDriver": "awsfirelens", "options": options},
        "_with": [ROUTER],
    }, ()


def _credential_spec(arn: str, *, field: str) -> dict[str, Any]:
    """A Windows container on EC2 whose gMSA credential spec lies at ``arn``."""
    value = [f"credentialspec:{arn}"]
    return {"dockerSecurityOptions": value} if field == "docker" else {"credentialSpecs": value}


CASES = [
    Case(
        "secret-aws-managed-key",
        PAGES["secrets"],
        _secret_aws_key,
        {"workshop": (S, ""), "least-privilege": (S, "")},
    ),
    Case(
        "secret-missing",
        PAGES["secrets"],
        _secret_missing,
        {p: (NO, "does not exist") for p in PRESETS},
    ),
    Case(
        "secret-customer-key-default-policy",
        PAGES["kms"],
        _secret_default_key,
        {p: (NO, "kms:Decrypt") for p in PRESETS},
    ),
    Case(
        "secret-key-policy-names-the-role",
        PAGES["kms"],
        _secret_key_names_role,
        {p: (S, "") for p in PRESETS},
    ),
    Case(
        "secret-key-policy-denies-the-role",
        PAGES["eval"],
        _secret_key_denies,
        {p: (NO, "denied") for p in PRESETS},
    ),
    Case(
        "secret-key-granted-by-kms-key-arn",
        PAGES["kms"],
        _secret_key_given,
        {"workshop": (NO, "kms:Decrypt"), "least-privilege": (S, "")},
    ),
    Case(
        "secret-key-policy-unreadable",
        PAGES["kms"],
        _secret_key_policy_unreadable,
        {p: (IF, "kms:GetKeyPolicy") for p in PRESETS},
    ),
    Case(
        "secret-resource-policy-denies",
        PAGES["eval"],
        _secret_policy_denies,
        {p: (NO, "denied") for p in PRESETS},
    ),
    Case(
        "secret-resource-policy-grants-the-role",
        PAGES["eval"],
        _secret_policy_grants,
        {p: (S, "") for p in PRESETS},
    ),
    Case(
        "secret-other-account-aws-managed-key",
        PAGES["cross"],
        lambda a: _other_secret(a, "team/db", key=False, policy=True),
        {p: (NO, "aws/secretsmanager") for p in PRESETS},
    ),
    Case(
        "secret-other-account-customer-key",
        PAGES["cross"],
        lambda a: _other_secret(a, "team/keyed", key=True, policy=True),
        {"workshop": (NO, "kms:Decrypt"), "least-privilege": (IF, "key policy")},
    ),
    Case(
        "secret-other-account-no-resource-policy",
        PAGES["cross"],
        lambda a: _other_secret(a, "team/closed", key=True, policy=False),
        {p: (NO, "resource policy") for p in PRESETS},
    ),
    Case(
        "secret-other-account-unreadable",
        PAGES["cross"],
        lambda a: _other_secret(a, "team/dark", key=True, policy=True, readable=False),
        {p: (IF, "secretsmanager:DescribeSecret") for p in PRESETS},
    ),
    Case(
        "parameter-missing",
        PAGES["ssm"],
        lambda _: ({"secrets": [{"name": "V", "valueFrom": "/questionbank/missing"}]}, ()),
        {p: (NO, "does not exist") for p in PRESETS},
    ),
    Case(
        "parameter-string",
        PAGES["ssm"],
        lambda _: _parameter("/questionbank/api-url"),
        {"workshop": (NO, "ssm:GetParameters"), "least-privilege": (S, "")},
    ),
    Case(
        "parameter-secure-aws-key",
        PAGES["ssm"],
        lambda _: _parameter("/questionbank/token", secure=True),
        {"workshop": (NO, "ssm:GetParameters"), "least-privilege": (S, "")},
    ),
    Case(
        "parameter-secure-customer-key",
        PAGES["ssm"],
        lambda _: _parameter("/questionbank/keyed", secure=True, key=make.customer_key()),
        {p: (NO, "kms:Decrypt") for p in PRESETS},
    ),
    Case(
        "parameter-secure-key-given",
        PAGES["ssm"],
        lambda _: _parameter(
            "/questionbank/given", secure=True, key=make.customer_key(), given=True
        ),
        {"workshop": (NO, "ssm:GetParameters"), "least-privilege": (S, "")},
    ),
    Case(
        "log-group-missing",
        PAGES["logs"],
        lambda _: (_log_group("/ecs/questionbank-prod"), ()),
        {p: (NO, "does not exist") for p in PRESETS},
    ),
    Case(
        "log-group-created-by-ecs",
        PAGES["logs"],
        lambda _: (_log_group("/ecs/questionbank-new", create=True), ()),
        {"workshop": (S, ""), "least-privilege": (NO, "logs:CreateLogGroup")},
    ),
    Case(
        "image-tag-missing",
        PAGES["ecr"],
        lambda _: ({"image": IMAGE.replace("1.4.2", "9.9.9")}, ()),
        {p: (NO, "is not in") for p in PRESETS},
    ),
    Case(
        "repository-missing",
        PAGES["pull"],
        lambda a: (
            _pull_through(a, []),
            ({"image": IMAGE.replace("questionbank:", "nothing-here:")}, ()),
        )[1],
        {p: (NO, "does not exist") for p in PRESETS},
    ),
    Case(
        "pull-through-first-pull",
        PAGES["pull"],
        lambda a: (
            _pull_through(a, ["docker-hub"]),
            ({"image": IMAGE.replace("questionbank:1.4.2", "docker-hub/library/nginx:1.27")}, ()),
        )[1],
        {p: (NO, "ecr:BatchImportUpstreamImage") for p in PRESETS},
    ),
    Case(
        "image-other-account-allowed",
        PAGES["ecr"],
        lambda a: (_other_image(a, "shared-api", "allows"), ()),
        {p: (S, "") for p in PRESETS},
    ),
    Case(
        "image-other-account-no-policy",
        PAGES["ecr"],
        lambda a: (_other_image(a, "closed-api", "none"), ()),
        {p: (NO, "repository policy") for p in PRESETS},
    ),
    Case(
        "image-other-account-unreadable",
        PAGES["ecr"],
        lambda a: (_other_image(a, "dark-api", "unreadable"), ()),
        {p: (IF, "ecr:GetRepositoryPolicy") for p in PRESETS},
    ),
    Case(
        "firelens-output-outside-the-grant",
        "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using_firelens.html",
        lambda _: _firelens("/ecs/audit"),
        {"workshop": (S, ""), "least-privilege": (BUT, "deliver the logs of api")},
    ),
    Case(
        "gmsa-credential-spec-in-s3",
        GMSA,
        lambda _: (
            make.s3_object("questionbank-config", "gmsa.json"),
            (_credential_spec("arn:aws:s3:::questionbank-config/gmsa.json", field="docker"), ()),
        )[1],
        {p: (NO, "s3:GetObject") for p in PRESETS},
    ),
    Case(
        "gmsa-credential-spec-in-ssm",
        GMSA,
        lambda _: (
            make.parameter("/questionbank/credspec"),
            (
                _credential_spec(
                    f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/questionbank/credspec",
                    field="specs",
                ),
                (),
            ),
        )[1],
        {"workshop": (NO, "ssm:GetParameters"), "least-privilege": (S, "")},
    ),
    Case(
        "gmsa-credential-spec-missing",
        GMSA,
        lambda _: (
            _credential_spec(
                f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/questionbank/nospec", field="specs"
            ),
            (),
        ),
        {p: (NO, "does not exist") for p in PRESETS},
    ),
    Case(
        "environment-file-in-another-accounts-bucket",
        PAGES["cross"],
        lambda a: (
            a.add("HeadObject", "partner-config", {"ContentLength": 4}),
            a.add("GetBucketPolicy", "partner-config", error="NoSuchBucketPolicy"),
            (
                {
                    "environmentFiles": [
                        {"type": "s3", "value": "arn:aws:s3:::partner-config/api.env"}
                    ]
                },
                (),
            ),
        )[2],
        {p: (NO, "the bucket policy of partner-config") for p in PRESETS},
    ),
    Case(
        "environment-file-missing",
        PAGES["s3"],
        lambda _: (
            make.s3_object("questionbank-config", "other.env"),
            (
                {
                    "environmentFiles": [
                        {"type": "s3", "value": "arn:aws:s3:::questionbank-config/api.env"}
                    ]
                },
                (),
            ),
        )[1],
        {p: (NO, "does not exist") for p in PRESETS},
    ),
]


def task_definition(case: Case, container: dict[str, Any]) -> dict[str, Any]:
    """Return the case's task definition: the app's image and log group, then its changes."""
    base = {"name": "api", "image": IMAGE, "essential": True, **_log_group(LOGS)}
    extra = container.pop("_with", [])
    return {
        "family": case.name,
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": "256",
        "memory": "512",
        "executionRoleArn": EXEC_ARN,
        "taskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/{TASK_ROLE}",
        "containerDefinitions": [*extra, {**base, **container}],
    }


@pytest.fixture
def answers() -> Iterator[Answers]:
    """Answers for what moto cannot hold, given to every client the test makes."""
    made = Answers()
    handler = ("before-call", made)
    botocore.handlers.BUILTIN_HANDLERS.append(handler)
    yield made
    botocore.handlers.BUILTIN_HANDLERS.remove(handler)


def world(answers: Answers, tmp_path: Path) -> dict[str, tuple[Path, tuple[str, ...]]]:
    """Make every case's resources and file; return case -> (file, options)."""
    make.push_image("questionbank", "1.4.2")
    make.log_group(LOGS)
    _pull_through(answers, ["docker-hub"])  # the registry's one rule (moto has none)
    files = {}
    for case in CASES:
        container, options = case.make(answers)
        path = tmp_path / f"{case.name}.json"
        path.write_text(json.dumps(task_definition(case, container)))
        files[case.name] = (path, options)
    return files


def verdict_of(result: Any) -> tuple[str, str]:
    (task,) = json.loads(result.stdout)["task_definitions"]
    return task["verdict"], " ".join(task["because"])


def test_the_cases_cover_every_resource_kind() -> None:
    assert len(CASES) >= 20
    assert len({case.name for case in CASES}) == len(CASES)
    for case in CASES:
        assert set(case.verdict) == set(PRESETS), case.name
        assert case.page.startswith("https://docs.aws.amazon.com/"), case.name
        for got, phrase in case.verdict.values():
            assert (got == S) == (phrase == ""), case.name


@pytest.mark.parametrize("preset", PRESETS)
def test_each_case_gets_the_verdict_ecs_would_give(
    moto_iam: None, answers: Answers, tmp_path: Path, preset: str
) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["--preset", preset, "create"]).exit_code == 0
    files = world(answers, tmp_path)
    wrong = []
    made_with: tuple[str, ...] = ()
    for case in CASES:
        path, options = files[case.name]
        if options != made_with:  # the roles as these options make them
            remade = runner.invoke(cli, ["--preset", preset, *options, "create", "--yes"])
            assert remade.exit_code == 0, remade.stderr
            made_with = options
        result = runner.invoke(
            cli,
            ["--preset", preset, *options, "-o", "json", "verify", "--task-definition", str(path)],
        )
        assert result.exit_code in (0, 1), f"{case.name}: {result.stderr}"
        got, because = verdict_of(result)
        expected, phrase = case.verdict[preset]
        if got != expected or phrase not in because:
            wrong.append(f"{case.name}: {got} ({because}), expected {expected} ({phrase!r})\n")
        assert result.exit_code == (0 if got in (S, IF) else 1), case.name
        if got == BUT:  # what ECS does, said: it starts, and what fails while it runs
            assert "ECS starts the task, but" in because, case.name
        assert f"{path} {got}" in result.stderr, case.name  # the summary says it too
        count(f"task definitions: resource-side verdicts checked ({preset})")
    assert wrong == []


def register_all(files: dict[str, tuple[Path, tuple[str, ...]]]) -> dict[str, str]:
    """Register every case in moto's ECS; return family:revision -> case."""
    ecs = make.client("ecs")
    live = {}
    for name, (path, _) in files.items():
        done = ecs.register_task_definition(**json.loads(path.read_text()))["taskDefinition"]
        live[f"{done['family']}:{done['revision']}"] = name
    return live


def test_live_task_definitions_get_the_files_verdicts_and_the_gate_names_each_break(
    moto_iam: None, answers: Answers, tmp_path: Path
) -> None:
    """Every case as a live task definition gets its file's verdict, under the options it
    needs; then the move from the workshop roles to least privilege names exactly the
    cases (without options) that start with the first and not with the second."""
    runner = CliRunner()
    files = world(answers, tmp_path)
    live = register_all(files)
    assert len(live) == len(CASES)
    by_case = {case.name: case for case in CASES}
    option_sets = sorted({options for _, options in files.values()})
    for preset in PRESETS:
        for options in option_sets:
            made = runner.invoke(
                cli, ["--preset", preset, *options, "create", "--prune", "--adopt", "--yes"]
            )
            assert made.exit_code == 0, made.stderr
            checked = runner.invoke(
                cli,
                ["--preset", preset, *options, "-o", "json", "verify", "--live-task-definitions"],
            )
            got = {
                t["task_definition"]: t["verdict"]
                for t in json.loads(checked.stdout)["task_definitions"]
                if files[live[t["task_definition"]]][1] == options
            }
            assert got == {
                label: by_case[name].verdict[preset][0]
                for label, name in live.items()
                if files[name][1] == options
            }, (preset, options)
            count("task definitions: resource-side verdicts checked live", len(got))
    # Back to the workshop roles, then the gate of the move to least privilege.
    assert runner.invoke(cli, ["create", "--prune", "--adopt", "--yes"]).exit_code == 0
    planned = runner.invoke(
        cli,
        [
            *("--preset", "least-privilege", "-o", "json", "plan"),
            *("--prune", "--adopt", "--check-live-task-definitions"),
        ],
    )
    assert planned.exit_code == 0, planned.stderr
    broken = {
        c["check"].split()[1]
        for r in json.loads(planned.stdout)["roles"]
        for c in r["checks"]
        if c["check"].startswith("live ") and not c["ok"]
    }
    broken &= {label for label, name in live.items() if not files[name][1]}
    expected = {
        label
        for label, name in live.items()
        if not files[name][1]
        and by_case[name].verdict["workshop"][0] in (S, IF)
        and by_case[name].verdict["least-privilege"][0] in (BUT, NO)
    }
    assert expected
    assert broken == expected


def next_step(result: Any) -> str:
    """Return the "Next:" line of a report for people, its wrapped lines joined."""
    text = " ".join(result.stdout.split())
    assert "Next: " in text, text
    return text.split("Next: ", 1)[1].split(" qbroles verify: ")[0]


def test_after_a_need_the_spec_does_not_grant_the_next_step_leads_somewhere(
    moto_iam: None, answers: Answers, tmp_path: Path
) -> None:
    """The roles match their spec: plan has nothing to repair, so the next step names what
    to grant and how, or says the cause lies outside the roles (issue 22, §2)."""
    runner = CliRunner()
    files = world(answers, tmp_path)
    narrow = ("--preset", "least-privilege")
    assert runner.invoke(cli, [*narrow, "create"]).exit_code == 0
    ecs_logs, _ = files["log-group-created-by-ecs"]
    lacking = runner.invoke(cli, [*narrow, "verify", "--task-definition", str(ecs_logs)])
    assert lacking.exit_code == 1
    said = next_step(lacking)
    assert "plan shows the repair" not in said
    assert "does not grant logs:CreateLogGroup on arn:aws:logs:us-east-1:" in said
    assert "qbroles init" in said
    assert "--log-group" in said
    assert "2 roles match the spec" in lacking.stderr  # not "differences"
    # And what it says holds: plan has nothing to change, so the grant is the spec's to make.
    planned = runner.invoke(cli, [*narrow, "plan", "--detailed-exitcode"])
    assert planned.exit_code == 0, planned.stdout
    missing, _ = files["log-group-missing"]
    outside = runner.invoke(cli, [*narrow, "verify", "--task-definition", str(missing)])
    assert outside.exit_code == 1
    said = next_step(outside)
    assert said.startswith("what stops it lies outside the roles (")
    assert "/ecs/questionbank-prod does not exist" in said


def test_strict_fails_a_task_definition_that_starts_only_if_its_unknowns_hold(
    moto_iam: None, answers: Answers, tmp_path: Path
) -> None:
    runner = CliRunner()
    files = world(answers, tmp_path)
    path, options = files["image-other-account-unreadable"]
    assert runner.invoke(cli, [*options, "create"]).exit_code == 0
    relaxed = runner.invoke(cli, [*options, "-o", "json", "verify", "--task-definition", str(path)])
    strict = runner.invoke(
        cli, [*options, "-o", "json", "verify", "--strict", "--task-definition", str(path)]
    )
    assert verdict_of(relaxed)[0] == verdict_of(strict)[0] == IF
    assert (relaxed.exit_code, strict.exit_code) == (0, 1)
    roles_only = runner.invoke(
        cli, [*options, "verify", "--no-resources", "--task-definition", str(path)]
    )
    # Without the resource side the repository's policy is not asked: it starts, said so.
    assert f"{path} starts; roles only, the resources were not read" in roles_only.stderr
