"""``/api/v1/sync/``: the WatermelonDB-compatible pull, and the schema devices build from."""

from __future__ import annotations

import re

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
from sync import push as sync_push
from sync import registry
from sync.schema import schema

MAX_CURSOR = 2**53 - 1
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


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


def _device_id(request: Request) -> str:
    device = request_device(request)
    if device is None:
        raise ApplicationError("no_device", "Sync needs a device token.", status=400)
    return str(device.pk)


def _migrated_from(raw: str | None, schema_version: int) -> int | None:
    """The ``from`` version of WatermelonDB's ``migration`` parameter: ``{"from": 1,
    "tables": [...], "columns": [{"table": ..., "columns": [...]}]}``. The server back-fills
    from its own record of what each version added; the lists only have to be well formed."""
    if raw in (None, "", "null"):
        return None
    try:
        migration = orjson.loads(raw)
    except orjson.JSONDecodeError:
        migration = None
    ok = (
        isinstance(migration, dict)
        and isinstance(migration.get("from"), int)
        and 1 <= migration["from"] < schema_version
        and isinstance(migration.get("tables", []), list)
        and isinstance(migration.get("columns", []), list)
        and all(
            isinstance(c, dict)
            and isinstance(c.get("table"), str)
            and isinstance(c.get("columns"), list)
            for c in migration.get("columns", [])
        )
    )
    if not ok:
        raise ApplicationError(
            "invalid",
            "migration must be WatermelonDB's migration object, from an older schema version.",
            fields={"migration": ["Malformed."]},
        )
    version: int = migration["from"]
    return version


class SyncSchemaApi(APIView):
    """The newest WatermelonDB schema, or that of ``?version=``."""

    @extend_schema(
        parameters=[OpenApiParameter("version", int, required=False)], responses={200: dict}
    )
    def get(self, request: Request) -> HttpResponse:
        raw = request.query_params.get("version")
        newest = registry.schema_version()
        if raw is not None and (not raw.isdigit() or not 1 <= int(raw) <= newest):
            raise ApplicationError(
                "invalid",
                f"version must be between 1 and {newest}.",
                fields={"version": ["Unsupported."]},
            )
        return _json(schema(int(raw) if raw is not None else None))


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
        device_id = _device_id(request)
        params = request.query_params
        newest = registry.schema_version()
        schema_version = params.get("schema_version", str(newest))
        if not schema_version.isdigit() or not 1 <= int(schema_version) <= newest:
            raise ApplicationError(
                "invalid",
                f"schema_version must be between 1 and {newest}.",
                fields={"schema_version": ["Unsupported."]},
            )
        user = actor_of(request)
        result = sync_pull.pull(
            user=user,
            device_id=device_id,
            keys=scope_keys_for(user),
            last_pulled_at=_cursor(params.get("last_pulled_at")),
            schema_version=int(schema_version),
            migrated_from=_migrated_from(params.get("migration"), int(schema_version)),
        )
        return _json(result.as_json())


class SyncPushApi(APIView):
    """Apply a device's offline changes (WatermelonDB's ``pushChanges``): ``{changes,
    lastPulledAt}``. Answers ``experimentalRejectedIds`` and our ``rejections`` with reasons;
    a malformed or out-of-scope push is refused whole. An ``Idempotency-Key`` header makes a
    replay return the first answer."""

    @extend_schema(
        parameters=[
            OpenApiParameter("last_pulled_at", int, required=False),
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False),
        ],
        request=dict,
        responses={200: dict},
    )
    def post(self, request: Request) -> HttpResponse:
        device_id = _device_id(request)
        raw = request.body
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ApplicationError("invalid_push", "The body is not valid JSON.") from None
        key = request.headers.get("Idempotency-Key")
        if key is not None and not _IDEMPOTENCY_KEY.match(key):
            raise ApplicationError(
                "invalid",
                "Idempotency-Key must be 1 to 128 letters, digits or ._:- characters.",
                fields={"Idempotency-Key": ["Malformed."]},
            )
        user = actor_of(request)
        answer = sync_push.push(
            user=user,
            device_id=device_id,
            keys=scope_keys_for(user),
            body=body,
            last_pulled_at=_push_cursor(request, body),
            idempotency_key=key,
        )
        return _json(answer)


def _push_cursor(request: Request, body: object) -> int | None:
    """``lastPulledAt`` from the body, or the ``last_pulled_at`` parameter; both must agree."""
    in_query = _cursor(request.query_params.get("last_pulled_at"))
    in_body = body.get("lastPulledAt") if isinstance(body, dict) else None
    if in_body is not None and (not isinstance(in_body, int) or isinstance(in_body, bool)):
        raise ApplicationError(
            "invalid_push",
            "lastPulledAt must be a timestamp a pull returned.",
            fields={"lastPulledAt": ["Not a cursor."]},
        )
    if in_body is not None and in_query is not None and in_body != in_query:
        raise ApplicationError(
            "invalid_push",
            "lastPulledAt and last_pulled_at disagree.",
            fields={"lastPulledAt": ["Differs from last_pulled_at."]},
        )
    cursor = in_query if in_body is None else _cursor(str(in_body))
    return cursor
