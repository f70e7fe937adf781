"""Push notifications: recorded locally by default, FCM HTTP v1 through pyfcm in production."""

from typing import Any


def recording() -> dict[str, Any]:
    return {"BACKEND": "mobile_api.push.RecordingPushBackend"}


def fcm(*, service_account_file: str, project_id: str, endpoint_base: str | None) -> dict[str, Any]:
    return {
        "BACKEND": "mobile_api.push.FCMPushBackend",
        "SERVICE_ACCOUNT_FILE": service_account_file,
        "PROJECT_ID": project_id,
        "ENDPOINT_BASE": endpoint_base,
    }
