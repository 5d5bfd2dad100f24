"""Salesforce's REST error bodies: a JSON array of {message, errorCode, fields}."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A failure the simulator answers with Salesforce's status code and error array."""

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        fields: list[str] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields
        self.headers = headers or {}

    def body(self) -> list[dict[str, Any]]:
        """The REST error array."""
        entry: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            entry["fields"] = self.fields
        return [entry]

    def save_error(self) -> dict[str, Any]:
        """The error as a SaveResult or action result entry (statusCode, not errorCode)."""
        return {"statusCode": self.error_code, "message": self.message, "fields": self.fields or []}


def not_found() -> ApiError:
    """The resource (object, record or route) does not exist."""
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def invalid_session() -> ApiError:
    """The bearer token is missing, unknown, expired or revoked."""
    return ApiError(
        401,
        "INVALID_SESSION_ID",
        "Session expired or invalid",
        headers={"WWW-Authenticate": "Token"},
    )


def request_limit_exceeded() -> ApiError:
    """The org's daily API request allowance is used up."""
    return ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")


def unable_to_lock_row() -> ApiError:
    """Another transaction holds the record's row lock."""
    return ApiError(
        400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record", []
    )


def method_not_allowed(method: str, allowed: list[str]) -> ApiError:
    """The resource exists but does not accept the method."""
    return ApiError(
        405,
        "METHOD_NOT_ALLOWED",
        f"HTTP Method '{method}' not allowed. Allowed are {','.join(allowed)}",
    )


def malformed_id(value: str, label: str | None = None) -> ApiError:
    """An id that is not well formed or has the wrong key prefix for where it is used."""
    if label:
        return ApiError(
            400, "MALFORMED_ID", f"{label}: id value of incorrect type: {value}", [label]
        )
    return ApiError(400, "MALFORMED_ID", f"Record ID: id value of incorrect type: {value}", [])


def invalid_field(sobject: str, name: str) -> ApiError:
    """A field name the sobject does not have."""
    return ApiError(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}")


def json_parser_error(message: str) -> ApiError:
    """A request body that is not the JSON shape the resource expects."""
    return ApiError(400, "JSON_PARSER_ERROR", message)
