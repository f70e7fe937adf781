"""Photos and signatures: the record syncs first, the file follows through a presigned
upload (a signed URL of ours on the local file system; a presigned POST on S3, in the
services leg) and is checked against the record; the completion report shows it all."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import pytest
import requests
from django.core.files.storage import default_storage

from field_service.models import Attachment, ChecklistTemplate
from field_service.services.dispatch import work_order_assign
from tests.field_service.conftest import World, at

# A 1×1 transparent PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001"
    "0d0a2db40000000049454e44ae426082"
)


@pytest.fixture
def job_on_device(world: World, handheld):
    job = world.job()
    work_order_assign(
        actor=world.dispatcher, work_order=job, technicians=[world.tech], lead=world.tech,
        start=at(9), dispatch=True,
    )  # fmt: skip
    device = handheld(world.tech)
    device.sync()
    return world, job, device


def _record(device, job, *, kind="signature", body=PNG, content_type="image/png") -> str:
    return device.create(
        "attachments",
        {
            "work_order_id": job.pk,
            "kind": kind,
            "content_type": content_type,
            "size": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "caption": "",
        },
    )


def _upload(client, attachment_id: str, body: bytes) -> int:
    """Ask where to upload, send the file there (as the device would), say it is done."""
    where = client.post(f"/api/v1/attachments/{attachment_id}/upload/")
    assert where.status_code == 200, where.content
    target = where.json()
    if target["method"] == "PUT":  # the local file system: our own signed URL
        sent = client.generic(
            "PUT",
            urlsplit(target["url"]).path,
            body,
            content_type=target["headers"]["Content-Type"],
        )
        assert sent.status_code == 204, sent.content
    else:  # S3: a presigned POST straight to the bucket
        answer = requests.post(
            target["url"], data=target["fields"], files={"file": ("upload", body)}, timeout=30
        )
        assert answer.status_code in (200, 204), answer.text
    return client.post(f"/api/v1/attachments/{attachment_id}/complete/").status_code


def test_a_signature_syncs_then_uploads_and_appears_in_the_report(job_on_device, client_for):
    world, job, device = job_on_device
    ChecklistTemplate.objects.create(
        kind="repair",
        name="Repair",
        items=[{"key": "ok", "label": "Works again", "type": "yes_no"}],
    )
    signature = _record(device, job)
    device.create("checklist_answers", {"work_order_id": job.pk, "item_key": "ok", "value": "true"})
    assert device.sync().rejected == {}
    assert Attachment.objects.get(pk=signature).uploaded_at is None  # the record came first
    technician = client_for(world.tech, device_id="handheld")

    assert _upload(technician, signature, PNG) == 200

    stored = Attachment.objects.get(pk=signature)
    assert stored.uploaded_at is not None
    with default_storage.open(stored.storage_key, "rb") as handle:
        assert handle.read() == PNG
    device.sync()
    assert device.get("attachments", signature)["uploaded_at"] is not None
    report = client_for(world.dispatcher).get(f"/api/v1/work-orders/{job.pk}/report/")
    assert report.status_code == 200
    html = report.content.decode()
    assert 'class="signature" src="data:image/png;base64,' in html
    assert "Works again</td><td>Yes" in html


def test_a_file_that_differs_from_its_record_is_refused_and_can_be_sent_again(
    job_on_device, client_for
):
    world, job, device = job_on_device
    photo = _record(device, job, kind="photo")
    device.sync()
    technician = client_for(world.tech, device_id="handheld")

    corrupted = bytes([PNG[0] ^ 0xFF]) + PNG[1:]  # same size, other bytes
    assert _upload(technician, photo, corrupted) == 409
    assert Attachment.objects.get(pk=photo).uploaded_at is None
    assert _upload(technician, photo, PNG) == 200


def test_types_and_sizes_are_limited_per_kind(job_on_device):
    _, job, device = job_on_device
    gif = _record(device, job, kind="photo", content_type="image/gif")
    huge = device.create(
        "attachments",
        {
            "work_order_id": job.pk,
            "kind": "signature",
            "content_type": "image/png",
            "size": 5 * 1024 * 1024,
            "sha256": "0" * 64,
            "caption": "",
        },
    )

    outcome = device.sync()

    assert outcome.rejected == {"attachments": sorted([gif, huge])}
    codes = {record_id: r["code"] for record_id, r in outcome.rejections["attachments"].items()}
    assert codes == {gif: "unsupported_type", huge: "too_large"}
    assert not Attachment.objects.exists()


def test_someone_elses_upload_link_or_a_forged_one_stores_nothing(job_on_device, client_for):
    world, job, device = job_on_device
    photo = _record(device, job, kind="photo")
    device.sync()

    other = client_for(world.other_tech, device_id="other")
    assert other.post(f"/api/v1/attachments/{photo}/upload/").status_code == 404
    forged = client_for(world.tech).generic(
        "PUT", "/api/v1/attachment-uploads/forged:token/", PNG, content_type="image/png"
    )
    assert forged.status_code == 403
    assert not default_storage.exists(f"attachments/{job.pk}/{photo}.png")


@pytest.mark.services
def test_a_photo_round_trip_through_s3(job_on_device, client_for):
    # the services leg runs with S3 (moto's server) as default storage: presigned POST
    world, job, device = job_on_device
    photo = _record(device, job, kind="photo")
    device.sync()
    technician = client_for(world.tech, device_id="handheld")
    where = technician.post(f"/api/v1/attachments/{photo}/upload/").json()
    assert where["method"] == "POST"

    assert _upload(technician, photo, PNG) == 200
    stored = Attachment.objects.get(pk=photo)
    with default_storage.open(stored.storage_key, "rb") as handle:
        assert handle.read() == PNG
    default_storage.delete(stored.storage_key)
