"""The local-folder store: ``<folder>/<workload_id>_<YYYY-MM-DD>.jsonl``, the seed's file names.

A write appends under an exclusive lock, flushes and fsyncs before it returns, so a flusher
acknowledges records only once they are on disk. A flusher killed mid-append can leave a torn
last line; the next append starts on a fresh line, so only that line is unreadable, and its
records are written again because they were never acknowledged.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

from shared.flywheel.store import day_in_range, non_empty

__all__ = ["LocalStore"]

_FILE = re.compile(r"^(?P<workload>.+)_(?P<day>\d{4}-\d{2}-\d{2})\.jsonl$")


class LocalStore:
    """JSONL files in one folder, one per workload and day."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, workload_id: str, day: date) -> Path:
        """The file of a workload's day."""
        return self.folder / f"{workload_id}_{day.isoformat()}.jsonl"

    def write(self, workload_id: str, day: date, lines: Sequence[str]) -> str:
        """Append lines, then flush and fsync; returns the file's path."""
        path = self.path(workload_id, day)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        return str(path)

    def locations(
        self, workload_id: str, since: date | None = None, until: date | None = None
    ) -> list[str]:
        """The workload's files whose day is within [since, until], oldest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.iterdir():
            match = _FILE.match(path.name)
            if match is None or match.group("workload") != workload_id:
                continue
            if day_in_range(date.fromisoformat(match.group("day")), since, until):
                found.append(str(path))
        return sorted(found)

    def read_lines(self, location: str) -> Iterator[str]:
        """The lines of one file."""
        with Path(location).open(encoding="utf-8", errors="replace") as handle:
            yield from non_empty(line.rstrip("\n") for line in handle)
