"""What the workloads need from Salesforce: the port, its record models and its shared rules.

The real client and FakeSalesforce both implement SalesforcePort and both follow the rules
here (which task counts as a response, how a Website matches a domain, which account wins),
so the contract suite can hold them to the same answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from shared.models import AccountOwnerMatch, Lead

__all__ = [
    "ACCOUNT_CANDIDATE_LIMIT",
    "COLLECTION_CHUNK_SIZE",
    "COMPLETED_TASK_STATUS",
    "DRAFT_EMAIL_STATUS",
    "EMAIL_MESSAGE_PREFIX",
    "LEAD_PREFIX",
    "RESPONSE_TASK_TYPES",
    "SOBJECT_BY_PREFIX",
    "TASK_PREFIX",
    "UNANSWERED_LEAD_FIELDS",
    "USER_PREFIX",
    "AccountOwnerMatch",
    "AccountRecord",
    "ApiUsage",
    "EmailMessageRecord",
    "EmailSendResult",
    "LeadRecord",
    "Limit",
    "OrgLimits",
    "SalesforcePort",
    "SaveError",
    "SaveResult",
    "TaskRecord",
    "pick_account",
    "website_matches_domain",
]

# Which kind of record each operation takes, by id key prefix.
LEAD_PREFIX = ("00Q",)
TASK_PREFIX = ("00T",)
EMAIL_MESSAGE_PREFIX = ("02s",)
USER_PREFIX = ("005",)
COMPLETED_TASK_STATUS = "Completed"
# EmailMessage.Status 5 is a draft: written, never sent, so not a response.
DRAFT_EMAIL_STATUS = "5"
# Accounts whose Website merely contains the domain are narrowed in Python; this caps the read.
ACCOUNT_CANDIDATE_LIMIT = 200
RESPONSE_TASK_TYPES: tuple[str, ...] = ("Call", "Email", "Meeting")
# sObject Collections accept at most 200 records per request.
COLLECTION_CHUNK_SIZE = 200
# What the SLA sweeper reads of a lead: its age, owner and what places it in a segment and region.
UNANSWERED_LEAD_FIELDS: tuple[str, ...] = (
    "Id",
    "CreatedDate",
    "LastModifiedDate",
    "OwnerId",
    "NumberOfEmployees",
    "Country",
    "First_Response_At__c",
)
# Record types leadfleet writes through update_records, by id key prefix.
SOBJECT_BY_PREFIX: Mapping[str, str] = {
    "00Q": "Lead",
    "00T": "Task",
    "02s": "EmailMessage",
    "001": "Account",
    "003": "Contact",
    "005": "User",
}


_NEVER = datetime.max.replace(tzinfo=UTC)


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class LeadRecord(Lead):
    """A Lead with LastModifiedDate, the time a later If-Unmodified-Since write is checked against."""

    LastModifiedDate: datetime | None = None


class TaskRecord(_Record):
    """A Task as far as first-response detection needs it."""

    Id: str
    WhoId: str | None = None
    OwnerId: str | None = None
    Status: str | None = None
    Type: str | None = None
    CompletedDateTime: datetime | None = None
    CreatedDate: datetime | None = None

    @property
    def responded_at(self) -> datetime | None:
        """When the response happened: completion time, or creation for tasks without one."""
        return self.CompletedDateTime or self.CreatedDate


class AccountRecord(_Record):
    """An Account as far as owner matching by email domain needs it."""

    Id: str
    OwnerId: str | None = None
    Website: str | None = None
    CreatedDate: datetime | None = None


class EmailMessageRecord(_Record):
    """An EmailMessage as far as first-response detection needs it (no body, no addresses' lists)."""

    Id: str
    RelatedToId: str | None = None
    Incoming: bool | None = None
    MessageDate: datetime | None = None
    FromAddress: str | None = None
    CreatedById: str | None = None
    CreatedDate: datetime | None = None


class SaveError(_Record):
    """One reason a record in a collection write was not saved."""

    statusCode: str | None = None
    message: str | None = None
    fields: list[str] = Field(default_factory=list)


class SaveResult(_Record):
    """The outcome of one record of an sObject Collections write, in input order."""

    id: str | None = None
    success: bool
    errors: list[SaveError] = Field(default_factory=list)


class EmailSendResult(_Record):
    """A successful emailSimple invocation."""

    actionName: str = "emailSimple"
    isSuccess: bool
    outputValues: dict[str, Any] | None = None


class Limit(_Record):
    """One org limit from /limits."""

    Max: int
    Remaining: int

    @property
    def used(self) -> int:
        """How much of the limit is spent."""
        return self.Max - self.Remaining


class OrgLimits(_Record):
    """The org's limits by name (DailyApiRequests, SingleEmail, ...)."""

    limits: dict[str, Limit]

    def remaining(self, name: str) -> int | None:
        """What is left of a limit, or None when the org does not report it."""
        limit = self.limits.get(name)
        return None if limit is None else limit.Remaining


class ApiUsage(_Record):
    """The org's daily API usage as last reported in Sforce-Limit-Info."""

    used: int
    max: int


def website_matches_domain(website: str | None, domain: str) -> bool:
    """A Website matches when its host is the domain or a subdomain of it (www.acme.com: acme.com)."""
    if not website:
        return False
    text = website.strip().lower()
    host = urlsplit(text if "://" in text else "//" + text).hostname
    if not host:
        return False
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return host == domain or host.endswith("." + domain)


def pick_account(
    candidates: Iterable[AccountRecord], active_owner_ids: set[str]
) -> AccountRecord | None:
    """Among matching Accounts, prefer an active owner, then the oldest account, then the lowest id."""

    def rank(account: AccountRecord) -> tuple[bool, datetime, str]:
        return (
            account.OwnerId not in active_owner_ids,
            account.CreatedDate or _NEVER,
            account.Id,
        )

    ordered = sorted(candidates, key=rank)
    return ordered[0] if ordered else None


def account_owner_match(
    candidates: Iterable[AccountRecord], active_owner_ids: set[str], domain: str
) -> AccountOwnerMatch | None:
    """The owner of the Account `pick_account` prefers, with whether that owner is active."""
    chosen = pick_account(candidates, active_owner_ids)
    if chosen is None or chosen.OwnerId is None:
        return None
    return AccountOwnerMatch(
        account_id=chosen.Id,
        owner_id=chosen.OwnerId,
        owner_active=chosen.OwnerId in active_owner_ids,
        domain=domain,
    )


class SalesforcePort(Protocol):
    """The Salesforce operations the workloads use; ids are validated before any request."""

    @property
    def api_usage(self) -> ApiUsage | None:
        """The org's API usage from the last response that reported it."""
        ...

    def get_lead(self, lead_id: str, fields: Sequence[str] | None = None) -> LeadRecord:
        """The Lead with the given fields (all when None), always with Id and LastModifiedDate."""
        ...

    def update_lead(
        self,
        lead_id: str,
        fields: Mapping[str, object],
        *,
        if_unmodified_since: datetime | None = None,
    ) -> None:
        """Write fields; StaleRecordError when the lead changed after if_unmodified_since."""
        ...

    def earliest_completed_task(self, lead_id: str) -> TaskRecord | None:
        """The lead's first completed Call, Email or Meeting task by completion time."""
        ...

    def earliest_outgoing_email(self, lead_id: str) -> EmailMessageRecord | None:
        """The first outgoing EmailMessage related to the lead by MessageDate."""
        ...

    def get_task(self, task_id: str) -> TaskRecord:
        """One Task by id (update events lack WhoId and Type)."""
        ...

    def get_email_message(self, email_message_id: str) -> EmailMessageRecord:
        """One EmailMessage by id."""
        ...

    def account_owner_by_domain(self, domain: str) -> AccountOwnerMatch | None:
        """The owner of the Account whose Website matches the email domain, if any."""
        ...

    def active_user_ids(self, ids: Iterable[str]) -> set[str]:
        """The subset of ids (as given) that belong to active Users."""
        ...

    def send_simple_email(
        self, *, lead_id: str, to_address: str, subject: str, body: str
    ) -> EmailSendResult:
        """Send a plain-text email to the lead as the integration user and log it on the lead."""
        ...

    def update_records(self, records: Sequence[Mapping[str, object]]) -> list[SaveResult]:
        """Update records by Id in chunks of 200, not all-or-none; results in input order."""
        ...

    def limits(self) -> OrgLimits:
        """The org's limits."""
        ...

    def unanswered_leads(
        self, *, created_after: datetime, created_before: datetime, limit: int
    ) -> list[LeadRecord]:
        """Unconverted leads created in [after, before) with no First_Response_At__c, oldest first."""
        ...
