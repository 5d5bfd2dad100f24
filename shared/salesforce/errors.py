"""Salesforce's answers as leadfleet errors: status and errorCode map to a class in one function.

SalesforceError (shared.errors)
├── SalesforceRetryableError
│   ├── SessionExpiredError         401 INVALID_SESSION_ID (re-authenticate, then retry)
│   ├── RequestLimitExceededError   403 REQUEST_LIMIT_EXCEEDED
│   ├── RowLockError                UNABLE_TO_LOCK_ROW
│   ├── ServerError                 5xx, 429, SERVER_UNAVAILABLE
│   └── TransportError              timeouts, refused or broken connections
└── SalesforcePermanentError
    ├── SalesforceAuthError         OAuth invalid_grant and friends
    ├── StaleRecordError            412: the record changed since the given time
    ├── NotFoundError               404 NOT_FOUND, ENTITY_IS_DELETED
    ├── MalformedRequestError       400 MALFORMED_ID, INVALID_FIELD, MALFORMED_QUERY, ...
    ├── AccessDeniedError           403 other than REQUEST_LIMIT_EXCEEDED
    ├── EmailOptedOutError          EMAIL_OPTED_OUT
    ├── EmailBouncedError           EMAIL_ADDRESS_BOUNCED
    ├── SingleEmailLimitError       SINGLE_EMAIL_LIMIT_EXCEEDED
    └── RequestRejectedError        any other refusal
"""

from __future__ import annotations

import json
from typing import Any

import requests
from simple_salesforce.exceptions import SalesforceError as SimpleSalesforceError

from shared.errors import SalesforceError, SalesforcePermanentError, SalesforceRetryableError

__all__ = [
    "AccessDeniedError",
    "EmailBouncedError",
    "EmailOptedOutError",
    "MalformedRequestError",
    "NotFoundError",
    "RequestLimitExceededError",
    "RequestRejectedError",
    "RowLockError",
    "SalesforceAuthError",
    "ServerError",
    "SessionExpiredError",
    "SingleEmailLimitError",
    "StaleRecordError",
    "TransportError",
    "error_from_exception",
    "error_from_response",
]


class SessionExpiredError(SalesforceRetryableError):
    """The access token is expired or revoked; a fresh token makes the call succeed."""


class RequestLimitExceededError(SalesforceRetryableError):
    """The org's API request allowance is spent; calls succeed again once it refills."""


class RowLockError(SalesforceRetryableError):
    """Another transaction held the record's lock; Salesforce advises retrying."""


class ServerError(SalesforceRetryableError):
    """Salesforce failed or throttled (5xx, 429); a later attempt may succeed."""


class TransportError(SalesforceRetryableError):
    """The request timed out or the connection failed; the outcome of a write is unknown."""


class SalesforceAuthError(SalesforcePermanentError):
    """The OAuth token endpoint refused the JWT; carries its description, never the assertion."""

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        description: str | None = None,
        status: int | None = None,
        resource: str | None = None,
        body: str | bytes | None = None,
    ) -> None:
        self.error = error
        self.description = description
        super().__init__(message, status=status, error_code=error, resource=resource, body=body)


class StaleRecordError(SalesforcePermanentError):
    """The record changed after If-Unmodified-Since: re-read it and decide again.

    Permanent because a blind retry sends the same precondition and fails the same way; the
    workload that gets it re-reads the record, and the change that beat it has its own event.
    """


class NotFoundError(SalesforcePermanentError):
    """The record or resource does not exist (or was deleted)."""


class MalformedRequestError(SalesforcePermanentError):
    """Salesforce could not accept the request as written: bad id, field, query or body."""


class AccessDeniedError(SalesforcePermanentError):
    """The integration user lacks the permission or the org lacks the feature."""


class EmailOptedOutError(SalesforcePermanentError):
    """The recipient has opted out of email; sending again cannot succeed."""


class EmailBouncedError(SalesforcePermanentError):
    """The recipient's address is marked as bounced."""


class SingleEmailLimitError(SalesforcePermanentError):
    """The org's daily single-email allowance is spent; it resets at midnight, not in a backoff."""


class RequestRejectedError(SalesforcePermanentError):
    """Salesforce refused the request for a reason without a more specific class."""


_BY_CODE: dict[str, type[SalesforceError]] = {
    "INVALID_SESSION_ID": SessionExpiredError,
    "REQUEST_LIMIT_EXCEEDED": RequestLimitExceededError,
    "UNABLE_TO_LOCK_ROW": RowLockError,
    "SERVER_UNAVAILABLE": ServerError,
    "NOT_FOUND": NotFoundError,
    "ENTITY_IS_DELETED": NotFoundError,
    "MALFORMED_ID": MalformedRequestError,
    "INVALID_ID_FIELD": MalformedRequestError,
    "INVALID_FIELD": MalformedRequestError,
    "INVALID_FIELD_FOR_INSERT_UPDATE": MalformedRequestError,
    "INVALID_TYPE": MalformedRequestError,
    "MALFORMED_QUERY": MalformedRequestError,
    "INVALID_QUERY_FILTER_OPERATOR": MalformedRequestError,
    "JSON_PARSER_ERROR": MalformedRequestError,
    "METHOD_NOT_ALLOWED": MalformedRequestError,
    "FIELD_INTEGRITY_EXCEPTION": MalformedRequestError,
    "REQUIRED_FIELD_MISSING": MalformedRequestError,
    "STRING_TOO_LONG": MalformedRequestError,
    "INVALID_CROSS_REFERENCE_KEY": MalformedRequestError,
    "INSUFFICIENT_ACCESS_OR_READONLY": AccessDeniedError,
    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY": AccessDeniedError,
    "API_DISABLED_FOR_ORG": AccessDeniedError,
    "EMAIL_OPTED_OUT": EmailOptedOutError,
    "EMAIL_ADDRESS_BOUNCED": EmailBouncedError,
    "SINGLE_EMAIL_LIMIT_EXCEEDED": SingleEmailLimitError,
}

# OAuth token endpoint errors (RFC 6749 section 5.2 plus Salesforce's own).
_OAUTH_ERRORS = frozenset(
    {
        "invalid_grant",
        "invalid_client",
        "invalid_client_id",
        "invalid_request",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "inactive_user",
        "inactive_org",
    }
)


def _first_error(body: Any) -> tuple[str | None, str | None]:
    """The (errorCode, message) of the first error in any shape Salesforce answers with."""
    if isinstance(body, list):
        for item in body:
            code, message = _first_error(item)
            if code is not None or message is not None:
                return code, message
        return None, None
    if not isinstance(body, dict):
        return None, None
    if "error" in body and isinstance(body["error"], str):
        description = body.get("error_description")
        return body["error"], description if isinstance(description, str) else None
    # REST errors use errorCode; SaveResult and action errors use statusCode.
    for key in ("errorCode", "statusCode"):
        if isinstance(body.get(key), str):
            message = body.get("message")
            return body[key], message if isinstance(message, str) else None
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        return _first_error(errors)
    return None, None


def _parse(body: bytes | str | list[Any] | dict[str, Any] | None) -> tuple[Any, str]:
    """The body as parsed JSON (when it is JSON) and as text for the error's record."""
    if body is None:
        return None, ""
    if isinstance(body, list | dict):
        return body, json.dumps(body, default=str)
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        return json.loads(text), text
    except ValueError:
        return text, text


def _class_for_status(status: int) -> type[SalesforceError]:
    if status == 401:
        return SessionExpiredError
    if status == 404:
        return NotFoundError
    if status == 412:
        return StaleRecordError
    if status == 429 or status >= 500:
        return ServerError
    if status == 403:
        return AccessDeniedError
    if status == 400:
        return MalformedRequestError
    return RequestRejectedError


def error_from_response(
    status: int,
    body: bytes | str | list[Any] | dict[str, Any] | None,
    resource: str,
) -> SalesforceError:
    """The error for a Salesforce answer: a known errorCode decides, otherwise the status does."""
    parsed, text = _parse(body)
    code, message = _first_error(parsed)
    if code in _OAUTH_ERRORS:
        return SalesforceAuthError(
            f"token request refused: {code}: {message or 'no description'}",
            error=code,
            description=message,
            status=status,
            resource=resource,
            body=text,
        )
    cls = _BY_CODE.get(code or "") or _class_for_status(status)
    summary = message or (text.strip()[:200] if text.strip() else f"HTTP {status}")
    return cls(summary, status=status, error_code=code, resource=resource, body=text)


def error_from_exception(exc: BaseException, resource: str) -> SalesforceError:
    """Translate a simple-salesforce or requests exception through error_from_response."""
    if isinstance(exc, SalesforceError):
        return exc
    if isinstance(exc, SimpleSalesforceError):
        content: Any = exc.content
        return error_from_response(int(exc.status), content, resource or exc.resource_name)
    if isinstance(exc, requests.Timeout):
        return TransportError(f"timed out: {type(exc).__name__}", resource=resource)
    if isinstance(exc, requests.RequestException):
        # The exception text names host and path only; request headers and bodies stay out.
        return TransportError(f"{type(exc).__name__}: {exc}", resource=resource)
    raise TypeError(f"not a Salesforce or transport exception: {type(exc).__name__}")
