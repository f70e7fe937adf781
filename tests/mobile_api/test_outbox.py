"""The outbox worker on the embedded default (the recording push backend): leases, a worker
killed mid-batch, messages carrying their ids, users without a push token, backoff."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.utils import timezone

from mobile_api import outbox
from mobile_api.models import Device, RecordedPush
from server.enums import Role
from server.models import Notification, OutboxState
from server.notifications import notify


@pytest.fixture
def tech(make_user):
    user = make_user(Role.TECHNICIAN)
    Device.objects.create(
        user=user, client_id="handheld", platform="android", app_version="1.0",
        fcm_token="token-handheld", fcm_token_active=True,
    )  # fmt: skip
    Device.objects.create(
        user=user, client_id="old", platform="android", app_version="1.0",
        fcm_token="token-old", fcm_token_active=True, revoked_at=timezone.now(),
    )  # fmt: skip
    return user


def test_a_notification_reaches_the_users_live_devices_with_its_id(tech):
    row = notify(
        user_id=tech.pk,
        kind="job.assigned",
        title="New job",
        body="Repair at Boiler room",
        data={"work_order": "abc"},
        collapse_key="job-abc",
    )

    outcome = outbox.run_once()

    assert (outcome.sent, outcome.failed) == (1, 0)
    [push] = RecordedPush.objects.all()  # not the revoked device
    assert push.token == "token-handheld"
    assert push.data == {
        "work_order": "abc",
        "notification_id": str(row.pk),
        "kind": "job.assigned",
        "action": "sync",
    }
    assert push.collapse_key == "job-abc"
    row.refresh_from_db()
    assert (row.state, row.attempts) == (OutboxState.SENT, 1)
    assert row.sent_at is not None


def test_a_claimed_row_is_not_claimed_again_until_its_lease_ends(tech):
    notify(user_id=tech.pk, kind="job.assigned")
    now = timezone.now()

    first = outbox.claim(now=now)
    second = outbox.claim(now=now)  # another worker, meanwhile

    assert len(first) == 1
    assert second == []


def test_a_worker_killed_mid_batch_loses_nothing_and_resends_only_what_it_had_not_marked(tech):
    rows = [notify(user_id=tech.pk, kind="job.assigned", data={"n": n}) for n in range(3)]
    now = timezone.now()
    claimed = outbox.claim(now=now)
    # the worker sends and marks the first row, then is killed
    outbox.deliver([claimed[0]], outbox.Outcome(), now=now)

    too_soon = outbox.run_once(now=now + dt.timedelta(seconds=30))
    after_lease = outbox.run_once(now=now + outbox.LEASE + dt.timedelta(seconds=1))

    assert too_soon.sent == 0
    assert after_lease.sent == 2
    assert Notification.objects.filter(state=OutboxState.SENT).count() == 3
    sends = sorted(p.data["notification_id"] for p in RecordedPush.objects.all())
    assert sends == sorted(str(r.pk) for r in rows)  # each once: the first was marked


def test_a_user_without_a_push_token_gets_a_failed_row_not_a_retry(make_user):
    user = make_user(Role.TECHNICIAN)
    row = notify(user_id=user.pk, kind="job.assigned")

    outcome = outbox.run_once()

    row.refresh_from_db()
    assert outcome.failed == 1
    assert row.state == OutboxState.FAILED
    assert row.last_error.startswith("no_push_token")


def test_backoff_grows_exponentially_with_full_jitter():
    rng = random.Random(1)
    for attempt, ceiling in ((1, 2.0), (2, 4.0), (5, 32.0), (20, outbox.MAX_DELAY_S)):
        delays = [outbox.backoff_delay(attempt, rng) for _ in range(200)]
        assert 0 <= min(delays) and max(delays) <= ceiling
        assert max(delays) > ceiling * 0.8  # spread over the whole range


def test_pruning_removes_only_rows_done_long_ago(tech):
    now = timezone.now()
    old = now - outbox.KEEP_DONE - dt.timedelta(hours=1)
    rows = {
        name: notify(user_id=tech.pk, kind="job.assigned", title=name)
        for name in ("old sent", "old failed", "old pending", "recent sent")
    }
    for name, state, when in (
        ("old sent", OutboxState.SENT, old),
        ("old failed", OutboxState.FAILED, old),
        ("old pending", OutboxState.PENDING, old),  # still owed: never pruned
        ("recent sent", OutboxState.SENT, now),
    ):
        Notification.objects.filter(pk=rows[name].pk).update(state=state, next_attempt_at=when)

    assert outbox.prune(now=now, chunk=1) == 2

    assert set(Notification.objects.values_list("title", flat=True)) == {
        "old pending",
        "recent sent",
    }


def test_a_batch_slower_than_its_lease_leaves_the_rest_for_later(tech, monkeypatch):
    rows = [notify(user_id=tech.pk, kind="job.assigned", title=f"job {n}") for n in range(3)]
    ticks = [0.0, 1.0, 2.0]  # then 99: the third send would start past 80% of the 10 s lease
    monkeypatch.setattr(outbox.time, "monotonic", lambda: ticks.pop(0) if ticks else 99.0)

    outcome = outbox.run_once(lease=dt.timedelta(seconds=10), chunk=1)

    assert outcome.sent == 2
    rest = Notification.objects.get(pk=rows[2].pk)
    assert (rest.state, rest.attempts) == ("pending", 0)  # handed back, not counted
    assert rest.next_attempt_at <= timezone.now()  # due again at once
    assert [Notification.objects.get(pk=r.pk).state for r in rows[:2]] == ["sent", "sent"]


def test_a_worker_that_overran_its_lease_does_not_overwrite_the_next_ones_outcome(tech):
    row = notify(user_id=tech.pk, kind="job.assigned", title="late")
    now = timezone.now()
    [slow] = outbox.claim(now=now)
    # the lease ends; another worker claims the row, and it fails for good there
    [fast] = outbox.claim(now=now + outbox.LEASE + dt.timedelta(seconds=1))
    Device.objects.filter(user=tech).update(fcm_token_active=False)
    outbox.deliver([fast], outbox.Outcome())
    Device.objects.filter(user=tech).update(fcm_token_active=True)

    outbox.deliver([slow], outbox.Outcome())  # the first worker finally gets there

    row.refresh_from_db()
    assert (row.state, row.attempts) == ("failed", 2)
    assert row.last_error.startswith("no_push_token")
