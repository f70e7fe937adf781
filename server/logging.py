"""Log filters: every record carries the request id, and sensitive values never reach a log."""

from __future__ import annotations

import logging
import re

from server import context

# Field names whose values are never logged. Apps add theirs with ``register_sensitive_fields``.
SENSITIVE_FIELD_NAMES: set[str] = {
    "password",
    "token",
    "access",
    "refresh",
    "fcm_token",
    "secret",
    "authorization",
}


def _compile(names: set[str]) -> re.Pattern[str]:
    alternatives = "|".join(sorted(re.escape(n) for n in names))
    # Matches `name: value`, `"name": "value"`, `'name': 'value'` and `name=value`.
    return re.compile(
        rf"""(?i)(["']?\b(?:{alternatives})\b["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,}}&]+)"""
    )


_pattern = _compile(SENSITIVE_FIELD_NAMES)


def register_sensitive_fields(*names: str) -> None:
    global _pattern
    SENSITIVE_FIELD_NAMES.update(names)
    _pattern = _compile(SENSITIVE_FIELD_NAMES)


def redact(text: str) -> str:
    return _pattern.sub(r"\1'[redacted]'", text)


class RedactSensitiveFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = context.current().request_id
        return True
