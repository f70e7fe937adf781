"""Assertions the customer API tests share: the error envelope and "nothing was written"."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from crm.models import (
    Account,
    AccountTag,
    Asset,
    Contact,
    ContactPreference,
    CustomerTier,
    Interaction,
    Promise,
    Site,
    Tag,
)
from sync.models import Change

_WRITABLE = (
    Account,
    AccountTag,
    Asset,
    Contact,
    ContactPreference,
    CustomerTier,
    Interaction,
    Promise,
    Site,
    Tag,
    Change,
)


def assert_error(
    response: Any, status: int, code: str, fields: list[str] | None = None
) -> dict[str, Any]:
    """The response is the error envelope with ``status`` and ``code``; when ``fields`` is
    given, the envelope names exactly those fields."""
    assert response.status_code == status, response.content
    body = response.json()
    assert list(body) == ["error"]
    error: dict[str, Any] = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    if fields is not None:
        assert sorted(error["fields"]) == sorted(fields), error
    return error


def table_counts() -> dict[str, int]:
    """Row counts of every customer table and of the change log (the audit trail)."""
    return {model.__name__: model.objects.count() for model in _WRITABLE}


def result_ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    body = response.json()
    results = body["results"] if isinstance(body, dict) else body
    return [row["id"] for row in results]


def api_datetime(value: Any) -> Any:
    """How the API writes a datetime or date."""
    if value is None:
        return None
    field = serializers.DateTimeField() if hasattr(value, "hour") else serializers.DateField()
    return field.to_representation(value)
