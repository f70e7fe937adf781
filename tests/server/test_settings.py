from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROD_REQUIRED = [
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "S3_BUCKET",
    "S3_REGION",
    "FCM_SERVICE_ACCOUNT_FILE",
    "FCM_PROJECT_ID",
]
PROD_ENV = {
    "SECRET_KEY": "x" * 50,
    "ALLOWED_HOSTS": "api.example.com",
    "DATABASE_URL": "postgres://u:p@db.internal:5432/fieldline",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "S3_BUCKET": "fieldline-files",
    "S3_REGION": "eu-west-3",
    "FCM_SERVICE_ACCOUNT_FILE": "/etc/fieldline/fcm.json",
    "FCM_PROJECT_ID": "fieldline-prod",
}


PROBE = """
import django
django.setup()
from django.conf import settings as s
print(
    s.DATABASES["default"]["ENGINE"],
    s.CHANNEL_LAYERS["default"]["BACKEND"],
    s.STORAGES["default"]["BACKEND"],
    s.FIELDLINE_PUSH["BACKEND"],
)
"""


def _run_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in PROD_ENV and k != "FIELDLINE_ENV"}
    return subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-c",
            PROBE,
        ],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "server.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("missing", PROD_REQUIRED)
def test_production_stops_with_one_line_naming_the_missing_variable(missing):
    env = {**PROD_ENV, "FIELDLINE_ENV": "prod"}
    del env[missing]

    result = _run_check(env)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [f"fieldline: missing required setting(s) for FIELDLINE_ENV=prod: {missing}"]


def test_production_reads_every_service_from_the_environment():
    result = _run_check({**PROD_ENV, "FIELDLINE_ENV": "prod"})

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "channels_redis.pubsub.RedisPubSubChannelLayer",
        "storages.backends.s3.S3Storage",
        "mobile_api.push.FCMPushBackend",
    ]


def test_unknown_environment_name_is_refused():
    result = _run_check({"FIELDLINE_ENV": "staging"})
    assert result.returncode == 1
    assert "FIELDLINE_ENV must be one of dev, test, prod" in result.stderr


def test_embedded_default_needs_no_environment(tmp_path):
    result = _run_check({"FIELDLINE_DATA_DIR": str(tmp_path)})

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "channels.layers.InMemoryChannelLayer",
        "django.core.files.storage.FileSystemStorage",
        "mobile_api.push.RecordingPushBackend",
    ]


def test_embedded_sqlite_pragmas_turn_on_wal_and_foreign_keys(tmp_path):
    import sqlite3

    from server.settings.database import sqlite

    options = sqlite(tmp_path / "probe.sqlite3")["OPTIONS"]
    connection = sqlite3.connect(tmp_path / "probe.sqlite3")
    try:
        connection.executescript(options["init_command"])
        journal = connection.execute("PRAGMA journal_mode").fetchone()[0]
        foreign_keys = connection.execute("PRAGMA foreign_keys").fetchone()[0]
    finally:
        connection.close()
    assert (journal, foreign_keys) == ("wal", 1)
    assert options["transaction_mode"] == "IMMEDIATE"
