"""The Anthropic provider: the Messages API through the anthropic SDK, with a forced tool call.

The system block (policy or catalogue) is marked for prompt caching, so only the lead's message is
new input on each call. A call never waits longer than its caller's `timeout`: each HTTP attempt
gets at most the time left, and a retry happens only when its wait and a new attempt still fit.
The SDK's own retries are off because it sleeps for as long as a 429's retry-after says, however
long that is; here a retry-after past the budget ends the call at once as LlmUnavailableError.
"""

from __future__ import annotations

import ssl
import time
from typing import Any

import anthropic
from anthropic.types import Message, ToolUseBlock

from shared.errors import ConfigError, PermanentError, truncate
from shared.llm.answers import routing_answer, template_answer
from shared.llm.exchange import TokenUsage, record_exchange
from shared.llm.port import (
    LlmAnswerError,
    LlmExchange,
    LlmUnavailableError,
    RoutingAnswer,
    TemplateAnswer,
)
from shared.llm.prompts import Prompt, routing_prompt, template_prompt
from shared.models import Lead
from shared.policy import RoutingPolicy
from shared.settings import LlmSettings
from shared.templates import TemplateCatalog

PROVIDER = "anthropic"
_RETRYABLE_STATUSES = frozenset({408, 409, 429})
_DETAIL_LIMIT = 200
_REDACTED = "[redacted]"


class LlmRequestError(PermanentError):
    """Anthropic refused the request (bad request, key, permission, unknown model): do not retry."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.status = status
        self.error_type = error_type
        self.request_id = request_id
        super().__init__(message)


def _scrubbed(text: str, secret: str) -> str:
    """Text with the API key cut out, wherever an upstream message may have echoed it."""
    return text.replace(secret, _REDACTED) if secret else text


def _error_field(body: object, key: str) -> str | None:
    """error.<key> of an Anthropic error body, when the body has that shape."""
    error = body.get("error") if isinstance(body, dict) else None
    value = error.get(key) if isinstance(error, dict) else None
    return value if isinstance(value, str) else None


def error_from_sdk(
    exc: anthropic.AnthropicError, *, secret: str = ""
) -> LlmUnavailableError | LlmRequestError | LlmAnswerError:
    """Our error for an SDK error; timeouts, connection failures, 408/409/429, 5xx and 529 retry."""
    if isinstance(exc, anthropic.APITimeoutError):
        return LlmUnavailableError("Anthropic did not answer within the timeout")
    if isinstance(exc, anthropic.APIConnectionError):
        return LlmUnavailableError("could not connect to Anthropic")
    if isinstance(exc, anthropic.APIResponseValidationError):
        return LlmAnswerError(
            f"Anthropic's {exc.status_code} response does not match the Messages API schema"
        )
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        error_type = _error_field(exc.body, "type")
        detail = _scrubbed(truncate(_error_field(exc.body, "message") or "", _DETAIL_LIMIT), secret)
        request_id = exc.response.headers.get("request-id")
        message = f"Anthropic answered {status}" + (f" {error_type}" if error_type else "")
        message += (f": {detail}" if detail else "") + (
            f" (request-id {request_id})" if request_id else ""
        )
        if status in _RETRYABLE_STATUSES or status >= 500:
            return LlmUnavailableError(message)
        return LlmRequestError(message, status=status, error_type=error_type, request_id=request_id)
    detail = _scrubbed(truncate(str(exc), _DETAIL_LIMIT), secret)
    return LlmRequestError(f"Anthropic client error {type(exc).__name__}: {detail}")


def _retry_after(exc: anthropic.AnthropicError) -> float | None:
    """Seconds the API asked us to wait (retry-after-ms or retry-after), when it said so."""
    if not isinstance(exc, anthropic.APIStatusError):
        return None
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(float(headers[name]) * scale, 0.0)
        except (KeyError, ValueError):
            continue
    return None


def _default_client(settings: LlmSettings) -> anthropic.Anthropic:
    """An SDK client from settings; it opens no connection until the first request."""
    http_client = None
    if settings.ca_bundle is not None:
        if not settings.ca_bundle.is_file():
            raise ConfigError(
                "LEADFLEET_LLM__CA_BUNDLE",
                [f"expected a PEM CA bundle file, found nothing at {settings.ca_bundle}"],
            )
        context = ssl.create_default_context(cafile=str(settings.ca_bundle))
        http_client = anthropic.DefaultHttpxClient(verify=context)
    return anthropic.Anthropic(
        api_key=settings.api_key.get_secret_value(),
        base_url=settings.base_url,
        timeout=settings.timeout_seconds,
        max_retries=0,
        http_client=http_client,
    )


class AnthropicProvider:
    """Routing verdicts and template choices from Claude through a forced tool call."""

    def __init__(self, settings: LlmSettings, *, client: anthropic.Anthropic | None = None) -> None:
        base = client if client is not None else _default_client(settings)
        self._settings = settings
        self._client = base.with_options(max_retries=0, timeout=settings.timeout_seconds)
        self._secret = base.api_key or settings.api_key.get_secret_value()

    @property
    def name(self) -> str:
        """Provider name as recorded in the flywheel."""
        return PROVIDER

    def close(self) -> None:
        """Close the HTTP connection pool (at process shutdown)."""
        self._client.close()

    def route(self, lead: Lead, policy: RoutingPolicy, *, timeout: float) -> RoutingAnswer:
        """Segment and region for a lead, chosen among the policy's names."""
        prompt = routing_prompt(lead, policy)
        arguments, exchange = self._ask(prompt, timeout)
        return routing_answer(arguments, policy, exchange)

    def choose_template(
        self, lead: Lead, catalog: TemplateCatalog, *, timeout: float
    ) -> TemplateAnswer:
        """Intent and template for a lead, chosen among the catalogue's ids."""
        prompt = template_prompt(lead, catalog)
        arguments, exchange = self._ask(prompt, timeout)
        return template_answer(arguments, catalog, exchange)

    def _ask(self, prompt: Prompt, timeout: float) -> tuple[dict[str, Any], LlmExchange]:
        """The forced tool's arguments and the exchange that produced them."""
        started = time.monotonic()
        message = self._create(prompt, started + timeout, timeout)
        latency_ms = (time.monotonic() - started) * 1000
        call = next(
            (
                block
                for block in message.content
                if isinstance(block, ToolUseBlock) and block.name == prompt.tool.name
            ),
            None,
        )
        if call is None:
            raise LlmAnswerError(
                f"the model answered without calling {prompt.tool.name} "
                f"(stop_reason {message.stop_reason})"
            )
        usage = message.usage
        exchange = record_exchange(
            provider=PROVIDER,
            request_model=self._settings.model,
            response_model=str(message.model),
            prompt=prompt,
            response_id=message.id,
            created=int(time.time()),
            call_id=call.id,
            arguments=call.input,
            usage=TokenUsage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_input_tokens or 0,
                cache_creation_tokens=usage.cache_creation_input_tokens or 0,
            ),
            latency_ms=latency_ms,
        )
        return dict(call.input), exchange

    def _create(self, prompt: Prompt, deadline: float, budget: float) -> Message:
        """One Messages API call, retried while retries are left and the wait fits the deadline."""
        retries = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LlmUnavailableError(f"no answer from Anthropic within {budget:g} s")
            try:
                return self._client.messages.create(
                    model=self._settings.model,
                    max_tokens=self._settings.max_tokens,
                    system=[
                        {
                            "type": "text",
                            "text": prompt.system,
                            "cache_control": {"type": "ephemeral"},
                        }
                    ],
                    messages=[{"role": "user", "content": prompt.user}],
                    tools=[
                        {
                            "name": prompt.tool.name,
                            "description": prompt.tool.description,
                            "input_schema": prompt.tool.input_schema,
                        }
                    ],
                    tool_choice={
                        "type": "tool",
                        "name": prompt.tool.name,
                        "disable_parallel_tool_use": True,
                    },
                    timeout=min(self._settings.timeout_seconds, remaining),
                )
            except anthropic.AnthropicError as exc:
                error = error_from_sdk(exc, secret=self._secret)
                wait = _retry_after(exc)
                if wait is None:
                    wait = self._settings.retry_backoff_seconds * 2**retries
                fits = time.monotonic() + wait < deadline
                if (
                    not isinstance(error, LlmUnavailableError)
                    or retries >= self._settings.max_retries
                    or not fits
                ):
                    # Not chained: the SDK error keeps the request, whose headers hold the key.
                    raise error from None
                time.sleep(wait)
                retries += 1
