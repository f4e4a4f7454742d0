"""An ECS task definition as qbroles reads it: from a file or ECS, every field it uses checked."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from qbroles.catalog import ECR_IMAGE, RoleKind
from qbroles.errors import InputError
from qbroles.files import parse_json, read_input
from qbroles.partitions import PARTITION, arn_field
from qbroles.policy.documents import too_deep


@dataclass(frozen=True)
class TaskDefinition:
    source: str
    document: Mapping[str, Any]  # the task definition itself
    # The file as read: the task definition, or describe-task-definition's answer around it.
    raw: Mapping[str, Any] | None = None

    def with_roles(self, arns: Mapping[str, str]) -> dict[str, Any]:
        """Return the file's content with executionRoleArn/taskRoleArn set, in its own shape."""
        keys = {RoleKind(kind).task_definition_key: arn for kind, arn in arns.items()}
        inner = {**self.document, **keys}
        raw = dict(self.raw or self.document)
        if isinstance(raw.get("taskDefinition"), Mapping):
            return {**raw, "taskDefinition": inner}
        return inner

    def registrable(self, arns: Mapping[str, str]) -> dict[str, Any]:
        """Return the task definition with executionRoleArn/taskRoleArn set, as
        RegisterTaskDefinition takes it: describe-task-definition's answer is unwrapped,
        the fields only describe reports (taskDefinitionArn, revision, status,
        requiresAttributes, compatibilities, registeredAt, ...) are dropped, and the tags
        its answer carries beside the task definition (--include TAGS) kept as tags.

        The fields kept are those of the RegisterTaskDefinition request in botocore's ECS
        service model (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html).
        """
        keys = {RoleKind(kind).task_definition_key: arn for kind, arn in arns.items()}
        accepted = register_fields()
        merged = {key: value for key, value in {**self.document, **keys}.items() if key in accepted}
        tags = (self.raw or {}).get("tags")
        if tags and "tags" not in merged and "tags" in accepted:
            merged["tags"] = tags
        return merged

    @property
    def on_fargate(self) -> bool:
        """Return whether the task may run on Fargate (requiresCompatibilities, or what
        describe-task-definition reports as compatibilities)."""
        kinds = [
            *(self.document.get("requiresCompatibilities") or []),
            *(self.document.get("compatibilities") or []),
        ]
        return "FARGATE" in kinds

    @property
    def region(self) -> str | None:
        """Return the region of a task definition read from ECS (its ARN's), else None: a
        file is registered in the run's region."""
        return arn_field(str(self.document.get("taskDefinitionArn") or ""), "region")

    @property
    def role_arns(self) -> dict[str, str]:
        """Return the role ARNs the task definition names, by kind."""
        arns = {kind: self.document.get(kind.task_definition_key) for kind in RoleKind}
        return {kind.value: str(arn) for kind, arn in arns.items() if arn}


# A task definition in ECS: family, family:revision, or its ARN (RegisterTaskDefinition:
# a family is up to 255 letters, digits, hyphens and underscores).
TASK_REFERENCE = re.compile(
    rf"(arn:{PARTITION}:ecs:[a-z0-9-]+:\d{{12}}:task-definition/)?[A-Za-z0-9_-]{{1,255}}(:\d+)?"
)


def file_or_reference(given: str) -> tuple[TaskDefinition | None, str | None]:
    """Return a --task-definition value read as a file, or, when no such file exists and it
    has a task definition's name, the reference to read from ECS once connected. A value
    that is neither ("taskdf.json") is read as a file, so its error comes before any AWS
    call."""
    if os.path.exists(given) or not TASK_REFERENCE.fullmatch(given):
        return load_task_definition(given), None
    return None, given


def load_task_definition(path: str) -> TaskDefinition:
    """Read a task definition file; InputError (exit 2) names the file and what is wrong.

    Every field qbroles reads is checked for its type here, before any AWS call.
    """
    text = read_input(path, "task definition")
    try:
        data = parse_json(text)
    except ValueError as exc:
        raise InputError(f"task definition {path} is not valid JSON ({exc}).") from None
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
    return TaskDefinition(source=path, document=document, raw=data)


def _shape_problem(document: Mapping[str, Any]) -> str | None:
    """Return the first field qbroles reads whose type is not what ECS's API has, or None.

    The types are those of the RegisterTaskDefinition request (ContainerDefinition,
    RepositoryCredentials, LogConfiguration, Secret):
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html
    """
    for key in (kind.task_definition_key for kind in RoleKind):
        if document.get(key) is not None and not isinstance(document[key], str):
            return f"{key} must be a string"
    volumes = document.get("volumes")
    if volumes is not None and not (
        isinstance(volumes, list) and all(isinstance(v, Mapping) for v in volumes)
    ):
        return "volumes must be a list of objects"
    for key in ("requiresCompatibilities", "compatibilities"):
        value = document.get(key)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            return f"{key} must be a list of strings"
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
        files = container.get("environmentFiles")
        if files is not None and not (
            isinstance(files, list)
            and all(isinstance(f, Mapping) and isinstance(f.get("value"), str) for f in files)
        ):
            return f"{at}.environmentFiles must be a list of {{value, type}} objects"
        firelens = container.get("firelensConfiguration")
        if firelens is not None:
            if not isinstance(firelens, Mapping):
                return f"{at}.firelensConfiguration must be an object"
            problem = _strings(firelens.get("options"), f"{at}.firelensConfiguration.options")
            if problem:
                return problem
    return None


def needs_without_execution_role(task: TaskDefinition) -> tuple[list[str], list[str]]:
    """Return why the task cannot start without an execution role: (always, on Fargate only).

    Private registry authentication, secrets (also a log driver's), environment files and
    FireLens configuration from S3 need it wherever the task runs; pulling from private
    ECR and the awslogs driver need it on Fargate, while on EC2 the container instance
    role can stand in ("Amazon ECS task execution IAM role":
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html).
    """
    always: list[str] = []
    fargate: list[str] = []
    for container in task.document["containerDefinitions"]:
        name = container.get("name", "?")
        logging = container.get("logConfiguration") or {}
        if container.get("repositoryCredentials"):
            always.append(f"{name} logs in to a private registry")
        if container.get("secrets") or logging.get("secretOptions"):
            always.append(f"{name} injects secrets")
        if any(
            isinstance(f, Mapping) and f.get("type") == "s3"
            for f in container.get("environmentFiles") or []
        ):
            always.append(f"{name} reads environment files from S3")
        options = (container.get("firelensConfiguration") or {}).get("options") or {}
        if options.get("config-file-type") == "s3":
            always.append(f"{name} reads its FireLens configuration from S3")
        if ECR_IMAGE.match(str(container.get("image", ""))):
            fargate.append(f"{name} pulls from private ECR")
        if logging.get("logDriver") == "awslogs":
            fargate.append(f"{name} ships logs with awslogs")
    return always, fargate


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


# A secret's name holds ASCII letters, digits and /_+=.@- ("The secret name can contain
# ASCII letters, numbers, and the following characters: /_+=.@-", CreateSecret, Name:
# https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html);
# a parameter's a-zA-Z0-9_.- and / (PutParameter, Name: https://docs.aws.amazon.com/
# systems-manager/latest/APIReference/API_PutParameter.html). ECS fetches each by its
# name or ARN, so a * or ? in one names nothing it can fetch.
_PATTERN_CHARACTERS = ("*", "?")


def cannot_start(task: TaskDefinition) -> Iterator[tuple[str, str, str, str]]:
    """Yield (check, value, why, where: a JSON path) for what in the task definition
    itself keeps ECS from starting it, whatever its roles grant."""
    for index, container in enumerate(task.document["containerDefinitions"]):
        name, at = container.get("name", "?"), f"containerDefinitions[{index}]"
        logging = container.get("logConfiguration") or {}
        named = [
            (str(secret["valueFrom"]), f"{secret['name']} of {name}")
            for secret in [*(container.get("secrets") or []), *(logging.get("secretOptions") or [])]
        ]
        credentials = (container.get("repositoryCredentials") or {}).get("credentialsParameter")
        if credentials:
            value = str(credentials)
            named.append((value, f"the registry credentials of {name}"))
            service = (
                value.split(":")[2] if value.startswith("arn:") and value.count(":") > 2 else ""
            )
            if service and service != "secretsmanager":
                # "The Amazon Resource Name (ARN) of the secret containing the private
                # repository credentials" (API RepositoryCredentials: https://docs.aws.
                # amazon.com/AmazonECS/latest/APIReference/API_RepositoryCredentials.html)
                yield (
                    "task definition repositoryCredentials",
                    value,
                    f"the registry credentials of {name} must be a Secrets Manager secret, "
                    f"and {value} is a {service} ARN",
                    at,
                )
        for value, what in named:
            if any(mark in _name_in(value) for mark in _PATTERN_CHARACTERS):
                yield (
                    "task definition valueFrom",
                    value,
                    f"{what} is {value!r}, and no secret or parameter name holds * or ?: "
                    "ECS fetches it by name, not by pattern",
                    at,
                )


def _name_in(value: str) -> str:
    """Return the secret's or parameter's name in a valueFrom: a name, or from its ARN."""
    if value.startswith("arn:"):
        parts = value.split(":")
        if len(parts) > 6 and parts[2] == "secretsmanager":
            return parts[6]
        return value.partition(":parameter")[2]
    return value


def register_fields() -> frozenset[str]:
    """Return the fields RegisterTaskDefinition takes, from botocore's ECS service model."""
    from botocore.model import ServiceModel

    from qbroles.partitions import data_loader

    model = ServiceModel(data_loader().load_service_model("ecs", "service-2"), "ecs")
    shape = model.operation_model("RegisterTaskDefinition").input_shape
    return frozenset(shape.members) if shape is not None else frozenset()
