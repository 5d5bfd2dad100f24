"""What leadfleet puts on the wire to Salesforce: the HTTP session, headers and JSON bodies.

Both the client and FakeSalesforce shape requests with these, so a value the real org would
refuse (a naive datetime, a second recipient, an unknown object type) fails the same way in both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import format_datetime

import requests
from requests.adapters import HTTPAdapter

from shared.errors import InvalidInputError
from shared.salesforce.ids import validate_id
from shared.salesforce.port import SOBJECT_BY_PREFIX, ApiUsage
from shared.salesforce.soql import field_name
from shared.settings import SalesforceSettings

__all__ = [
    "build_http_session",
    "collection_record",
    "http_date",
    "json_fields",
    "parse_limit_info",
    "validate_email_address",
]

_LIMIT_INFO = re.compile(r"(?:^|[;\s])api-usage=(\d+)/(\d+)")
_EMAIL_ADDRESS = re.compile(r"[^@\s,;<>\"']+@[^@\s,;<>\"']+\.[^@\s,;<>\"']+")


class _SalesforceAdapter(HTTPAdapter):
    """Applies the configured timeout and CA bundle to every request through the session.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace a session's `verify` on each
    request, so a configured bundle is enforced here, where the environment cannot reach.
    """

    def __init__(self, timeout: float, ca_bundle: str | None) -> None:
        super().__init__()
        self._timeout = timeout
        self._ca_bundle = ca_bundle

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        return super().send(
            request,
            stream=stream,
            timeout=self._timeout if timeout is None else timeout,
            verify=self._ca_bundle if self._ca_bundle is not None else verify,
            cert=cert,
            proxies=proxies,
        )


def build_http_session(settings: SalesforceSettings) -> requests.Session:
    """A requests session verifying TLS against ca_bundle (system store when unset), with timeouts."""
    ca_bundle = str(settings.ca_bundle) if settings.ca_bundle else None
    session = requests.Session()
    session.verify = ca_bundle or True
    adapter = _SalesforceAdapter(settings.timeout_seconds, ca_bundle)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def parse_limit_info(header: str | None) -> ApiUsage | None:
    """The org-wide usage from a Sforce-Limit-Info header (api-usage=used/max), if present."""
    if not header:
        return None
    match = _LIMIT_INFO.search(header)
    if match is None:
        return None
    return ApiUsage(used=int(match.group(1)), max=int(match.group(2)))


def http_date(moment: datetime) -> str:
    """An HTTP date (RFC 9110 IMF-fixdate) for If-Unmodified-Since; whole seconds, GMT."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInputError("If-Unmodified-Since needs an aware datetime")
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def _json_value(name: str, value: object) -> object:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidInputError(f"field {name}: a naive datetime has no defined instant")
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise InvalidInputError(f"field {name}: cannot send a {type(value).__name__} to Salesforce")


def json_fields(fields: Mapping[str, object]) -> dict[str, object]:
    """Field values ready for a JSON body, names validated; datetimes as UTC ISO-8601."""
    return {field_name(name): _json_value(name, value) for name, value in fields.items()}


def collection_record(record: Mapping[str, object]) -> dict[str, object]:
    """One sObject Collections record: attributes.type (from the id's prefix if absent), id, fields."""
    fields = dict(record)
    record_id = fields.pop("Id", None) or fields.pop("id", None)
    if not isinstance(record_id, str):
        raise InvalidInputError("every record of a collection update needs an Id")
    record_id = validate_id(record_id)
    attributes = fields.pop("attributes", None)
    sobject = (
        attributes.get("type")
        if isinstance(attributes, Mapping)
        else SOBJECT_BY_PREFIX.get(record_id[:3])
    )
    if not isinstance(sobject, str):
        raise InvalidInputError(f"cannot tell the object type of {record_id}; add attributes")
    if not fields:
        raise InvalidInputError(f"record {record_id} has no fields to update")
    return {"attributes": {"type": sobject}, "id": record_id, **json_fields(fields)}


def validate_email_address(address: str) -> str:
    """Exactly one email address: emailAddresses is comma-separated, so text could add recipients."""
    if not isinstance(address, str) or not _EMAIL_ADDRESS.fullmatch(address):
        raise InvalidInputError("the recipient must be exactly one email address")
    return address
