"""Push-notification backends. The embedded default records messages; production sends them
through FCM HTTP v1 with pyfcm. Only workers call ``send`` (never inside a transaction)."""

from __future__ import annotations

import logging
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
    def send(self, message: PushMessage) -> dict[str, Any]: ...


class RecordingPushBackend:
    """Keeps each message in ``RecordedPush`` and the log instead of sending it."""

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


class FCMPushBackend:
    """FCM HTTP v1 through pyfcm. ``ENDPOINT_BASE`` points it at a test server."""

    def __init__(
        self,
        *,
        SERVICE_ACCOUNT_FILE: str,  # noqa: N803 - settings keys
        PROJECT_ID: str,  # noqa: N803
        ENDPOINT_BASE: str | None = None,  # noqa: N803
        credentials: Any = None,
        **_: Any,
    ) -> None:
        from pyfcm import FCMNotification

        if credentials is not None:
            self.client = FCMNotification(credentials=credentials, project_id=PROJECT_ID)
        else:
            self.client = FCMNotification(
                service_account_file=SERVICE_ACCOUNT_FILE, project_id=PROJECT_ID
            )
        if ENDPOINT_BASE:
            self.client.FCM_END_POINT_BASE = ENDPOINT_BASE

    def send(self, message: PushMessage) -> dict[str, Any]:
        android = {"collapse_key": message.collapse_key} if message.collapse_key else None
        result: dict[str, Any] = self.client.notify(
            fcm_token=message.token,
            notification_title=message.title or None,
            notification_body=message.body or None,
            data_payload=message.data or None,
            android_config=android,
            timeout=10,
        )
        return result


@cache
def get_push_backend() -> PushBackend:
    config = dict(settings.FIELDLINE_PUSH)
    backend_class = import_string(config.pop("BACKEND"))
    backend: PushBackend = backend_class(**config)
    return backend
