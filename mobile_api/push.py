"""Push-notification backends. The embedded default records messages; production sends them
through FCM HTTP v1 with pyfcm. Only workers call ``send`` (never inside a transaction)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from mobile_api.models import RecordedPush

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushMessage:
    token: str
    device_id: int | None = None
    title: str = ""
    body: str = ""
    data: dict[str, str] = field(default_factory=dict)
    collapse_key: str = ""


class PushBackend(Protocol):
    """``send`` raises pyfcm's errors or ``RetryLater``. A backend with ``concurrent = True``
    may be called from several threads at once."""

    def send(self, message: PushMessage) -> dict[str, Any]: ...


class RecordingPushBackend:
    """Keeps each message in ``RecordedPush`` and the log instead of sending it."""

    concurrent = False  # it writes to the database: the worker calls it from its own thread

    def __init__(self, **_: Any) -> None:
        pass

    def send(self, message: PushMessage) -> dict[str, Any]:
        row = RecordedPush.objects.create(
            device_id=message.device_id,
            token=message.token,
            title=message.title,
            body=message.body,
            data=message.data,
            collapse_key=message.collapse_key,
        )
        logger.info(
            "push recorded id=%s device=%s title=%r collapse_key=%s",
            row.pk,
            message.device_id,
            message.title,
            message.collapse_key,
        )
        return {"name": f"recorded/{row.pk}"}


SEND_THREADS = 16  # messages a worker sends at once


class RetryLater(Exception):
    """FCM asked to wait (429 or 503 with ``Retry-After``): retry after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"retry after {delay:g} s")
        self.delay = delay


def _client_class() -> type[Any]:
    """pyfcm's client, minus its waiting: it sleeps through a ``Retry-After`` inside the call
    (and urllib3 retries 502/503 with backoff), which would stall every other send of the
    worker. Here a ``Retry-After`` raises ``RetryLater`` and the worker reschedules that one
    message, and nothing is retried inside the call."""
    from google.auth.transport.requests import Request
    from pyfcm import FCMNotification

    class Client(FCMNotification):
        # pyfcm shares one credentials object between threads but loads it (on first use)
        # and refreshes it (on every thread's first request) from each thread at once; the
        # loser of that race sent "Bearer None" or read a path already cleared.
        _credentials_lock = threading.RLock()

        def _initialize_credentials(self) -> None:
            with self._credentials_lock:
                super()._initialize_credentials()

        def _get_access_token(self) -> str:
            """The shared access token, refreshed when it is no longer valid (pyfcm's wraps
            any failure in ``InvalidDataError``, which would fail the message for good)."""
            with self._credentials_lock:
                if self.credentials is None:
                    self._initialize_credentials()
                if not self.credentials.valid:
                    self.credentials.refresh(Request())
                return str(self.credentials.token)

        def _renew_access_token(self) -> None:
            with self._credentials_lock:
                self.credentials.refresh(Request())
            self.thread_local.token_expiry = 0

        def send_request(self, payload: Any = None, timeout: Any = None) -> Any:
            response = self.requests_session.post(self.fcm_end_point, data=payload, timeout=timeout)
            retry_after = response.headers.get("Retry-After")
            if response.status_code in (429, 503) and retry_after:
                try:
                    delay = float(retry_after)
                except ValueError:
                    delay = 60.0  # an HTTP date: rare from FCM; wait a minute
                raise RetryLater(max(delay, 0.0))
            if self._is_access_token_expired(response):
                self._renew_access_token()
                response = self.requests_session.post(
                    self.fcm_end_point, data=payload, timeout=timeout
                )
            return response

    return Client


class FCMPushBackend:
    """FCM HTTP v1 through pyfcm. ``ENDPOINT_BASE`` points it at a test server. Errors come
    back as pyfcm's exceptions (``FCMNotRegisteredError`` for 404, ``InvalidDataError`` for
    400, ``FCMServerError`` for other failures) or ``RetryLater``. Thread-safe: the worker
    sends a batch's messages from several threads at once, which share one access token and
    one connection pool."""

    concurrent = True

    def __init__(
        self,
        *,
        SERVICE_ACCOUNT_FILE: str = "",  # noqa: N803 - settings keys
        PROJECT_ID: str,  # noqa: N803
        ENDPOINT_BASE: str | None = None,  # noqa: N803
        credentials: Any = None,
        **_: Any,
    ) -> None:
        from requests.adapters import HTTPAdapter

        client_class = _client_class()
        # No retries (see _client_class), and a connection for each of the worker's threads.
        no_retries = HTTPAdapter(max_retries=0, pool_maxsize=SEND_THREADS)
        if credentials is not None:
            self.client = client_class(
                credentials=credentials, project_id=PROJECT_ID, adapter=no_retries
            )
        else:
            self.client = client_class(
                service_account_file=SERVICE_ACCOUNT_FILE, project_id=PROJECT_ID, adapter=no_retries
            )
        if ENDPOINT_BASE:
            self.client.FCM_END_POINT_BASE = ENDPOINT_BASE

    def send(self, message: PushMessage) -> dict[str, Any]:
        result: dict[str, Any] = self.client.notify(
            fcm_token=message.token,
            notification_title=message.title or None,
            notification_body=message.body or None,
            data_payload=message.data or None,
            android_config=android_config(message),
            apns_config=apns_config(message),
            timeout=10,
        )
        return result


def android_config(message: PushMessage) -> dict[str, Any]:
    """A visible alert goes at high priority (it wakes a dozing phone); a data message only
    asks for a pull, at normal priority. The collapse key folds a burst into one."""
    config: dict[str, Any] = {"priority": "high" if message.title else "normal"}
    if message.collapse_key:
        config["collapse_key"] = message.collapse_key
    return config


def apns_config(message: PushMessage) -> dict[str, Any]:
    """The same for iOS: every message wakes the app to pull (``content-available``); only a
    visible one is an alert. ``apns-collapse-id`` is iOS's collapse key."""
    headers = {
        "apns-push-type": "alert" if message.title else "background",
        "apns-priority": "10" if message.title else "5",
    }
    if message.collapse_key:
        headers["apns-collapse-id"] = message.collapse_key[:64]
    return {"headers": headers, "payload": {"aps": {"content-available": 1}}}


@cache
def get_push_backend() -> PushBackend:
    config = dict(settings.FIELDLINE_PUSH)
    backend_class = import_string(config.pop("BACKEND"))
    backend: PushBackend = backend_class(**config)
    return backend
