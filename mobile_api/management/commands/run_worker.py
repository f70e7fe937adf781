"""``manage.py run_worker``: send the outbox's push notifications until stopped (SIGTERM or
Ctrl-C end it after the current batch), and prune rows done more than 30 days ago hourly.
Several may run at once."""

from __future__ import annotations

import datetime as dt
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from mobile_api.outbox import BATCH, LEASE, prune, run_once
from mobile_api.push import SEND_THREADS

PRUNE_EVERY_S = 3600.0


class Command(BaseCommand):
    help = "Send the queued push notifications (the outbox) until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--idle-sleep", type=float, default=0.5, help="seconds between empty polls"
        )
        parser.add_argument("--once", action="store_true", help="one batch, then exit")
        parser.add_argument(
            "--lease",
            type=float,
            default=LEASE.total_seconds(),
            help="seconds a claimed batch is this worker's; a killed worker's unsent rows "
            "are sent by another after it (default %(default)s)",
        )
        parser.add_argument("--batch", type=int, default=BATCH, help="rows claimed at a time")
        parser.add_argument(
            "--threads",
            type=int,
            default=SEND_THREADS,
            help="messages sent at once (FCM answers in tens of milliseconds; default %(default)s)",
        )

    def handle(
        self,
        *args: Any,
        idle_sleep: float,
        once: bool,
        lease: float,
        batch: int,
        threads: int,
        **options: Any,
    ) -> None:
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        # Its threads only send (no database): each keeps its access token for the worker's life.
        with ThreadPoolExecutor(threads, thread_name_prefix="push") as pool:
            pruned_at = float("-inf")
            while not stopping:
                if time.monotonic() - pruned_at > PRUNE_EVERY_S:
                    pruned_at = time.monotonic()
                    if deleted := prune():
                        self.stdout.write(f"pruned {deleted} old notifications")
                outcome = run_once(
                    limit=batch, lease=dt.timedelta(seconds=lease), pool=pool, chunk=threads
                )
                close_old_connections()
                handled = outcome.sent + outcome.retried + outcome.failed
                if handled:
                    self.stdout.write(
                        f"sent {outcome.sent}, retrying {outcome.retried}, "
                        f"failed {outcome.failed}, tokens deactivated {outcome.deactivated}"
                    )
                if once:
                    break
                if not handled:
                    time.sleep(idle_sleep)
