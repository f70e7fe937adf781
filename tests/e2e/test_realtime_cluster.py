"""Production's real-time layout, as real processes: two daphne processes and the push
worker on PostgreSQL and Redis, pushing through pyfcm to the FCM test server.

A dispatcher's assignment handled by process A reaches the technician's socket on process B
(across Redis) and their phone through FCM; an offline device finds the job at its next pull;
a worker killed with SIGKILL mid-batch loses nothing; two workers never send a row twice."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import websockets.sync.client

from tests.e2e.live import (
    MANAGE,
    ROOT,
    call,
    daphne,
    fresh_database,
    login,
    prepare,
    service_environment,
)
from tests.fcm_server import FcmTestServer, Received

pytestmark = pytest.mark.services

PROJECT = "fieldline-cluster"
WAIT_S = 10.0


@dataclass
class Cluster:
    a: str  # base URL of daphne process A
    b: str  # ... and of process B
    env: dict[str, str]
    fcm: FcmTestServer
    log_dir: Path

    @contextmanager
    def worker(self, name: str, *options: str) -> Iterator[subprocess.Popen[bytes]]:
        """``manage.py run_worker`` as its own process; stopped (SIGTERM) on exit."""
        log = (self.log_dir / f"worker-{name}.log").open("wb")
        process = subprocess.Popen(  # noqa: S603 - fixed argv
            [*MANAGE, "run_worker", "--idle-sleep", "0.05", *options],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=15)
            log.close()

    def outbox_states(self) -> Counter[str]:
        with psycopg.connect(self.env["DATABASE_URL"]) as db:
            rows = db.execute("SELECT state, count(*) FROM server_notification GROUP BY state")
            return Counter({state: count for state, count in rows})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    log_dir = tmp_path_factory.mktemp("cluster")
    with FcmTestServer() as fcm:
        env = service_environment(log_dir) | {"FIELDLINE_ENV": "test"}
        env |= fcm.environment(log_dir / "service-account.json", PROJECT)
        with fresh_database(env):
            prepare(env)
            # Settle what the demo data queued (its technicians have no devices yet), as the
            # worker `make run` starts would have.
            subprocess.run([*MANAGE, "run_worker", "--once"], cwd=ROOT, env=env, check=True)  # noqa: S603
            with (
                daphne(env, log_dir / "daphne-a.log") as a,
                daphne(env, log_dir / "daphne-b.log") as b,
            ):
                yield Cluster(a, b, env, fcm, log_dir)
            for name in ("a", "b"):
                log = (log_dir / f"daphne-{name}.log").read_text()
                assert "Traceback" not in log, log[-3000:]


def _job(base: str, token: str) -> str:
    """A new job at a site in the dispatcher's territories (creating one elsewhere is
    refused, and writes nothing)."""
    status, page = call(base, "GET", "/api/v1/sites/?page_size=100", token=token)
    assert status == 200, page
    for site in page["results"]:
        status, job = call(
            base,
            "POST",
            "/api/v1/work-orders/",
            {"site": site["id"], "kind": "repair"},
            token=token,
        )
        if status == 201:
            return str(job["id"])
        assert status == 403, job
    raise AssertionError("no site in the dispatcher's territories")


def _assign(base: str, token: str, job: str, technician: int, day: int = 1) -> None:
    start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    start += dt.timedelta(days=day)
    status, body = call(
        base,
        "POST",
        f"/api/v1/work-orders/{job}/assign/",
        {
            "technicians": [technician],
            "start": start.isoformat(),
            "end": (start + dt.timedelta(hours=1)).isoformat(),
            "override_reason": "cluster test",
        },
        token=token,
    )
    assert status == 200, body


def _device_socket(base: str, token: str, last_seq: int | None = None) -> Any:
    url = base.replace("http", "ws") + "/ws/device/"
    if last_seq is not None:
        url += f"?last_seq={last_seq}"
    return websockets.sync.client.connect(
        url, additional_headers={"Authorization": f"Bearer {token}"}
    )


def _next_notice(socket_: Any) -> dict[str, Any]:
    """The next numbered notice (pokes to pull are left out)."""
    while True:
        message: dict[str, Any] = json.loads(socket_.recv(timeout=WAIT_S))
        if message["type"] != "sync.poke":
            return message


def _pushes(fcm: FcmTestServer, token: str, count: int) -> list[Received]:
    deadline = time.monotonic() + WAIT_S
    while len(fcm.received_for(token)) < count:
        assert time.monotonic() < deadline, f"{len(fcm.received_for(token))} of {count} pushes"
        time.sleep(0.05)
    return fcm.received_for(token)


def test_an_assignment_on_process_a_reaches_the_technician_on_process_b_and_fcm(cluster):
    dispatcher = login(cluster.a, "dispatcher1", "cluster-console")["access"]
    handheld = login(cluster.b, "tech1", "cluster-tech1", fcm_token="tok-tech1")
    tech_id = handheld["user"]["id"]
    job = _job(cluster.a, dispatcher)

    with cluster.worker("assign"), _device_socket(cluster.b, handheld["access"]) as socket_:
        hello = json.loads(socket_.recv(timeout=WAIT_S))
        assert hello["type"] == "hello"
        _assign(cluster.a, dispatcher, job, tech_id)

        notice = _next_notice(socket_)
        assert notice["type"] == "notice"
        assert (notice["seq"], notice["kind"]) == (hello["seq"] + 1, "job.assigned")
        assert notice["payload"]["work_order"] == job
        assert notice["payload"]["title"] == "New job"

        [push] = _pushes(cluster.fcm, "tok-tech1", 1)
    assert push["notification"] == {"title": "New job", "body": notice["payload"]["body"]}
    assert push["data"] is not None
    assert push["data"]["kind"] == "job.assigned"
    assert push["data"]["work_order"] == job
    assert push["data"]["notification_id"].isdigit()
    assert push["android"] == {"priority": "high", "collapse_key": f"job-{job}"}
    assert push["headers"]["Authorization"].startswith("Bearer ")
    assert cluster.fcm.token_requests >= 1  # the service account fetched its token here


def test_an_offline_technician_is_pushed_and_finds_the_job_at_the_next_pull(cluster):
    dispatcher = login(cluster.a, "dispatcher1", "cluster-console")["access"]
    handheld = login(cluster.b, "tech2", "cluster-tech2", fcm_token="tok-tech2")
    status, first = call(cluster.b, "GET", "/api/v1/sync/pull/", token=handheld["access"])
    assert status == 200, first
    job = _job(cluster.a, dispatcher)

    with cluster.worker("offline"):
        _assign(cluster.a, dispatcher, job, handheld["user"]["id"])
        [push] = _pushes(cluster.fcm, "tok-tech2", 1)
    assert push["data"] is not None
    assert push["data"]["work_order"] == job

    status, changes = call(
        cluster.a,
        "GET",
        f"/api/v1/sync/pull/?last_pulled_at={first['timestamp']}",
        token=handheld["access"],
    )
    assert status == 200, changes
    work_orders = changes["changes"]["work_orders"]
    assert [row["id"] for row in work_orders["created"] + work_orders["updated"]] == [job]


def test_a_device_reconnecting_to_the_other_process_gets_exactly_what_it_missed(cluster):
    dispatcher = login(cluster.a, "dispatcher1", "cluster-console")["access"]
    handheld = login(cluster.b, "tech3", "cluster-tech3")
    tech_id = handheld["user"]["id"]
    jobs = [_job(cluster.a, dispatcher) for _ in range(3)]

    with _device_socket(cluster.b, handheld["access"]) as socket_:
        seen = json.loads(socket_.recv(timeout=WAIT_S))["seq"]
        _assign(cluster.a, dispatcher, jobs[0], tech_id)
        seen = _next_notice(socket_)["seq"]
    for job in jobs[1:]:  # while the device is away
        _assign(cluster.b, dispatcher, job, tech_id)

    with _device_socket(cluster.a, handheld["access"], last_seq=seen) as socket_:
        messages = [json.loads(socket_.recv(timeout=WAIT_S)) for _ in range(4)]
    assert [m["type"] for m in messages] == ["hello", "notice", "notice", "sync.poke"]
    assert [m["seq"] for m in messages[1:3]] == [seen + 1, seen + 2]
    assert [m["payload"]["work_order"] for m in messages[1:3]] == jobs[1:]
    assert "reason" not in messages[3]


def test_a_device_revoked_on_one_process_is_closed_on_the_other_and_pushed_no_more(cluster):
    dispatcher = login(cluster.a, "dispatcher1", "cluster-console")["access"]
    console = login(cluster.a, "servicemanager", "cluster-manager")["access"]
    handheld = login(cluster.b, "tech7", "cluster-tech7", fcm_token="tok-tech7")
    job = _job(cluster.a, dispatcher)

    with _device_socket(cluster.b, handheld["access"]) as socket_:
        assert json.loads(socket_.recv(timeout=WAIT_S))["type"] == "hello"
        status, _ = call(
            cluster.a,
            "POST",
            f"/api/v1/devices/{handheld['device']['id']}/revoke/",
            {"reason": "stolen"},
            token=console,
        )
        assert status == 200
        assert _next_notice(socket_)["type"] == "device.revoked"
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            _next_notice(socket_)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401

    with cluster.worker("revoked"):
        _assign(cluster.a, dispatcher, job, handheld["user"]["id"])
        deadline = time.monotonic() + WAIT_S
        while cluster.outbox_states()["pending"]:
            assert time.monotonic() < deadline, "the worker did not handle the row"
            time.sleep(0.05)
    assert cluster.fcm.received_for("tok-tech7") == []
    with psycopg.connect(cluster.env["DATABASE_URL"]) as db:
        [(error,)] = db.execute(
            "SELECT last_error FROM server_notification"
            " WHERE user_id = %s AND data->>'work_order' = %s",
            [handheld["user"]["id"], job],
        )
    assert error.startswith("no_push_token")


def _queue_assignments(cluster: Cluster, count: int, technicians: list[str]) -> set[str]:
    """``count`` assignments alternating between ``technicians`` (usernames, each with a
    device holding the push token ``tok-<username>``); returns the jobs' ids."""
    dispatcher = login(cluster.a, "dispatcher1", "cluster-console")["access"]
    ids = [
        login(cluster.b, name, f"cluster-{name}", fcm_token=f"tok-{name}")["user"]["id"]
        for name in technicians
    ]
    jobs = set()
    for n in range(count):
        job = _job(cluster.a, dispatcher)
        _assign(cluster.a, dispatcher, job, ids[n % len(ids)])
        jobs.add(job)
    return jobs


def test_a_worker_killed_mid_batch_loses_nothing(cluster):
    jobs = _queue_assignments(cluster, 12, ["tech4"])
    before = len(cluster.fcm.received)
    cluster.fcm.delay = 0.3  # a slow FCM: the kill lands while sends are in flight
    try:
        # Four messages at a time: the kill comes during the second four.
        with cluster.worker("doomed", "--lease", "2", "--threads", "4") as doomed:
            _pushes(cluster.fcm, "tok-tech4", 5)
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=5)
        received_at_kill = cluster.fcm.received_for("tok-tech4")
        assert len(received_at_kill) < len(jobs), "the worker finished before it was killed"
        assert cluster.outbox_states()["pending"] > 0

        cluster.fcm.delay = 0.0
        with cluster.worker("successor", "--lease", "2"):
            # The killed worker's unsent rows come back when its 2 s lease ends.
            deadline = time.monotonic() + WAIT_S
            while {r["data"]["work_order"] for r in cluster.fcm.received_for("tok-tech4")} != jobs:
                assert time.monotonic() < deadline, "notifications were lost"
                time.sleep(0.1)
    finally:
        cluster.fcm.delay = 0.0
    assert len(cluster.fcm.received) - before >= len(jobs)
    sends = Counter(r["data"]["notification_id"] for r in cluster.fcm.received_for("tok-tech4"))
    assert len(sends) == len(jobs)
    # Only messages in flight at the kill (sent, not yet marked: at most the four of one
    # chunk) may go twice.
    twice = {n for n, count in sends.items() if count > 1}
    assert len(twice) <= 4
    assert twice <= {r["data"]["notification_id"] for r in received_at_kill if r["data"]}
    assert cluster.outbox_states()["pending"] == 0


def test_two_workers_share_the_outbox_without_sending_a_row_twice(cluster):
    jobs = _queue_assignments(cluster, 30, ["tech5", "tech6"])
    tokens = ("tok-tech5", "tok-tech6")
    cluster.fcm.delay = 0.02
    try:
        with (
            cluster.worker("first", "--batch", "3"),
            cluster.worker("second", "--batch", "3"),
        ):
            deadline = time.monotonic() + WAIT_S
            while sum(len(cluster.fcm.received_for(t)) for t in tokens) < len(jobs):
                assert time.monotonic() < deadline, "the workers did not send everything"
                time.sleep(0.1)
            time.sleep(0.5)  # room for a duplicate to show
    finally:
        cluster.fcm.delay = 0.0
    received = [r for t in tokens for r in cluster.fcm.received_for(t)]
    sends = Counter(r["data"]["notification_id"] for r in received)
    assert len(sends) == len(jobs)
    assert max(sends.values()) == 1
    assert {r["data"]["work_order"] for r in received} == jobs
    for name in ("first", "second"):  # both took part
        assert "sent " in (cluster.log_dir / f"worker-{name}.log").read_text(), name


def test_the_worker_process_reads_its_push_settings_from_the_environment(cluster):
    """Guard for the tests above: the worker really used pyfcm, not the recording backend."""
    with psycopg.connect(cluster.env["DATABASE_URL"]) as db:
        [(recorded,)] = db.execute("SELECT count(*) FROM mobile_api_recordedpush")
    assert recorded == 0
