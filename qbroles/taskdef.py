"""What an ECS task definition needs of its roles, as (action, resource) requirements.

Reads the JSON that `aws ecs register-task-definition` takes, or the output of
`aws ecs describe-task-definition`. Pure, apart from reading the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from qbroles.errors import InputError
from qbroles.files import read_input
from qbroles.policies import SourceScope, too_deep
from qbroles.spec import DuplicateKeyError, unique_keys

ECR_IMAGE = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/"
    r"(?P<repository>[^:@]+)"
)


@dataclass(frozen=True)
class Requirement:
    """One permission a role of a kind ("execution" or "task") needs."""

    kind: str
    action: str
    resource: str
    why: str


@dataclass(frozen=True)
class TaskDefinition:
    source: str
    document: Mapping[str, Any]

    @property
    def role_arns(self) -> dict[str, str]:
        """Return the role ARNs the task definition names, by kind."""
        arns = {
            "execution": self.document.get("executionRoleArn"),
            "task": self.document.get("taskRoleArn"),
        }
        return {kind: str(arn) for kind, arn in arns.items() if arn}


def load_task_definition(path: str) -> TaskDefinition:
    """Read a task definition file; InputError (exit 2) names the file and what is wrong.

    Every field qbroles reads is checked for its type here, before any AWS call.
    """
    text = read_input(path, "task definition")
    try:
        data = json.loads(text, object_pairs_hook=unique_keys)
    except (json.JSONDecodeError, DuplicateKeyError) as exc:
        raise InputError(f"task definition {path} is not valid JSON ({exc}).") from None
    except RecursionError:
        raise InputError(
            f"task definition {path} nests too deeply for a task definition."
        ) from None
    if too_deep(data):
        raise InputError(f"task definition {path} nests too deeply for a task definition.")
    document = data.get("taskDefinition", data) if isinstance(data, Mapping) else None
    containers = document.get("containerDefinitions") if isinstance(document, Mapping) else None
    if not isinstance(containers, list) or not all(isinstance(c, Mapping) for c in containers):
        raise InputError(
            f"task definition {path} has no containerDefinitions list; give the JSON of "
            "aws ecs register-task-definition or describe-task-definition."
        )
    assert isinstance(document, Mapping)
    problem = _shape_problem(document)
    if problem:
        raise InputError(
            f"task definition {path}: {problem}, as ECS's RegisterTaskDefinition never takes it; "
            "fix the file."
        )
    return TaskDefinition(source=path, document=document)


def _shape_problem(document: Mapping[str, Any]) -> str | None:
    """Return the first field qbroles reads whose type is not what ECS's API has, or None.

    The types are those of the RegisterTaskDefinition request (ContainerDefinition,
    RepositoryCredentials, LogConfiguration, Secret):
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html
    """
    for key in ("executionRoleArn", "taskRoleArn"):
        if document.get(key) is not None and not isinstance(document[key], str):
            return f"{key} must be a string"
    for index, container in enumerate(document["containerDefinitions"]):
        at = f"containerDefinitions[{index}]"
        for key in ("name", "image"):
            if container.get(key) is not None and not isinstance(container[key], str):
                return f"{at}.{key} must be a string"
        credentials = container.get("repositoryCredentials")
        if credentials is not None and (
            not isinstance(credentials, Mapping)
            or not isinstance(credentials.get("credentialsParameter"), str)
        ):
            return (
                f"{at}.repositoryCredentials must be an object with a credentialsParameter string"
            )
        logging = container.get("logConfiguration")
        if logging is not None:
            if not isinstance(logging, Mapping) or not isinstance(logging.get("logDriver"), str):
                return f"{at}.logConfiguration must be an object with a logDriver string"
            problem = _strings(logging.get("options"), f"{at}.logConfiguration.options")
            if problem:
                return problem
            problem = _secrets(logging.get("secretOptions"), f"{at}.logConfiguration.secretOptions")
            if problem:
                return problem
        problem = _secrets(container.get("secrets"), f"{at}.secrets")
        if problem:
            return problem
    return None


def _strings(value: Any, at: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        return f"{at} must be an object of string values"
    return None


def _secrets(value: Any, at: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, list):
        return f"{at} must be a list of {{name, valueFrom}} objects"
    for index, secret in enumerate(value):
        if not (
            isinstance(secret, Mapping)
            and isinstance(secret.get("name"), str)
            and isinstance(secret.get("valueFrom"), str)
        ):
            return f"{at}[{index}] must be an object with name and valueFrom strings"
    return None


def requirements(
    task: TaskDefinition, here: SourceScope, *, kms_key_arn: str | None = None
) -> tuple[Requirement, ...]:
    """Return what the execution role needs to start the task's containers."""
    found: dict[tuple[str, str], Requirement] = {}
    for need in _needs(task, here, kms_key_arn):
        found.setdefault((need.action, need.resource), need)
    return tuple(found.values())


def _needs(
    task: TaskDefinition, here: SourceScope, kms_key_arn: str | None
) -> Iterator[Requirement]:
    p = here.partition
    for container in task.document["containerDefinitions"]:
        name = container.get("name", "?")
        image = ECR_IMAGE.match(str(container.get("image", "")))
        if image:
            yield Requirement(
                "execution", "ecr:GetAuthorizationToken", "*", f"log in to ECR for {name}"
            )
            repository = (
                f"arn:{p}:ecr:{image['region']}:{image['account']}:repository/{image['repository']}"
            )
            for action in (
                "ecr:BatchCheckLayerAvailability",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchGetImage",
            ):
                yield Requirement("execution", action, repository, f"pull the image of {name}")
        credentials = (container.get("repositoryCredentials") or {}).get("credentialsParameter")
        if credentials:
            yield from _secret(
                str(credentials), here, f"log in to the registry of {name}", kms_key_arn
            )
        logging = container.get("logConfiguration") or {}
        if logging.get("logDriver") == "awslogs":
            options = logging.get("options") or {}
            group = options.get("awslogs-group")
            region = options.get("awslogs-region", here.region)
            if group:
                base = f"arn:{p}:logs:{region}:{here.account}:log-group:{group}"
                for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
                    yield Requirement(
                        "execution", action, f"{base}:log-stream:*", f"ship the logs of {name}"
                    )
                if str(options.get("awslogs-create-group", "")).lower() == "true":
                    yield Requirement(
                        "execution",
                        "logs:CreateLogGroup",
                        f"{base}:*",
                        f"create the log group of {name}",
                    )
        for secret in container.get("secrets") or []:
            value = str(secret.get("valueFrom", ""))
            yield from _secret(
                value, here, f"inject {secret.get('name', '?')} into {name}", kms_key_arn
            )


def _secret(
    value: str, here: SourceScope, why: str, kms_key_arn: str | None
) -> Iterator[Requirement]:
    p = here.partition
    if value.startswith("arn:") and ":secretsmanager:" in value:
        # arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME, then :json-key:stage:version
        arn = ":".join(value.split(":")[:7])
        yield Requirement("execution", "secretsmanager:GetSecretValue", arn, why)
    elif value.startswith("arn:"):
        yield Requirement("execution", "ssm:GetParameters", value, why)
    else:
        name = value if value.startswith("/") else f"/{value}"
        arn = f"arn:{p}:ssm:{here.region}:{here.account}:parameter{name}"
        yield Requirement("execution", "ssm:GetParameters", arn, why)
    if kms_key_arn:
        yield Requirement("execution", "kms:Decrypt", kms_key_arn, f"decrypt for {why}")
