"""Where flushed records rest: the store port, shared by the S3 and local-folder stores."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import Protocol

from shared.errors import PermanentError, RetryableError, truncate
from shared.settings import FlywheelSettings

__all__ = [
    "RecordStore",
    "StoreRefusedError",
    "StoreUnavailableError",
    "build_store",
    "day_in_range",
    "non_empty",
]


class StoreUnavailableError(RetryableError):
    """The store did not take the records now (timeout, 5xx, throttling); they stay unflushed."""

    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        self.status = status
        super().__init__(f"{message}: {truncate(body)}" if body else message)


class StoreRefusedError(PermanentError):
    """The store refuses the records for good (no bucket, access denied); settings must change."""

    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        self.status = status
        super().__init__(f"{message}: {truncate(body)}" if body else message)


class RecordStore(Protocol):
    """Durable storage of JSONL records, by workload and day."""

    def write(self, workload_id: str, day: date, lines: Sequence[str]) -> str:
        """Store lines durably (returns only once they are safe); returns where they went."""
        ...

    def locations(
        self, workload_id: str, since: date | None = None, until: date | None = None
    ) -> list[str]:
        """Every object or file of a workload whose day is within [since, until]."""
        ...

    def read_lines(self, location: str) -> Iterator[str]:
        """The JSONL lines at one location."""
        ...


def day_in_range(day: date, since: date | None, until: date | None) -> bool:
    """Whether day lies within the inclusive bounds (None is unbounded)."""
    return (since is None or day >= since) and (until is None or day <= until)


def build_store(settings: FlywheelSettings) -> RecordStore:
    """The store the settings name (S3 or the local folder)."""
    if settings.sink == "s3":
        # Imported here: boto3 loads only where the S3 sink is used.
        from shared.flywheel.s3 import S3Store, build_s3_client

        return S3Store(build_s3_client(settings), settings.s3_bucket, settings.s3_prefix)
    from shared.flywheel.local import LocalStore

    return LocalStore(settings.local_dir)


def non_empty(lines: Iterable[str]) -> Iterator[str]:
    """Lines with content (a JSONL file may end in a newline or hold a blank line)."""
    for line in lines:
        if line.strip():
            yield line
