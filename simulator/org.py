"""The simulated org: its data, clock, tokens, limits, faults, logs and assignment rule."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from simulator.assignment import AssignmentRule, RuleEntry
from simulator.changelog import ChangeLog
from simulator.clock import SimClock, epoch_ms
from simulator.dml import RecordWriter
from simulator.faults import FaultInjector
from simulator.ids import IdAllocator
from simulator.limits import DEFAULT_MAXIMA, Limits
from simulator.oauth import OAuthServer, TokenStore
from simulator.org_setup import OrgSetup
from simulator.query import QueryCursors
from simulator.requestlog import RequestLog
from simulator.seed import OrgIdentity, pod_for, seed_org
from simulator.store import Store
from simulator.tls import ConnectedApp
from simulator.transaction import Transaction

DB_FILE = "org.sqlite3"
# Storage each record takes against DataStorageMB, as Salesforce counts most records.
RECORD_STORAGE_KB = 2


@dataclass(frozen=True)
class OrgOptions:
    """What shapes an org: its seed, policy file and allowances."""

    state_dir: Path
    seed: int = 7
    policy_path: Path | None = None
    token_ttl_seconds: int = 7200
    daily_api_limit: int = 100_000
    single_email_limit: int = 5_000
    setup: OrgSetup = field(default_factory=OrgSetup)


class Org:
    """Everything one simulated Salesforce org holds; the HTTP layer is a view over it."""

    def __init__(self, options: OrgOptions, app: ConnectedApp, clock: SimClock | None = None):
        self.options = options
        self.app = app
        self.clock = clock or SimClock()
        self.store = Store(options.state_dir / DB_FILE)
        self.ids = IdAllocator(pod_for(options.seed))
        self.changelog = ChangeLog(self.store)
        self.tokens = TokenStore(self.clock, options.token_ttl_seconds)
        self.limits = Limits(
            self.clock,
            {
                **DEFAULT_MAXIMA,
                "DailyApiRequests": options.daily_api_limit,
                "SingleEmail": options.single_email_limit,
            },
        )
        self.faults = FaultInjector(options.seed)
        self.requests = RequestLog()
        self.cursors = QueryCursors(self.clock)
        self.base_urls: list[str] = []
        self.emails_sent = 0
        self.identity: OrgIdentity = self._seed()
        self.assignment_rule = self.default_assignment_rule()
        self.writer = RecordWriter(self.store, self.ids, lambda: self.assignment_rule)
        self.oauth = OAuthServer(
            app,
            self.tokens,
            self.clock,
            org_id=lambda: self.identity.org_id,
            find_user=self.user_by_username,
            base_urls=lambda: self.base_urls,
        )

    def _seed(self) -> OrgIdentity:
        anchor = self.clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
        return seed_org(self.store, self.ids, self.options.seed, anchor, self.options.policy_path)

    def default_assignment_rule(self) -> AssignmentRule:
        """Every lead goes to the seeded "Lead Intake" queue."""
        return AssignmentRule(enabled=True, default_owner_id=self.identity.intake_queue_id)

    def set_assignment_rule(
        self,
        *,
        enabled: bool = True,
        default_owner_id: str | None = None,
        entries: list[dict[str, str]] | None = None,
        on_update: bool = True,
    ) -> AssignmentRule:
        """Replace the active Lead assignment rule (the default owner falls back to Lead Intake)."""
        self.assignment_rule = AssignmentRule(
            enabled=enabled,
            default_owner_id=default_owner_id or self.identity.intake_queue_id,
            entries=tuple(
                RuleEntry(e["field"], str(e["value"]), e["owner_id"]) for e in entries or []
            ),
            on_update=on_update,
        )
        return self.assignment_rule

    def reset(self) -> None:
        """Re-seed the data and forget usage, faults, logs, cursors and clock shifts.

        Issued tokens stay valid (user ids do not change), so a test session keeps its session.
        """
        with self.store.lock:
            self.clock.reset()
            self.identity = self._seed()
            self.assignment_rule = self.default_assignment_rule()
            self.limits.reset()
            self.faults.clear()
            self.requests.clear()
            self.cursors.clear()
            self.emails_sent = 0

    @contextmanager
    def transaction(self, user_id: str, origin: str) -> Iterator[Transaction]:
        """A database transaction whose changes reach the change log only if it commits."""
        with self.store.lock:
            now = self.clock.now()
            with self.store.transaction() as conn:
                txn = Transaction(self.store, now, user_id, origin)
                yield txn
                last = self.changelog.append(
                    conn,
                    txn.changes,
                    origin=origin,
                    commit_user=user_id,
                    commit_timestamp=epoch_ms(now),
                    transaction_key=txn.key,
                )
            self.changelog.publish(last)

    def user_by_username(self, username: str) -> dict[str, Any] | None:
        """A live User row by username (case-insensitive, as Salesforce logins are)."""
        rows = self.store.fetch_many("User", "lower(Username) = lower(?)", (username,))
        return rows[0] if rows else None

    def user(self, user_id: str) -> dict[str, Any] | None:
        """A live User row by id."""
        row = self.store.fetch("User", user_id)
        return row if row and not row["IsDeleted"] else None

    def storage_used_mb(self) -> int:
        """DataStorageMB used, counting every stored record at 2 KB."""
        records = sum(c["live"] + c["deleted"] for c in self.store.counts().values())
        return records * RECORD_STORAGE_KB // 1024

    def now(self) -> datetime:
        """The simulator clock's now."""
        return self.clock.now()

    def state(self) -> dict[str, Any]:
        """Counts per sobject, API usage, emails sent and other vital signs (admin)."""
        return {
            "org_id": self.identity.org_id,
            "username": self.identity.username,
            "now": self.clock.now().isoformat(),
            "clock_offset_seconds": self.clock.offset_seconds,
            "counts": self.store.counts(),
            "api_usage": {
                "used": self.limits.used("DailyApiRequests"),
                "max": self.limits.maximum("DailyApiRequests"),
            },
            "emails_sent": self.emails_sent,
            "single_email_used": self.limits.used("SingleEmail"),
            "active_tokens": self.tokens.active_count(),
            "change_log_position": self.changelog.latest_position,
            "assignment_rule": self.assignment_rule.to_json(),
            "faults": [rule.to_json() for rule in self.faults.rules()],
        }
