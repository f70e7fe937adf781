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


def postgres(url: str, *, conn_max_age: int, pool_max_size: int) -> dict[str, Any]:
    """PostgreSQL from a URL. With ``pool_max_size`` > 0 each process keeps a psycopg
    connection pool (Django's native pooling, safe under ASGI) and ``conn_max_age`` is unused;
    with 0, connections live ``conn_max_age`` seconds (0: one per request)."""
    config = database_from_url(url)
    if pool_max_size > 0:
        config["CONN_MAX_AGE"] = 0
        options: dict[str, Any] = config.setdefault("OPTIONS", {})
        options["pool"] = {"min_size": 1, "max_size": pool_max_size, "timeout": 10}
    else:
        config["CONN_MAX_AGE"] = conn_max_age
        config["CONN_HEALTH_CHECKS"] = True
    return config
