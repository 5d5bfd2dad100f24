"""The one error tree of leadfleet.

    LeadfleetError
    ├── ConfigError                     bad settings or config file (fails at start-up)
    ├── RetryableError                  try again later: timeouts, 5xx, 429, row locks, limits
    │   ├── SalesforceRetryableError    (also SalesforceError)
    │   ├── LlmUnavailableError         the model timed out or answered 429/5xx/529 (shared.llm)
    │   ├── RateLimitedError            over a fleet-wide limit; retry after (shared.ratelimit)
    │   └── StoreUnavailableError       the flywheel store (S3 or disk) failed (shared.flywheel)
    └── PermanentError                  retrying cannot help: bad input, 4xx, invariants
        ├── InvalidInputError           a record or message that cannot be decided on
        │   └── DecodeError             a change event that cannot be decoded (listener.decode)
        ├── TemplateFillError           a template variable has no value and no fallback
        ├── LlmAnswerError              the model answered outside the tool or the enums
        ├── LlmRequestError             the model's API refused the request (4xx)
        ├── StoreRefusedError           the flywheel store refused the write (shared.flywheel)
        └── SalesforcePermanentError    (also SalesforceError)

Adapters raise errors that inherit from their service base and from exactly one of
RetryableError or PermanentError; only tasks turn errors into retries or dead letters.
"""

from __future__ import annotations

_BODY_LIMIT = 500


def truncate(body: str | bytes | None, limit: int = _BODY_LIMIT) -> str:
    """Shorten a response body for an error message so logs stay readable."""
    if body is None:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return text if len(text) <= limit else text[:limit] + "…"


class LeadfleetError(Exception):
    """Base of every error leadfleet raises on purpose."""


class ConfigError(LeadfleetError):
    """A settings value or config file is invalid; names the file, the key and the expectation."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


class RetryableError(LeadfleetError):
    """A failure that may succeed if tried again later."""


class PermanentError(LeadfleetError):
    """A failure that retrying cannot fix."""


class InvalidInputError(PermanentError):
    """An input record is malformed or lacks what a decision needs."""


class TemplateFillError(PermanentError):
    """A template variable has neither a value nor a fallback."""

    def __init__(self, template_id: str, variable: str) -> None:
        self.template_id = template_id
        self.variable = variable
        super().__init__(
            f"template {template_id!r}: variable {variable!r} has no value and no fallback"
        )


class SalesforceError(LeadfleetError):
    """An error answered by Salesforce or on the way to it."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        resource: str | None = None,
        body: str | bytes | None = None,
    ) -> None:
        self.status = status
        self.error_code = error_code
        self.resource = resource
        self.body = truncate(body)
        detail = ", ".join(
            f"{k}={v}"
            for k, v in (("status", status), ("errorCode", error_code), ("resource", resource))
            if v is not None
        )
        super().__init__(f"{message} ({detail})" if detail else message)


class SalesforceRetryableError(SalesforceError, RetryableError):
    """Salesforce failed in a way that a later attempt may not."""


class SalesforcePermanentError(SalesforceError, PermanentError):
    """Salesforce refused the request for a reason retrying cannot fix."""
