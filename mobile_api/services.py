"""Signing devices in, rotating their tokens, and revoking them."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import authenticate
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from mobile_api import tokens
from mobile_api.models import Device
from server import context
from server.access import Capability, has_capability
from server.errors import ApplicationError
from server.models import User
from server.realtime import device_group, publish_on_commit
from sync import changelog

# A refresh token that was just rotated stays usable this long, so a client whose answer to a
# refresh was lost can retry with the token it still holds.
REFRESH_GRACE = timedelta(seconds=60)
LAST_SEEN_RESOLUTION = timedelta(minutes=5)


def _invalid_credentials() -> ApplicationError:
    return ApplicationError("invalid_credentials", "Wrong username or password.", status=401)


@transaction.atomic
def device_login(
    *,
    username: str,
    password: str,
    client_id: str,
    platform: str,
    app_version: str,
    fcm_token: str = "",
) -> tuple[Device, tokens.TokenPair]:
    """Check the password, register or refresh the device, and issue its first token pair.
    A revoked device stays revoked: signing in on it again is refused."""
    user = authenticate(username=username, password=password)
    if not isinstance(user, User) or not user.is_active:
        raise _invalid_credentials()
    device = Device.objects.select_for_update().filter(user=user, client_id=client_id).first()
    if device is not None and device.is_revoked:
        raise ApplicationError(
            "device_revoked", "This device has been revoked. Ask an administrator.", status=403
        )
    if device is None:
        device = Device(user=user, client_id=client_id)
        before = None
    else:
        before = changelog.snapshot(device)
    device.platform = platform
    device.app_version = app_version
    if fcm_token:
        device.fcm_token = fcm_token
        device.fcm_token_active = True
    device.last_seen_at = timezone.now()
    device.full_clean(validate_constraints=False)
    device.save()
    pair = tokens.issue(user_id=user.pk, device_pk=device.pk)
    Device.objects.filter(pk=device.pk).update(
        refresh_jti=pair.refresh_jti, previous_refresh_jti="", refreshed_at=timezone.now()
    )
    context.bind_device(str(device.pk))
    if before is None:
        changelog.record_create(instance=device, actor=user)
    else:
        changelog.record_update(instance=device, before=before, actor=user)
    return device, pair


@transaction.atomic
def device_refresh(*, refresh: str) -> tuple[Device, tokens.TokenPair]:
    """Exchange a refresh token for a new pair; the old refresh token stops working."""
    try:
        token = RefreshToken(refresh)  # type: ignore[arg-type]
    except TokenError:
        raise ApplicationError(
            "token_invalid", "The refresh token is invalid or expired.", status=401
        ) from None
    device = (
        Device.objects.select_for_update()
        .select_related("user")
        .filter(pk=token.get(tokens.DEVICE_CLAIM), user_id=token.get("user_id"))
        .first()
    )
    if device is None:
        raise ApplicationError(
            "token_invalid", "The refresh token is not bound to a device.", status=401
        )
    if device.is_revoked:
        raise ApplicationError("device_revoked", "This device has been revoked.", status=401)
    if not device.user.is_active:
        raise ApplicationError("user_inactive", "This user is deactivated.", status=401)
    jti = str(token["jti"])
    now = timezone.now()
    in_grace = (
        jti == device.previous_refresh_jti
        and device.refreshed_at is not None
        and now - device.refreshed_at <= REFRESH_GRACE
    )
    if jti != device.refresh_jti and not in_grace:
        raise ApplicationError(
            "token_reused", "This refresh token was already used. Sign in again.", status=401
        )
    pair = tokens.issue(user_id=device.user_id, device_pk=device.pk)
    device.previous_refresh_jti = device.refresh_jti if jti == device.refresh_jti else jti
    device.refresh_jti = pair.refresh_jti
    device.refreshed_at = now
    device.last_seen_at = now
    device.save(
        update_fields=["refresh_jti", "previous_refresh_jti", "refreshed_at", "last_seen_at"]
    )
    return device, pair


def can_manage_device(*, actor: User, device: Device) -> bool:
    return device.user_id == actor.pk or has_capability(actor, Capability.DEVICE_MANAGE_ANY)


@transaction.atomic
def device_revoke(*, actor: User, device: Device, reason: str = "") -> Device:
    """Revoke a lost or retired device: its tokens stop working at once and its WebSocket is
    closed once this commits. Caller loaded ``device`` with ``access_device``."""
    if device.is_revoked:
        return device
    before = changelog.snapshot(device)
    device.revoked_at = timezone.now()
    device.revoked_by = actor
    device.revoked_reason = reason[:200]
    device.refresh_jti = ""
    device.previous_refresh_jti = ""
    device.fcm_token_active = False
    device.save()
    changelog.record_update(instance=device, before=before, actor=actor)
    publish_on_commit(device_group(str(device.pk)), "device.revoked", {"reason": reason[:200]})
    return device


@transaction.atomic
def device_update(
    *, actor: User, device: Device, fcm_token: str | None = None, app_version: str | None = None
) -> Device:
    before = changelog.snapshot(device)
    if fcm_token is not None:
        device.fcm_token = fcm_token
        device.fcm_token_active = bool(fcm_token)
    if app_version is not None:
        device.app_version = app_version
    device.save()
    changelog.record_update(instance=device, before=before, actor=actor)
    return device


def device_touch(device: Device) -> None:
    """Note that the device was seen, at most once per ``LAST_SEEN_RESOLUTION``."""
    now = timezone.now()
    if now - device.last_seen_at >= LAST_SEEN_RESOLUTION:
        Device.objects.filter(pk=device.pk).update(last_seen_at=now)
        device.last_seen_at = now
