"""Redis databases claimed per test, so suites that use fixed key names (Celery queues, redbeat)
never share one, even when two test runs use the same server at once.

A claim is a key in db 0 (`leadfleet:test:redis-db-claim:<db>`) set with NX and an expiry; the
claimed database is emptied before and after use.
"""

from __future__ import annotations

import atexit
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import pytest
import redis

REDIS_HOST = "127.0.0.1"
PER_TEST_DATABASES = range(15, 11, -1)
PER_PROCESS_DATABASES = range(11, 0, -1)
CLAIM_SECONDS = 900


def claim_key(db: int) -> str:
    """The db-0 key that says a database is taken."""
    return f"leadfleet:test:redis-db-claim:{db}"


def _try_claim(registry: redis.Redis, databases: Iterable[int], seconds: int) -> int:
    for db in databases:
        if registry.set(claim_key(db), os.getpid(), nx=True, ex=seconds):
            return db
    return 0


@contextmanager
def claimed_redis_db(
    databases: Iterable[int] = PER_TEST_DATABASES, *, wait_seconds: float = 180
) -> Iterator[int]:
    """A database nobody else uses meanwhile, emptied around the block."""
    candidates = list(databases)
    registry = redis.Redis(host=REDIS_HOST, db=0)
    deadline = time.monotonic() + wait_seconds
    while not (db := _try_claim(registry, candidates, CLAIM_SECONDS)):
        if time.monotonic() > deadline:
            pytest.fail(f"no free Redis database to claim among {candidates}")
        time.sleep(0.5)
    client = redis.Redis(host=REDIS_HOST, db=db)
    client.flushdb()
    try:
        yield db
    finally:
        client.flushdb()
        client.close()
        registry.delete(claim_key(db))
        registry.close()


@contextmanager
def claimed_redis_url(databases: Iterable[int] = PER_TEST_DATABASES) -> Iterator[str]:
    """The URL of a claimed database (see claimed_redis_db)."""
    with claimed_redis_db(databases) as db:
        yield f"redis://{REDIS_HOST}:6379/{db}"


def redis_url_for_this_process(databases: Iterable[int] = PER_PROCESS_DATABASES) -> str:
    """A database claimed until this test process exits (for module-level fixtures)."""
    registry = redis.Redis(host=REDIS_HOST, db=0)
    db = _try_claim(registry, databases, 4 * 3600)
    if not db:
        raise RuntimeError("no free Redis database to claim for this test run")
    atexit.register(registry.delete, claim_key(db))
    return f"redis://{REDIS_HOST}:6379/{db}"
