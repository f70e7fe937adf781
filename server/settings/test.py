"""Test settings. On their own they are the embedded default; with the variables that
``infra/testservices`` exports they run on real PostgreSQL, Redis and S3 (the services leg),
and with ``FCM_*`` ones (``tests/fcm_server.py`` writes them) they push through pyfcm."""

from server.settings import channels, database, fcm, storage, tasks
from server.settings.dev import *  # noqa: F403
from server.settings.env import CONFIG

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TASKS = tasks.immediate()
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"login": "1000/min", "login_user": "1000/min"}  # noqa: F405

FIELDLINE_SERVICES_LEG = bool(CONFIG.database_url)
if CONFIG.database_url:
    DATABASES = {
        "default": database.postgres(
            CONFIG.database_url, conn_max_age=0, pool_max_size=CONFIG.database_pool_max_size
        )
    }
if CONFIG.redis_url:
    CHANNEL_LAYERS, CACHES = channels.redis(CONFIG.redis_url)
if CONFIG.s3_bucket:
    STORAGES = storage.s3(
        bucket=CONFIG.s3_bucket,
        region=CONFIG.s3_region or "us-east-1",
        endpoint_url=CONFIG.s3_endpoint_url,
    )
if CONFIG.fcm_project_id:
    FIELDLINE_PUSH = fcm.fcm(
        service_account_file=str(CONFIG.fcm_service_account_file),
        project_id=CONFIG.fcm_project_id,
        endpoint_base=CONFIG.fcm_endpoint_base,
    )
