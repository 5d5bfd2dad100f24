"""FakeSalesforce: SalesforcePort in memory, recording what happened and failing on request.

It answers like the real client on the simulator (the contract suite holds both to the same
assertions): ids are validated the same way, If-Unmodified-Since is compared at whole seconds,
emailSimple refuses opted-out leads and enforces the daily single-email limit, and errors are
built from Salesforce-shaped bodies through error_from_response.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.errors import InvalidInputError, SalesforceError
from shared.models import AccountOwnerMatch
from shared.salesforce.errors import error_from_response
from shared.salesforce.ids import to_18, validate_id
from shared.salesforce.port import (
    ACCOUNT_CANDIDATE_LIMIT,
    COLLECTION_CHUNK_SIZE,
    COMPLETED_TASK_STATUS,
    DRAFT_EMAIL_STATUS,
    EMAIL_MESSAGE_PREFIX,
    LEAD_PREFIX,
    RESPONSE_TASK_TYPES,
    SOBJECT_BY_PREFIX,
    TASK_PREFIX,
    USER_PREFIX,
    AccountRecord,
    ApiUsage,
    EmailMessageRecord,
    EmailSendResult,
    LeadRecord,
    Limit,
    OrgLimits,
    SaveError,
    SaveResult,
    TaskRecord,
    account_owner_match,
    website_matches_domain,
)
from shared.salesforce.soql import field_name, normalize_domain
from shared.salesforce.wire import (
    collection_record,
    http_date,
    json_fields,
    validate_email_address,
)

__all__ = ["FakeCall", "FakeSalesforce", "RecordedUpdate", "SentEmail"]

OPERATIONS = frozenset(
    {
        "get_lead",
        "update_lead",
        "earliest_completed_task",
        "earliest_outgoing_email",
        "get_task",
        "get_email_message",
        "account_owner_by_domain",
        "active_user_ids",
        "send_simple_email",
        "update_records",
        "limits",
        "unanswered_leads",
    }
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PREFIX_BY_SOBJECT = {name: prefix for prefix, name in SOBJECT_BY_PREFIX.items()} | {"Group": "00G"}
_DEFAULTS: Mapping[str, Mapping[str, object]] = {
    "Lead": {"Status": "Open - Not Contacted", "HasOptedOutOfEmail": False},
    "Task": {"Status": "Not Started", "Priority": "Normal"},
    "EmailMessage": {"Incoming": False, "Status": "0"},
    "User": {"IsActive": True},
}
_SENT_EMAIL_STATUS = "3"


@dataclass(frozen=True)
class FakeCall:
    """One port operation as the fake received it."""

    op: str
    args: Mapping[str, object]


@dataclass(frozen=True)
class RecordedUpdate:
    """One record write leadfleet made, with the If-Unmodified-Since it was guarded by."""

    sobject: str
    record_id: str
    fields: Mapping[str, object]
    if_unmodified_since: datetime | None = None


@dataclass(frozen=True)
class SentEmail:
    """One email the fake accepted for sending."""

    lead_id: str
    to_address: str
    subject: str
    body: str
    email_message_id: str


def _sf_error(status: int, code: str, message: str, resource: str) -> SalesforceError:
    return error_from_response(
        status, [{"message": message, "errorCode": code, "fields": []}], resource
    )


@dataclass
class _Failures:
    queued: dict[str, list[BaseException]] = field(default_factory=dict)
    rate: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))  # noqa: S311
    factory: Callable[[str], BaseException] | None = None


class FakeSalesforce:
    """An in-memory org behind SalesforcePort; seed it with create(), inspect what it recorded.

    It knows no org schema: a field name the org lacks is stored or read as empty, not refused.
    """

    def __init__(
        self,
        *,
        start: datetime | None = None,
        single_email_limit: int = 5000,
        daily_api_limit: int = 100000,
        integration_user_email: str = "integration@leadfleet.example",
    ) -> None:
        now = start or datetime.now(UTC)
        self._start = now.replace(microsecond=now.microsecond // 1000 * 1000)
        self._offset = timedelta()
        self.single_email_limit = single_email_limit
        self.daily_api_limit = daily_api_limit
        self.integration_user_email = integration_user_email
        self._records: dict[str, dict[str, dict[str, Any]]] = {}
        self._counter = 0
        self._lock = threading.RLock()
        self._failures = _Failures()
        self.calls: list[FakeCall] = []
        self.updates: list[RecordedUpdate] = []
        self.emails_sent: list[SentEmail] = []

    # -- seeding and inspection ------------------------------------------------------------

    def now(self) -> datetime:
        """The fake org's clock."""
        return self._start + self._offset

    def advance(self, seconds: float) -> datetime:
        """Move the fake org's clock forward."""
        self._offset += timedelta(seconds=seconds)
        return self.now()

    def create(self, sobject: str, fields: Mapping[str, object]) -> str:
        """Insert a record as the org would (system fields, Task completion time); returns its id.

        Seeding may set CreatedDate and other system fields, which a real org does not allow.
        """
        prefix = _PREFIX_BY_SOBJECT.get(sobject)
        if prefix is None:
            raise ValueError(f"FakeSalesforce does not hold {sobject} records")
        with self._lock:
            self._counter += 1
            record_id = to_18(f"{prefix}Fk0{self._counter:09d}")
            now = self.now()
            row: dict[str, Any] = {**_DEFAULTS.get(sobject, {})}
            row.update(Id=record_id, CreatedDate=now, LastModifiedDate=now)
            row.update({field_name(k): v for k, v in fields.items() if k != "Id"})
            if sobject == "Task" and "CompletedDateTime" not in fields:
                closed = row.get("Status") == COMPLETED_TASK_STATUS
                row["CompletedDateTime"] = row["CreatedDate"] if closed else None
            self._records.setdefault(sobject, {})[record_id] = row
            return record_id

    def touch(self, sobject: str, record_id: str, fields: Mapping[str, object]) -> None:
        """Change a record as a person in the org would: not recorded as a leadfleet update."""
        with self._lock:
            row = self._records.get(sobject, {}).get(to_18(record_id))
            if row is None:
                raise KeyError(f"no {sobject} {record_id}")
            self._apply(sobject, row, fields)

    def record(self, sobject: str, record_id: str) -> dict[str, Any]:
        """A copy of a stored record."""
        with self._lock:
            return dict(self._records.get(sobject, {})[to_18(record_id)])

    def fail_next(self, op: str, error: BaseException, *, times: int = 1) -> None:
        """Make the next `times` calls of an operation raise error."""
        self._check_op(op)
        with self._lock:
            self._failures.queued.setdefault(op, []).extend([error] * times)

    def fail_randomly(
        self,
        rate: float,
        *,
        seed: int,
        error: Callable[[str], BaseException] | None = None,
    ) -> None:
        """Fail each call with probability rate (seeded, so runs repeat); 503 unless told."""
        with self._lock:
            self._failures.rate = rate
            self._failures.rng = random.Random(seed)  # noqa: S311 - test double
            self._failures.factory = error

    # -- the port ----------------------------------------------------------------------------

    @property
    def api_usage(self) -> ApiUsage | None:
        """Calls made so far against the daily limit, as Sforce-Limit-Info would report."""
        return ApiUsage(used=len(self.calls), max=self.daily_api_limit)

    def get_lead(self, lead_id: str, fields: Sequence[str] | None = None) -> LeadRecord:
        """The Lead with the given fields (all when None), always with Id and LastModifiedDate."""
        lead_id = validate_id(lead_id, prefixes=LEAD_PREFIX)
        names = None if fields is None else {field_name(f) for f in fields}
        self._enter("get_lead", lead_id=lead_id, fields=fields)
        row = self._fetch("Lead", lead_id)
        if names is not None:
            row = {k: v for k, v in row.items() if k in names | {"Id", "LastModifiedDate"}}
        return LeadRecord.model_validate(row)

    def update_lead(
        self,
        lead_id: str,
        fields: Mapping[str, object],
        *,
        if_unmodified_since: datetime | None = None,
    ) -> None:
        """Write fields; StaleRecordError when the lead changed after if_unmodified_since."""
        lead_id = validate_id(lead_id, prefixes=LEAD_PREFIX)
        json_fields(fields)
        if not fields:
            raise InvalidInputError("an update needs at least one field")
        if if_unmodified_since is not None:
            http_date(if_unmodified_since)
        self._enter("update_lead", lead_id=lead_id, fields=dict(fields))
        self._write("Lead", lead_id, fields, if_unmodified_since)

    def get_task(self, task_id: str) -> TaskRecord:
        """One Task by id."""
        task_id = validate_id(task_id, prefixes=TASK_PREFIX)
        self._enter("get_task", task_id=task_id)
        return TaskRecord.model_validate(self._fetch("Task", task_id))

    def get_email_message(self, email_message_id: str) -> EmailMessageRecord:
        """One EmailMessage by id."""
        email_message_id = validate_id(email_message_id, prefixes=EMAIL_MESSAGE_PREFIX)
        self._enter("get_email_message", email_message_id=email_message_id)
        return EmailMessageRecord.model_validate(self._fetch("EmailMessage", email_message_id))

    def earliest_completed_task(self, lead_id: str) -> TaskRecord | None:
        """The lead's first completed Call, Email or Meeting task by CompletedDateTime."""
        lead_id = to_18(validate_id(lead_id, prefixes=LEAD_PREFIX))
        self._enter("earliest_completed_task", lead_id=lead_id)
        tasks = [
            TaskRecord.model_validate(row)
            for row in self._rows("Task")
            if row.get("WhoId") and to_18(str(row["WhoId"])) == lead_id
            and row.get("Status") == COMPLETED_TASK_STATUS
            and row.get("Type") in RESPONSE_TASK_TYPES
            and row.get("CompletedDateTime") is not None
        ]  # fmt: skip
        tasks.sort(key=lambda t: t.CompletedDateTime or datetime.max.replace(tzinfo=UTC))
        return tasks[0] if tasks else None

    def earliest_outgoing_email(self, lead_id: str) -> EmailMessageRecord | None:
        """The first outgoing, non-draft EmailMessage related to the lead by MessageDate."""
        lead_id = to_18(validate_id(lead_id, prefixes=LEAD_PREFIX))
        self._enter("earliest_outgoing_email", lead_id=lead_id)
        emails = [
            EmailMessageRecord.model_validate(row)
            for row in self._rows("EmailMessage")
            if row.get("RelatedToId") and to_18(str(row["RelatedToId"])) == lead_id
            and row.get("Incoming") is False
            and row.get("Status") != DRAFT_EMAIL_STATUS
            and row.get("MessageDate") is not None
        ]  # fmt: skip
        emails.sort(key=lambda e: e.MessageDate or datetime.max.replace(tzinfo=UTC))
        return emails[0] if emails else None

    def account_owner_by_domain(self, domain: str) -> AccountOwnerMatch | None:
        """The owner of the Account whose Website host is the domain or a subdomain of it."""
        domain = normalize_domain(domain)
        self._enter("account_owner_by_domain", domain=domain)
        # The same narrowing as the real query: LIKE '%domain%', oldest first, capped.
        accounts = sorted(
            (
                AccountRecord.model_validate(row)
                for row in self._rows("Account")
                if domain in str(row.get("Website") or "").lower()
            ),
            key=lambda a: a.CreatedDate or datetime.max.replace(tzinfo=UTC),
        )[:ACCOUNT_CANDIDATE_LIMIT]
        candidates = [
            a for a in accounts if a.OwnerId and website_matches_domain(a.Website, domain)
        ]
        if not candidates:
            return None
        active = self._active({a.OwnerId for a in candidates if a.OwnerId})
        return account_owner_match(candidates, active, domain)

    def active_user_ids(self, ids: Iterable[str]) -> set[str]:
        """The subset of ids (in the form given) that belong to active Users."""
        given = [validate_id(i, prefixes=USER_PREFIX) for i in ids]
        self._enter("active_user_ids", ids=given)
        return self._active(set(given))

    def send_simple_email(
        self, *, lead_id: str, to_address: str, subject: str, body: str
    ) -> EmailSendResult:
        """Send a plain-text email to the lead as the integration user and log it on the lead."""
        lead_id = validate_id(lead_id, prefixes=LEAD_PREFIX)
        validate_email_address(to_address)
        self._enter("send_simple_email", lead_id=lead_id, to_address=to_address)
        with self._lock:
            lead = self._fetch("Lead", lead_id)
            if lead.get("HasOptedOutOfEmail"):
                raise self._action_error("EMAIL_OPTED_OUT", "recipient has opted out of email")
            if len(self.emails_sent) >= self.single_email_limit:
                raise self._action_error(
                    "SINGLE_EMAIL_LIMIT_EXCEEDED", "The daily limit for single emails is reached"
                )
            message_id = self.create(
                "EmailMessage",
                {
                    "RelatedToId": lead["Id"],
                    "Incoming": False,
                    "Status": _SENT_EMAIL_STATUS,
                    "MessageDate": self.now(),
                    "FromAddress": self.integration_user_email,
                    "ToAddress": to_address,
                    "Subject": subject,
                    "TextBody": body,
                },
            )
            self.emails_sent.append(SentEmail(lead["Id"], to_address, subject, body, message_id))
        return EmailSendResult(actionName="emailSimple", isSuccess=True, outputValues=None)

    def update_records(self, records: Sequence[Mapping[str, object]]) -> list[SaveResult]:
        """Update records by Id in chunks of 200, not all-or-none; results in input order."""
        prepared = [collection_record(r) for r in records]
        results: list[SaveResult] = []
        for start in range(0, len(prepared), COLLECTION_CHUNK_SIZE):
            chunk = prepared[start : start + COLLECTION_CHUNK_SIZE]
            self._enter("update_records", count=len(chunk))
            for item in chunk:
                results.append(self._save(item))
        return results

    def limits(self) -> OrgLimits:
        """The org's limits as the fake counts them."""
        self._enter("limits")
        return OrgLimits(
            limits={
                "DailyApiRequests": Limit(
                    Max=self.daily_api_limit,
                    Remaining=max(self.daily_api_limit - len(self.calls), 0),
                ),
                "SingleEmail": Limit(
                    Max=self.single_email_limit,
                    Remaining=max(self.single_email_limit - len(self.emails_sent), 0),
                ),
            }
        )

    def unanswered_leads(
        self, *, created_after: datetime, created_before: datetime, limit: int
    ) -> list[LeadRecord]:
        """Unconverted leads created in [after, before) with no First_Response_At__c, oldest first."""
        self._enter("unanswered_leads", created_after=created_after, created_before=created_before)
        after, before = created_after.astimezone(UTC), created_before.astimezone(UTC)
        # Stored like the org stores them: SOQL compares whole seconds.
        after, before = after.replace(microsecond=0), before.replace(microsecond=0)
        found = []
        for row in self._rows("Lead"):
            lead = LeadRecord.model_validate(row)
            created = lead.CreatedDate
            if created is None or lead.First_Response_At__c is not None or row.get("IsConverted"):
                continue
            if after <= created.replace(microsecond=0) < before:
                found.append(lead)
        found.sort(key=lambda lead: (lead.CreatedDate or _EPOCH, str(lead.Id)))
        return found[: max(int(limit), 1)]

    # -- internals ------------------------------------------------------------------------

    @staticmethod
    def _check_op(op: str) -> None:
        if op not in OPERATIONS:
            raise ValueError(f"unknown operation {op!r}; one of {sorted(OPERATIONS)}")

    def _enter(self, op: str, **args: object) -> None:
        with self._lock:
            self.calls.append(FakeCall(op, args))
            queued = self._failures.queued.get(op)
            if queued:
                raise queued.pop(0)
            failures = self._failures
            if failures.rate and failures.rng.random() < failures.rate:
                if failures.factory is not None:
                    raise failures.factory(op)
                raise _sf_error(503, "SERVER_UNAVAILABLE", "Service Unavailable", op)

    def _rows(self, sobject: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(row) for row in self._records.get(sobject, {}).values()]

    def _fetch(self, sobject: str, record_id: str) -> dict[str, Any]:
        with self._lock:
            row = self._records.get(sobject, {}).get(to_18(record_id))
            if row is None:
                raise _sf_error(404, "NOT_FOUND", "The requested resource does not exist", sobject)
            return dict(row)

    def _active(self, ids: set[str]) -> set[str]:
        users = {row["Id"]: row for row in self._rows("User")}
        return {i for i in ids if users.get(to_18(i), {}).get("IsActive") is True}

    @staticmethod
    def _action_error(code: str, message: str) -> SalesforceError:
        body = [
            {
                "actionName": "emailSimple",
                "errors": [{"statusCode": code, "message": message, "fields": []}],
                "isSuccess": False,
                "outputValues": None,
            }
        ]
        return error_from_response(400, body, "emailSimple")

    def _write(
        self,
        sobject: str,
        record_id: str,
        fields: Mapping[str, object],
        if_unmodified_since: datetime | None,
    ) -> None:
        with self._lock:
            row = self._records.get(sobject, {}).get(to_18(record_id))
            if row is None:
                raise _sf_error(404, "NOT_FOUND", "The requested resource does not exist", sobject)
            if if_unmodified_since is not None:
                modified = LeadRecord.model_validate(
                    {"LastModifiedDate": row["LastModifiedDate"]}
                ).LastModifiedDate
                limit = if_unmodified_since.astimezone(UTC).replace(microsecond=0)
                if modified is not None and modified.replace(microsecond=0) > limit:
                    raise _sf_error(
                        412,
                        "PRECONDITION_FAILED",
                        f"The requested resource has been modified since {http_date(limit)}",
                        sobject,
                    )
            owner = fields.get("OwnerId")
            if isinstance(owner, str) and owner.startswith("005"):
                user = self._records.get("User", {}).get(to_18(owner))
                if user is not None and user.get("IsActive") is False:
                    raise _sf_error(
                        400,
                        "INACTIVE_OWNER_OR_USER",
                        f"operation performed with inactive user [{owner}] as owner",
                        sobject,
                    )
            self._apply(sobject, row, fields)
            self.updates.append(
                RecordedUpdate(sobject, row["Id"], dict(fields), if_unmodified_since)
            )

    def _apply(self, sobject: str, row: dict[str, Any], fields: Mapping[str, object]) -> None:
        was_closed = row.get("Status") == COMPLETED_TASK_STATUS
        row.update(fields)
        row["LastModifiedDate"] = self.now()
        if sobject == "Task":
            # As the org derives it: set when a task closes, cleared when it reopens.
            closed = row.get("Status") == COMPLETED_TASK_STATUS
            if closed and not was_closed:
                row["CompletedDateTime"] = self.now()
            elif not closed:
                row["CompletedDateTime"] = None

    def _save(self, item: Mapping[str, Any]) -> SaveResult:
        sobject = str(item["attributes"]["type"])
        record_id = str(item["id"])
        fields = {k: v for k, v in item.items() if k not in ("attributes", "id")}
        try:
            self._write(sobject, record_id, fields, None)
        except SalesforceError as exc:
            error = SaveError(statusCode=exc.error_code, message=str(exc), fields=[])
            return SaveResult(id=record_id, success=False, errors=[error])
        return SaveResult(id=to_18(record_id), success=True, errors=[])
