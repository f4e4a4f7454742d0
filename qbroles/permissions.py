"""What qbroles itself needs: the IAM policy its caller must hold, per command, for a spec.

Every AWS call the commands make (docs/aws-calls.md) is listed here as the IAM action
that authorises it, with the resources it acts on, in the Service Authorization
Reference's terms (https://docs.aws.amazon.com/service-authorization/latest/reference/
list_awsidentityandaccessmanagementiam.html). tests/test_permissions.py checks the list
against the calls the commands really make.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from qbroles.spec.model import Spec

# A role's reads: GetRole and the listings go out together; GetRolePolicy per inline policy.
READ_ROLES = (
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListRolePolicies",
)
# The writes create may make, --prune's removals included. CreateRole with Tags is also
# authorised as iam:TagRole ("Permissions required for tagging IAM roles",
# https://docs.aws.amazon.com/IAM/latest/UserGuide/id_tags_roles.html): the ownership tag
# goes on with the role, so without iam:TagRole no role can be made.
WRITE_ROLES = (
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
)
# restore only adds and rewrites (reconcile/restore.py): no removal is ever granted it.
# AddRoleToInstanceProfile needs iam:PassRole on the role ("The caller of this operation
# must be granted the PassRole permission on the IAM role", https://docs.aws.amazon.com/
# IAM/latest/APIReference/API_AddRoleToInstanceProfile.html). No page says which
# iam:PassedToService that request carries, so none is required: a condition the request
# does not satisfy would deny every such restore; the Resource is the spec's roles only.
RESTORE_ROLES = (
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:PassRole",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:TagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
)
DELETE_ROLES = (
    "iam:DeleteRole",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:ListInstanceProfilesForRole",
)
# Before a write, GetPolicy asks whether each policy to attach exists; --task-definition
# and --check-live-task-definitions read the documents of the roles' managed policies.
READ_POLICIES = ("iam:GetPolicy", "iam:GetPolicyVersion")
# ECS's task-definition reads support no resource-level permissions: the Resource is "*"
# (https://docs.aws.amazon.com/service-authorization/latest/reference/
# list_amazonelasticcontainerservice.html).
# The live checks read every enabled region, listed by ec2:DescribeRegions (Resource "*"
# too: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html).
READ_TASKS = ("ec2:DescribeRegions", "ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions")
# What a task definition names, read to judge the resource side (iam/resources.py). Each
# is optional: a read denied makes an unknown, never a failed run. The resources are any
# the task definitions name, so "*". HeadObject is authorised by s3:GetObject (API
# HeadObject: https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html): grant
# it on the buckets of environment files only, or drop it and let those be unknown.
READ_RESOURCES = (
    "ecr:DescribeImages",
    "ecr:DescribePullThroughCacheRules",
    "ecr:GetRepositoryPolicy",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "logs:DescribeLogGroups",
    "s3:GetBucketPolicy",
    "s3:GetObject",
    "s3:ListAllMyBuckets",
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetResourcePolicy",
    "ssm:DescribeParameters",
)
# RemoveRoleFromInstanceProfile acts on the instance profile (delete takes the role out of
# any it is in); restore puts it back (with iam:PassRole on the role, above).
LEAVE_PROFILES = ("iam:RemoveRoleFromInstanceProfile",)
JOIN_PROFILES = ("iam:AddRoleToInstanceProfile",)
# sts:GetCallerIdentity needs no permission, and cannot be denied
# (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).

# tighten reads the task role's last-accessed report: GenerateServiceLastAccessedDetails on
# the role, GetServiceLastAccessedDetails on "*" (it takes a job id, no resource), and
# with --check-no-new-access Access Analyzer's CheckNoNewAccess (no resource either):
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html,
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsiamaccessanalyzer.html.
READ_USAGE = ("access-analyzer:CheckNoNewAccess", "iam:GetServiceLastAccessedDetails")

COMMANDS = ("create", "verify", "delete", "restore", "tighten")
# What each command needs, by kind of resource: roles, policies, instance profiles, ECS.
NEEDS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "create": {
        "role": READ_ROLES + WRITE_ROLES,
        "policy": READ_POLICIES,
        "ecs": READ_TASKS,
        "resources": READ_RESOURCES,
    },
    # verify --simulate asks IAM's policy simulator about the roles (on the roles' ARNs).
    "verify": {
        "role": (*READ_ROLES, "iam:SimulatePrincipalPolicy"),
        "policy": READ_POLICIES,
        "ecs": READ_TASKS,
        "resources": READ_RESOURCES,
    },
    "delete": {"role": READ_ROLES + DELETE_ROLES, "profile": LEAVE_PROFILES},
    "tighten": {
        "role": (*READ_ROLES, "iam:GenerateServiceLastAccessedDetails"),
        "policy": READ_POLICIES,
        # Which services turn ECS Exec on: their task role keeps what ECS Exec needs.
        "ecs": (*READ_TASKS, "ecs:DescribeServices", "ecs:ListClusters", "ecs:ListServices"),
        "resources": READ_RESOURCES,
        "usage": READ_USAGE,
    },
    # Before a write, restore asks whether each policy it attaches exists, as create does.
    "restore": {
        "role": READ_ROLES + RESTORE_ROLES,
        "policy": ("iam:GetPolicy",),
        "profile": JOIN_PROFILES,
    },
}
_SIDS = {
    "role": "QbrolesRoles",
    "policy": "QbrolesReadPolicies",
    "profile": "QbrolesInstanceProfiles",
    "ecs": "QbrolesReadTaskDefinitions",
    "resources": "QbrolesReadWhatTaskDefinitionsName",
    "usage": "QbrolesReadLastAccessed",
}


def needed(commands: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Return the actions the commands need, by kind of resource, each sorted and once."""
    kinds: dict[str, set[str]] = {}
    for command in commands:
        for kind, actions in NEEDS[command].items():
            kinds.setdefault(kind, set()).update(actions)
    return {kind: tuple(sorted(actions)) for kind, actions in kinds.items()}


def policy(spec: Spec, commands: Iterable[str], partition: str, account: str) -> dict[str, Any]:
    """Return the identity policy that lets its holder run ``commands`` on the spec's roles.

    Role actions are scoped to the spec's roles by ARN (path and name); ``account`` is an
    account ID, or "*" (IAM acts only on the caller's own account anyway).
    """
    resources = {
        "role": sorted(f"arn:{partition}:iam::{account}:role{r.path}{r.name}" for r in spec.roles),
        "policy": [f"arn:{partition}:iam::*:policy/*"],  # AWS's managed ones and the account's
        "profile": [f"arn:{partition}:iam::{account}:instance-profile/*"],
        "ecs": ["*"],
        "resources": ["*"],
        "usage": ["*"],
    }
    statements = [
        {
            "Sid": _SIDS[kind],
            "Effect": "Allow",
            "Action": list(actions),
            "Resource": resources[kind],
        }
        for kind, actions in needed(commands).items()
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def pass_role_note(spec: Spec, partition: str, account: str, commands: Iterable[str]) -> str:
    """Return what whoever registers the task definition needs, which qbroles does not, and
    when qbroles itself passes a role (restore, into an instance profile)."""
    arns = ", ".join(f"arn:{partition}:iam::{account}:role{r.path}{r.name}" for r in spec.roles)
    itself = (
        "restore passes a role only to put it back into an instance profile it was taken "
        "out of (AddRoleToInstanceProfile needs iam:PassRole, granted above on these roles)"
        if "restore" in commands
        else "qbroles itself does not pass the roles"
    )
    return (
        "qbroles: whoever registers or runs the task definition (aws ecs "
        "register-task-definition, a deploy pipeline) also needs iam:PassRole on "
        f"{arns}, with the condition iam:PassedToService = ecs-tasks.amazonaws.com; "
        f"{itself}."
    )


# A pipeline on GitHub Actions assumes its role with GitHub's OIDC token: the role trusts
# the account's IAM OIDC provider for token.actions.githubusercontent.com, for the
# audience sts.amazonaws.com (what aws-actions/configure-aws-credentials asks for), and
# for the subject of one repository's branch or environment. AWS: "Configuring a role for
# GitHub OIDC identity provider"
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-idp_oidc.html#idp_oidc_Create_GitHub);
# GitHub: the subject's formats, repo:OWNER/REPO:ref:REF and
# repo:OWNER/REPO:environment:NAME (https://docs.github.com/en/actions/reference/security/oidc).
GITHUB_OIDC = "token.actions.githubusercontent.com"
GITHUB_REPO = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}"


def github_trust(
    partition: str, account: str, repo: str, *, ref: str | None, environment: str | None
) -> dict[str, Any]:
    """Return the trust policy of a pipeline role assumed from one GitHub repository's
    workflows on one branch or tag (``ref``) or in one environment."""
    subject = f"repo:{repo}:environment:{environment}" if environment else f"repo:{repo}:ref:{ref}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GitHubActions",
                "Effect": "Allow",
                "Principal": {
                    "Federated": f"arn:{partition}:iam::{account}:oidc-provider/{GITHUB_OIDC}"
                },
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{GITHUB_OIDC}:aud": "sts.amazonaws.com",
                        f"{GITHUB_OIDC}:sub": subject,
                    }
                },
            }
        ],
    }


def check_ci(
    ci: str | None, account: str | None, repo: str | None, ref: str | None, env: str | None
) -> None:
    """Refuse a --ci request that would print a trust policy nobody should use."""
    import re

    from qbroles.errors import InputError

    if ci is None:
        if repo or ref or env:
            raise InputError("--repo, --ref and --environment go with --ci github.")
        return
    if not account:
        raise InputError(
            "--ci github needs --account ID: the trust policy names the account's OIDC "
            "provider by ARN, which takes no wildcard."
        )
    if not repo or not re.fullmatch(GITHUB_REPO, repo):
        raise InputError(f"--ci github needs --repo OWNER/REPO (got {repo!r}).")
    if ref and env:
        raise InputError("--ref and --environment each name who may assume the role: give one.")
    if ref and not re.fullmatch(r"refs/(heads|tags)/[^\s*?]+", ref):
        raise InputError(
            f"--ref {ref!r} is not a full branch or tag ref such as refs/heads/main or "
            "refs/tags/v1.2 (no wildcards: the subject must name one)."
        )
    if env is not None and not re.fullmatch(r"[^\s:*?]{1,255}", env):
        raise InputError(f"--environment {env!r} is not an environment name.")


def caller_policy(roles: Sequence[str], ous: bool) -> dict[str, Any]:
    """Return what the caller of a many-account read needs in its own account: to assume
    the ``roles`` (one per account by ARN; any account's, for --ou, whose accounts are
    listed at run time), and, for --ou, Organizations' two listings. Those listings are
    granted on "*": they are read-only, and the side that cannot break a run."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "QbrolesAssumeIntoAccounts",
            "Effect": "Allow",
            "Action": ["sts:AssumeRole"],
            "Resource": list(roles),
        }
    ]
    if ous:
        statements.append(
            {
                "Sid": "QbrolesListOrganizationalUnits",
                "Effect": "Allow",
                "Action": ["organizations:ListAccountsForParent", "organizations:ListChildren"],
                "Resource": "*",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}
