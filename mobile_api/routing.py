from django.urls import path

from mobile_api.consumers import DeviceConsumer, DispatchConsumer

websocket_urlpatterns = [
    path("ws/device/", DeviceConsumer.as_asgi()),
    path("ws/dispatch/", DispatchConsumer.as_asgi()),
]
