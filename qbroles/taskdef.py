"""What an ECS task definition needs of its roles, as (action, resource) requirements.

Reads the JSON that `aws ecs register-task-definition` takes, or the output of
`aws ecs describe-task-definition`. Pure, apart from reading the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qbroles.errors import InputError
from qbroles.policies import SourceScope
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
    """Read a task definition file; InputError (exit 2) names the file and what is wrong."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"), object_pairs_hook=unique_keys)
    except FileNotFoundError:
        raise InputError(f"task definition {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise InputError(f"task definition {path} cannot be read ({reason}).") from None
    except (json.JSONDecodeError, DuplicateKeyError) as exc:
        raise InputError(f"task definition {path} is not valid JSON ({exc}).") from None
    document = data.get("taskDefinition", data) if isinstance(data, Mapping) else None
    containers = document.get("containerDefinitions") if isinstance(document, Mapping) else None
    if not isinstance(containers, list) or not all(isinstance(c, Mapping) for c in containers):
        raise InputError(
            f"task definition {path} has no containerDefinitions list; give the JSON of "
            "aws ecs register-task-definition or describe-task-definition."
        )
    assert isinstance(document, Mapping)
    return TaskDefinition(source=path, document=document)


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
