"""Authenticating devices by their access token, for REST and for WebSockets alike."""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, StringAgg, Subquery, Value
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from mobile_api import tokens
from mobile_api.models import Device
from mobile_api.services import device_touch
from server import context
from server.models import User, UserRole


class DeviceAuthError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def device_for_access_token(raw: str) -> Device:
    """The live device (with its user) an access token belongs to, or ``DeviceAuthError``."""
    try:
        token = AccessToken(raw)  # type: ignore[arg-type]
    except TokenError:
        raise DeviceAuthError("token_invalid", "The access token is invalid or expired.") from None
    device_pk = token.get(tokens.DEVICE_CLAIM)
    device = (
        Device.objects.select_related("user")
        .annotate(role_list=_roles_of_user())
        .filter(pk=device_pk, user_id=token.get("user_id"))
        .first()
        if isinstance(device_pk, int)
        else None
    )
    if device is None:
        raise DeviceAuthError("token_invalid", "The access token is not bound to a device.")
    if device.is_revoked:
        raise DeviceAuthError("device_revoked", "This device has been revoked.")
    if not device.user.is_active:
        raise DeviceAuthError("user_inactive", "This user is deactivated.")
    # Roles came with the device row: spare every request a query for them.
    device.user.cache_roles(device.role_list.split(",") if device.role_list else [])
    return device


def _roles_of_user() -> Subquery:
    """The device's user's roles as one comma-separated string."""
    return Subquery(
        UserRole.objects.filter(user_id=OuterRef("user_id"))
        .values("user_id")
        .annotate(roles=StringAgg("role", delimiter=Value(",")))
        .values("roles")
    )


class DeviceTokenAuthentication:
    """``Authorization: Bearer <access token>``; binds the device to the request context."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, Device] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0] != self.keyword:
            raise exceptions.AuthenticationFailed(
                {"detail": "Use 'Authorization: Bearer <token>'.", "code": "token_invalid"}
            )
        try:
            device = device_for_access_token(parts[1])
        except DeviceAuthError as error:
            raise exceptions.AuthenticationFailed(
                {"detail": error.message, "code": error.code}
            ) from None
        device_touch(device)
        context.bind_device(str(device.pk))
        return device.user, device

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


def request_device(request: Any) -> Device | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, Device) else None
