"""A job's completion report: one self-contained HTML page (the signature and photos inline),
for the customer and the office. Read-only."""

from __future__ import annotations

import base64

from django.core.files.storage import default_storage
from django.template.loader import render_to_string
from django.utils import timezone

from field_service.models import (
    Attachment,
    AttachmentKind,
    ChecklistAnswer,
    ChecklistTemplate,
    CrewMember,
    JobNote,
    PartUsage,
    SiteVisit,
    TimeEntry,
    WorkOrder,
)


def _inline(attachment: Attachment) -> str:
    """The file as a data URI (the report stands alone, without links to storage)."""
    with default_storage.open(attachment.storage_key, "rb") as handle:
        encoded = base64.b64encode(handle.read()).decode("ascii")
    return f"data:{attachment.content_type};base64,{encoded}"


def _answer(value: object) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return "" if value is None else str(value)


def completion_report(job: WorkOrder) -> str:
    live = {"work_order": job, "archived_at__isnull": True}
    files = list(
        Attachment.objects.filter(**live, uploaded_at__isnull=False).order_by("created_at")
    )
    signatures = [f for f in files if f.kind == AttachmentKind.SIGNATURE]
    template = ChecklistTemplate.objects.filter(kind=job.kind, archived_at__isnull=True).first()
    answers = dict(ChecklistAnswer.objects.filter(**live).values_list("item_key", "value"))
    checklist = [
        {"label": item.get("label", item["key"]), "answer": _answer(answers.get(item["key"]))}
        for item in (template.items if template else [])
    ]
    return render_to_string(
        "field_service/report.html",
        {
            "job": job,
            "crew": CrewMember.objects.filter(work_order=job).select_related("technician"),
            "visits": SiteVisit.objects.filter(**live).order_by("checked_in_at"),
            "time_entries": TimeEntry.objects.filter(**live)
            .select_related("technician")
            .order_by("started_at"),
            "parts": PartUsage.objects.filter(**live).select_related("part"),
            "checklist": checklist,
            "notes": JobNote.objects.filter(**live)
            .select_related("technician")
            .order_by("created_at"),
            "photos": [
                {"src": _inline(f), "caption": f.caption}
                for f in files
                if f.kind == AttachmentKind.PHOTO
            ],
            "signature": _inline(signatures[-1]) if signatures else None,
            "generated_at": timezone.now(),
        },
    )
