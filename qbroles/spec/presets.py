"""The built-in specs: the deployment guide's roles, and their least-privilege counterpart.

Each preset is spec data, exactly what a TOML spec file would hold, validated the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from qbroles.catalog import DEFAULT_APP, PRESETS, has_secret_suffix
from qbroles.errors import InputError
from qbroles.partitions import PARTITION
from qbroles.spec.load import parse_spec
from qbroles.spec.model import DEFAULT_SERVICE, Spec

EXECUTION = "{app}-ECS-TaskExecutionRole"
TASK = "{app}-ECS-TaskRole"
EXECUTION_DESCRIPTION = (
    "ECS task execution role for {app}: lets the ECS agent pull the image, "
    "ship the logs and inject the secrets. Managed by qbroles."
)
TASK_DESCRIPTION = (
    "ECS task role for {app}: what the application's code may do at run time. Managed by qbroles."
)

# The QuestionBank deployment guide's roles, broad AWS managed policies "for simplicity".
WORKSHOP: dict[str, Any] = {
    "role": [
        {
            "name": EXECUTION,
            "kind": "execution",
            "description": EXECUTION_DESCRIPTION,
            "trusted_service": DEFAULT_SERVICE,
            "managed_policies": [
                "service-role/AmazonECSTaskExecutionRolePolicy",
                "AmazonEC2ContainerRegistryReadOnly",
                "CloudWatchLogsFullAccess",
                "SecretsManagerReadWrite",
            ],
        },
        {
            "name": TASK,
            "kind": "task",
            "description": TASK_DESCRIPTION,
            "trusted_service": DEFAULT_SERVICE,
            "managed_policies": [
                "AmazonRDSReadOnlyAccess",
                "AmazonSSMReadOnlyAccess",
                "CloudWatchLogsFullAccess",
                "SecretsManagerReadWrite",
            ],
        },
    ]
}
SECRET_ARN = re.compile(rf"arn:{PARTITION}:secretsmanager:[a-z0-9-]+:\d{{12}}:secret:[\w/+=.@*?-]+")
KMS_KEY_ARN = re.compile(rf"arn:{PARTITION}:kms:[a-z0-9-]+:\d{{12}}:key/[\w-]+")
SSM_PATH = re.compile(r"/([\w.-]+/)*")
LOG_GROUP = re.compile(r"[\w./#-]{1,512}")


@dataclass(frozen=True)
class Scope:
    """What the least-privilege policies are scoped to; None means derived from the app name."""

    secret_arns: tuple[str, ...] = ()
    ssm_path: str | None = None
    log_group: str | None = None
    kms_key_arn: str | None = None

    def validate(self) -> None:
        """Reject malformed scope options before anything is sent."""
        for arn in self.secret_arns:
            if not SECRET_ARN.fullmatch(arn):
                raise InputError(
                    f"--secret-arn {arn!r} is not a Secrets Manager secret ARN such as "
                    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db-AbCdEf."
                )
            name = arn.split(":secret:", 1)[1]
            # IAM matches a secret by its full ARN, which ends in a hyphen and six random
            # characters; a partial ARN in a policy matches no secret at all ("Resource:
            # secret ARN" in Secrets Manager's IAM reference:
            # https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_iam-policies.html).
            if not ("*" in name or "?" in name or has_secret_suffix(name)):
                raise InputError(
                    f"--secret-arn {arn!r} is a partial ARN, which IAM never matches (a secret's "
                    f"ARN ends in -XXXXXX); give the full ARN, or {arn}-?????? for that name."
                )
        if self.ssm_path is not None and not SSM_PATH.fullmatch(self.ssm_path):
            raise InputError(
                f"--ssm-path {self.ssm_path!r} is not a parameter path such as /questionbank/ "
                "(it starts and ends with /)."
            )
        if self.log_group is not None and not LOG_GROUP.fullmatch(self.log_group):
            raise InputError(f"--log-group {self.log_group!r} is not a CloudWatch log group name.")
        if self.kms_key_arn is not None and not KMS_KEY_ARN.fullmatch(self.kms_key_arn):
            raise InputError(
                f"--kms-key-arn {self.kms_key_arn!r} is not a KMS key ARN such as "
                "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab."
            )


def preset_spec(name: str, app: str | None, scope: Scope) -> Spec:
    """Return a built-in spec for the application.

    The presets' descriptions are qbroles' own words: set when a role is created, never
    asked of a role made by hand as the guide says (the guide gives none).
    """
    scope.validate()
    if name == "workshop":
        spec = parse_spec(WORKSHOP, source="preset workshop", app=app)
    elif name == "least-privilege":
        spec = parse_spec(
            least_privilege(scope, (app or DEFAULT_APP).lower()),
            source="preset least-privilege",
            app=app,
        )
    else:
        raise InputError(f"--preset {name!r} is not one of {', '.join(PRESETS)}.")
    roles = tuple(replace(role, stated=role.stated - {"description"}) for role in spec.roles)
    return replace(spec, roles=roles)


def least_privilege(scope: Scope, app_lower: str) -> dict[str, Any]:
    """Return the least-privilege roles as spec data: narrow inline policies, scoped trust."""
    here = "arn:{partition}:%s:{region}:{account}"
    secrets = list(scope.secret_arns) or [(here % "secretsmanager") + f":secret:{app_lower}/*"]
    ssm_path = scope.ssm_path or f"/{app_lower}/"
    log_group = scope.log_group or f"/ecs/{app_lower}"
    parameters = (here % "ssm") + f":parameter{ssm_path}*"
    parameter_path = (here % "ssm") + f":parameter{ssm_path.rstrip('/')}"
    log_streams = (here % "logs") + f":log-group:{log_group}:*"

    def allow(sid: str, actions: list[str], resources: list[str] | str) -> dict[str, Any]:
        return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}

    decrypt = (
        [allow("DecryptAppSecrets", ["kms:Decrypt"], scope.kms_key_arn)]
        if scope.kms_key_arn
        else []
    )
    # The app decrypts only through the services that hold its secrets (kms:ViaService,
    # AWS KMS condition keys: https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service).
    via = ["secretsmanager.{region}.amazonaws.com", "ssm.{region}.amazonaws.com"]
    task_decrypt = [
        {**statement, "Condition": {"StringEquals": {"kms:ViaService": via}}}
        for statement in decrypt
    ]
    execution = [
        allow("ReadAppSecrets", ["secretsmanager:GetSecretValue"], secrets),
        allow("ReadAppParameters", ["ssm:GetParameters"], parameters),
        allow("CreateAppLogGroup", ["logs:CreateLogGroup"], log_streams),
        *decrypt,
    ]
    task = [
        allow("ReadDatabaseSettings", ["rds:Describe*"], "*"),
        allow(
            "ReadAppParameters",
            ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"],
            [parameters, parameter_path],
        ),
        allow(
            "ReadAppSecrets",
            ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            secrets,
        ),
        allow("WriteAppLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], log_streams),
        *task_decrypt,
    ]
    return {
        "role": [
            {
                "name": EXECUTION,
                "kind": "execution",
                "description": EXECUTION_DESCRIPTION,
                "managed_policies": ["service-role/AmazonECSTaskExecutionRolePolicy"],
                "inline_policies": {
                    "qbroles-execution": {"Version": "2012-10-17", "Statement": execution}
                },
                # No trust conditions: AWS documents aws:SourceAccount/aws:SourceArn for the
                # task role's trust only, and a condition ECS does not satisfy when it
                # assumes the execution role would keep every task from starting.
            },
            {
                "name": TASK,
                "kind": "task",
                "description": TASK_DESCRIPTION,
                "managed_policies": [],
                "inline_policies": {"qbroles-task": {"Version": "2012-10-17", "Statement": task}},
                "source_conditions": True,
            },
        ]
    }
