"""The change log: every committed change, in commit order, for Change Data Capture to stream.

Entries live in the org database (table `_changelog`) and are written inside the same SQLite
transaction as the data they describe, so a rolled-back request leaves no trace. Positions keep
increasing across resets and clears, so a reader's position never points at a different change.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any

from simulator.store import Store

CHANGE_TYPES = ("CREATE", "UPDATE", "DELETE", "UNDELETE")


@dataclass
class PendingChange:
    """A change made inside a transaction, not yet committed."""

    entity: str
    record_id: str
    change_type: str
    values: dict[str, Any] = field(default_factory=dict)
    changed_fields: list[str] = field(default_factory=list)
    nulled_fields: list[str] = field(default_factory=list)

    def merge_key(self) -> str:
        """Changes with equal keys in one transaction are one change to several records."""
        return json.dumps(
            [self.entity, self.change_type, self.values, self.changed_fields, self.nulled_fields],
            sort_keys=True,
            default=str,
        )


@dataclass(frozen=True)
class ChangeEntry:
    """One committed change: what the CDC header and body are built from."""

    position: int
    entity: str
    record_ids: tuple[str, ...]
    change_type: str
    changed_fields: tuple[str, ...]
    nulled_fields: tuple[str, ...]
    values: dict[str, Any]
    origin: str
    commit_user: str
    commit_timestamp: int
    commit_number: int
    transaction_key: str
    sequence_number: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (admin API)."""
        return {
            "position": self.position,
            "entity": self.entity,
            "recordIds": list(self.record_ids),
            "changeType": self.change_type,
            "changedFields": list(self.changed_fields),
            "nulledFields": list(self.nulled_fields),
            "values": self.values,
            "changeOrigin": self.origin,
            "commitUser": self.commit_user,
            "commitTimestamp": self.commit_timestamp,
            "commitNumber": self.commit_number,
            "transactionKey": self.transaction_key,
            "sequenceNumber": self.sequence_number,
        }


def merge_changes(changes: list[PendingChange]) -> list[tuple[PendingChange, list[str]]]:
    """Fold identical changes to several records into one, keeping first-occurrence order."""
    merged: dict[str, tuple[PendingChange, list[str]]] = {}
    for change in changes:
        key = change.merge_key()
        if key in merged:
            if change.record_id not in merged[key][1]:
                merged[key][1].append(change.record_id)
        else:
            merged[key] = (change, [change.record_id])
    return list(merged.values())


class ChangeLog:
    """Append inside a transaction, publish after commit, read from a position, wait for more."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._position = 0
        self._commit_number = 0
        self._condition = threading.Condition()

    @property
    def latest_position(self) -> int:
        """The position of the newest committed entry (0 when none was ever written)."""
        with self._condition:
            return self._position

    def append(
        self,
        conn: sqlite3.Connection,
        changes: list[PendingChange],
        *,
        origin: str,
        commit_user: str,
        commit_timestamp: int,
        transaction_key: str,
    ) -> int:
        """Write a transaction's changes (merged) in the open transaction; returns the last position.

        The caller holds the store lock, so positions follow commit order; `publish` wakes readers
        once the transaction is committed.
        """
        merged = merge_changes(changes)
        if not merged:
            return self._position
        self._commit_number += 1
        position = self._position
        rows = []
        for sequence, (change, record_ids) in enumerate(merged, start=1):
            position += 1
            rows.append(
                (
                    position,
                    change.entity,
                    json.dumps(record_ids),
                    change.change_type,
                    json.dumps(change.changed_fields),
                    json.dumps(change.nulled_fields),
                    json.dumps(change.values),
                    origin,
                    commit_user,
                    commit_timestamp,
                    self._commit_number,
                    transaction_key,
                    sequence,
                )
            )
        conn.executemany(
            "INSERT INTO _changelog VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
        )
        return position

    def publish(self, position: int) -> None:
        """Make entries up to a committed position visible and wake waiting readers."""
        with self._condition:
            if position > self._position:
                self._position = position
                self._condition.notify_all()

    def read(self, since: int = 0, limit: int | None = None) -> list[ChangeEntry]:
        """Committed entries with a position greater than `since`, oldest first."""
        with self._condition:
            upto = self._position
        sql = "SELECT * FROM _changelog WHERE position > ? AND position <= ? ORDER BY position"
        params: list[Any] = [since, upto]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_entry(row) for row in self._store.execute(sql, params)]

    def wait(self, since: int, timeout: float | None = None) -> bool:
        """Block until an entry after `since` is committed; False when the timeout passes first."""
        with self._condition:
            return self._condition.wait_for(lambda: self._position > since, timeout)

    def clear(self) -> None:
        """Forget every entry; positions keep counting from where they were."""
        self._store.execute("DELETE FROM _changelog")


def _entry(row: tuple[Any, ...]) -> ChangeEntry:
    return ChangeEntry(
        position=row[0],
        entity=row[1],
        record_ids=tuple(json.loads(row[2])),
        change_type=row[3],
        changed_fields=tuple(json.loads(row[4])),
        nulled_fields=tuple(json.loads(row[5])),
        values=json.loads(row[6]),
        origin=row[7],
        commit_user=row[8],
        commit_timestamp=row[9],
        commit_number=row[10],
        transaction_key=row[11],
        sequence_number=row[12],
    )
