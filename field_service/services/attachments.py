"""Photos and signatures: the record first (through sync), then the file, uploaded straight
to storage with a presigned request and verified against the record.

1. The device syncs an ``Attachment`` (kind, type, size, SHA-256): refused (rejected, kept)
   when the type is not allowed for its kind or the file would be too large.
2. ``attachment_upload_request``: where to send the file. S3: a presigned POST that only
   accepts exactly that size and type, valid 15 minutes. The local file system (the
   embedded default): a signed, expiring URL of our own (``PUT attachment-uploads/<token>/``).
3. ``attachment_upload_complete``: the server reads the stored file back, checks its size
   and SHA-256 against the record, and records where it is and when it arrived (devices see
   ``uploaded_at`` at their next pull). A mismatch deletes the file and answers 409, so the
   device uploads again.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from storages.utils import clean_name

from crm.services import records
from field_service.models import Attachment
from server.access import Capability, has_capability
from server.errors import ApplicationError
from server.models import User

UPLOAD_TTL_S = 15 * 60
_SALT = "fieldline.attachment-upload"
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/svg+xml": "svg",
}


def check_attachment(attachment: Attachment) -> None:
    """The record's promise about its file: an allowed type, a size within the kind's limit,
    a SHA-256 in hex."""
    types: dict[str, list[str]] = settings.FIELDLINE_ATTACHMENT_TYPES
    limits: dict[str, int] = settings.FIELDLINE_ATTACHMENT_MAX_BYTES
    if attachment.content_type not in types.get(attachment.kind, []):
        raise ApplicationError(
            "unsupported_type",
            f"A {attachment.kind} is one of {', '.join(types.get(attachment.kind, []))}.",
            fields={"content_type": ["Not allowed."]},
            status=415,
        )
    limit = limits.get(attachment.kind, 0)
    if not 0 < attachment.size <= limit:
        raise ApplicationError(
            "too_large",
            f"A {attachment.kind} is at most {limit:,} bytes.",
            fields={"size": [f"From 1 to {limit} bytes."]},
            status=413,
        )
    digest = attachment.sha256.lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ApplicationError(
            "invalid", "sha256 is 64 hex digits.", fields={"sha256": ["Not a SHA-256."]}
        )
    attachment.sha256 = digest


def _key(attachment: Attachment) -> str:
    extension = EXTENSIONS.get(attachment.content_type, "bin")
    return f"attachments/{attachment.work_order_id}/{attachment.pk}.{extension}"


def _check_author(actor: User, attachment: Attachment) -> None:
    if attachment.technician_id != actor.pk and not has_capability(actor, Capability.DISPATCH):
        raise ApplicationError(
            "permission_denied", "Only its author uploads this file.", status=403
        )


def _is_s3() -> bool:
    return hasattr(default_storage, "bucket_name")


def attachment_upload_request(
    *, actor: User, attachment: Attachment, base_url: str
) -> dict[str, Any]:
    """Where and how to upload the attachment's file."""
    _check_author(actor, attachment)
    if attachment.uploaded_at is not None:
        raise ApplicationError("already_uploaded", "The file is already here.", status=409)
    key = _key(attachment)
    if _is_s3():
        storage: Any = default_storage
        name = storage._normalize_name(clean_name(key))  # the key S3Storage itself uses
        post = storage.connection.meta.client.generate_presigned_post(
            Bucket=storage.bucket_name,
            Key=name,
            Fields={"Content-Type": attachment.content_type},
            Conditions=[
                {"Content-Type": attachment.content_type},
                ["content-length-range", attachment.size, attachment.size],
            ],
            ExpiresIn=UPLOAD_TTL_S,
        )
        return {"method": "POST", "url": post["url"], "fields": post["fields"]}
    token = signing.dumps({"attachment": attachment.pk}, salt=_SALT)
    path = reverse("attachment-upload", kwargs={"token": token})
    return {
        "method": "PUT",
        "url": base_url.rstrip("/") + path,
        "headers": {"Content-Type": attachment.content_type},
    }


def attachment_receive(*, token: str, content_type: str, body: bytes) -> None:
    """(The local file system's upload URL.) Store the body for the token's attachment, if
    it is what the record promised in type and size."""
    try:
        claim = signing.loads(token, salt=_SALT, max_age=UPLOAD_TTL_S)
    except signing.BadSignature:
        raise ApplicationError(
            "invalid_upload", "This upload link is invalid or expired.", status=403
        ) from None
    attachment = Attachment.objects.filter(pk=claim.get("attachment")).first()
    if attachment is None or attachment.uploaded_at is not None:
        raise ApplicationError("invalid_upload", "Nothing to upload here.", status=409)
    if content_type != attachment.content_type or len(body) != attachment.size:
        raise ApplicationError(
            "upload_mismatch",
            "The file's type or size is not what its record says.",
            status=400,
        )
    key = _key(attachment)
    if default_storage.exists(key):
        default_storage.delete(key)
    default_storage.save(key, ContentFile(body))


@transaction.atomic
def attachment_upload_complete(*, actor: User, attachment: Attachment) -> Attachment:
    """Check the stored file against the record and mark it arrived; a bad file is deleted
    (409) so the device sends it again."""
    _check_author(actor, attachment)
    if attachment.uploaded_at is not None:
        return attachment
    key = _key(attachment)
    if not default_storage.exists(key):
        raise ApplicationError("not_uploaded", "The file has not arrived yet.", status=409)
    digest, size = hashlib.sha256(), 0
    with default_storage.open(key, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
            size += len(chunk)
    if size != attachment.size or digest.hexdigest() != attachment.sha256:
        default_storage.delete(key)
        raise ApplicationError(
            "checksum_mismatch",
            "The file that arrived is not the one the record describes; send it again.",
            status=409,
        )
    edit = records.Edit(attachment)
    attachment.storage_key, attachment.uploaded_at = key, timezone.now()
    edit.save(actor=actor)
    return attachment
