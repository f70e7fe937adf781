"""Device-bound JWTs (djangorestframework-simplejwt).

Both tokens carry the device's primary key in the ``device`` claim. An access token is
accepted only while its device is not revoked (checked on every request). A refresh token is
single-use: each refresh rotates it and the device remembers the one ``jti`` that may come next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

DEVICE_CLAIM = "device"


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    refresh_jti: str
    access_expires_at: datetime


def issue(*, user_id: int, device_pk: int) -> TokenPair:
    refresh = RefreshToken()
    refresh["user_id"] = user_id
    refresh[DEVICE_CLAIM] = device_pk
    access: AccessToken = refresh.access_token
    return TokenPair(
        access=str(access),
        refresh=str(refresh),
        refresh_jti=str(refresh["jti"]),
        access_expires_at=datetime.fromtimestamp(int(access["exp"]), tz=UTC),
    )
