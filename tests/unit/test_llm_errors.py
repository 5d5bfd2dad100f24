"""Anthropic's answers map to our errors in one place, retries stay inside the caller's budget.

The SDK runs for real here; only its transport is replaced by an httpx2.MockTransport that plays
the API from a script and records each request. This is the error-mapping unit: it needs every
status and network failure on demand and no network, which the simulator's integration tests
cover over real HTTPS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from pydantic import SecretStr

from shared.errors import PermanentError, RetryableError
from shared.llm.anthropic import AnthropicProvider, LlmRequestError, error_from_sdk
from shared.llm.port import LlmAnswerError, LlmUnavailableError
from shared.llm.prompts import ROUTING_TOOL
from shared.models import Lead
from shared.policy import load_policy
from shared.settings import LlmSettings

ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy(ROOT / "config" / "routing_policy.json")
KEY = "sk-ant-api03-unit-test-key-which-must-never-leak"
LEAD = Lead(Country="Germany", NumberOfEmployees=5000)
GOOD_INPUT = {"segment": "Enterprise", "region": "EMEA", "confidence": 0.9, "reason": "5000 in DE"}

Script = list[httpx2.Response | Exception]


class ScriptedApi:
    """Answers each request with the next scripted response (the last one repeats); keeps requests."""

    def __init__(self, *script: httpx2.Response | Exception) -> None:
        self.script: Script = list(script)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        return step

    def body(self, index: int = 0) -> dict[str, Any]:
        """The JSON body of a recorded request."""
        data = json.loads(self.requests[index].content)
        assert isinstance(data, dict)
        return data


def message(tool_input: dict[str, Any] | None, **usage: int) -> httpx2.Response:
    """A Messages API answer: a tool_use block for route_lead, or only text when input is None."""
    content: list[dict[str, Any]] = (
        [{"type": "text", "text": "I think EMEA."}]
        if tool_input is None
        else [{"type": "tool_use", "id": "toolu_01", "name": ROUTING_TOOL, "input": tool_input}]
    )
    return httpx2.Response(
        200,
        json={
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-5-5",
            "content": content,
            "stop_reason": "end_turn" if tool_input is None else "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": 40, "output_tokens": 30, **usage},
        },
    )


def api_error(
    status: int, error_type: str, text: str = "boom", headers: dict[str, str] | None = None
) -> httpx2.Response:
    """An error answer in Anthropic's shape."""
    return httpx2.Response(
        status,
        json={"type": "error", "error": {"type": error_type, "message": text}},
        headers={"request-id": "req_01", **(headers or {})},
    )


def provider(api: ScriptedApi, **settings: Any) -> AnthropicProvider:
    """The provider on the real SDK whose transport is the scripted API."""
    values: dict[str, Any] = {
        "api_key": SecretStr(KEY),
        "timeout_seconds": 2.0,
        "max_retries": 1,
        "retry_backoff_seconds": 0.01,
        **settings,
    }
    client = anthropic.Anthropic(
        api_key=KEY,
        base_url="https://anthropic.test",
        http_client=httpx2.Client(transport=httpx2.MockTransport(api)),
    )
    return AnthropicProvider(LlmSettings(**values), client=client)


@pytest.mark.parametrize(
    ("status", "error_type", "expected"),
    [
        (400, "invalid_request_error", LlmRequestError),
        (401, "authentication_error", LlmRequestError),
        (403, "permission_error", LlmRequestError),
        (404, "not_found_error", LlmRequestError),
        (413, "request_too_large", LlmRequestError),
        (408, "timeout_error", LlmUnavailableError),
        (429, "rate_limit_error", LlmUnavailableError),
        (500, "api_error", LlmUnavailableError),
        (503, "api_error", LlmUnavailableError),
        (529, "overloaded_error", LlmUnavailableError),
    ],
    ids=[
        "bad-request",
        "bad-key",
        "forbidden",
        "unknown-model",
        "too-large",
        "request-timeout",
        "rate-limited",
        "server-error",
        "unavailable",
        "overloaded",
    ],
)
def test_status_maps_to_retryable_or_permanent(
    status: int, error_type: str, expected: type[Exception]
) -> None:
    """4xx is permanent (fix the request, key or model); 408, 429, 5xx and 529 are retryable."""
    api = ScriptedApi(api_error(status, error_type))
    with pytest.raises(expected) as raised:
        provider(api, max_retries=0).route(LEAD, POLICY, timeout=5.0)
    assert isinstance(
        raised.value, RetryableError if expected is LlmUnavailableError else PermanentError
    )
    assert str(status) in str(raised.value)
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [
        httpx2.ReadTimeout("read timed out"),
        httpx2.ConnectTimeout("connect timed out"),
        httpx2.ConnectError("connection refused"),
        httpx2.RemoteProtocolError("server hung up"),
    ],
    ids=["read-timeout", "connect-timeout", "refused", "hung-up"],
)
def test_network_failures_are_unavailable(failure: Exception) -> None:
    """Timeouts and broken connections mean the model is unavailable: rules decide meanwhile."""
    with pytest.raises(LlmUnavailableError):
        provider(ScriptedApi(failure), max_retries=0).route(LEAD, POLICY, timeout=5.0)


def test_request_error_carries_status_type_and_request_id() -> None:
    """A permanent refusal says what Anthropic said, for the dead-letter entry."""
    api = ScriptedApi(api_error(404, "not_found_error", "model: claude-nope"))
    with pytest.raises(LlmRequestError) as raised:
        provider(api).route(LEAD, POLICY, timeout=5.0)
    error = raised.value
    assert (error.status, error.error_type, error.request_id) == (404, "not_found_error", "req_01")
    assert "model: claude-nope" in str(error)


def test_key_echoed_by_the_api_never_reaches_the_error() -> None:
    """Even when an error body repeats the key, the exception shows it nowhere."""
    api = ScriptedApi(api_error(401, "authentication_error", f"invalid x-api-key {KEY}"))
    with pytest.raises(LlmRequestError) as raised:
        provider(api).route(LEAD, POLICY, timeout=5.0)
    shown = " ".join([str(raised.value), repr(raised.value), *map(str, raised.value.args)])
    assert KEY not in shown
    assert raised.value.__cause__ is None


def test_overloaded_then_answered_is_retried_once() -> None:
    """A 529 is retried (max_retries=1) and the second answer is used."""
    api = ScriptedApi(api_error(529, "overloaded_error"), message(GOOD_INPUT))
    answer = provider(api).route(LEAD, POLICY, timeout=5.0)
    assert answer.verdict.region == "EMEA"
    assert len(api.requests) == 2


def test_retries_stop_at_max_retries() -> None:
    """A model that stays overloaded is asked max_retries + 1 times, then reported unavailable."""
    api = ScriptedApi(api_error(529, "overloaded_error"))
    with pytest.raises(LlmUnavailableError):
        provider(api, max_retries=2).route(LEAD, POLICY, timeout=5.0)
    assert len(api.requests) == 3


def test_sdk_retries_are_off() -> None:
    """With max_retries=0 one request is made, not the SDK's default three."""
    api = ScriptedApi(api_error(500, "api_error"))
    with pytest.raises(LlmUnavailableError):
        provider(api, max_retries=0).route(LEAD, POLICY, timeout=5.0)
    assert len(api.requests) == 1


def test_retry_after_past_the_budget_ends_the_call_at_once() -> None:
    """A 429 asking for 30 s inside a 2 s budget is unavailable now, not after a 30 s sleep."""
    api = ScriptedApi(api_error(429, "rate_limit_error", headers={"retry-after": "30"}))
    with pytest.raises(LlmUnavailableError, match="429"):
        provider(api, max_retries=3).route(LEAD, POLICY, timeout=2.0)
    assert len(api.requests) == 1


def test_retry_after_within_the_budget_is_honoured() -> None:
    """A 429 with a short retry-after is retried and answered."""
    api = ScriptedApi(
        api_error(429, "rate_limit_error", headers={"retry-after-ms": "10"}), message(GOOD_INPUT)
    )
    answer = provider(api).route(LEAD, POLICY, timeout=5.0)
    assert answer.verdict.segment == "Enterprise"
    assert len(api.requests) == 2


def test_permanent_errors_are_not_retried() -> None:
    """A 400 is asked once: retrying the same bad request cannot help."""
    api = ScriptedApi(api_error(400, "invalid_request_error"))
    with pytest.raises(LlmRequestError):
        provider(api, max_retries=3).route(LEAD, POLICY, timeout=5.0)
    assert len(api.requests) == 1


def test_spent_budget_sends_nothing() -> None:
    """With no time left the call is unavailable before any request is made."""
    api = ScriptedApi(message(GOOD_INPUT))
    with pytest.raises(LlmUnavailableError):
        provider(api).route(LEAD, POLICY, timeout=0.0)
    assert api.requests == []


@pytest.mark.parametrize(
    ("tool_input", "complaint"),
    [
        (None, "without calling route_lead"),
        ({**GOOD_INPUT, "region": "Europe"}, "region 'Europe'"),
        ({**GOOD_INPUT, "confidence": 7}, "outside"),
        ({"segment": "SMB"}, "no 'region'"),
    ],
    ids=["text-only", "region-outside-enum", "confidence-out-of-range", "missing-fields"],
)
def test_answers_outside_the_tool_are_answer_errors(
    tool_input: dict[str, Any] | None, complaint: str
) -> None:
    """The model answered, but not through the tool or not within its enums."""
    with pytest.raises(LlmAnswerError, match=complaint):
        provider(ScriptedApi(message(tool_input))).route(LEAD, POLICY, timeout=5.0)


def test_response_not_matching_the_schema_is_an_answer_error() -> None:
    """A 200 the SDK cannot read as a Message is the model's fault, not ours."""
    request = httpx2.Request("POST", "https://anthropic.test/v1/messages")
    response = httpx2.Response(200, json={"weird": True}, request=request)
    error = error_from_sdk(anthropic.APIResponseValidationError(response, {"weird": True}))
    assert isinstance(error, LlmAnswerError)


def test_request_forces_the_tool_and_caches_the_policy() -> None:
    """The wire request: model and max_tokens from settings, cached system block, forced tool."""
    api = ScriptedApi(message(GOOD_INPUT))
    provider(api, model="claude-sonnet-4-6", max_tokens=300).route(LEAD, POLICY, timeout=5.0)
    body = api.body()
    assert (body["model"], body["max_tokens"]) == ("claude-sonnet-4-6", 300)
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert "Routing policy version" in body["system"][0]["text"]
    assert body["tool_choice"]["type"] == "tool"
    assert body["tool_choice"]["name"] == body["tools"][0]["name"] == ROUTING_TOOL
    assert body["tools"][0]["input_schema"]["properties"]["region"]["enum"][-1] is None
    assert api.requests[0].headers["anthropic-version"]


def test_usage_and_latency_are_recorded() -> None:
    """Input, output and cache tokens reach the exchange; the request names the settings' model."""
    api = ScriptedApi(
        message(GOOD_INPUT, cache_read_input_tokens=1200, cache_creation_input_tokens=0)
    )
    exchange = provider(api).route(LEAD, POLICY, timeout=5.0).exchange
    assert (exchange.provider, exchange.request["model"]) == ("anthropic", "claude-sonnet-5-5")
    assert (exchange.input_tokens, exchange.output_tokens) == (40, 30)
    assert (exchange.cache_read_tokens, exchange.cache_creation_tokens) == (1200, 0)
    assert exchange.response["usage"]["prompt_tokens"] == 1240
    assert exchange.latency_ms > 0
    assert KEY not in json.dumps(exchange.model_dump())
