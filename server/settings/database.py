"""Database settings: SQLite in WAL mode by default, PostgreSQL from ``DATABASE_URL``."""

from pathlib import Path
from typing import Any

from server.settings.env import database_from_url


def sqlite(path: Path) -> dict[str, Any]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue instead of
            # failing on lock upgrade, and commit order equals the order writes started.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                "PRAGMA foreign_keys=ON;"
                "PRAGMA busy_timeout=20000;"
            ),
        },
    }


def postgres(url: str, *, conn_max_age: int) -> dict[str, Any]:
    config = database_from_url(url)
    config["CONN_MAX_AGE"] = conn_max_age
    config["CONN_HEALTH_CHECKS"] = True
    return config
