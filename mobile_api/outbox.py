"""The outbox worker: sends the push notifications the domain queued (``server.models.
Notification``) to the devices of their user, through the configured push backend (FCM via
pyfcm in production).

* **Claiming.** A worker takes a batch of due rows under a lease: in one short transaction
  it locks them (``SKIP LOCKED`` on PostgreSQL, so several workers never take the same row;
  SQLite serialises writers anyway), counts the attempt and moves ``next_attempt_at`` to the
  end of the lease. It then sends outside any transaction. A row sent is marked at once; a
  worker killed mid-batch leaves the rows it had not marked due again when their lease ends:
  nothing is lost, and at most those rows are sent twice. Each message carries the
  notification's id (``notification_id``) so the app can drop a duplicate.
* **Outcomes**, per device token:
  - sent: the row is ``sent``;
  - ``UNREGISTERED`` / ``NOT_FOUND`` (404): the device's token is deactivated;
  - ``INVALID_ARGUMENT`` (400): the row is ``failed`` with FCM's reason;
  - 429 or 503 with ``Retry-After``: the row waits that long, the worker goes on with the
    others (pyfcm's own sleeping is switched off, see ``mobile_api.push``);
  - any other failure: retried with exponential backoff and full jitter, up to
    ``MAX_ATTEMPTS``, then ``failed``.
  A user without a device holding a push token gets nothing (``failed``: ``no_push_token``);
  their devices find the change at the next pull. A deactivated user gets nothing
  (``user_inactive``).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from mobile_api.models import Device
from mobile_api.push import PushMessage, RetryLater, get_push_backend
from server.models import Notification, OutboxState, User

logger = logging.getLogger(__name__)

BATCH = 100
LEASE = dt.timedelta(minutes=2)
MAX_ATTEMPTS = 8
BASE_DELAY_S = 2.0
MAX_DELAY_S = 600.0
KEEP_DONE = dt.timedelta(days=30)


def backoff_delay(attempt: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base · 2^(attempt-1))]."""
    ceiling = min(MAX_DELAY_S, BASE_DELAY_S * 2 ** max(0, attempt - 1))
    return (rng or random).uniform(0, ceiling)


def claim(
    *, now: dt.datetime | None = None, limit: int = BATCH, lease: dt.timedelta = LEASE
) -> list[Notification]:
    """Due rows, leased to this worker for ``lease`` (longer than a batch takes to send)."""
    now = now or timezone.now()
    with transaction.atomic():
        due = Notification.objects.filter(state=OutboxState.PENDING, next_attempt_at__lte=now)
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        rows = list(due.order_by("next_attempt_at", "id")[:limit])
        Notification.objects.filter(pk__in=[r.pk for r in rows]).update(
            attempts=F("attempts") + 1, next_attempt_at=now + lease
        )
    for row in rows:
        row.attempts += 1
    return rows


@dataclass
class Outcome:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deactivated: int = 0


def _message(row: Notification, device: Device) -> PushMessage:
    data = {str(k): str(v) for k, v in row.data.items()}
    # Every message asks the app to pull; the id lets it drop a duplicate.
    data.update({"notification_id": str(row.pk), "kind": row.kind, "action": "sync"})
    return PushMessage(
        token=device.fcm_token,
        device_id=device.pk,
        title=row.title,
        body=row.body,
        data=data,
        collapse_key=row.collapse_key,
    )


def deliver(row: Notification, outcome: Outcome, *, now: dt.datetime | None = None) -> None:
    """Send one claimed row to its user's devices and record how it went."""
    from pyfcm.errors import FCMNotRegisteredError, InvalidDataError

    now = now or timezone.now()
    devices = list(
        Device.objects.filter(
            user_id=row.user_id,
            user__is_active=True,
            revoked_at__isnull=True,
            fcm_token_active=True,
        )
        .exclude(fcm_token="")
        .order_by("pk")
    )
    if not devices:
        if User.objects.filter(pk=row.user_id, is_active=False).exists():
            _finish(row, OutboxState.FAILED, "user_inactive: the user is deactivated")
        else:
            _finish(
                row, OutboxState.FAILED, "no_push_token: no device of the user has a push token"
            )
        outcome.failed += 1
        return
    backend = get_push_backend()
    retry_in: float | None = None
    invalid: str | None = None
    unregistered = False
    delivered = 0
    for device in devices:
        try:
            backend.send(_message(row, device))
            delivered += 1
        except FCMNotRegisteredError:
            Device.objects.filter(pk=device.pk).update(fcm_token_active=False)
            outcome.deactivated += 1
            unregistered = True
        except InvalidDataError as error:
            invalid = str(error)[:1000]
        except RetryLater as wait:
            retry_in = max(retry_in or 0.0, wait.delay)
        except Exception as error:  # network, 5xx, anything: back off and try again
            logger.warning("push %s to device %s failed: %s", row.pk, device.pk, error)
            retry_in = max(retry_in or 0.0, backoff_delay(row.attempts))
    if retry_in is not None and row.attempts < MAX_ATTEMPTS:
        _ours(row).update(
            next_attempt_at=now + dt.timedelta(seconds=retry_in), last_error="retrying"
        )
        outcome.retried += 1
    elif delivered:
        _finish(row, OutboxState.SENT, "")
        outcome.sent += 1
    else:
        if invalid:
            reason = f"invalid_argument: {invalid}"
        elif retry_in is not None:
            reason = f"gave up after {row.attempts} attempts"
        else:
            reason = (
                "unregistered: no device token is valid any more"
                if unregistered
                else "no_push_token"
            )
        _finish(row, OutboxState.FAILED, reason)
        outcome.failed += 1


def _ours(row: Notification) -> QuerySet[Notification]:
    """The row, if it is still this worker's claim: a worker that overran its lease must not
    overwrite the outcome of the one that claimed the row after it."""
    return Notification.objects.filter(pk=row.pk, attempts=row.attempts, state=OutboxState.PENDING)


def _finish(row: Notification, state: str, error: str) -> None:
    sent_at = timezone.now() if state == OutboxState.SENT else None
    _ours(row).update(state=state, last_error=error, sent_at=sent_at)


def run_once(
    *, now: dt.datetime | None = None, limit: int = BATCH, lease: dt.timedelta = LEASE
) -> Outcome:
    """Claim a batch and send it; what the worker does in a loop. A batch slower than its
    lease (a slow FCM) starts no send after 80% of it and hands the rest back. A send still
    running when the lease ends may be repeated by another worker (at least once); only the
    first outcome is recorded."""
    outcome = Outcome()
    stop_at = time.monotonic() + 0.8 * lease.total_seconds()
    rows = claim(now=now, limit=limit, lease=lease)
    for done, row in enumerate(rows):
        if time.monotonic() > stop_at:
            _hand_back(rows[done:])
            break
        deliver(row, outcome, now=now)
    return outcome


def _hand_back(rows: list[Notification]) -> None:
    """Rows claimed but not tried: due again at once, and their attempt not counted."""
    for row in rows:
        _ours(row).update(attempts=F("attempts") - 1, next_attempt_at=timezone.now())


def prune(
    *, now: dt.datetime | None = None, keep: dt.timedelta = KEEP_DONE, chunk: int = 5000
) -> int:
    """Delete sent and failed rows last tried more than ``keep`` ago, ``chunk`` at a time (the
    worker does it hourly); pending ones stay, whatever their age."""
    cutoff = (now or timezone.now()) - keep
    done = Notification.objects.filter(
        state__in=[OutboxState.SENT, OutboxState.FAILED], next_attempt_at__lt=cutoff
    )
    deleted = 0
    while ids := list(done.values_list("pk", flat=True)[:chunk]):
        deleted += Notification.objects.filter(pk__in=ids).delete()[0]
    return deleted
