"""--debug: each AWS request on stderr as it is answered, never a credential or a body.

One line per attempt: the service, the operation, what it is about (the role, policy or
task definition named in its parameters), the answer (HTTP status and error code, or
the connection error), the attempt of that call and how long it took.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

# The parameters that say what a call is about; their values are names and ARNs, never
# secrets. Documents and tags are never shown.
_ABOUT = ("RoleName", "PolicyArn", "PolicyName", "InstanceProfileName", "taskDefinition")


def trace(client: Any, write: Any = None) -> None:
    """Print every attempt of the client's requests to stderr (or ``write``)."""
    out = write or (lambda line: print(line, file=sys.stderr, flush=True))
    lock = threading.Lock()
    service = client.meta.service_model.service_id.hyphenize()

    def before_call(params: Any, context: Any, **_: Any) -> None:
        about = [f"{key}={params[key]}" for key in _ABOUT if isinstance(params.get(key), str)]
        context["qbroles_about"] = " ".join(about)
        context["qbroles_attempt"] = 0

    def before_send(request: Any, **_: Any) -> None:
        request.context["qbroles_attempt"] = request.context.get("qbroles_attempt", 0) + 1
        request.context["qbroles_sent"] = time.monotonic()

    def received(
        response_dict: Any,
        parsed_response: Any,
        exception: Any,
        context: Any,
        event_name: str,
        **_: Any,
    ) -> None:
        took = (time.monotonic() - context.get("qbroles_sent", time.monotonic())) * 1000
        if exception is not None:  # no answer: the connection failed or timed out
            answer = type(exception).__name__
        else:
            error = (parsed_response or {}).get("Error", {}).get("Code")
            status = (response_dict or {}).get("status_code")
            answer = f"{status}{' ' + error if error else ''}"
        about = context.get("qbroles_about", "")
        line = (
            f"qbroles: debug: {service} {event_name.rsplit('.', 1)[-1]} "
            f"{about + ' ' if about else ''}"
            f"-> {answer} (attempt {context.get('qbroles_attempt', 1)}, {took:.0f} ms)"
        )
        with lock:
            out(line)

    events = client.meta.events
    events.register(f"before-parameter-build.{service}", before_call)
    events.register(f"before-send.{service}", before_send)
    events.register(f"response-received.{service}", received)
