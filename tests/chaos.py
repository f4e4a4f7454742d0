"""A flaky endpoint: a proxy on 127.0.0.1 in front of a moto server that misbehaves on purpose.

Also the benchmark's stand-in for IAM's latency (a fixed delay on every answer).

Deterministic patterns count every request that reaches the proxy, from all of qbroles'
workers together: ``throttle_every=2`` answers every second request with IAM Throttling,
so one call may be throttled several times in a row; ``lose_every=3`` forwards the others
and drops every third answer (the change is made, the client never hears);
``throttle_after=8`` forwards eight requests, then throttles every one.

With a fixed seed it answers a fraction of requests with IAM Throttling (without forwarding),
another with 500/503, forwards some and then drops the connection without an answer (the
change happened, the client never heard), and delays answers. It can also hold the request
after the Nth write, so a test can interrupt qbroles mid-run, or hold chosen requests in
turn (``hold_actions``), so a test can act, as a colleague would, between two of them.

Two more, for overlapping writes: ``gather={"AttachRolePolicy": 4}`` holds each such
request until four of one role have arrived (or ``gather_wait`` has passed), so a test
knows whether they were in flight together; ``conflicts=True`` answers a write with
ConcurrentModification while another write to the same role is in flight, as real IAM
may (terraform-provider-aws#34371: parallel AttachRolePolicy on one role). ``overlap``
records, per (action, role), the most requests that were in flight at once, and ``log``
every request's (action, role, start, end) as the proxy saw them.
"""

from __future__ import annotations

import http.client
import random
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.conftest import WRITES

CONFLICT_BODY = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>ConcurrentModification</Code>"
    b"<Message>Multiple requests to change this object were submitted simultaneously."
    b"</Message></Error><RequestId>chaos</RequestId></ErrorResponse>"
)
THROTTLE_BODY = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
    b"<Message>Rate exceeded</Message></Error><RequestId>chaos</RequestId></ErrorResponse>"
)
FAILURE_BODY = (
    b"<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code>"
    b"<Message>Service unavailable</Message></Error><RequestId>chaos</RequestId></ErrorResponse>"
)


class ChaosProxy:
    def __init__(
        self,
        target: str,
        *,
        seed: int = 0,
        throttle: float = 0.0,
        fail: float = 0.0,
        lose: float = 0.0,
        delay: float = 0.0,
        latency: float = 0.0,
        hold_after_writes: int | None = None,
        hold_actions: tuple[str, ...] = (),
        throttle_every: int | None = None,
        lose_every: int | None = None,
        throttle_after: int | None = None,
        gather: dict[str, int] | None = None,
        gather_wait: float = 3.0,
        conflicts: bool = False,
    ) -> None:
        self.target = urlsplit(target)
        self.random = random.Random(seed)
        self.throttle, self.fail, self.lose, self.delay = throttle, fail, lose, delay
        self.latency = latency  # added to every answer: a real IAM call takes tens of ms
        self.hold_after_writes = hold_after_writes
        self.throttle_every, self.lose_every = throttle_every, lose_every
        self.throttle_after = throttle_after  # every request after this many is throttled
        self.counts: Counter[str] = Counter()
        self.gather, self.gather_wait, self.conflicts = dict(gather or {}), gather_wait, conflicts
        self.arrived: Counter[tuple[str, str]] = Counter()  # per (action, role)
        self.in_flight: Counter[tuple[str, str]] = Counter()
        self.overlap: Counter[tuple[str, str]] = Counter()  # the most in flight at once
        self.writing: Counter[str] = Counter()  # per role: writes in flight
        self.log: list[tuple[str, str, float, float]] = []
        self._gathered = threading.Condition()
        self.held = threading.Event()
        self.release = threading.Event()
        self.holds = list(hold_actions)  # the next request of holds[0] is held, then the next
        self.stage = threading.Semaphore(0)  # one release per hold of hold_actions
        self.at_stage = threading.Event()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm
                # and the client's delayed ACK stall every answer by about 40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                proxy.handle(self)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length", 0)))
        form = parse_qs(body.decode("utf-8", "replace"))
        action, role = form.get("Action", ["?"])[0], form.get("RoleName", [""])[0]
        started = time.monotonic()
        key = (action, role)
        with self._gathered:
            self.arrived[key] += 1
            self.in_flight[key] += 1
            self.overlap[key] = max(self.overlap[key], self.in_flight[key])
            self._gathered.notify_all()
            if action in self.gather:
                self._gathered.wait_for(
                    lambda: self.arrived[key] >= self.gather[action], self.gather_wait
                )
            conflict = self.conflicts and action in WRITES and self.writing[role] > 0
            if action in WRITES:
                self.writing[role] += 1
        try:
            if conflict:
                time.sleep(self.latency)
                self.counts["conflicts"] += 1
                return self._answer(request, 409, CONFLICT_BODY)
            return self._pass(request, body, action)
        finally:
            with self._gathered:
                self.in_flight[key] -= 1
                if action in WRITES:
                    self.writing[role] -= 1
                self.log.append((action, role, started, time.monotonic()))

    def _pass(self, request: BaseHTTPRequestHandler, body: bytes, action: str) -> None:
        with self._lock:
            self.counts["requests"] += 1
            fate = self._fate()
            pause = self.random.uniform(0, self.delay)
            if action in WRITES:
                self.counts["writes"] += 1
                hold = (
                    self.hold_after_writes is not None
                    and self.counts["writes"] > self.hold_after_writes
                )
            else:
                hold = False
            staged = bool(self.holds) and action == self.holds[0]
            if staged:
                self.holds.pop(0)
        if staged:  # the test acts now, then calls go_on()
            self.at_stage.set()
            self.stage.acquire(timeout=60)
        if hold:
            self.held.set()
            self.release.wait(60)
        time.sleep(pause + self.latency)
        if fate == "throttle":
            self.counts["throttled"] += 1
            return self._answer(request, 400, THROTTLE_BODY)
        if fate in ("500", "503"):
            self.counts["failed"] += 1
            return self._answer(request, int(fate), FAILURE_BODY)
        status, headers, answer = self._forward(request, body)
        if fate == "lose":
            self.counts["lost"] += 1
            request.close_connection = True  # the change is made; the answer never comes
            return None
        self.counts["forwarded"] += 1
        return self._answer(request, status, answer, headers)

    def _fate(self) -> str:
        """Decide what happens to this request: throttle, 500, 503, lose or forward (locked)."""
        if self.throttle_after is not None:
            return "throttle" if self.counts["requests"] > self.throttle_after else "forward"
        if self.throttle_every or self.lose_every:  # the every-Nth patterns
            if self.throttle_every and self.counts["requests"] % self.throttle_every == 0:
                return "throttle"
            self.counts["passed"] += 1
            if self.lose_every and self.counts["passed"] % self.lose_every == 0:
                return "lose"
            return "forward"
        fate = self.random.random()
        if fate < self.throttle:
            return "throttle"
        if fate < self.throttle + self.fail:
            return "500" if fate * 1000 % 2 < 1 else "503"
        if fate < self.throttle + self.fail + self.lose:
            return "lose"
        return "forward"

    def _forward(
        self, request: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=30)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        connection.request("POST", request.path, body=body, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        connection.close()
        return answer.status, answer.getheaders(), data

    @staticmethod
    def _answer(
        request: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        request.send_response(status)
        for key, value in headers or [("Content-Type", "text/xml")]:
            if key.lower() not in (
                "content-length",
                "connection",
                "transfer-encoding",
                "server",
                "date",
            ):
                request.send_header(key, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def wait_for_hold(self, timeout: float = 30) -> bool:
        """Wait until the next of ``hold_actions`` is held; False if it never came."""
        arrived = self.at_stage.wait(timeout)
        self.at_stage.clear()
        return arrived

    def go_on(self) -> None:
        """Let the held request through."""
        self.stage.release()

    def stop(self) -> None:
        for _ in range(8):
            self.stage.release()
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
