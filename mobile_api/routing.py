from django.urls import path

from mobile_api.consumers import DeviceConsumer

websocket_urlpatterns = [path("ws/device/", DeviceConsumer.as_asgi())]
