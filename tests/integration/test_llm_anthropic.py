"""The Anthropic provider through the real SDK over HTTPS against the simulator's Messages API."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from pydantic import SecretStr

from shared.errors import PermanentError
from shared.llm import (
    AnthropicProvider,
    LlmAnswerError,
    LlmPort,
    LlmRequestError,
    LlmUnavailableError,
    OfflineProvider,
)
from shared.llm.prompts import ROUTING_TOOL, TEMPLATE_TOOL
from shared.models import Lead
from shared.policy import load_policy
from shared.settings import LlmSettings
from shared.templates import load_templates
from simulator.testing import SimulatorHandle, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy(ROOT / "config" / "routing_policy.json")
CATALOG = load_templates(ROOT / "config" / "templates.json")
TIMEOUT = 2.0
CLEAN = Lead(Company="Nordwind AG", Country="Germany", NumberOfEmployees=5000)


def settings_for(sim: SimulatorHandle, **overrides: Any) -> LlmSettings:
    """LLM settings pointing at the simulator, trusting its CA."""
    values: dict[str, Any] = {
        "api_key": SecretStr(sim.anthropic_api_key),
        "base_url": sim.anthropic_base_url,
        "ca_bundle": sim.ca_bundle,
        "timeout_seconds": TIMEOUT,
        "max_retries": 1,
        "retry_backoff_seconds": 0.05,
        **overrides,
    }
    return LlmSettings(**values)


@pytest.fixture
def api(sim: SimulatorHandle) -> Iterator[SimulatorHandle]:
    """The session's simulator with the Messages API's faults, log and prompt cache cleared."""
    sim.reset_anthropic()
    yield sim
    sim.reset_anthropic()


@pytest.fixture
def llm(api: SimulatorHandle) -> Iterator[AnthropicProvider]:
    """The provider built from settings, as build_llm builds it in production."""
    provider = AnthropicProvider(settings_for(api))
    yield provider
    provider.close()


def provider_for(api: SimulatorHandle, **overrides: Any) -> AnthropicProvider:
    """A provider with some settings changed; the caller closes it."""
    return AnthropicProvider(settings_for(api, **overrides))


@pytest.mark.parametrize(
    ("fields", "segment", "region"),
    [
        ({"Country": "Germany", "NumberOfEmployees": 5000}, "Enterprise", "EMEA"),
        ({"Country": "Japan", "NumberOfEmployees": "about 800"}, "MM", "APAC"),
        ({"Country": "Deutschlnd", "NumberOfEmployees": "50-100"}, "SMB", "EMEA"),
        ({"Country": "Osaka", "Description": "We are 300 people."}, "MM", "APAC"),
        ({"Country": "N/A", "NumberOfEmployees": "lots"}, None, None),
    ],
    ids=["clean", "approximate-count", "misspelt-country", "city-and-description", "nothing"],
)
def test_routing_verdict_uses_only_policy_names(
    llm: AnthropicProvider, fields: dict[str, Any], segment: str | None, region: str | None
) -> None:
    """The model's verdict is within the policy's enums and reads messy leads sensibly."""
    verdict = llm.route(Lead.model_validate(fields), POLICY, timeout=TIMEOUT).verdict
    assert verdict.segment in (*POLICY.segments, None)
    assert verdict.region in (*POLICY.regions, None)
    assert (verdict.segment, verdict.region) == (segment, region)


@pytest.mark.parametrize(
    ("description", "template_id"),
    [
        ("What would 50 seats cost? Please send a quote.", "pricing-quote"),
        ("Do you support SAML SSO and an API for our integration?", "technical-integration"),
        ("Hello there", "general-introduction"),
    ],
    ids=["pricing", "technical", "general"],
)
def test_template_choice_is_in_the_catalogue(
    llm: AnthropicProvider, description: str, template_id: str
) -> None:
    """The template and intent come from the catalogue."""
    answer = llm.choose_template(Lead(Description=description), CATALOG, timeout=TIMEOUT)
    assert answer.template_id == template_id
    assert answer.intent == next(t.intent for t in CATALOG.templates if t.id == template_id)


def test_usage_is_recorded_and_the_second_call_reads_the_cache(
    api: SimulatorHandle, llm: AnthropicProvider
) -> None:
    """The first call writes the policy prompt to the cache; the next lead reads it."""
    first = llm.route(CLEAN, POLICY, timeout=TIMEOUT).exchange
    second = llm.route(Lead(Country="France", NumberOfEmployees=40), POLICY, timeout=TIMEOUT)
    assert first.cache_creation_tokens > 0 and first.cache_read_tokens == 0
    assert second.exchange.cache_read_tokens == first.cache_creation_tokens
    assert second.exchange.input_tokens > 0 and second.exchange.output_tokens > 0
    usage = api.anthropic_usage()
    assert usage["requests"] == 2
    assert usage["cache_read_input_tokens"] == second.exchange.cache_read_tokens


@pytest.mark.timeout(30)
def test_latency_past_the_timeout_is_unavailable(
    api: SimulatorHandle, llm: AnthropicProvider
) -> None:
    """A model slower than the budget is unavailable after the budget, not after the SDK's 10 min."""
    api.inject_anthropic_fault("latency", latency_ms=3000)
    with pytest.raises(LlmUnavailableError):
        llm.route(CLEAN, POLICY, timeout=1.0)
    # The simulator logs the abandoned request when its delay ends; later tests must not see it.
    assert wait_for(lambda: len(api.anthropic_requests()) == 1, timeout=10)
    assert api.anthropic_requests()[0].faults == ("latency",)


@pytest.mark.timeout(30)
def test_latency_within_the_timeout_is_answered(
    api: SimulatorHandle, llm: AnthropicProvider
) -> None:
    """A slow but timely model still answers."""
    api.inject_anthropic_fault("latency", latency_ms=(100, 200))
    assert llm.route(CLEAN, POLICY, timeout=TIMEOUT).verdict.region == "EMEA"


@pytest.mark.parametrize(
    "kind", ["rate_limit", "overloaded", "api_error"], ids=["429", "529", "500"]
)
def test_persistent_failures_are_unavailable_after_the_retries(
    api: SimulatorHandle, llm: AnthropicProvider, kind: str
) -> None:
    """429, 529 and 500 are retried max_retries times, then reported unavailable."""
    api.inject_anthropic_fault(kind, retry_after=0)
    with pytest.raises(LlmUnavailableError):
        llm.route(CLEAN, POLICY, timeout=TIMEOUT)
    assert [r.status for r in api.anthropic_requests()] == [
        {"rate_limit": 429, "overloaded": 529, "api_error": 500}[kind]
    ] * 2


@pytest.mark.parametrize(
    "kind", ["rate_limit", "overloaded", "api_error"], ids=["429", "529", "500"]
)
def test_one_failure_is_retried_and_answered(
    api: SimulatorHandle, llm: AnthropicProvider, kind: str
) -> None:
    """A single 429, 529 or 500 costs one retry, and the answer arrives."""
    api.inject_anthropic_fault(kind, count=1, retry_after=0)
    assert llm.route(CLEAN, POLICY, timeout=TIMEOUT).verdict.segment == "Enterprise"
    assert [r.status for r in api.anthropic_requests()][-1] == 200


@pytest.mark.timeout(30)
def test_long_retry_after_is_not_waited_for(api: SimulatorHandle, llm: AnthropicProvider) -> None:
    """A 429 asking for 60 s inside a 2 s budget is unavailable at once, with one request made."""
    api.inject_anthropic_fault("rate_limit", retry_after=60)
    with pytest.raises(LlmUnavailableError, match="429"):
        llm.route(CLEAN, POLICY, timeout=TIMEOUT)
    assert len(api.anthropic_requests()) == 1


@pytest.mark.parametrize(
    ("kind", "complaint"),
    [("text_only", "without calling"), ("out_of_enum", "is not one of")],
    ids=["no-tool-call", "value-outside-enum"],
)
def test_malformed_answers_are_answer_errors(
    api: SimulatorHandle, llm: AnthropicProvider, kind: str, complaint: str
) -> None:
    """An answer outside the tool or its enums is LlmAnswerError (permanent), never a verdict."""
    api.inject_anthropic_fault(kind)
    with pytest.raises(LlmAnswerError, match=complaint):
        llm.route(CLEAN, POLICY, timeout=TIMEOUT)


def test_wrong_key_is_permanent_and_never_shown(api: SimulatorHandle) -> None:
    """A rejected key is a permanent error whose text holds neither the wrong nor the right key."""
    wrong = "sk-ant-api03-definitely-not-the-simulators-key"
    llm = provider_for(api, api_key=SecretStr(wrong))
    with pytest.raises(LlmRequestError) as raised:
        llm.route(CLEAN, POLICY, timeout=TIMEOUT)
    llm.close()
    assert raised.value.status == 401
    assert isinstance(raised.value, PermanentError)
    for key in (wrong, api.anthropic_api_key):
        assert key not in str(raised.value) and key not in repr(raised.value)


def test_unknown_model_is_permanent(api: SimulatorHandle) -> None:
    """A model the API does not know is a permanent 404."""
    llm = provider_for(api, model="gpt-4o")
    with pytest.raises(LlmRequestError) as raised:
        llm.route(CLEAN, POLICY, timeout=TIMEOUT)
    llm.close()
    assert (raised.value.status, raised.value.error_type) == (404, "not_found_error")


def test_injected_sdk_client_is_used(api: SimulatorHandle) -> None:
    """A caller-built SDK client (own HTTP client and CA) works, with our retries and timeout."""
    context = ssl.create_default_context(cafile=str(api.ca_bundle))
    client = anthropic.Anthropic(
        api_key=api.anthropic_api_key,
        base_url=api.anthropic_base_url,
        http_client=httpx2.Client(verify=context),
    )
    llm = AnthropicProvider(settings_for(api, max_retries=0), client=client)
    api.inject_anthropic_fault("overloaded", count=1)
    with pytest.raises(LlmUnavailableError):
        llm.route(CLEAN, POLICY, timeout=TIMEOUT)
    assert llm.route(CLEAN, POLICY, timeout=TIMEOUT).verdict.region == "EMEA"
    assert [r.status for r in api.anthropic_requests()] == [529, 200]
    client.close()


@pytest.fixture(params=["offline", "anthropic"])
def port(request: pytest.FixtureRequest, api: SimulatorHandle) -> Iterator[LlmPort]:
    """Each provider of the port: the offline heuristics and Claude (simulated) over HTTPS."""
    provider = OfflineProvider() if request.param == "offline" else provider_for(api)
    yield provider
    provider.close()


def _tool_call(response: dict[str, Any]) -> dict[str, Any]:
    """The single tool call of an OpenAI chat completion."""
    (choice,) = response["choices"]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    return dict(call["function"])


def test_contract_routing(port: LlmPort) -> None:
    """Every provider answers a RoutingAnswer within the enums, recorded as an OpenAI exchange."""
    answer = port.route(CLEAN, POLICY, timeout=TIMEOUT)
    assert (answer.verdict.segment, answer.verdict.region) == ("Enterprise", "EMEA")
    assert 0.0 <= answer.verdict.confidence <= 1.0 and answer.verdict.reason
    exchange = answer.exchange
    assert exchange.provider == port.name
    assert [m["role"] for m in exchange.request["messages"]] == ["system", "user"]
    assert exchange.request["tools"][0]["function"]["name"] == ROUTING_TOOL
    call = _tool_call(exchange.response)
    assert call["name"] == ROUTING_TOOL
    arguments = json.loads(call["arguments"])
    assert (arguments["segment"], arguments["region"]) == ("Enterprise", "EMEA")
    assert set(exchange.response["usage"]) >= {"prompt_tokens", "completion_tokens", "total_tokens"}


def test_contract_template(port: LlmPort) -> None:
    """Every provider answers a TemplateAnswer from the catalogue, recorded as an OpenAI exchange."""
    lead = Lead(Description="Could you send us a quote? We need pricing for 200 seats.")
    answer = port.choose_template(lead, CATALOG, timeout=TIMEOUT)
    assert (answer.intent, answer.template_id) == ("pricing", "pricing-quote")
    call = _tool_call(answer.exchange.response)
    assert call["name"] == TEMPLATE_TOOL
    assert json.loads(call["arguments"])["template_id"] == answer.template_id
    assert answer.exchange.request["messages"][1]["content"].count("pricing for 200 seats") == 1
