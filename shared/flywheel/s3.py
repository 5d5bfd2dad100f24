"""The S3 store: gzip JSONL objects, one per workload, day and flush.

Keys are ``<prefix>/<workload_id>/dt=YYYY-MM-DD/part-<utc time>-<uuid>.jsonl.gz``.

Every flush writes new objects and never rewrites one, so a flusher that dies mid-upload leaves
either no object or a complete one (S3 PUT is atomic); the records of an upload that was not
acknowledged are uploaded again in a new object, and readers drop the copies by record_id.
Works with any S3 API (AWS, MinIO, moto's server) through boto3 with timeouts from settings.
"""

from __future__ import annotations

import gzip
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.errors import LeadfleetError
from shared.flywheel.store import (
    StoreRefusedError,
    StoreUnavailableError,
    day_in_range,
    non_empty,
)
from shared.settings import FlywheelSettings

__all__ = ["S3Store", "build_s3_client", "object_key", "store_error"]

_DAY = re.compile(r"/dt=(\d{4}-\d{2}-\d{2})/")
# S3 error codes that retrying will not fix.
_PERMANENT_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "InvalidBucketName",
        "NoSuchBucket",
        "SignatureDoesNotMatch",
        "AuthorizationHeaderMalformed",
    }
)


def build_s3_client(settings: FlywheelSettings) -> Any:
    """A boto3 S3 client for the settings' endpoint, region, credentials and timeouts."""
    config = Config(
        connect_timeout=settings.s3_timeout_seconds,
        read_timeout=settings.s3_timeout_seconds,
        retries={"max_attempts": settings.s3_max_attempts, "mode": "standard"},
        # Path-style addressing works with every S3 server; virtual hosts need DNS per bucket.
        s3={"addressing_style": "path"} if settings.s3_endpoint_url else {},
    )
    key_id = settings.s3_access_key_id.get_secret_value()
    secret = settings.s3_secret_access_key.get_secret_value()
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=key_id or None,
        aws_secret_access_key=secret or None,
        config=config,
    )


def store_error(exc: Exception, action: str) -> LeadfleetError:
    """The one mapping of boto3 failures to the error tree."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = f"S3 {action}: {code or 'error'} (HTTP {status})"
        body = str(error.get("Message", ""))
        if code in _PERMANENT_CODES or (
            isinstance(status, int) and 400 <= status < 500 and status not in (408, 429)
        ):
            return StoreRefusedError(message, status=status, body=body)
        return StoreUnavailableError(message, status=status, body=body)
    return StoreUnavailableError(f"S3 {action}: {type(exc).__name__}", body=str(exc))


def object_key(prefix: str, workload_id: str, day: date, now: datetime) -> str:
    """A new object's key: the workload, the records' day, the flush time and a unique suffix."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    return f"{base}{workload_id}/dt={day.isoformat()}/part-{stamp}-{uuid.uuid4().hex}.jsonl.gz"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class S3Store:
    """Gzip JSONL objects in one bucket under one prefix."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self._clock = clock

    def write(self, workload_id: str, day: date, lines: Sequence[str]) -> str:
        """Upload lines as one new gzip object; returns its key once S3 has stored it."""
        key = object_key(self.prefix, workload_id, day, self._clock())
        body = gzip.compress("".join(line + "\n" for line in lines).encode("utf-8"))
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/gzip",
                Metadata={"records": str(len(lines))},
            )
        except (BotoCoreError, ClientError) as exc:
            raise store_error(exc, f"PutObject {key}") from exc
        return key

    def _workload_prefix(self, workload_id: str) -> str:
        base = f"{self.prefix.strip('/')}/" if self.prefix.strip("/") else ""
        return f"{base}{workload_id}/dt="

    def locations(
        self, workload_id: str, since: date | None = None, until: date | None = None
    ) -> list[str]:
        """Keys of the workload's objects whose dt= day is within [since, until], in key order."""
        prefix = self._workload_prefix(workload_id)
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if since is not None:
            # Keys sort by day, so listing can start at the first day wanted.
            params["StartAfter"] = f"{prefix}{since.isoformat()}"
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(**params):
                for item in page.get("Contents", []):
                    key = str(item["Key"])
                    match = _DAY.search(key)
                    if match is None or not key.endswith(".jsonl.gz"):
                        continue
                    day = date.fromisoformat(match.group(1))
                    if until is not None and day > until:
                        return keys
                    if day_in_range(day, since, until):
                        keys.append(key)
        except (BotoCoreError, ClientError) as exc:
            raise store_error(exc, f"ListObjectsV2 {prefix}") from exc
        return keys

    def read_lines(self, location: str) -> Iterator[str]:
        """The lines of one object, decompressed."""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=location)["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise store_error(exc, f"GetObject {location}") from exc
        yield from non_empty(gzip.decompress(body).decode("utf-8").splitlines())
