"""A loopback FCM HTTP v1 (``messages:send``) server for tests.

The push worker sends through the REAL ``pyfcm`` client; only the far end is fake::

    with FcmTestServer() as fcm:
        client = FCMNotification(credentials=fake_credentials(), project_id="fieldline-test")
        client.FCM_END_POINT_BASE = fcm.endpoint_base  # before the first send (pyfcm caches it)
        fcm.answer("tok-1", unregistered())
        client.notify(fcm_token="tok-1", notification_title="Hi")  # -> FCMNotRegisteredError

pyfcm 2.1.1 builds the URL as ``FCM_END_POINT_BASE + f"/{project_id}/messages:send"``
(default base ``https://fcm.googleapis.com/v1/projects``), so ``endpoint_base`` is
``http://127.0.0.1:PORT/v1/projects``. It authenticates by calling
``credentials.refresh(google.auth.transport.requests.Request())`` unconditionally (once per
thread, then again every 1800 s, ignoring ``expiry``) and sending
``Authorization: Bearer <credentials.token>``; ``fake_credentials()`` refreshes offline. The
server accepts any bearer token (no ``Authorization`` at all -> 401 UNAUTHENTICATED).

What each answer does to the real pyfcm 2.1.1 client (verified by ``tests/test_fcm_server.py``)
--------------------------------------------------------------------------------------------
pyfcm's exceptions carry NO attributes beyond ``args[0]`` (a message string), and
``pyfcm.errors.RetryAfterException`` (the one with ``.delay``) is never raised by pyfcm 2.1.1.

Two retry layers sit in front of ``parse_response``:

* urllib3 ``Retry(total=10, backoff_factor=1, status_forcelist=[502, 503],
  allowed_methods=... | {"POST"})`` mounted by pyfcm's default ``HTTPAdapter``. It re-POSTs
  on 502/503 and on 413/429/503 *carrying a Retry-After header*, sleeping Retry-After when it
  is > 0, else the exponential backoff 0, 2, 4, 8, 16, 32, 64, 120, 120, 120 s. For 502/503,
  after the 10th retry it raises ``requests.exceptions.RetryError`` (not a pyfcm error); for
  429 it hands the last response on. It also re-POSTs on connection errors and read timeouts
  (so a slow FCM can get duplicate sends). Turn it off with
  ``FCMNotification(..., adapter=requests.adapters.HTTPAdapter(max_retries=0))``.
* pyfcm's own ``send_request``: if the final response has ``Retry-After`` > 0 it
  sleeps (``time.sleep``) that long and resends, recursively, with no limit. This cannot be turned
  off by configuration (only by overriding ``send_request``). A non-integer Retry-After (an
  HTTP date) makes it raise ``ValueError``.

Answer -> HTTP -> real pyfcm with its DEFAULT adapter:

``ok()``
    200 ``{"name": "projects/<pid>/messages/<n>"}`` -> ``notify`` returns that dict.
``unregistered()``
    404 NOT_FOUND / errorCode UNREGISTERED -> ``FCMNotRegisteredError("Token not registered")``
    (the body is discarded).
``invalid_argument(msg, field=None)``
    400 INVALID_ARGUMENT / errorCode INVALID_ARGUMENT (+ ``google.rpc.BadRequest`` if ``field``)
    -> ``InvalidDataError(response.text)``: ``args[0]`` is the raw JSON body.
``internal()``
    500 INTERNAL / errorCode INTERNAL -> ``FCMServerError("FCM server error: Unexpected status
    code 500. ...")``, sent once, no retry.
``unavailable()``
    503 UNAVAILABLE / errorCode UNAVAILABLE -> urllib3 resends at once, then after 2, 4, 8 ...
    120 s; still 503 after 10 retries -> ``requests.exceptions.RetryError``.
``unavailable(retry_after=N)``
    same + ``Retry-After: N`` -> urllib3 sleeps N and resends, 10 times, then ``RetryError``.
``quota(retry_after=N)``
    429 RESOURCE_EXHAUSTED / errorCode QUOTA_EXCEEDED + ``Retry-After: N`` -> urllib3 sleeps N
    and resends 10 times, then pyfcm sleeps N and starts over: it blocks (sleeping N per
    attempt) until an answer without Retry-After comes; the caller never sees the 429.
``quota(retry_after=None)``
    429, no Retry-After -> ``FCMServerError`` (status code 429), sent once.

With ``adapter=HTTPAdapter(max_retries=0)`` 503 (and 429 without Retry-After) is one request and
``FCMServerError``; any answer WITH ``Retry-After: N`` > 0 is still slept on and resent by
pyfcm's own loop until an answer without Retry-After comes back.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypedDict

from google.oauth2.credentials import Credentials

__all__ = [
    "Answer",
    "FakeCredentials",
    "FcmTestServer",
    "Received",
    "fake_credentials",
    "internal",
    "invalid_argument",
    "ok",
    "quota",
    "unavailable",
    "unregistered",
]

FAKE_ACCESS_TOKEN = "fake-fcm-access-token"
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
_SEND_PATH = re.compile(r"^/v1/projects/(?P<project>[^/]+)/messages:send$")
TOKEN_PATH = "/token"


# --------------------------------------------------------------------------- credentials


class FakeCredentials(Credentials):
    """OAuth2 user credentials whose ``refresh`` never touches the network."""

    def __init__(self, token: str = FAKE_ACCESS_TOKEN) -> None:
        super().__init__(token=None)
        self._fake_token = token
        self.refresh_count = 0

    def refresh(self, request: object) -> None:
        self.refresh_count += 1
        self.token = self._fake_token
        # google-auth compares against a naive UTC datetime.
        self.expiry = (datetime.now(UTC) + timedelta(days=365)).replace(tzinfo=None)


def fake_credentials(token: str = FAKE_ACCESS_TOKEN) -> FakeCredentials:
    return FakeCredentials(token)


def service_account_info(*, project_id: str, token_uri: str) -> dict[str, str]:
    """A service-account key file's contents, with a fresh RSA key, whose ``token_uri`` is
    this server: a process configured with it (``FCM_SERVICE_ACCOUNT_FILE``) signs its JWT and
    gets its access token exactly as from Google, only on loopback."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": "fieldline-test-key",
        "private_key": pem,
        "client_email": f"push@{project_id}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class Answer:
    """One scripted HTTP response. ``body=None`` means a 200 with a fresh message name."""

    status: int
    body: dict[str, Any] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # seconds to wait before answering (a slow FCM)


def _error(
    code: int,
    status: str,
    message: str,
    error_code: str | None,
    *,
    extra_details: list[dict[str, Any]] | None = None,
    retry_after: int | None = None,
) -> Answer:
    details: list[dict[str, Any]] = []
    if error_code is not None:
        details.append({"@type": FCM_ERROR_TYPE, "errorCode": error_code})
    details.extend(extra_details or [])
    body = {"error": {"code": code, "message": message, "status": status, "details": details}}
    headers = () if retry_after is None else (("Retry-After", str(retry_after)),)
    return Answer(code, body, headers)


def ok(*, delay: float = 0.0) -> Answer:
    """200 ``{"name": "projects/<project>/messages/<n>"}``, after ``delay`` seconds."""
    return Answer(200, delay=delay)


def unregistered() -> Answer:
    return _error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")


def invalid_argument(
    message: str = "The registration token is not a valid FCM registration token",
    *,
    field: str | None = None,
) -> Answer:
    """400 INVALID_ARGUMENT; with ``field`` also a ``google.rpc.BadRequest`` field violation."""
    extra = (
        [
            {
                "@type": BAD_REQUEST_TYPE,
                "fieldViolations": [{"field": field, "description": message}],
            }
        ]
        if field is not None
        else None
    )
    return _error(400, "INVALID_ARGUMENT", message, "INVALID_ARGUMENT", extra_details=extra)


def quota(*, retry_after: int | None) -> Answer:
    """429 RESOURCE_EXHAUSTED / QUOTA_EXCEEDED, with ``Retry-After`` unless None."""
    return _error(
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded for quota metric 'Send requests' of service 'fcm.googleapis.com'.",
        "QUOTA_EXCEEDED",
        retry_after=retry_after,
    )


def unavailable(retry_after: int | None = None) -> Answer:
    """503 UNAVAILABLE / UNAVAILABLE, with ``Retry-After`` if given."""
    return _error(
        503,
        "UNAVAILABLE",
        "The service is currently unavailable.",
        "UNAVAILABLE",
        retry_after=retry_after,
    )


def internal() -> Answer:
    return _error(500, "INTERNAL", "Internal error encountered.", "INTERNAL")


# --------------------------------------------------------------------------- server


class Received(TypedDict):
    path: str
    headers: dict[str, str]
    body: Any
    token: str | None
    data: dict[str, str] | None
    notification: dict[str, Any] | None
    android: dict[str, Any] | None


@dataclass
class _State:
    lock: threading.Condition = field(default_factory=threading.Condition)
    received: list[Received] = field(default_factory=list)
    queues: defaultdict[str | None, deque[Answer]] = field(
        default_factory=lambda: defaultdict(deque)
    )
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    delay: float = 0.0  # of the default ``ok()`` answer
    token_requests: int = 0
    in_flight: int = 0  # messages being answered now
    most_in_flight: int = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, reply: Any, headers: tuple[tuple[str, str], ...] = ()) -> None:
        payload = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        """``/_received``: how many messages arrived (for a server in another process)."""
        state = self.server.state
        if self.path != "/_received":
            self._reply(404, {"error": "not found"})
            return
        with state.lock:
            sends = sum(1 for r in state.received if _SEND_PATH.match(r["path"]))
        self._reply(200, {"messages": sends, "token_requests": state.token_requests})

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path == TOKEN_PATH:
            # OAuth 2.0 JWT bearer grant, as a service account refreshes its access token.
            with state.lock:
                state.token_requests += 1
            self._reply(
                200, {"access_token": FAKE_ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"}
            )
            return
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        message = body.get("message") if isinstance(body, dict) else None
        message = message if isinstance(message, dict) else {}
        token = message.get("token")
        match = _SEND_PATH.match(self.path)

        with state.lock:
            if not self.headers.get("Authorization", "").startswith("Bearer "):
                answer = _error(
                    401, "UNAUTHENTICATED", "Request is missing required authentication.", None
                )
            elif match is None:
                answer = _error(404, "NOT_FOUND", f"No such endpoint: {self.path}", None)
            elif not message:
                answer = invalid_argument("Request contains an invalid argument.")
            else:
                queue = state.queues[token]
                answer = queue.popleft() if queue else ok(delay=state.delay)
            if answer.body is None:
                project = match.group("project") if match else "p"
                reply: dict[str, Any] = {
                    "name": f"projects/{project}/messages/{next(state.counter)}"
                }
            else:
                reply = answer.body
            state.received.append(
                Received(
                    path=self.path,
                    headers=dict(self.headers.items()),
                    body=body,
                    token=token,
                    data=message.get("data"),
                    notification=message.get("notification"),
                    android=message.get("android"),
                )
            )
            state.lock.notify_all()
            state.in_flight += 1
            state.most_in_flight = max(state.most_in_flight, state.in_flight)
        try:
            if answer.delay:
                time.sleep(answer.delay)
            self._reply(answer.status, reply, answer.headers)
        finally:
            with state.lock:
                state.in_flight -= 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a worker opens a connection per sending thread at once

    def __init__(self, state: _State, port: int = 0) -> None:
        self.state = state
        super().__init__(("127.0.0.1", port), _Handler)


class FcmTestServer:
    """Loopback FCM v1 ``messages:send`` endpoint with per-token scripted answers."""

    def __init__(self, *, port: int = 0) -> None:
        self._state = _State()
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------

    def start(self) -> Self:
        if self._server is None:
            self._server = _Server(self._state, self._port)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.02},
                name="fcm-test-server",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # addresses -------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FcmTestServer is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def endpoint_base(self) -> str:
        """For ``FCMNotification.FCM_END_POINT_BASE``; pyfcm appends ``/<pid>/messages:send``."""
        return f"{self.base_url}v1/projects"

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}{TOKEN_PATH.lstrip('/')}"

    def write_service_account(self, path: Path, project_id: str) -> Path:
        """A service-account file that gets its access tokens from this server."""
        info = service_account_info(project_id=project_id, token_uri=self.token_uri)
        path.write_text(json.dumps(info))
        return path

    def environment(self, service_account: Path, project_id: str) -> dict[str, str]:
        """The variables that point a Fieldline process's pyfcm at this server."""
        self.write_service_account(service_account, project_id)
        return {
            "FCM_SERVICE_ACCOUNT_FILE": str(service_account),
            "FCM_PROJECT_ID": project_id,
            "FCM_ENDPOINT_BASE": self.endpoint_base,
        }

    # scripting and inspection -------------------------------------------------

    @property
    def delay(self) -> float:
        return self._state.delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        """Make every unscripted answer wait ``seconds`` (a slow FCM)."""
        with self._state.lock:
            self._state.delay = seconds

    @property
    def most_in_flight(self) -> int:
        """The most messages it was answering at one time (a sender's concurrency)."""
        with self._state.lock:
            return self._state.most_in_flight

    @property
    def token_requests(self) -> int:
        """How many access tokens service accounts fetched."""
        with self._state.lock:
            return self._state.token_requests

    def answer(self, token: str | None, *responses: Answer) -> None:
        """Queue responses for messages to ``token``; an empty queue answers ``ok()``."""
        with self._state.lock:
            self._state.queues[token].extend(responses)

    def pending(self, token: str | None) -> int:
        """How many scripted answers for ``token`` are still unused."""
        with self._state.lock:
            return len(self._state.queues.get(token, ()))

    @property
    def received(self) -> list[Received]:
        """Snapshot of every request received so far, in arrival order."""
        with self._state.lock:
            return list(self._state.received)

    def received_for(self, token: str) -> list[Received]:
        return [r for r in self.received if r["token"] == token]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Block until at least ``count`` requests arrived; ``TimeoutError`` otherwise."""
        deadline = time.monotonic() + timeout
        with self._state.lock:
            while len(self._state.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"FCM test server got {len(self._state.received)} request(s), "
                        f"expected {count} within {timeout}s"
                    )
                self._state.lock.wait(remaining)
            return list(self._state.received)


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.fcm_server``: serve on loopback until stopped (for benchmarks, which
    run the worker in other processes). Every message gets ``ok()``; ``GET /_received`` counts
    them."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--project", default="fieldline-test")
    parser.add_argument("--service-account", type=Path, required=True, help="file to write")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with FcmTestServer(port=args.port) as server:
        server.delay = args.delay
        environment = server.environment(args.service_account, args.project)
        print(json.dumps(environment), flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
