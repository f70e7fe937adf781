"""Building blocks every app's API uses: strict input serializers, cursor pagination, and
helpers that keep views thin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from server.errors import ApplicationError
from server.models import User


class StrictInputSerializer(serializers.Serializer):
    """An input serializer that refuses fields it does not declare (typos, read-only fields)
    instead of silently dropping them."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in unknown}, code="unknown_field"
                )
        return super().to_internal_value(data)


class StableCursorPagination(CursorPagination):
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"
    ordering = ("-created_at", "-id")


def paginated_response(
    *,
    request: Request,
    view: APIView,
    queryset: QuerySet[Any],
    serializer_class: type[serializers.BaseSerializer] | None = None,
    present: Callable[[list[Any]], list[dict[str, Any]]] | None = None,
    context: dict[str, Any] | None = None,
    ordering: tuple[str, ...] = StableCursorPagination.ordering,
) -> Response:
    """One page of ``queryset`` with ``next``/``previous`` cursor links, shaped by
    ``serializer_class`` or, for hot lists built from ``.values()`` rows, by ``present``."""
    paginator = StableCursorPagination()
    paginator.ordering = ordering  # type: ignore[assignment]
    try:
        page = paginator.paginate_queryset(queryset, request, view=view)
    except (NotFound, DjangoValidationError):  # a tampered cursor or position
        raise ApplicationError("invalid_cursor", "The cursor is invalid.") from None
    rows = list(page or [])
    if present is not None:
        data: Any = present(rows)
    elif serializer_class is not None:
        data = serializer_class(rows, many=True, context=context or {}).data
    else:
        raise TypeError("paginated_response needs serializer_class or present")
    return paginator.get_paginated_response(data)


def actor_of(request: Request) -> User:
    """The signed-in user of a request that passed ``IsAuthenticated``."""
    user = request.user
    if not isinstance(user, User):
        raise ApplicationError("not_authenticated", "Sign in first.", status=401)
    return user


def validated(serializer_class: type[serializers.Serializer], data: Any, **kwargs: Any) -> Any:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
