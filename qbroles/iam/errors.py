"""botocore's answers and errors, as one line a person can act on."""

from __future__ import annotations

import re
from typing import Any

from qbroles.iam.pacing import GaveUp

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
    message = str(error.get("Message", "")).rstrip(".") or "no message"
    if code in _DENIED_CODES:
        return (
            f"AWS denied {action} ({where}): {message}; grant {action} to the "
            "caller or use a profile that has it."
        )
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
