from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from server import context
from server.errors import json_error

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class RequestContextMiddleware:
    """Gives every request an id (the caller's ``X-Request-ID`` when well formed) and echoes it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else context.new_request_id()
        token = context.begin(request_id)
        try:
            response = self.get_response(request)
        finally:
            context.end(token)
        response["X-Request-ID"] = request_id
        return response


class BodySizeLimitMiddleware:
    """Refuses bodies over ``FIELDLINE_MAX_BODY_BYTES`` (or the path's own limit in
    ``FIELDLINE_BODY_LIMITS``) with 413 before any view parses them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.limit: int = settings.FIELDLINE_MAX_BODY_BYTES
        self.limits = [
            (re.compile(pattern), limit)
            for pattern, limit in settings.FIELDLINE_BODY_LIMITS.items()
        ]

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in _BODY_METHODS:
            limit = next(
                (size for pattern, size in self.limits if pattern.fullmatch(request.path)),
                self.limit,
            )
            declared = request.META.get("CONTENT_LENGTH") or ""
            too_big = (declared.isdigit() and int(declared) > limit) or (
                not declared.isdigit() and len(request.body) > limit
            )
            if too_big:
                return json_error(
                    "body_too_large",
                    f"The request body is larger than the {limit} byte limit.",
                    413,
                )
        return self.get_response(request)
