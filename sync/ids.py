"""Record ids. Syncable records use string ids so devices can create records offline with ids
of their own (WatermelonDB makes 16-character ``[0-9a-z]`` ids)."""

from __future__ import annotations

import re
import secrets
import string

ID_MAX_LENGTH = 36
_ALPHABET = string.digits + string.ascii_lowercase
_VALID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")


def new_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(16))


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and bool(_VALID.match(value))
