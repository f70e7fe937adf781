from typing import Any

from django.core.management.base import BaseCommand

from sync import retention


class Command(BaseCommand):
    help = (
        "Delete sync change keys, device checkpoints and push receipts older than "
        "SYNC_RETENTION_DAYS (devices further behind get a replacement sync). Run daily."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--days", type=int, default=None, help="Override the window.")

    def handle(self, *args: Any, **options: Any) -> None:
        pruned = retention.prune(retention_days=options["days"])
        self.stdout.write(
            f"horizon version {pruned.horizon}: removed {pruned.change_keys} change keys, "
            f"{pruned.checkpoints} checkpoints, {pruned.receipts} push receipts"
        )
