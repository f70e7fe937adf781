"""Sign-in, token refresh, the signed-in user, and devices."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mobile_api import selectors, services
from mobile_api.authentication import request_device
from mobile_api.enums import Platform
from mobile_api.models import Device
from mobile_api.throttles import LoginIpThrottle, LoginUsernameThrottle
from mobile_api.tokens import TokenPair
from server.access import capabilities_for
from server.api import StrictInputSerializer, actor_of, paginated_response, validated
from server.errors import ApplicationError
from server.models import User


class DeviceOutput(serializers.ModelSerializer):
    has_push_token = serializers.BooleanField(read_only=True)

    class Meta:
        model = Device
        fields = [
            "id",
            "user",
            "client_id",
            "platform",
            "app_version",
            "has_push_token",
            "registered_at",
            "last_seen_at",
            "revoked_at",
            "revoked_reason",
        ]


class UserOutput(serializers.ModelSerializer):
    roles = serializers.SerializerMethodField()
    capabilities = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "display_name", "email", "roles", "capabilities"]

    def get_roles(self, user: User) -> list[str]:
        return sorted(user.role_set)

    def get_capabilities(self, user: User) -> list[str]:
        return sorted(capabilities_for(user))


class TokenOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    access_expires_at = serializers.DateTimeField()
    device = DeviceOutput()
    user = UserOutput()


def _tokens(device: Device, pair: TokenPair) -> dict[str, Any]:
    return {
        "access": pair.access,
        "refresh": pair.refresh,
        "access_expires_at": pair.access_expires_at.isoformat(),
        "device": DeviceOutput(device).data,
        "user": UserOutput(device.user).data,
    }


class LoginApi(APIView):
    """Sign in with username and password on a device; returns a device-bound token pair."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginIpThrottle, LoginUsernameThrottle]

    class InputSerializer(StrictInputSerializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=256, trim_whitespace=False)
        device_id = serializers.RegexField(
            r"^[A-Za-z0-9._:-]{1,64}$",
            help_text="Client-generated, stable id: letters, digits, '.', '_', ':' or '-'.",
        )
        platform = serializers.ChoiceField(choices=Platform.choices)
        app_version = serializers.CharField(max_length=32)
        fcm_token = serializers.CharField(max_length=4096, required=False, allow_blank=True)

    @extend_schema(request=InputSerializer, responses=TokenOutput, auth=[])
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        device, pair = services.device_login(
            username=data["username"],
            password=data["password"],
            client_id=data["device_id"],
            platform=data["platform"],
            app_version=data["app_version"],
            fcm_token=data.get("fcm_token", ""),
        )
        return Response(_tokens(device, pair))


class RefreshApi(APIView):
    """Rotate a refresh token: the answer carries a new pair and the old refresh token dies."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    class InputSerializer(StrictInputSerializer):
        refresh = serializers.CharField(max_length=2048)

    @extend_schema(request=InputSerializer, responses=TokenOutput, auth=[])
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        device, pair = services.device_refresh(refresh=data["refresh"])
        return Response(_tokens(device, pair))


class MeApi(APIView):
    @extend_schema(responses=UserOutput)
    def get(self, request: Request) -> Response:
        return Response(UserOutput(actor_of(request)).data)


class DeviceListApi(APIView):
    @extend_schema(responses=DeviceOutput(many=True))
    def get(self, request: Request) -> Response:
        user_id = request.query_params.get("user")
        if user_id is not None and not user_id.isdigit():
            raise ApplicationError(
                "invalid_filter", "user must be a user id.", fields={"user": ["Not an id."]}
            )
        queryset = selectors.device_list(
            actor=actor_of(request),
            user_id=int(user_id) if user_id else None,
        )
        return paginated_response(
            request=request,
            view=self,
            queryset=queryset,
            serializer_class=DeviceOutput,
            ordering=("-registered_at", "-id"),
        )


class DeviceRevokeApi(APIView):
    """Revoke a lost device: its tokens stop working and its WebSocket closes."""

    class InputSerializer(StrictInputSerializer):
        reason = serializers.CharField(max_length=200, required=False, allow_blank=True)

    @transaction.atomic
    @extend_schema(request=InputSerializer, responses=DeviceOutput)
    def post(self, request: Request, device_id: int) -> Response:
        actor = actor_of(request)
        data = validated(self.InputSerializer, request.data)
        device = selectors.access_device(actor=actor, device_id=device_id, for_update=True)
        services.device_revoke(actor=actor, device=device, reason=data.get("reason", ""))
        return Response(DeviceOutput(device).data)


class CurrentDeviceApi(APIView):
    """The device making the request: update its push token or app version."""

    class InputSerializer(StrictInputSerializer):
        fcm_token = serializers.CharField(max_length=4096, required=False, allow_blank=True)
        app_version = serializers.CharField(max_length=32, required=False)

    @extend_schema(responses=DeviceOutput)
    def get(self, request: Request) -> Response:
        return Response(DeviceOutput(self._device(request)).data)

    @extend_schema(request=InputSerializer, responses=DeviceOutput)
    def patch(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        device = services.device_update(
            actor=actor_of(request), device=self._device(request), **data
        )
        return Response(DeviceOutput(device).data)

    def _device(self, request: Request) -> Device:
        device = request_device(request)
        if device is None:
            raise ApplicationError(
                "no_device", "Sign in with a device token to use this endpoint.", status=400
            )
        return device
