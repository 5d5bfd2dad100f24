"""Salesforce answers map to one error class each, and the class says whether to retry."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from shared.errors import PermanentError, RetryableError, SalesforceError
from shared.salesforce.errors import (
    AccessDeniedError,
    EmailBouncedError,
    EmailOptedOutError,
    MalformedRequestError,
    NotFoundError,
    RequestLimitExceededError,
    RequestRejectedError,
    RowLockError,
    SalesforceAuthError,
    ServerError,
    SessionExpiredError,
    SingleEmailLimitError,
    StaleRecordError,
    TransportError,
    error_from_exception,
    error_from_response,
)


def rest_error(code: str, message: str = "m") -> list[dict[str, Any]]:
    return [{"message": message, "errorCode": code, "fields": []}]


def action_error(code: str) -> list[dict[str, Any]]:
    return [
        {
            "actionName": "emailSimple",
            "errors": [{"statusCode": code, "message": "refused", "fields": []}],
            "isSuccess": False,
            "outputValues": None,
        }
    ]


CASES: list[tuple[int, Any, type[SalesforceError], bool]] = [
    (401, rest_error("INVALID_SESSION_ID"), SessionExpiredError, True),
    (401, None, SessionExpiredError, True),
    (403, rest_error("REQUEST_LIMIT_EXCEEDED"), RequestLimitExceededError, True),
    (400, rest_error("UNABLE_TO_LOCK_ROW"), RowLockError, True),
    (503, "Service Unavailable", ServerError, True),
    (500, b"", ServerError, True),
    (502, b"<html>Bad Gateway</html>", ServerError, True),
    (429, None, ServerError, True),
    (503, rest_error("SERVER_UNAVAILABLE"), ServerError, True),
    (412, rest_error("PRECONDITION_FAILED"), StaleRecordError, False),
    (412, b"", StaleRecordError, False),
    (404, rest_error("NOT_FOUND"), NotFoundError, False),
    (404, rest_error("ENTITY_IS_DELETED"), NotFoundError, False),
    (400, rest_error("MALFORMED_ID"), MalformedRequestError, False),
    (400, json.dumps(rest_error("INVALID_FIELD")).encode(), MalformedRequestError, False),
    (400, json.dumps(rest_error("MALFORMED_QUERY")), MalformedRequestError, False),
    (405, rest_error("METHOD_NOT_ALLOWED"), MalformedRequestError, False),
    (
        400,
        {"error": "invalid_grant", "error_description": "audience is invalid"},
        SalesforceAuthError,
        False,
    ),
    (
        400,
        {"error": "unsupported_grant_type", "error_description": "grant type not supported"},
        SalesforceAuthError,
        False,
    ),
    (403, rest_error("INSUFFICIENT_ACCESS_OR_READONLY"), AccessDeniedError, False),
    (403, None, AccessDeniedError, False),
    (200, action_error("EMAIL_OPTED_OUT"), EmailOptedOutError, False),
    (400, action_error("EMAIL_ADDRESS_BOUNCED"), EmailBouncedError, False),
    (400, action_error("SINGLE_EMAIL_LIMIT_EXCEEDED"), SingleEmailLimitError, False),
    (400, {"errorCode": "MALFORMED_ID", "message": "bad id"}, MalformedRequestError, False),
    (409, b"conflict", RequestRejectedError, False),
    (300, rest_error("SOMETHING_NEW"), RequestRejectedError, False),
    (400, [], MalformedRequestError, False),
]
IDS = [
    "401-invalid-session",
    "401-empty",
    "403-request-limit",
    "400-row-lock",
    "503-text",
    "500-empty-bytes",
    "502-html",
    "429-none",
    "503-server-unavailable-code",
    "412-precondition",
    "412-empty",
    "404-not-found",
    "404-deleted",
    "400-malformed-id",
    "400-invalid-field-bytes",
    "400-malformed-query-text",
    "405-method",
    "oauth-invalid-grant",
    "oauth-unsupported-grant",
    "403-insufficient-access",
    "403-empty",
    "action-opted-out",
    "action-bounced",
    "action-single-email-limit",
    "dict-error",
    "409-unknown",
    "300-unknown-code",
    "400-empty-array",
]


@pytest.mark.parametrize(("status", "body", "expected", "retryable"), CASES, ids=IDS)
def test_status_and_code_choose_the_class(
    status: int, body: Any, expected: type[SalesforceError], retryable: bool
) -> None:
    """A known errorCode decides the class; without one the status does; retryability follows."""
    error = error_from_response(status, body, "Lead")
    assert type(error) is expected
    assert isinstance(error, RetryableError) is retryable
    assert isinstance(error, PermanentError) is not retryable
    assert error.status == status
    assert error.resource == "Lead"


def test_error_keeps_salesforce_message_code_and_short_body() -> None:
    """The message and code reach the error for logs; a huge body is truncated."""
    body = rest_error("MALFORMED_ID", "Lead ID: id value of incorrect type: 00Qxyz")
    body[0]["padding"] = "x" * 5000
    error = error_from_response(400, body, "Lead")
    assert "id value of incorrect type" in str(error)
    assert error.error_code == "MALFORMED_ID"
    assert len(error.body) <= 501


def test_auth_error_carries_the_description() -> None:
    """invalid_grant explains itself: the description is on the error and in its message."""
    body = {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"}
    error = error_from_response(400, body, "oauth2/token")
    assert isinstance(error, SalesforceAuthError)
    assert error.error == "invalid_grant"
    assert error.description == "user hasn't approved this consumer"
    assert "user hasn't approved this consumer" in str(error)


EXCEPTION_CASES: list[tuple[BaseException, type[SalesforceError]]] = [
    (
        SalesforceExpiredSession("https://x/q", 401, "query", rest_error("INVALID_SESSION_ID")),
        SessionExpiredError,
    ),
    (
        SalesforceMalformedRequest("https://x/q", 400, "query", rest_error("MALFORMED_QUERY")),
        MalformedRequestError,
    ),
    (
        SalesforceRefusedRequest("https://x/q", 403, "query", rest_error("REQUEST_LIMIT_EXCEEDED")),
        RequestLimitExceededError,
    ),
    (SalesforceGeneralError("https://x/l", 412, "Lead", b""), StaleRecordError),
    (SalesforceGeneralError("https://x/l", 503, "Lead", "unavailable"), ServerError),
    (requests.ReadTimeout("read timed out"), TransportError),
    (requests.ConnectTimeout("connect timed out"), TransportError),
    (requests.ConnectionError("connection refused"), TransportError),
]


@pytest.mark.parametrize(
    ("exc", "expected"),
    EXCEPTION_CASES,
    ids=[
        "ssf-expired",
        "ssf-malformed",
        "ssf-refused-limit",
        "ssf-general-412",
        "ssf-general-503",
        "read-timeout",
        "connect-timeout",
        "connection-error",
    ],
)
def test_library_exceptions_translate_through_the_same_mapping(
    exc: BaseException, expected: type[SalesforceError]
) -> None:
    """simple-salesforce and requests exceptions become the same classes as raw responses."""
    error = error_from_exception(exc, "Lead")
    assert type(error) is expected
    assert error.resource == "Lead"
