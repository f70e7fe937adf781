"""A reference sync client: WatermelonDB's sync protocol in plain Python, over any transport.

It keeps a local database the way WatermelonDB does (each record with ``_status`` and
``_changed``) and follows the same rules, so tests and the load harness can drive many
devices without a JavaScript runtime:

* ``sync()`` pulls until ``has_more`` is false, then pushes local changes with the cursor of
  the last completed pull; the cursor moves only after a complete page.
* Pulled records replace local ones, except columns changed locally and not yet pushed, which
  keep their local value (WatermelonDB's default conflict resolution); records deleted locally
  stay deleted; pulled deletions remove records even with local changes.
* ``experimentalStrategy: "replacement"`` drops local synced records the page does not carry.
* After a push, records are marked synced unless rejected (``experimentalRejectedIds``), so a
  rejected record is pushed again at the next sync.
"""

from __future__ import annotations

import json
import secrets
import string
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

PULL_PATH = "/api/v1/sync/pull/"
PUSH_PATH = "/api/v1/sync/push/"
_ID_ALPHABET = string.digits + string.ascii_lowercase


class Transport(Protocol):
    def __call__(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str],
        body: Any | None,
        headers: Mapping[str, str],
    ) -> tuple[int, Any]: ...


class SyncError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"sync request failed with {status}: {body!r}")
        self.status = status
        self.body = body


class LostAcknowledgement(Exception):
    """The server got the push but its answer never reached the device (simulated)."""

    def __init__(self, pushed: dict[str, dict[str, list[Any]]]) -> None:
        super().__init__("the push's answer was lost")
        self.pushed = pushed


class HttpTransport:
    """JSON over HTTP with a device's access token (standard library only)."""

    def __init__(self, base_url: str, access_token: str, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.access_token = access_token
        self.timeout = timeout

    def __call__(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str],
        body: Any | None,
        headers: Mapping[str, str],
    ) -> tuple[int, Any]:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the caller's own server
            f"{self.base_url}{path}{query}",
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.access_token}",
                "Content-Type": "application/json",
                **headers,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


@dataclass
class PushOutcome:
    rejected: dict[str, list[str]] = field(default_factory=dict)
    rejections: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Columns of pushed records the server kept its own value for.
    overruled: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    pushed: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    # The answer is that of an earlier push whose answer was lost (same key, same changes).
    replayed: bool = False


class SyncClient:
    """One device's local database and its sync."""

    def __init__(self, transport: Transport, *, schema_version: int = 1) -> None:
        self.transport = transport
        self.schema_version = schema_version
        self.tables: dict[str, dict[str, dict[str, Any]]] = {}
        self.last_pulled_at: int | None = None
        self.pulls = 0
        # Whether the last pull was a replacement sync (the server could not send a delta).
        self.replaced = False
        # A push whose answer was lost is sent again with the same key, if its changes are
        # still the same (otherwise it is a new push).
        self._pending: tuple[str, dict[str, dict[str, list[Any]]]] | None = None

    # ---- local writes, as an app makes them --------------------------------------------------

    def create(self, table: str, values: Mapping[str, Any], *, record_id: str | None = None) -> str:
        new_id = record_id or "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))
        record = {**values, "id": new_id, "_status": "created", "_changed": ""}
        self.tables.setdefault(table, {})[new_id] = record
        return new_id

    def update(self, table: str, record_id: str, values: Mapping[str, Any]) -> None:
        record = self.tables[table][record_id]
        if record["_status"] == "deleted":
            raise KeyError(f"{table}/{record_id} is deleted")
        record.update(values)
        if record["_status"] == "synced":
            record["_status"] = "updated"
        changed = set(filter(None, record["_changed"].split(","))) | set(values)
        record["_changed"] = ",".join(sorted(changed))

    def delete(self, table: str, record_id: str) -> None:
        record = self.tables[table][record_id]
        if record["_status"] == "created":
            del self.tables[table][record_id]
        else:
            record["_status"] = "deleted"

    def get(self, table: str, record_id: str) -> dict[str, Any] | None:
        record = self.tables.get(table, {}).get(record_id)
        if record is None or record["_status"] == "deleted":
            return None
        return {k: v for k, v in record.items() if not k.startswith("_")}

    def records(self, table: str) -> dict[str, dict[str, Any]]:
        """The live records of ``table`` without local bookkeeping columns."""
        out: dict[str, dict[str, Any]] = {}
        for record_id in self.tables.get(table, {}):
            record = self.get(table, record_id)
            if record is not None:
                out[record_id] = record
        return out

    def has_local_changes(self) -> bool:
        return any(
            record["_status"] != "synced"
            for records in self.tables.values()
            for record in records.values()
        )

    # ---- sync ---------------------------------------------------------------------------

    def sync(self, *, lose_push_answer: bool = False) -> PushOutcome:
        self.pull()
        return self.push(lose_answer=lose_push_answer)

    def pull(self) -> None:
        cursor = self.last_pulled_at
        self.replaced = False
        while True:
            params = {"schema_version": str(self.schema_version)}
            if cursor is not None:
                params["last_pulled_at"] = str(cursor)
            status, body = self.transport("GET", PULL_PATH, params=params, body=None, headers={})
            if status != 200:
                raise SyncError(status, body)
            self._apply(body)
            self.replaced = self.replaced or body.get("experimentalStrategy") == "replacement"
            self.pulls += 1
            cursor = int(body["timestamp"])
            if not body.get("has_more"):
                break
        self.last_pulled_at = cursor

    def push(self, *, lose_answer: bool = False) -> PushOutcome:
        changes = self._local_changes()
        if not any(any(bucket.values()) for bucket in changes.values()):
            return PushOutcome()
        replay = self._pending is not None and self._pending[1] == changes
        key = self._pending[0] if replay and self._pending else secrets.token_hex(16)
        self._pending = (key, changes)
        status, body = self.transport(
            "POST",
            PUSH_PATH,
            params={},
            body={"changes": changes, "lastPulledAt": self.last_pulled_at},
            headers={"Idempotency-Key": key},
        )
        if status != 200:
            self._pending = None
            raise SyncError(status, body)
        if lose_answer:
            raise LostAcknowledgement(changes)
        self._pending = None
        rejected: dict[str, list[str]] = body.get("experimentalRejectedIds") or {}
        self._mark_synced(changes, rejected)
        return PushOutcome(
            rejected,
            body.get("rejections") or {},
            body.get("overruled") or {},
            changes,
            replayed=replay,
        )

    # ---- applying pulls and pushes ----------------------------------------------------------

    def _apply(self, body: Mapping[str, Any]) -> None:
        replacement = body.get("experimentalStrategy") == "replacement"
        for table, bucket in body["changes"].items():
            local = self.tables.setdefault(table, {})
            incoming_ids = set()
            for remote in (*bucket.get("created", []), *bucket.get("updated", [])):
                incoming_ids.add(remote["id"])
                self._apply_record(local, remote)
            for record_id in bucket.get("deleted", []):
                local.pop(record_id, None)
            if replacement:
                for record_id in list(local):
                    if record_id not in incoming_ids and local[record_id]["_status"] == "synced":
                        del local[record_id]

    @staticmethod
    def _apply_record(local: dict[str, dict[str, Any]], remote: Mapping[str, Any]) -> None:
        mine = local.get(remote["id"])
        if mine is None or mine["_status"] == "synced":
            local[remote["id"]] = {**remote, "_status": "synced", "_changed": ""}
            return
        if mine["_status"] == "deleted":
            return  # the local deletion is pushed next
        changed = set(filter(None, mine["_changed"].split(",")))
        merged = {**remote, **{k: mine[k] for k in changed if k in mine}}
        local[remote["id"]] = {**merged, "_status": "updated", "_changed": mine["_changed"]}

    def _local_changes(self) -> dict[str, dict[str, list[Any]]]:
        changes: dict[str, dict[str, list[Any]]] = {}
        for table, records in self.tables.items():
            bucket: dict[str, list[Any]] = {"created": [], "updated": [], "deleted": []}
            for record_id, record in records.items():
                status = record["_status"]
                if status == "created":
                    bucket["created"].append(dict(record))
                elif status == "updated":
                    bucket["updated"].append(dict(record))
                elif status == "deleted":
                    bucket["deleted"].append(record_id)
            if any(bucket.values()):
                changes[table] = bucket
        return changes

    def _mark_synced(
        self, pushed: Mapping[str, Mapping[str, list[Any]]], rejected: Mapping[str, list[str]]
    ) -> None:
        for table, bucket in pushed.items():
            keep = set(rejected.get(table, []))
            local = self.tables.get(table, {})
            for kind in ("created", "updated"):
                for sent in bucket[kind]:
                    record = local.get(sent["id"])
                    # Changed again since it was sent: it stays a local change.
                    if record is None or sent["id"] in keep or record != sent:
                        continue
                    record["_status"], record["_changed"] = "synced", ""
            for record_id in bucket["deleted"]:
                if record_id not in keep:
                    local.pop(record_id, None)
