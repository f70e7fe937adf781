"""``manage.py generate_maintenance``: create the jobs of every active maintenance plan up to
its horizon (idempotent; run daily by ``infra/systemd/fieldline-maintenance.timer``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from field_service.services.maintenance import maintenance_generate


class Command(BaseCommand):
    help = "Create the jobs of active maintenance plans up to their horizon."

    def handle(self, *args: Any, **options: Any) -> None:
        created = maintenance_generate()
        self.stdout.write(f"{len(created)} job(s) created.")
