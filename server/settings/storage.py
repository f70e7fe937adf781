"""File storage: the local file system by default, S3 (or S3-compatible) in production."""

from pathlib import Path
from typing import Any

STATICFILES = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}


def filesystem(media_root: Path) -> dict[str, Any]:
    return {
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media_root)},
        },
        "staticfiles": STATICFILES,
    }


def s3(*, bucket: str, region: str, endpoint_url: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bucket_name": bucket,
        "region_name": region,
        "default_acl": None,
        "querystring_auth": True,
        "file_overwrite": False,
        "signature_version": "s3v4",
    }
    if endpoint_url:
        options["endpoint_url"] = endpoint_url
        options["addressing_style"] = "path"
    return {
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
        "staticfiles": STATICFILES,
    }
