from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from server.api import actor_of, paginated_response
from sync.models import Change
from sync.selectors import change_list


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
