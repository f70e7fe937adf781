"""``manage.py sla_scan``: raise the SLA warnings and breaches that are due (run every
minute by ``infra/systemd/fieldline-sla-scan.timer``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from field_service.services.sla import sla_scan


class Command(BaseCommand):
    help = "Raise the SLA warnings and breaches that are due."

    def handle(self, *args: Any, **options: Any) -> None:
        raised = sla_scan()
        self.stdout.write(f"{len(raised)} SLA event(s) raised.")
