"""The org's SQLite database: one table per sobject (`<Name>__all`), a live-rows view (`<Name>`).

`/query` runs the planner's SQL on the main connection, where `Lead` is the view without deleted
rows. `/queryAll` runs the same SQL on a second connection whose TEMP views named `Lead` shadow
the main views and show every row, so the planner never needs to know about `IsDeleted`.
Table and column names in the SQL come only from the field catalogue, never from a request, and
values always travel as parameters (hence the S608 suppressions).
All access goes through one re-entrant lock: writes are serialised, and reads are fast enough
that sharing the lock keeps thousands of requests a minute well within reach.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from simulator.fieldvalues import sql_type
from simulator.schema import CATALOGUE, SObjectSpec


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_name(sobject: str) -> str:
    """The table holding every row (live and deleted) of an sobject."""
    return f"{sobject}__all"


CHANGELOG_DDL = """
CREATE TABLE IF NOT EXISTS _changelog (
    position INTEGER PRIMARY KEY,
    entity TEXT NOT NULL,
    record_ids TEXT NOT NULL,
    change_type TEXT NOT NULL,
    changed_fields TEXT NOT NULL,
    nulled_fields TEXT NOT NULL,
    field_values TEXT NOT NULL,
    origin TEXT NOT NULL,
    commit_user TEXT NOT NULL,
    commit_timestamp INTEGER NOT NULL,
    commit_number INTEGER NOT NULL,
    transaction_key TEXT NOT NULL,
    sequence_number INTEGER NOT NULL
)
"""


class Store:
    """The SQLite file of one simulated org."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        self._conn = self._connect()
        self._all_conn = self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    def close(self) -> None:
        """Close both connections."""
        with self.lock:
            self._conn.close()
            self._all_conn.close()

    def recreate(self) -> None:
        """Drop and create every table and view, leaving an empty org."""
        with self.lock:
            for spec in CATALOGUE.values():
                self._all_conn.execute(f"DROP VIEW IF EXISTS temp.{_q(spec.name)}")
            for spec in CATALOGUE.values():
                self._conn.execute(f"DROP VIEW IF EXISTS {_q(spec.name)}")
                self._conn.execute(f"DROP TABLE IF EXISTS {_q(table_name(spec.name))}")
                self._create(spec)
            self._conn.execute("DROP TABLE IF EXISTS _changelog")
            self._conn.execute(CHANGELOG_DDL)
            for spec in CATALOGUE.values():
                self._all_conn.execute(
                    f"CREATE TEMP VIEW {_q(spec.name)} AS "  # noqa: S608
                    f"SELECT * FROM main.{_q(table_name(spec.name))}"
                )

    def _create(self, spec: SObjectSpec) -> None:
        columns = ", ".join(
            f"{_q(f.name)} {sql_type(f)}" + (" PRIMARY KEY" if f.name == "Id" else "")
            for f in spec.stored_fields
        )
        table = _q(table_name(spec.name))
        self._conn.execute(f"CREATE TABLE {table} ({columns})")
        self._conn.execute(
            f"CREATE VIEW {_q(spec.name)} AS SELECT * FROM {table} WHERE IsDeleted = 0"  # noqa: S608
        )
        for column in ("OwnerId", "WhoId", "RelatedToId", "Email", "Website", "Username"):
            if spec.field(column):
                self._conn.execute(
                    f"CREATE INDEX {_q(f'ix_{spec.name}_{column}')} ON {table} ({_q(column)})"
                )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and a write transaction; commit on success, roll back on error."""
        with self.lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def savepoint(self, name: str) -> Iterator[None]:
        """A nested scope that rolls back alone when its body raises."""
        with self.lock:
            self._conn.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                self._conn.execute(f"ROLLBACK TO {name}")
                self._conn.execute(f"RELEASE {name}")
                raise
            self._conn.execute(f"RELEASE {name}")

    def fetch(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        """A stored row (deleted or not) by id, keyed by field name."""
        with self.lock:
            sql = f"SELECT * FROM {_q(table_name(sobject))} WHERE Id = ?"  # noqa: S608
            cursor = self._conn.execute(sql, (record_id,))
            row = cursor.fetchone()
            if row is None:
                return None
            return dict(zip([d[0] for d in cursor.description], row, strict=True))

    def fetch_many(self, sobject: str, where: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        """Live rows matching a trusted WHERE clause (the simulator's own, never a client's)."""
        with self.lock:
            cursor = self._conn.execute(f"SELECT * FROM {_q(sobject)} WHERE {where}", params)  # noqa: S608
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def insert(self, sobject: str, row: dict[str, Any]) -> None:
        """Insert one row."""
        names = list(row)
        sql = (
            f"INSERT INTO {_q(table_name(sobject))} ({', '.join(_q(n) for n in names)}) "  # noqa: S608
            f"VALUES ({', '.join('?' for _ in names)})"
        )
        with self.lock:
            self._conn.execute(sql, [row[n] for n in names])

    def insert_many(self, sobject: str, rows: list[dict[str, Any]]) -> None:
        """Insert rows that all have the same keys (seeding)."""
        if not rows:
            return
        names = list(rows[0])
        sql = (
            f"INSERT INTO {_q(table_name(sobject))} ({', '.join(_q(n) for n in names)}) "  # noqa: S608
            f"VALUES ({', '.join('?' for _ in names)})"
        )
        with self.lock:
            self._conn.executemany(sql, [[r.get(n) for n in names] for r in rows])

    def update(self, sobject: str, record_id: str, values: dict[str, Any]) -> None:
        """Set some columns of one row."""
        if not values:
            return
        assignments = ", ".join(f"{_q(n)} = ?" for n in values)
        with self.lock:
            self._conn.execute(
                f"UPDATE {_q(table_name(sobject))} SET {assignments} WHERE Id = ?",  # noqa: S608
                [*values.values(), record_id],
            )

    def select(
        self, sql: str, params: Sequence[Any], *, include_deleted: bool = False
    ) -> list[tuple[Any, ...]]:
        """Run a planned SOQL statement; with include_deleted the sobject names show every row."""
        with self.lock:
            conn = self._all_conn if include_deleted else self._conn
            return conn.execute(sql, tuple(params)).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run the simulator's own SQL on the main connection."""
        with self.lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    def counts(self) -> dict[str, dict[str, int]]:
        """Live and deleted row counts per sobject."""
        result: dict[str, dict[str, int]] = {}
        with self.lock:
            for name in CATALOGUE:
                live, deleted = self._conn.execute(
                    f"SELECT COALESCE(SUM(IsDeleted = 0), 0), COALESCE(SUM(IsDeleted = 1), 0) "  # noqa: S608
                    f"FROM {_q(table_name(name))}"
                ).fetchone()
                result[name] = {"live": live, "deleted": deleted}
        return result
