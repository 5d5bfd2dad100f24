"""The production Salesforce adapter: SalesforcePort on simple-salesforce over a verified session.

Every request has a timeout from settings and TLS verification against the configured CA
bundle (the system store when unset). Every write carries `Sforce-Call-Options: client=<id>`
so the listener can drop its own echoes, and `Sforce-Auto-Assign: FALSE` so the org's
assignment rules never overwrite an owner as a side effect of a leadfleet write. Errors leave
through error_from_response only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any, Protocol, TypeVar

import redis
import requests
from simple_salesforce.api import Salesforce, SFType
from simple_salesforce.exceptions import SalesforceError as SimpleSalesforceError

from shared.errors import InvalidInputError
from shared.models import AccountOwnerMatch
from shared.salesforce.auth import AccessToken, JwtBearerAuth
from shared.salesforce.errors import SessionExpiredError, error_from_exception, error_from_response
from shared.salesforce.ids import to_18, validate_id
from shared.salesforce.port import (
    ACCOUNT_CANDIDATE_LIMIT,
    COLLECTION_CHUNK_SIZE,
    COMPLETED_TASK_STATUS,
    DRAFT_EMAIL_STATUS,
    EMAIL_MESSAGE_PREFIX,
    LEAD_PREFIX,
    RESPONSE_TASK_TYPES,
    TASK_PREFIX,
    UNANSWERED_LEAD_FIELDS,
    USER_PREFIX,
    AccountRecord,
    ApiUsage,
    EmailMessageRecord,
    EmailSendResult,
    LeadRecord,
    Limit,
    OrgLimits,
    SaveResult,
    TaskRecord,
    account_owner_match,
    website_matches_domain,
)
from shared.salesforce.soql import (
    datetime_literal,
    field_name,
    id_list,
    id_literal,
    like_pattern,
    normalize_domain,
    quote,
)
from shared.salesforce.wire import (
    build_http_session,
    collection_record,
    http_date,
    json_fields,
    parse_limit_info,
    validate_email_address,
)
from shared.settings import SalesforceSettings

__all__ = ["SalesforceClient", "TokenSource", "build_salesforce_client"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Ids per IN list: keeps the query URL far below Salesforce's 16,384-character limit.
IN_LIST_SIZE = 200

TASK_FIELDS = ("Id", "WhoId", "OwnerId", "Status", "Type", "CompletedDateTime", "CreatedDate")
EMAIL_FIELDS = (
    "Id",
    "RelatedToId",
    "Incoming",
    "MessageDate",
    "FromAddress",
    "CreatedById",
    "CreatedDate",
)


class TokenSource(Protocol):
    """Where the client gets access tokens and reports rejected ones."""

    def token(self) -> AccessToken:
        """A currently valid token."""
        ...

    def invalidate(self, token: AccessToken) -> bool:
        """Forget a token Salesforce rejected."""
        ...


def _sobject(sf: Salesforce, name: str) -> SFType:
    handler: SFType = getattr(sf, name)
    return handler


def _patch_collection(
    sf: Salesforce, *, payload: Mapping[str, object], headers: Mapping[str, str]
) -> Any:
    return sf.restful("composite/sobjects", method="PATCH", json=payload, headers=headers)


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SalesforceClient:
    """SalesforcePort on simple-salesforce; re-authenticates once when a token is rejected."""

    def __init__(
        self,
        settings: SalesforceSettings,
        auth: TokenSource,
        *,
        http: requests.Session,
        on_api_usage: Callable[[ApiUsage], None] | None = None,
    ) -> None:
        self._settings = settings
        self._auth = auth
        self._http = http
        self._on_api_usage = on_api_usage
        self._api_usage: ApiUsage | None = None
        self._bound: tuple[AccessToken, Salesforce] | None = None
        http.hooks["response"].append(self._record_api_usage)

    def __repr__(self) -> str:
        return f"SalesforceClient(login_url={self._settings.login_url!r})"

    @property
    def api_usage(self) -> ApiUsage | None:
        """The org's API usage from the last response that reported it."""
        return self._api_usage

    # -- reads ---------------------------------------------------------------------------

    def get_lead(self, lead_id: str, fields: Sequence[str] | None = None) -> LeadRecord:
        """The Lead with the given fields (all when None), always with Id and LastModifiedDate."""
        lead_id = validate_id(lead_id, prefixes=LEAD_PREFIX)
        params: dict[str, str] | None = None
        if fields is not None:
            names = {field_name(f) for f in fields} | {"Id", "LastModifiedDate"}
            params = {"fields": ",".join(sorted(names))}
        raw = self._call(
            "Lead",
            lambda sf: _sobject(sf, "Lead").get(lead_id, headers=self._headers(), params=params),
        )
        return LeadRecord.model_validate(raw)

    def get_task(self, task_id: str) -> TaskRecord:
        """One Task by id."""
        task_id = validate_id(task_id, prefixes=TASK_PREFIX)
        params = {"fields": ",".join(TASK_FIELDS)}
        raw = self._call(
            "Task",
            lambda sf: _sobject(sf, "Task").get(task_id, headers=self._headers(), params=params),
        )
        return TaskRecord.model_validate(raw)

    def get_email_message(self, email_message_id: str) -> EmailMessageRecord:
        """One EmailMessage by id."""
        email_message_id = validate_id(email_message_id, prefixes=EMAIL_MESSAGE_PREFIX)
        params = {"fields": ",".join(EMAIL_FIELDS)}
        raw = self._call(
            "EmailMessage",
            lambda sf: _sobject(sf, "EmailMessage").get(
                email_message_id, headers=self._headers(), params=params
            ),
        )
        return EmailMessageRecord.model_validate(raw)

    def earliest_completed_task(self, lead_id: str) -> TaskRecord | None:
        """The lead's first completed Call, Email or Meeting task by CompletedDateTime."""
        types = ", ".join(quote(t) for t in RESPONSE_TASK_TYPES)
        # CompletedDateTime is when the response happened; a task created open and closed later
        # responded at closing, not at creation. Null values sort first in SOQL, so they are
        # excluded rather than taken for the earliest.
        soql = (
            f"SELECT {', '.join(TASK_FIELDS)} FROM Task"  # noqa: S608 - values are soql.py literals
            f" WHERE WhoId = {id_literal(lead_id, LEAD_PREFIX)}"
            f" AND Status = {quote(COMPLETED_TASK_STATUS)}"
            f" AND Type IN ({types})"
            " AND CompletedDateTime != null"
            " ORDER BY CompletedDateTime ASC LIMIT 1"
        )
        records = self._query("Task", soql)
        return TaskRecord.model_validate(records[0]) if records else None

    def earliest_outgoing_email(self, lead_id: str) -> EmailMessageRecord | None:
        """The first outgoing, non-draft EmailMessage related to the lead by MessageDate."""
        soql = (
            f"SELECT {', '.join(EMAIL_FIELDS)} FROM EmailMessage"  # noqa: S608 - values are soql.py literals
            f" WHERE RelatedToId = {id_literal(lead_id, LEAD_PREFIX)}"
            " AND Incoming = false"
            f" AND Status != {quote(DRAFT_EMAIL_STATUS)}"
            " AND MessageDate != null"
            " ORDER BY MessageDate ASC LIMIT 1"
        )
        records = self._query("EmailMessage", soql)
        return EmailMessageRecord.model_validate(records[0]) if records else None

    def account_owner_by_domain(self, domain: str) -> AccountOwnerMatch | None:
        """The owner of the Account whose Website host is the domain or a subdomain of it."""
        domain = normalize_domain(domain)
        soql = (
            "SELECT Id, OwnerId, Website, CreatedDate FROM Account"  # noqa: S608 - values are soql.py literals
            f" WHERE Website LIKE {like_pattern(domain)}"
            f" ORDER BY CreatedDate ASC LIMIT {ACCOUNT_CANDIDATE_LIMIT}"
        )
        candidates = [
            account
            for account in (AccountRecord.model_validate(r) for r in self._query("Account", soql))
            if account.OwnerId and website_matches_domain(account.Website, domain)
        ]
        if not candidates:
            return None
        active = self.active_user_ids({a.OwnerId for a in candidates if a.OwnerId})
        return account_owner_match(candidates, active, domain)

    def active_user_ids(self, ids: Iterable[str]) -> set[str]:
        """The subset of ids (in the form given) that belong to active Users."""
        given: dict[str, set[str]] = {}
        for user_id in ids:
            given.setdefault(to_18(validate_id(user_id, prefixes=USER_PREFIX)), set()).add(user_id)
        active: set[str] = set()
        for chunk in _chunks(sorted(given), IN_LIST_SIZE):
            soql = (
                "SELECT Id FROM User WHERE IsActive = true"  # noqa: S608 - soql.py literals
                f" AND Id IN {id_list(chunk, USER_PREFIX)}"
            )
            for record in self._query("User", soql):
                active |= given.get(to_18(str(record["Id"])), set())
        return active

    def limits(self) -> OrgLimits:
        """The org's limits."""
        raw = self._call("limits", lambda sf: sf.limits(headers=self._headers()))
        entries = {
            name: Limit.model_validate(value)
            for name, value in dict(raw).items()
            if isinstance(value, dict) and {"Max", "Remaining"} <= value.keys()
        }
        return OrgLimits(limits=entries)

    def unanswered_leads(
        self, *, created_after: datetime, created_before: datetime, limit: int
    ) -> list[LeadRecord]:
        """Unconverted leads created in [after, before) with no First_Response_At__c, oldest first."""
        soql = (
            f"SELECT {', '.join(UNANSWERED_LEAD_FIELDS)} FROM Lead"  # noqa: S608 - soql.py literals
            " WHERE First_Response_At__c = null AND IsConverted = false"
            f" AND CreatedDate >= {datetime_literal(created_after)}"
            f" AND CreatedDate < {datetime_literal(created_before)}"
            f" ORDER BY CreatedDate ASC, Id ASC LIMIT {max(int(limit), 1)}"
        )
        return [LeadRecord.model_validate(r) for r in self._query("Lead", soql)]

    # -- writes --------------------------------------------------------------------------

    def update_lead(
        self,
        lead_id: str,
        fields: Mapping[str, object],
        *,
        if_unmodified_since: datetime | None = None,
    ) -> None:
        """Write fields; StaleRecordError when the lead changed after if_unmodified_since."""
        lead_id = validate_id(lead_id, prefixes=LEAD_PREFIX)
        body = json_fields(fields)
        if not body:
            raise InvalidInputError("an update needs at least one field")
        headers = self._headers(write=True, if_unmodified_since=if_unmodified_since)
        self._call("Lead", lambda sf: _sobject(sf, "Lead").update(lead_id, body, headers=headers))

    def send_simple_email(
        self, *, lead_id: str, to_address: str, subject: str, body: str
    ) -> EmailSendResult:
        """Send a plain-text email to the lead as the integration user and log it on the lead."""
        lead_id = validate_id(lead_id, prefixes=LEAD_PREFIX)
        validate_email_address(to_address)
        # No recipientId: it addresses the lead's own Email as well, so the lead would get the
        # message twice and it would count twice against SingleEmail. relatedRecordId logs the
        # email on the lead, which is what first-touch detection reads.
        payload = {
            "inputs": [
                {
                    "emailAddresses": to_address,
                    "emailSubject": subject,
                    "emailBody": body,
                    "senderType": "CurrentUser",
                    "relatedRecordId": lead_id,
                    "logEmailOnSend": True,
                }
            ]
        }
        headers = self._headers(write=True)
        raw = self._call(
            "emailSimple",
            lambda sf: sf.restful(
                "actions/standard/emailSimple", method="POST", json=payload, headers=headers
            ),
        )
        results = raw if isinstance(raw, list) else [raw]
        first = results[0] if results and isinstance(results[0], dict) else None
        if first is None or not first.get("isSuccess"):
            raise error_from_response(200, results, "emailSimple")
        return EmailSendResult.model_validate(first)

    def update_records(self, records: Sequence[Mapping[str, object]]) -> list[SaveResult]:
        """Update records by Id in chunks of 200, not all-or-none; results in input order.

        Chunks already sent stay written if a later chunk fails as a whole.
        """
        prepared = [collection_record(r) for r in records]
        headers = self._headers(write=True)
        results: list[SaveResult] = []
        for chunk in _chunks(prepared, COLLECTION_CHUNK_SIZE):
            payload = {"allOrNone": False, "records": list(chunk)}
            raw = self._call(
                "composite/sobjects",
                partial(_patch_collection, payload=payload, headers=headers),
            )
            results.extend(SaveResult.model_validate(item) for item in raw or [])
        return results

    # -- plumbing ------------------------------------------------------------------------

    def _headers(
        self, *, write: bool = False, if_unmodified_since: datetime | None = None
    ) -> dict[str, str]:
        headers = {"Sforce-Call-Options": f"client={self._settings.call_options_client}"}
        if write:
            headers["Sforce-Auto-Assign"] = "FALSE"
        if if_unmodified_since is not None:
            headers["If-Unmodified-Since"] = http_date(if_unmodified_since)
        return headers

    def query_records(self, sobject: str, soql: str) -> list[dict[str, Any]]:
        """Every record a SOQL query selects; build `soql` with shared.salesforce.soql only."""
        return self._query(sobject, soql)

    def _query(self, resource: str, soql: str) -> list[dict[str, Any]]:
        raw = self._call(resource, lambda sf: sf.query_all(soql, headers=self._headers()))
        return [dict(r) for r in raw.get("records", [])]

    def _connect(self, token: AccessToken) -> Salesforce:
        bound = self._bound
        if bound is not None and bound[0] == token:
            return bound[1]
        sf = Salesforce(
            instance_url=self._settings.instance_url or token.instance_url,
            session_id=token.access_token.get_secret_value(),
            session=self._http,
            version=self._settings.api_version,
        )
        self._bound = (token, sf)
        return sf

    def _call(self, resource: str, operation: Callable[[Salesforce], T]) -> T:
        """Run one API operation; on INVALID_SESSION_ID drop the token, log in again, retry once."""
        for attempt in (1, 2):
            token = self._auth.token()
            sf = self._connect(token)
            try:
                return operation(sf)
            except (SimpleSalesforceError, requests.RequestException) as exc:
                error = error_from_exception(exc, resource)
            if isinstance(error, SessionExpiredError) and attempt == 1:
                self._auth.invalidate(token)
                log.info(
                    "salesforce session rejected; authenticating again",
                    extra={"resource": resource},
                )
                continue
            # Raised outside the except block: the original carries the prepared request and
            # with it the Authorization header.
            raise error
        raise AssertionError("unreachable")

    def _record_api_usage(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        usage = parse_limit_info(response.headers.get("Sforce-Limit-Info"))
        if usage is None:
            return
        self._api_usage = usage
        if self._on_api_usage is not None:
            try:
                self._on_api_usage(usage)
            except Exception:
                # A metrics callback must not turn a completed Salesforce call into a failure.
                log.exception("api usage callback failed")


def build_salesforce_client(
    settings: SalesforceSettings,
    redis: redis.Redis,
    *,
    key_prefix: str = "leadfleet",
    on_api_usage: Callable[[ApiUsage], None] | None = None,
) -> SalesforceClient:
    """The production client: one verified session shared by JWT auth and the REST calls."""
    http = build_http_session(settings)
    auth = JwtBearerAuth(settings, redis, key_prefix=key_prefix, http=http)
    return SalesforceClient(settings, auth, http=http, on_api_usage=on_api_usage)
