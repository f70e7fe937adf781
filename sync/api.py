from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from server.api import actor_of, paginated_response
from sync.models import Change, RejectedChange
from sync.selectors import change_list, rejection_list
from sync.services import rejection_resolve


class ChangeOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Change
        fields = [
            "version",
            "table",
            "record_id",
            "operation",
            "diff",
            "actor",
            "device_id",
            "request_id",
            "created_at",
        ]


class AuditEntryListApi(APIView):
    """The audit trail, newest first. Filters: table, record_id, operation, actor, device,
    request_id, since, until."""

    @extend_schema(responses=ChangeOutput(many=True))
    def get(self, request: Request) -> Response:
        queryset = change_list(actor=actor_of(request), filters=request.query_params)
        return paginated_response(
            request=request,
            view=self,
            queryset=queryset,
            serializer_class=ChangeOutput,
            ordering=("-version",),
        )


class RejectionOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = RejectedChange
        fields = [
            "id",
            "device_id",
            "user",
            "table",
            "record_id",
            "operation",
            "data",
            "code",
            "message",
            "fields",
            "attempts",
            "created_at",
            "last_seen_at",
            "resolved_at",
        ]


class RejectionListApi(APIView):
    """Pushed records the server rejected (``code`` says why) or whose values a merge
    overruled (``code=overruled``), as the device sent them. Filters: open, table,
    record_id, code, device, user."""

    @extend_schema(responses=RejectionOutput(many=True))
    def get(self, request: Request) -> Response:
        queryset = rejection_list(actor=actor_of(request), filters=request.query_params)
        return paginated_response(
            request=request,
            view=self,
            queryset=queryset,
            serializer_class=RejectionOutput,
            ordering=("-id",),
        )


class RejectionResolveApi(APIView):
    @extend_schema(request=None, responses=RejectionOutput)
    def post(self, request: Request, rejection_id: int) -> Response:
        rejection = rejection_resolve(actor=actor_of(request), rejection_id=rejection_id)
        return Response(RejectionOutput(rejection).data)
