"""The save-and-record steps every customer service shares."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models
from django.utils import timezone

from server.errors import ApplicationError
from server.models import User
from sync import changelog, registry


def assign(instance: models.Model, data: Mapping[str, Any], *, allowed: Iterable[str]) -> None:
    allowed_set = set(allowed)
    unknown = sorted(set(data) - allowed_set)
    if unknown:
        raise ApplicationError(
            "unknown_field",
            "These fields cannot be written: " + ", ".join(unknown),
            fields={name: ["Unknown or read-only field."] for name in unknown},
        )
    for name, value in data.items():
        setattr(instance, name, value)


def with_id[M: models.Model](instance: M, record_id: str | None) -> M:
    """Give a new record the id a device chose offline (when it sent one)."""
    if record_id is not None:
        instance.pk = record_id
    return instance


def create[M: models.Model](instance: M, *, actor: User | None) -> M:
    """Validate, insert and record ``instance``. Caller holds a transaction."""
    instance.full_clean()
    instance.save(force_insert=True)
    changelog.record_create(instance=instance, actor=actor)
    return instance


class Edit:
    """Captures a record before an edit so ``save`` can record exactly what changed."""

    def __init__(self, instance: models.Model) -> None:
        self.instance = instance
        self.before = changelog.snapshot(instance)
        self.scope_before = registry.for_model(type(instance)).scope_keys(instance)

    def save(self, *, actor: User | None) -> bool:
        """Validate and save; returns False (and writes nothing) when nothing changed."""
        instance = self.instance
        instance.full_clean()
        edited = changelog.snapshot(instance)
        if edited == self.before:
            return False
        instance.updated_at = timezone.now()  # type: ignore[attr-defined]
        instance.save()
        # Many-to-many values are as just read; the fields only need the new updated_at.
        after = {**edited, **changelog.snapshot(instance, many_to_many=False)}
        changelog.record_update(
            instance=instance,
            before=self.before,
            after=after,
            scope_before=self.scope_before,
            actor=actor,
        )
        return True


def archive[M: models.Model](instance: M, *, actor: User | None) -> M:
    if instance.archived_at is not None:  # type: ignore[attr-defined]
        return instance
    edit = Edit(instance)
    instance.archived_at = timezone.now()  # type: ignore[attr-defined]
    edit.save(actor=actor)
    return instance
