"""``/api/v1/sync/``: the WatermelonDB-compatible pull, and the schema devices build from."""

from __future__ import annotations

import orjson
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from mobile_api.authentication import request_device
from server.access import scope_keys_for
from server.api import actor_of
from server.errors import ApplicationError
from sync import pull as sync_pull
from sync.schema import SCHEMA_VERSION, schema

MAX_CURSOR = 2**53 - 1


def _json(body: object) -> HttpResponse:
    return HttpResponse(orjson.dumps(body), content_type="application/json")


def _cursor(raw: str | None) -> int | None:
    if raw in (None, "", "null", "0"):
        return None
    if not raw.isdigit() or int(raw) > MAX_CURSOR:
        raise ApplicationError(
            "invalid",
            "last_pulled_at must be a timestamp this server returned.",
            fields={"last_pulled_at": ["Not a cursor."]},
        )
    return int(raw)


class SyncSchemaApi(APIView):
    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> HttpResponse:
        return _json(schema())


class SyncPullApi(APIView):
    """Changes since ``last_pulled_at`` in WatermelonDB's format, plus ``has_more``: pull again
    with the returned ``timestamp`` until it is false."""

    @extend_schema(
        parameters=[
            OpenApiParameter("last_pulled_at", int, required=False),
            OpenApiParameter("schema_version", int, required=False),
            OpenApiParameter("migration", str, required=False),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> HttpResponse:
        device = request_device(request)
        if device is None:
            raise ApplicationError("no_device", "Sync needs a device token.", status=400)
        params = request.query_params
        schema_version = params.get("schema_version", str(SCHEMA_VERSION))
        if not schema_version.isdigit() or not 1 <= int(schema_version) <= SCHEMA_VERSION:
            raise ApplicationError(
                "invalid",
                f"schema_version must be between 1 and {SCHEMA_VERSION}.",
                fields={"schema_version": ["Unsupported."]},
            )
        user = actor_of(request)
        result = sync_pull.pull(
            user=user,
            device_id=str(device.pk),
            keys=scope_keys_for(user),
            last_pulled_at=_cursor(params.get("last_pulled_at")),
        )
        return _json(result.as_json())
