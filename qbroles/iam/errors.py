"""botocore's answers and errors, as one line a person can act on."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from qbroles.errors import AccessDenied, AwsError
from qbroles.iam.pacing import GaveUp, Pacer
from qbroles.policy.documents import NotIamAnswer

# Error codes that mean the credentials themselves are bad.
_CREDENTIAL_CODES = {
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "AuthFailure",
}
# Error codes that mean the caller lacks a permission: IAM and STS (query APIs) answer
# AccessDenied, JSON APIs such as ECS AccessDeniedException ("Common Errors",
# https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html), EC2-style ones
# UnauthorizedOperation. Each becomes an AccessDenied naming the action.
_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}


def redacted(url: str) -> str:
    """Return a URL fit to print: user and password (http://user:secret@host) masked."""
    return re.sub(r"(?<=://)[^/@\s]*@", "***@", url)


def reject_non_xml(response_dict: dict[str, Any], **_: Any) -> None:
    """Refuse to parse an answer that is not IAM's XML (an HTML page, garbage).

    botocore's XML parser meets such a body with a bare KeyError; raising its own
    ResponseParserError here turns it into the one-line "did not answer like AWS IAM".
    """
    from botocore.parsers import ResponseParserError

    body = response_dict.get("body") or b""
    head = body.lstrip()[:64].lower()
    if head and (not head.startswith(b"<") or head.startswith((b"<html", b"<!doctype"))):
        raise ResponseParserError(f"not an IAM answer: {head[:32]!r}")


def client_error_message(exc: Any, action: str, where: str, gave_up: GaveUp | None) -> str:
    error = exc.response.get("Error", {})
    code = error.get("Code", "") or str(
        exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    )
    message = str(error.get("Message", "")).strip().rstrip(".") or "no message"
    if message.startswith("<"):  # a web page where AWS puts its message: a proxy, an emulator
        message = "a web page, not an AWS answer"
    if code in _CREDENTIAL_CODES:
        return (
            f"AWS rejected the credentials ({where}): {message}; refresh them or check "
            "AWS_PROFILE / AWS_ACCESS_KEY_ID."
        )
    if gave_up is not None:  # retried until a limit stopped it
        kept = "throttling" if gave_up.throttled else f"failing ({code}: {message})"
        return (
            f"AWS kept {kept} {where}: {gave_up.reason()}; wait a minute and rerun "
            f"(a rerun resumes where this one stopped), or {gave_up.remedy()}."
        )
    if code == "NoSuchEntity" and message.lower().startswith("policy"):
        return (
            f"{where}: {message}; check the policy name in the spec (AWS managed policies under "
            "a path need it, e.g. service-role/AmazonECSTaskExecutionRolePolicy)."
        )
    if code == "ConcurrentModification":
        return f"{where}: IAM kept reporting a concurrent modification; rerun in a minute."
    return f"AWS refused {where}: {code}: {message}."


def no_such_entity(exc: BaseException) -> bool:
    """Return whether IAM answered NoSuchEntity, told by the answer's error code.

    Not by ``client.exceptions.NoSuchEntityException``: botocore builds those classes on
    a client's first use of them, without a lock, so threads making a new client's first
    calls at once may each build a set, and an error raised from one set is not caught
    as the other's class.
    """
    from botocore.exceptions import ClientError

    return (
        isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == "NoSuchEntity"
    )


@contextmanager
def translated(
    operation: str,
    where: str,
    *,
    endpoint: str,
    service: str,
    pacer: Pacer,
    profile: str = "default",
) -> Iterator[None]:
    """Turn botocore's exceptions into one-line AwsErrors naming the call (``where``);
    ``profile`` is the AWS profile whose credentials signed it."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        LoginError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
        SSOError,
        TokenRetrievalError,
    )
    from botocore.parsers import ResponseParserError

    name = service.upper()  # IAM, STS, ECS: the service whose endpoint is named
    try:
        with pacer.calling(where):
            yield
    except ClientError as exc:
        # The call that failed, exactly (one block may make several calls).
        action = f"{service}:{getattr(exc, 'operation_name', None) or operation}"
        error = exc.response.get("Error", {})
        if error.get("Code") in _DENIED_CODES:
            detail = str(error.get("Message", "")).rstrip(".") or "no message"
            raise AccessDenied([action], [where], detail) from None
        raise AwsError(client_error_message(exc, action, where, pacer.gave_up())) from None
    except (SSOError, TokenRetrievalError):
        # The IAM Identity Center token is missing, expired or refused: only a new sign-in
        # helps (https://docs.aws.amazon.com/cli/latest/userguide/sso-using-profile.html).
        raise AwsError(
            f"{where}: the AWS SSO (IAM Identity Center) sign-in of profile {profile} is "
            f"missing or expired; run aws sso login --profile {profile}, then rerun."
        ) from None
    except LoginError:
        raise AwsError(
            f"{where}: the AWS console sign-in of profile {profile} is missing or expired; "
            f"run aws login --profile {profile}, then rerun."
        ) from None
    except (NoCredentialsError, PartialCredentialsError):
        raise AwsError(
            f"{where}: no usable AWS credentials; set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY."
        ) from None
    except (
        EndpointConnectionError,
        ConnectTimeoutError,
        ReadTimeoutError,
        ConnectionClosedError,
    ):
        gave_up = pacer.gave_up()
        tried = f" ({gave_up.reason()})" if gave_up else ""
        remedy = gave_up.remedy() if gave_up else "check the network or --endpoint-url"
        raise AwsError(
            f"{where}: could not reach {name} at {endpoint}{tried}; {remedy}, then rerun."
        ) from None
    except json.JSONDecodeError:
        raise AwsError(
            f"{where}: {endpoint} answered with a policy document that "
            f"is not JSON, as AWS {name} never does; check --endpoint-url."
        ) from None
    except ResponseParserError:
        raise AwsError(
            f"{where}: {endpoint} did not answer like AWS {name}; check --endpoint-url."
        ) from None
    except NotIamAnswer as exc:
        raise AwsError(
            f"{where}: {endpoint} did not answer like AWS {name} ({exc}); check --endpoint-url."
        ) from None
    except BotoCoreError as exc:
        raise AwsError(f"{where} failed: {redacted(str(exc))}.") from None


def passes_with_time(code: str, exc: Exception, retry_if: frozenset[str], fresh: bool) -> bool:
    """Return whether an error of a write is one that waiting lets pass: another write of
    the same role at once, or (``fresh``) a role IAM does not show everywhere yet."""
    # ConcurrentModification: "multiple requests to change this object were submitted
    # simultaneously. Wait a few minutes and submit your request again." (https://docs.
    # aws.amazon.com/botocore/latest/reference/services/iam/client/exceptions/
    # ConcurrentModificationException.html). A role's writes of one stage overlap, and
    # IAM answers so even where a write's page does not list it, as to AttachRolePolicy
    # (terraform-provider-aws#34371; Terraform retries it too).
    if code == "ConcurrentModification" or code in retry_if:
        return True
    if not fresh:
        return False
    message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", "")).lower()
    if code == "NoSuchEntity":
        # The role is not visible yet; a missing *policy* ("Policy arn:... does not exist")
        # will not appear by waiting, and its ARN may well contain the word "Role".
        return not message.startswith("policy") and "role" in message
    return code == "MalformedPolicyDocument" and "invalid principal" in message
