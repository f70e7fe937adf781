"""Production: PostgreSQL, Redis, S3 and FCM. ``env.read_config`` has already stopped start-up
if any required variable is missing, so the ``assert``-free reads below are safe."""

from server.settings import channels, database, fcm, storage, tasks
from server.settings.base import *  # noqa: F403
from server.settings.env import CONFIG

DEBUG = False
SECRET_KEY = CONFIG.secret_key
ALLOWED_HOSTS = CONFIG.allowed_hosts

DATABASES = {
    "default": database.postgres(
        str(CONFIG.database_url),
        conn_max_age=CONFIG.database_conn_max_age,
        pool_max_size=CONFIG.database_pool_max_size,
    )
}
CHANNEL_LAYERS, CACHES = channels.redis(str(CONFIG.redis_url))
STORAGES = storage.s3(
    bucket=str(CONFIG.s3_bucket),
    region=str(CONFIG.s3_region),
    endpoint_url=CONFIG.s3_endpoint_url,
)
FIELDLINE_PUSH = fcm.fcm(
    service_account_file=str(CONFIG.fcm_service_account_file),
    project_id=str(CONFIG.fcm_project_id),
    endpoint_base=CONFIG.fcm_endpoint_base,
)
TASKS = tasks.database()

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
