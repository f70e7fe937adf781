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
from collections import defaultdict
from concurrent.futures import Executor
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from mobile_api.models import Device
from mobile_api.push import PushBackend, PushMessage, RetryLater, get_push_backend
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


@dataclass(frozen=True)
class _Sent:
    """What FCM answered to one message."""

    ok: bool = False
    unregistered: bool = False
    invalid: str | None = None
    retry_in: float | None = None


def _send(backend: PushBackend, row: Notification, device: Device) -> _Sent:
    from pyfcm.errors import FCMNotRegisteredError, InvalidDataError

    try:
        backend.send(_message(row, device))
    except FCMNotRegisteredError:
        return _Sent(unregistered=True)
    except InvalidDataError as error:
        return _Sent(invalid=str(error)[:1000])
    except RetryLater as wait:
        return _Sent(retry_in=wait.delay)
    except Exception as error:  # network, 5xx, anything: back off and try again
        logger.warning("push %s to device %s failed: %s", row.pk, device.pk, error)
        return _Sent(retry_in=backoff_delay(row.attempts))
    return _Sent(ok=True)


def _devices_of(user_ids: set[int]) -> dict[int, list[Device]]:
    """The devices that may be pushed to, by user: live, with a push token, of active users."""
    devices: dict[int, list[Device]] = defaultdict(list)
    for device in (
        Device.objects.filter(
            user_id__in=user_ids,
            user__is_active=True,
            revoked_at__isnull=True,
            fcm_token_active=True,
        )
        .exclude(fcm_token="")
        .order_by("pk")
    ):
        devices[device.user_id].append(device)
    return devices


def deliver(
    rows: list[Notification],
    outcome: Outcome,
    *,
    now: dt.datetime | None = None,
    pool: Executor | None = None,
) -> None:
    """Send claimed rows to their users' devices and record how each went. The database is
    read and written here; with a ``pool`` (and a backend that allows it), only the sending
    happens in its threads, all of it at once."""
    now = now or timezone.now()
    devices = _devices_of({row.user_id for row in rows})
    sends = [(row, device) for row in rows for device in devices.get(row.user_id, [])]
    backend = get_push_backend()

    def send(pair: tuple[Notification, Device]) -> _Sent:
        return _send(backend, *pair)

    if pool is not None and getattr(backend, "concurrent", False) and len(sends) > 1:
        answers = list(pool.map(send, sends))
    else:
        answers = [send(pair) for pair in sends]
    by_row: dict[int, list[tuple[Device, _Sent]]] = defaultdict(list)
    for (row, device), answer in zip(sends, answers, strict=True):
        by_row[row.pk].append((device, answer))
    lonely = {row.user_id for row in rows if not by_row.get(row.pk)}
    inactive = set(User.objects.filter(pk__in=lonely, is_active=False).values_list("pk", flat=True))
    for row in rows:
        _record(row, by_row.get(row.pk, []), outcome, now, user_inactive=row.user_id in inactive)


def _record(
    row: Notification,
    answers: list[tuple[Device, _Sent]],
    outcome: Outcome,
    now: dt.datetime,
    *,
    user_inactive: bool,
) -> None:
    if not answers:
        if user_inactive:
            _finish(row, OutboxState.FAILED, "user_inactive: the user is deactivated")
        else:
            _finish(
                row, OutboxState.FAILED, "no_push_token: no device of the user has a push token"
            )
        outcome.failed += 1
        return
    gone = [device.pk for device, answer in answers if answer.unregistered]
    if gone:
        Device.objects.filter(pk__in=gone).update(fcm_token_active=False)
        outcome.deactivated += len(gone)
    delays = [answer.retry_in for _, answer in answers if answer.retry_in is not None]
    invalid = next((answer.invalid for _, answer in answers if answer.invalid), None)
    delivered = sum(answer.ok for _, answer in answers)
    if delays and row.attempts < MAX_ATTEMPTS:
        _ours(row).update(
            next_attempt_at=now + dt.timedelta(seconds=max(delays)), last_error="retrying"
        )
        outcome.retried += 1
    elif delivered:
        _finish(row, OutboxState.SENT, "")
        outcome.sent += 1
    else:
        if invalid:
            reason = f"invalid_argument: {invalid}"
        elif delays:
            reason = f"gave up after {row.attempts} attempts"
        else:
            reason = "unregistered: no device token is valid any more"
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
    *,
    now: dt.datetime | None = None,
    limit: int = BATCH,
    lease: dt.timedelta = LEASE,
    pool: Executor | None = None,
    chunk: int = 16,
) -> Outcome:
    """Claim a batch and send it, ``chunk`` rows at a time (their messages at once, with a
    ``pool``); what the worker does in a loop. A batch slower than its lease (a slow FCM)
    starts no chunk after 80% of it and hands the rest back. A send still running when the
    lease ends may be repeated by another worker (at least once); only the first outcome is
    recorded."""
    outcome = Outcome()
    stop_at = time.monotonic() + 0.8 * lease.total_seconds()
    rows = claim(now=now, limit=limit, lease=lease)
    for start in range(0, len(rows), chunk):
        if time.monotonic() > stop_at:
            _hand_back(rows[start:])
            break
        deliver(rows[start : start + chunk], outcome, now=now, pool=pool)
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
