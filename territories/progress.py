"""How far a long territory operation is. Services report to a ``Progress``; the job runner
passes one that writes to the job's row, everyone else gets the silent default."""

from __future__ import annotations

import time

from territories.models import TerritoryJob

# A job's row is written at most this often while a stage advances (each report is a write).
REPORT_EVERY_S = 0.5


class Progress:
    """Reports nothing: for callers that run an operation directly."""

    def stage(self, name: str, total: int = 0) -> None:
        """A new stage begins, of ``total`` units of work (0 when not counted)."""

    def advance(self, count: int) -> None:
        """``count`` more units of the current stage are done."""


SILENT = Progress()


class JobProgress(Progress):
    """Writes the stage and its count to a ``TerritoryJob``. Reports made inside a transaction
    become visible when it commits, so services do their long, read-only work outside theirs
    and report there."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.done = 0
        self.written = 0
        self.reported_at = 0.0

    def stage(self, name: str, total: int = 0) -> None:
        self.done = 0
        self._write(stage=name, done=0, total=total)

    def advance(self, count: int) -> None:
        self.done += count
        if time.monotonic() - self.reported_at >= REPORT_EVERY_S:
            self._write(done=self.done)

    def flush(self) -> None:
        """Write the count the last throttled ``advance`` held back."""
        if self.done != self.written:
            self._write(done=self.done)

    def _write(self, **fields: object) -> None:
        self.reported_at = time.monotonic()
        self.written = self.done
        TerritoryJob.objects.filter(pk=self.job_id).update(**fields)
