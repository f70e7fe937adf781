from __future__ import annotations

from django.db.models import QuerySet

from mobile_api.models import Device
from mobile_api.services import can_manage_device
from server.access import Capability, has_capability
from server.errors import ApplicationError
from server.models import User


def device_list(*, actor: User, user_id: int | None = None) -> QuerySet[Device]:
    queryset = Device.objects.all()
    if has_capability(actor, Capability.DEVICE_MANAGE_ANY):
        return queryset if user_id is None else queryset.filter(user_id=user_id)
    return queryset.filter(user=actor)


def access_device(*, actor: User, device_id: int, for_update: bool = False) -> Device:
    queryset = Device.objects.select_related("user")
    if for_update:
        queryset = queryset.select_for_update()
    device = queryset.filter(pk=device_id).first()
    if device is None or not can_manage_device(actor=actor, device=device):
        raise ApplicationError("not_found", f"No device with id {device_id}.", status=404)
    return device
