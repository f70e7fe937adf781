"""The embedded default: SQLite in WAL mode, in-memory channel layer, local files, recorded
pushes, and the database task backend. Needs no environment variables and no services."""

from server.settings import channels, database, fcm, storage, tasks
from server.settings.base import *  # noqa: F403
from server.settings.base import DATA_DIR, MEDIA_ROOT
from server.settings.env import CONFIG

DEBUG = CONFIG.env_name == "dev"
# A fixed development key: the embedded default is for one machine, never for production.
SECRET_KEY = CONFIG.secret_key or "fieldline-dev-only-key-not-for-production"  # noqa: S105
ALLOWED_HOSTS = CONFIG.allowed_hosts or ["127.0.0.1", "localhost", "[::1]", "testserver"]

DATA_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {"default": database.sqlite(DATA_DIR / "fieldline.sqlite3")}
CHANNEL_LAYERS, CACHES = channels.in_memory()
STORAGES = storage.filesystem(MEDIA_ROOT)
FIELDLINE_PUSH = fcm.recording()
TASKS = tasks.database()
