"""The application error type and the API's error envelope.

Every error leaves the API as ``{"error": {"code", "message", "fields"}}``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core import exceptions as django_exceptions
from django.db import IntegrityError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """Raised by domain code for anything a caller did wrong or may not do."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        fields: dict[str, list[str]] | None = None,
        status: int = 400,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.status = status
        self.extra = extra or {}


def envelope(
    code: str,
    message: str,
    fields: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}, **extra}}


def _flatten(detail: Any) -> dict[str, Any]:
    """DRF's nested ``ValidationError.detail`` as ``{field: [messages]}``."""
    if isinstance(detail, dict):
        out: dict[str, Any] = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub_key, sub_value in _flatten(value).items():
                    out[f"{key}.{sub_key}"] = sub_value
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for index, item in enumerate(value):
                    for sub_key, sub_value in _flatten(item).items():
                        out[f"{key}.{index}.{sub_key}"] = sub_value
            else:
                out[str(key)] = [str(v) for v in (value if isinstance(value, list) else [value])]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(v) for v in detail]}
    return {"non_field_errors": [str(detail)]}


_DRF_CODES: dict[type[drf_exceptions.APIException], str] = {
    drf_exceptions.ParseError: "malformed_request",
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "throttled",
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's ``EXCEPTION_HANDLER``: every error becomes the envelope; nothing becomes a 500
    unless it is a bug, and then the envelope still holds."""
    from rest_framework.views import set_rollback  # DRF's views import our auth classes

    headers: dict[str, str] = {}
    if isinstance(exc, ApplicationError):
        body = envelope(exc.code, exc.message, exc.fields, **exc.extra)
        status = exc.status
    elif isinstance(exc, drf_exceptions.ValidationError):
        body = envelope("invalid", "The request has invalid fields.", _flatten(exc.detail))
        status = 400
    elif isinstance(exc, django_exceptions.ValidationError):
        fields = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        body = envelope("invalid", "The request has invalid fields.", fields)
        status = 400
    elif isinstance(exc, IntegrityError):
        # A constraint caught a race the service's own checks could not see.
        body = envelope("conflict", "The change conflicts with another record; retry.")
        status = 409
    elif isinstance(exc, OperationalError) and _transient(exc):
        # The database gave up on this transaction to let another go on (a deadlock, a
        # serialization failure, SQLite's busy writer). It was rolled back whole: retry.
        body = envelope("busy", "The server was busy with a conflicting change; retry.")
        status = 503
        headers["Retry-After"] = "1"
    elif isinstance(exc, django_exceptions.RequestDataTooBig):
        body = envelope("body_too_large", str(exc))
        status = 413
    elif isinstance(exc, Http404 | django_exceptions.ObjectDoesNotExist):
        body = envelope("not_found", "Not found.")
        status = 404
    elif isinstance(exc, django_exceptions.PermissionDenied):
        body = envelope("permission_denied", str(exc) or "Permission denied.")
        status = 403
    elif isinstance(exc, drf_exceptions.AuthenticationFailed):
        detail = exc.detail
        code = getattr(detail, "code", None) or "authentication_failed"
        if isinstance(detail, dict):
            message = str(detail.get("detail", "Authentication failed."))
            code = str(detail.get("code", code))
        else:
            message = str(detail)
        body = envelope(code, message)
        status = 401
    elif isinstance(exc, drf_exceptions.APIException):
        code = _DRF_CODES.get(type(exc), getattr(exc, "default_code", "error"))
        body = envelope(code, str(exc.detail))
        status = exc.status_code
        wait = getattr(exc, "wait", None)
        if isinstance(exc, drf_exceptions.Throttled) and wait is not None:
            headers["Retry-After"] = str(int(wait))
    else:
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
        body = envelope("internal_error", "An unexpected error occurred.")
        status = 500
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="api"')
    set_rollback()
    return Response(body, status=status, headers=headers)


# PostgreSQL's deadlock_detected and serialization_failure.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})


def _transient(exc: OperationalError) -> bool:
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) in TRANSIENT_SQLSTATES:
        return True
    return "database is locked" in str(exc)  # SQLite, after its busy timeout


def json_error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse(envelope(code, message), status=status)
