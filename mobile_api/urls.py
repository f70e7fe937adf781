from django.urls import path

from mobile_api import api, sync_api

urlpatterns = [
    path("auth/login/", api.LoginApi.as_view(), name="auth-login"),
    path("auth/refresh/", api.RefreshApi.as_view(), name="auth-refresh"),
    path("me/", api.MeApi.as_view(), name="me"),
    path("devices/", api.DeviceListApi.as_view(), name="device-list"),
    path("devices/current/", api.CurrentDeviceApi.as_view(), name="device-current"),
    path("devices/<int:device_id>/revoke/", api.DeviceRevokeApi.as_view(), name="device-revoke"),
    path("sync/schema/", sync_api.SyncSchemaApi.as_view(), name="sync-schema"),
    path("sync/pull/", sync_api.SyncPullApi.as_view(), name="sync-pull"),
    path("sync/push/", sync_api.SyncPushApi.as_view(), name="sync-push"),
]
