"""Fleet-wide rate limits in Redis, shared by every worker: Salesforce calls and Anthropic usage.

Celery's own ``rate_limit`` counts per worker process, so N workers would make N times the
allowed calls. Here every process counts in the same Redis buckets (the ``limits`` library's
moving window, which never lets more than the allowance into any window of its length):

- Salesforce: calls per org per window, plus a ceiling on the share of the org's daily API
  allowance, read from the ``Sforce-Limit-Info`` usage the client records on every response
  and shared through Redis. Past the ceiling one call is let through every
  ``api_usage_recheck_seconds`` so the recorded usage can come back down.
- Anthropic: requests, input tokens and output tokens per window. Token counts are known only
  after a call, so a call needs room in the token buckets to start and its usage is recorded
  afterwards (up to what the window has left).

A window is the configured length plus ``window_margin_seconds``: Salesforce counts a call
when it arrives, up to one request latency after it was counted here, so the margin keeps
every window of the configured length at the far end within the allowance.

``acquire_*`` returns None when the call may go ahead (and counts it), or the seconds to
wait. The port decorators turn a wait into ``RateLimitedError``, which a task retries after
that countdown instead of holding a worker thread.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis import Redis
from redis.exceptions import RedisError

from shared.errors import RetryableError
from shared.llm.port import LlmPort, RoutingAnswer, TemplateAnswer
from shared.models import AccountOwnerMatch, Lead
from shared.policy import RoutingPolicy
from shared.salesforce.port import (
    COLLECTION_CHUNK_SIZE,
    ApiUsage,
    EmailMessageRecord,
    EmailSendResult,
    LeadRecord,
    OrgLimits,
    SalesforcePort,
    SaveResult,
    TaskRecord,
)
from shared.settings import RateLimitSettings
from shared.templates import TemplateCatalog

__all__ = [
    "FleetRateLimits",
    "RateLimitStorageError",
    "RateLimitedError",
    "RateLimitedLlm",
    "RateLimitedSalesforce",
    "build_rate_limits",
]

# Ids per IN list in the client's active-user query, and so requests per call.
_IN_LIST_SIZE = 200
# Shortest wait handed back, so a task is not retried in a busy loop.
_MIN_WAIT_SECONDS = 0.05


class RateLimitedError(RetryableError):
    """A fleet-wide limit is reached; try again after retry_after seconds."""

    def __init__(self, resource: str, retry_after: float) -> None:
        self.resource = resource
        self.retry_after = max(retry_after, _MIN_WAIT_SECONDS)
        super().__init__(f"{resource} rate limit reached; retry in {self.retry_after:.2f} s")


class RateLimitStorageError(RetryableError):
    """The rate-limit buckets in Redis could not be read or written."""


class FleetRateLimits:
    """The fleet's buckets: acquire before a call, record what a call used afterwards."""

    def __init__(
        self,
        settings: RateLimitSettings,
        storage: RedisStorage,
        redis: Redis,
        *,
        key_prefix: str,
        org_key: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._limiter = MovingWindowRateLimiter(storage)
        self._redis = redis
        self._clock = clock
        self._org = org_key or "default"
        self._usage_key = f"{key_prefix}:ratelimit:salesforce:{self._org}:api_usage"
        margin = settings.window_margin_seconds
        self._sf_calls = RateLimitItemPerSecond(
            settings.salesforce_calls, settings.salesforce_window_seconds + margin
        )
        llm_window = settings.anthropic_window_seconds + margin
        self._llm_requests = RateLimitItemPerSecond(settings.anthropic_requests, llm_window)
        self._llm_input = RateLimitItemPerSecond(settings.anthropic_input_tokens, llm_window)
        self._llm_output = RateLimitItemPerSecond(settings.anthropic_output_tokens, llm_window)

    def __repr__(self) -> str:
        return f"FleetRateLimits(org={self._org!r})"

    # -- Salesforce ------------------------------------------------------------------------

    def acquire_salesforce(self, cost: int = 1) -> float | None:
        """Count `cost` Salesforce calls, or return the seconds to wait (nothing counted)."""
        if not self._settings.enabled:
            return None
        wait = self._daily_ceiling_wait()
        if wait is not None:
            return wait
        return self._hit(
            self._sf_calls, ("salesforce", self._org), min(cost, self._sf_calls.amount)
        )

    def record_api_usage(self, usage: ApiUsage) -> None:
        """Share the org's daily API usage (from Sforce-Limit-Info) with the fleet."""
        record = {"used": usage.used, "max": usage.max, "at": self._clock()}
        try:
            self._redis.set(self._usage_key, json.dumps(record), ex=2 * 86400)
        except RedisError as exc:
            raise RateLimitStorageError(f"cannot record API usage: {type(exc).__name__}") from None

    def _daily_ceiling_wait(self) -> float | None:
        """Seconds until the usage may be re-read, when the daily share is spent; else None."""
        try:
            raw = self._redis.get(self._usage_key)
        except RedisError as exc:
            raise RateLimitStorageError(f"cannot read API usage: {type(exc).__name__}") from None
        if not isinstance(raw, str | bytes):
            return None
        try:
            record = json.loads(raw)
            used, maximum, at = int(record["used"]), int(record["max"]), float(record["at"])
        except (ValueError, KeyError, TypeError):
            return None
        if maximum <= 0 or used < self._settings.salesforce_daily_share * maximum:
            return None
        age = self._clock() - at
        recheck = self._settings.api_usage_recheck_seconds
        if age >= recheck:
            # One call re-reads the usage; stamping now keeps the rest of the fleet waiting.
            self.record_api_usage(ApiUsage(used=used, max=maximum))
            return None
        return recheck - age

    # -- Anthropic -------------------------------------------------------------------------

    def acquire_llm(self) -> float | None:
        """Count one Anthropic request if the request and token buckets have room; else the wait."""
        if not self._settings.enabled:
            return None
        for item, name in ((self._llm_input, "input_tokens"), (self._llm_output, "output_tokens")):
            if not self._test(item, ("anthropic", name)):
                return self._wait(item, ("anthropic", name))
        return self._hit(self._llm_requests, ("anthropic", "requests"), 1)

    def record_llm_tokens(self, input_tokens: int, output_tokens: int) -> None:
        """Count the tokens a finished call used, up to what each window has left."""
        if not self._settings.enabled:
            return
        for item, name, used in (
            (self._llm_input, "input_tokens", input_tokens),
            (self._llm_output, "output_tokens", output_tokens),
        ):
            if used <= 0:
                continue
            self._record(item, ("anthropic", name), used)

    # -- plumbing --------------------------------------------------------------------------

    def _record(self, item: RateLimitItem, identifiers: Sequence[str], used: int) -> None:
        remaining = self._stats(item, identifiers)[1]
        if remaining > 0:
            self._guard(lambda: self._limiter.hit(item, *identifiers, cost=min(used, remaining)))

    def _hit(self, item: RateLimitItem, identifiers: Sequence[str], cost: int) -> float | None:
        if self._guard(lambda: self._limiter.hit(item, *identifiers, cost=cost)):
            return None
        return self._wait(item, identifiers)

    def _test(self, item: RateLimitItem, identifiers: Sequence[str]) -> bool:
        return bool(self._guard(lambda: self._limiter.test(item, *identifiers)))

    def _stats(self, item: RateLimitItem, identifiers: Sequence[str]) -> tuple[float, int]:
        stats = self._guard(lambda: self._limiter.get_window_stats(item, *identifiers))
        return float(stats.reset_time), int(stats.remaining)

    def _wait(self, item: RateLimitItem, identifiers: Sequence[str]) -> float:
        reset_time, _ = self._stats(item, identifiers)
        # The library stamps windows with the wall clock, so the wait is measured on it too.
        return max(reset_time - time.time(), _MIN_WAIT_SECONDS)

    @staticmethod
    def _guard(operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except (StorageError, RedisError) as exc:
            raise RateLimitStorageError(
                f"rate-limit storage unavailable: {type(exc).__name__}"
            ) from None


def build_rate_limits(
    settings: RateLimitSettings,
    redis_url: str,
    redis: Redis,
    *,
    key_prefix: str,
    org_key: str,
    socket_timeout: float,
) -> FleetRateLimits:
    """Limits on the fleet's Redis; the buckets live under `<key_prefix>:ratelimit`."""
    storage = RedisStorage(
        redis_url,
        key_prefix=f"{key_prefix}:ratelimit",
        wrap_exceptions=True,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
    )
    return FleetRateLimits(
        settings, storage, redis, key_prefix=key_prefix, org_key=settings.org_key or org_key
    )


class RateLimitedSalesforce:
    """SalesforcePort that takes from the fleet's Salesforce bucket before every call."""

    def __init__(self, inner: SalesforcePort, limits: FleetRateLimits) -> None:
        self._inner = inner
        self._limits = limits

    def __repr__(self) -> str:
        return f"RateLimitedSalesforce({self._inner!r})"

    @property
    def api_usage(self) -> ApiUsage | None:
        """The org's API usage from the last response that reported it."""
        return self._inner.api_usage

    def _acquire(self, operation: str, cost: int = 1) -> None:
        wait = self._limits.acquire_salesforce(cost)
        if wait is not None:
            raise RateLimitedError(f"salesforce {operation}", wait)

    def _after(self) -> None:
        usage = self._inner.api_usage
        if usage is not None:
            self._limits.record_api_usage(usage)

    def get_lead(self, lead_id: str, fields: Sequence[str] | None = None) -> LeadRecord:
        """The Lead with the given fields (all when None), always with Id and LastModifiedDate."""
        self._acquire("get_lead")
        try:
            return self._inner.get_lead(lead_id, fields)
        finally:
            self._after()

    def update_lead(
        self,
        lead_id: str,
        fields: Mapping[str, object],
        *,
        if_unmodified_since: datetime | None = None,
    ) -> None:
        """Write fields; StaleRecordError when the lead changed after if_unmodified_since."""
        self._acquire("update_lead")
        try:
            self._inner.update_lead(lead_id, fields, if_unmodified_since=if_unmodified_since)
        finally:
            self._after()

    def earliest_completed_task(self, lead_id: str) -> TaskRecord | None:
        """The lead's first completed Call, Email or Meeting task by completion time."""
        self._acquire("earliest_completed_task")
        try:
            return self._inner.earliest_completed_task(lead_id)
        finally:
            self._after()

    def earliest_outgoing_email(self, lead_id: str) -> EmailMessageRecord | None:
        """The first outgoing EmailMessage related to the lead by MessageDate."""
        self._acquire("earliest_outgoing_email")
        try:
            return self._inner.earliest_outgoing_email(lead_id)
        finally:
            self._after()

    def get_task(self, task_id: str) -> TaskRecord:
        """One Task by id."""
        self._acquire("get_task")
        try:
            return self._inner.get_task(task_id)
        finally:
            self._after()

    def get_email_message(self, email_message_id: str) -> EmailMessageRecord:
        """One EmailMessage by id."""
        self._acquire("get_email_message")
        try:
            return self._inner.get_email_message(email_message_id)
        finally:
            self._after()

    def account_owner_by_domain(self, domain: str) -> AccountOwnerMatch | None:
        """The owner of the Account whose Website matches the email domain, if any."""
        # An account query, then the active-user query for its owners.
        self._acquire("account_owner_by_domain", 2)
        try:
            return self._inner.account_owner_by_domain(domain)
        finally:
            self._after()

    def active_user_ids(self, ids: Iterable[str]) -> set[str]:
        """The subset of ids (as given) that belong to active Users."""
        given = list(ids)
        self._acquire("active_user_ids", max(1, math.ceil(len(set(given)) / _IN_LIST_SIZE)))
        try:
            return self._inner.active_user_ids(given)
        finally:
            self._after()

    def send_simple_email(
        self, *, lead_id: str, to_address: str, subject: str, body: str
    ) -> EmailSendResult:
        """Send a plain-text email to the lead as the integration user and log it on the lead."""
        self._acquire("send_simple_email")
        try:
            return self._inner.send_simple_email(
                lead_id=lead_id, to_address=to_address, subject=subject, body=body
            )
        finally:
            self._after()

    def update_records(self, records: Sequence[Mapping[str, object]]) -> list[SaveResult]:
        """Update records by Id in chunks of 200, not all-or-none; results in input order."""
        self._acquire("update_records", max(1, math.ceil(len(records) / COLLECTION_CHUNK_SIZE)))
        try:
            return self._inner.update_records(records)
        finally:
            self._after()

    def limits(self) -> OrgLimits:
        """The org's limits."""
        self._acquire("limits")
        try:
            return self._inner.limits()
        finally:
            self._after()

    def unanswered_leads(
        self, *, created_after: datetime, created_before: datetime, limit: int
    ) -> list[LeadRecord]:
        """Unconverted leads created in [after, before) with no First_Response_At__c, oldest first."""
        self._acquire("unanswered_leads")
        try:
            return self._inner.unanswered_leads(
                created_after=created_after, created_before=created_before, limit=limit
            )
        finally:
            self._after()


class RateLimitedLlm:
    """LlmPort that takes from the fleet's Anthropic buckets and records each call's tokens."""

    def __init__(self, inner: LlmPort, limits: FleetRateLimits) -> None:
        self._inner = inner
        self._limits = limits

    def __repr__(self) -> str:
        return f"RateLimitedLlm({self._inner!r})"

    @property
    def name(self) -> str:
        """The wrapped provider's name."""
        return self._inner.name

    def _acquire(self, operation: str) -> None:
        wait = self._limits.acquire_llm()
        if wait is not None:
            raise RateLimitedError(f"llm {operation}", wait)

    def route(self, lead: Lead, policy: RoutingPolicy, *, timeout: float) -> RoutingAnswer:
        """Segment and region for a lead, chosen among the policy's names."""
        self._acquire("route")
        answer = self._inner.route(lead, policy, timeout=timeout)
        self._limits.record_llm_tokens(answer.exchange.input_tokens, answer.exchange.output_tokens)
        return answer

    def choose_template(
        self, lead: Lead, catalog: TemplateCatalog, *, timeout: float
    ) -> TemplateAnswer:
        """Intent and template for a lead, chosen among the catalogue's ids."""
        self._acquire("choose_template")
        answer = self._inner.choose_template(lead, catalog, timeout=timeout)
        self._limits.record_llm_tokens(answer.exchange.input_tokens, answer.exchange.output_tokens)
        return answer
