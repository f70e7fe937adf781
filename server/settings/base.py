"""Settings shared by every environment. Values that vary come from ``env.CONFIG``."""

from datetime import timedelta
from typing import Any

from server.settings.env import BASE_DIR, CONFIG

DATA_DIR = CONFIG.data_dir

# Sync keeps what a delta pull needs (change keys, device checkpoints, push receipts) this
# long; a device whose cursor is older gets a replacement sync. The change log itself is the
# audit trail and is kept.
SYNC_RETENTION_DAYS = CONFIG.sync_retention_days
MEDIA_ROOT = DATA_DIR / "media"
STATIC_ROOT = DATA_DIR / "static"
STATIC_URL = "/static/"
MEDIA_URL = "/media/"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_tasks_db",
    "server",
    "sync",
    "crm",
    "sales",
    "expenses",
    "territories",
    "field_service",
    "mobile_api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "server.middleware.RequestContextMiddleware",
    "server.middleware.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "server.urls"
ASGI_APPLICATION = "server.asgi.application"
WSGI_APPLICATION = None
AUTH_USER_MODEL = "server.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# Requests with a JSON body larger than this get 413 before any view runs. Files never travel
# through the API: they upload directly to storage with presigned requests.
FIELDLINE_MAX_BODY_BYTES = 1024 * 1024
# Paths (regular expressions) allowed a larger body: a sync push carries up to 5,000 records a
# device made offline; a territory import, a map of a thousand detailed polygons; a photo's
# upload when storage is the local file system (S3 takes it directly otherwise).
FIELDLINE_BODY_LIMITS = {
    r"/api/v1/sync/push/": 16 * 1024 * 1024,
    r"/api/v1/territory-models/\d+/import/": 64 * 1024 * 1024,
    r"/api/v1/attachment-uploads/": 10 * 1024 * 1024,
}
# The largest file an attachment may be, by kind, and the types each accepts.
FIELDLINE_ATTACHMENT_MAX_BYTES = {"photo": 10 * 1024 * 1024, "signature": 1024 * 1024}
FIELDLINE_ATTACHMENT_TYPES = {
    "photo": ["image/jpeg", "image/png", "image/webp"],
    "signature": ["image/png", "image/svg+xml"],
}
DATA_UPLOAD_MAX_MEMORY_SIZE = max(FIELDLINE_MAX_BODY_BYTES, *FIELDLINE_BODY_LIMITS.values())
FILE_UPLOAD_MAX_MEMORY_SIZE = FIELDLINE_MAX_BODY_BYTES

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mobile_api.authentication.DeviceTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "server.errors.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {"login": "10/min", "login_user": "5/min"},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SIMPLE_JWT: dict[str, Any] = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=30),
    "ALGORITHM": "HS256",
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "UPDATE_LAST_LOGIN": False,
}

SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "Fieldline API",
    "DESCRIPTION": "Backend of the Fieldline field-service and sales CRM.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

SESSION_COOKIE_HTTPONLY = True
CSRF_TRUSTED_ORIGINS = CONFIG.csrf_trusted_origins

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "server.logging.RedactSensitiveFilter"},
        "request_context": {"()": "server.logging.RequestContextFilter"},
    },
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_context", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": CONFIG.log_level},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "daphne": {"level": "WARNING"},
    },
}

FIELDLINE_BASE_DIR = BASE_DIR
