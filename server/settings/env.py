"""The one module that reads the process environment.

Every other settings module receives its values from ``CONFIG``. In production a missing
required variable stops start-up with one line that names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

ENVIRONMENTS = ("dev", "test", "prod")

# Variables production cannot run without. Order is the order they are reported in.
PROD_REQUIRED = (
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "S3_BUCKET",
    "S3_REGION",
    "FCM_SERVICE_ACCOUNT_FILE",
    "FCM_PROJECT_ID",
)


@dataclass(frozen=True)
class Config:
    env_name: str
    data_dir: Path
    secret_key: str | None
    allowed_hosts: list[str]
    csrf_trusted_origins: list[str]
    database_url: str | None
    database_conn_max_age: int
    database_pool_max_size: int
    redis_url: str | None
    s3_bucket: str | None
    s3_region: str | None
    s3_endpoint_url: str | None
    fcm_service_account_file: str | None
    fcm_project_id: str | None
    fcm_endpoint_base: str | None
    log_level: str
    sync_retention_days: int


class ConfigurationError(SystemExit):
    """Raised at import time; its message is the single line printed on exit."""


def _optional(env: environ.Env, name: str) -> str | None:
    value = env.str(name, default="")
    return value or None


def read_config() -> Config:
    env = environ.Env()
    env_name = env.str("FIELDLINE_ENV", default="dev")
    if env_name not in ENVIRONMENTS:
        raise ConfigurationError(
            f"fieldline: FIELDLINE_ENV must be one of {', '.join(ENVIRONMENTS)}, got {env_name!r}"
        )
    if env_name == "prod":
        missing = [name for name in PROD_REQUIRED if not env.str(name, default="")]
        if missing:
            raise ConfigurationError(
                "fieldline: missing required setting(s) for FIELDLINE_ENV=prod: "
                + ", ".join(missing)
            )
    return Config(
        env_name=env_name,
        data_dir=Path(env.str("FIELDLINE_DATA_DIR", default=str(BASE_DIR / "var"))),
        secret_key=_optional(env, "SECRET_KEY"),
        allowed_hosts=env.list("ALLOWED_HOSTS", default=[]),
        csrf_trusted_origins=env.list("CSRF_TRUSTED_ORIGINS", default=[]),
        database_url=_optional(env, "DATABASE_URL"),
        database_conn_max_age=env.int("DATABASE_CONN_MAX_AGE", default=0),
        database_pool_max_size=env.int("DATABASE_POOL_MAX_SIZE", default=10),
        redis_url=_optional(env, "REDIS_URL"),
        s3_bucket=_optional(env, "S3_BUCKET"),
        s3_region=_optional(env, "S3_REGION"),
        s3_endpoint_url=_optional(env, "S3_ENDPOINT_URL"),
        fcm_service_account_file=_optional(env, "FCM_SERVICE_ACCOUNT_FILE"),
        fcm_project_id=_optional(env, "FCM_PROJECT_ID"),
        fcm_endpoint_base=_optional(env, "FCM_ENDPOINT_BASE"),
        log_level=env.str("LOG_LEVEL", default="INFO"),
        sync_retention_days=env.int("SYNC_RETENTION_DAYS", default=30),
    )


def database_from_url(url: str) -> dict[str, Any]:
    return environ.Env.db_url_config(url)


CONFIG = read_config()
