"""What qbroles knows about ECS's two roles and the AWS managed policies: one home for each fact."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

# --- the defaults and choices the command line offers

DEFAULT_APP = "QuestionBank"  # the application of the deployment guide
PRESETS = ("workshop", "least-privilege")  # --preset
# --assume-role: the role AWS Organizations makes in the accounts it creates.
ASSUME_ROLE = "OrganizationAccountAccessRole"
# -o for verify and plan only: reports of their checks for CI (report.junit, report.sarif).
CHECK_OUTPUTS = ("junit", "sarif")
OUTPUTS = ("table", "json", *CHECK_OUTPUTS)  # -o
OUTPUT_FORMATS = ("env", "shell", "json")  # qbroles outputs --format
EXPORT_FORMATS = ("cloudformation", "terraform")  # qbroles export --format
DEFAULT_SPEC_FILE = "qbroles.toml"  # init writes it; read when no --spec or --preset is given
DEFAULT_BUDGET = 300.0  # seconds of waiting for retries, in all, a run (--retry-budget)
DEFAULT_WORKERS = 4  # IAM throttles hard: a few roles at a time overlap latency without a storm


class RoleKind(StrEnum):
    """What ECS uses a role for (the deployment guide's table). Equal to its spec value."""

    EXECUTION = "execution"
    TASK = "task"

    @property
    def heading(self) -> str:
        """The guide's name for the role: Task Execution Role, Task Role."""
        return _KINDS[self][0]

    @property
    def used_by(self) -> str:
        """Who assumes the role, and when."""
        return _KINDS[self][1]

    @property
    def purpose(self) -> str:
        """What the role's permissions are for."""
        return _KINDS[self][2]

    @property
    def task_definition_key(self) -> str:
        """Where a task definition names the role (RegisterTaskDefinition)."""
        return _KINDS[self][3]

    @property
    def env_var(self) -> str:
        """The variable ``qbroles outputs`` prints the role's ARN in."""
        return _KINDS[self][4]


_KINDS = {
    RoleKind.EXECUTION: (
        "Task Execution Role",
        "the ECS agent (on Fargate, AWS's), before and around the task",
        "what ECS needs to run the container: pull the image, ship the logs, "
        "inject the secrets and parameters",
        "executionRoleArn",
        "QB_EXECUTION_ROLE_ARN",
    ),
    RoleKind.TASK: (
        "Task Role",
        "the application's code inside the container, at run time",
        "what the application needs to do its job: every AWS call the code makes",
        "taskRoleArn",
        "QB_TASK_ROLE_ARN",
    ),
}


@dataclass(frozen=True)
class Broad:
    """Why a managed policy grants too much, and what would do instead (a verify finding)."""

    why: str
    instead: str


@dataclass(frozen=True)
class ManagedPolicy:
    """What an AWS managed policy grants (explain), and whether verify calls it too broad."""

    grants: str
    broad: Broad | None = None


OWN_RESOURCES = "grant the actions the app needs on its own resources"
# The AWS managed policies the presets use, or that are often used, by label.
POLICIES: dict[str, ManagedPolicy] = {
    "service-role/AmazonECSTaskExecutionRolePolicy": ManagedPolicy(
        "pulls images from any ECR repository (ecr:GetAuthorizationToken, "
        "BatchCheckLayerAvailability, GetDownloadUrlForLayer, BatchGetImage) and writes "
        "container logs (logs:CreateLogStream, PutLogEvents), on *"
    ),
    "AmazonEC2ContainerRegistryReadOnly": ManagedPolicy(
        "reads every ECR repository of the account: lists, describes and pulls its images"
    ),
    "CloudWatchLogsFullAccess": ManagedPolicy(
        "logs:* on every log group of the account: read, write, change retention, delete",
        Broad(
            "grants logs:* on every log group of the account, deleting them included",
            "grant logs:CreateLogStream and logs:PutLogEvents on the app's log group only",
        ),
    ),
    "SecretsManagerReadWrite": ManagedPolicy(
        "secretsmanager:* on every secret of the account (read, create, change, delete) and "
        "listing of RDS, Redshift, KMS aliases and more; no kms:Decrypt",
        Broad(
            "grants secretsmanager:* on every secret of the account (read, change, delete) and "
            "still no kms:Decrypt for secrets under a customer key",
            "grant secretsmanager:GetSecretValue on the app's secrets only",
        ),
    ),
    "AmazonRDSReadOnlyAccess": ManagedPolicy(
        "describes and lists every RDS database, cluster and snapshot (and reads their "
        "metrics); no access to the data itself"
    ),
    "AmazonSSMReadOnlyAccess": ManagedPolicy(
        "ssm:Describe*, Get*, List* on every SSM parameter of the account, SecureString "
        "values included",
        Broad(
            "reads every SSM parameter of the account, other applications' secrets included",
            "grant ssm:GetParameters on the app's parameter path only",
        ),
    ),
    "AdministratorAccess": ManagedPolicy(
        "every action on every resource (*:*)",
        Broad("grants every action on every resource (*:*)", OWN_RESOURCES),
    ),
    "PowerUserAccess": ManagedPolicy(
        "every action but IAM's and Organizations' on every resource",
        Broad("grants every action but IAM's on every resource", OWN_RESOURCES),
    ),
}
UNKNOWN_GRANTS = (
    "a managed policy qbroles has no summary of; read it with aws iam get-policy-version"
)
NARROWER = "qbroles --preset least-privilege does this"


def broad(label: str) -> Broad | None:
    """Return why the managed policy of this label is too broad, or None."""
    known = POLICIES.get(label)
    return None if known is None else known.broad


def grants(label: str) -> str:
    """Return what the managed policy of this label grants, in one line."""
    known = POLICIES.get(label)
    return UNKNOWN_GRANTS if known is None else known.grants


# --- AWS formats qbroles reads

# A private ECR image: the standard, FIPS (dkr.ecr-fips.) and dual-stack (dkr-ecr.REGION.on.aws)
# registry endpoints (Amazon ECR endpoints and quotas, "Amazon ECR service endpoints":
# https://docs.aws.amazon.com/general/latest/gr/ecr.html).
ECR_IMAGE = re.compile(
    r"(?P<account>\d{12})\.dkr(?:\.ecr|\.ecr-fips|-ecr)\.(?P<region>[a-z0-9-]+)"
    r"\.(?:amazonaws\.com(?:\.cn)?|on\.aws)/(?P<repository>[^:@]+)"
)
# The random suffix Secrets Manager adds to a secret's name in its ARN: a hyphen and six
# characters ("Secrets Manager ARN": https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_iam-permissions.html#iam-resources).
SECRET_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}")


def has_secret_suffix(name: str) -> bool:
    """Return whether a secret's name, as an ARN gives it, ends in its random suffix."""
    return len(name) > 7 and bool(SECRET_SUFFIX.fullmatch(name[-7:]))
