"""The simulator's Messages API answers like Anthropic's: auth, validation, tool use, usage, control."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from simulator.testing import SimulatorHandle

pytestmark = pytest.mark.integration

TOOL = {
    "name": "route_lead",
    "description": "Record segment and region.",
    "input_schema": {
        "type": "object",
        "properties": {
            "segment": {"enum": ["Small", "Large", None]},
            "region": {"enum": ["Europe", "Americas", None]},
            "confidence": {"type": "number"},
            "reason": {"type": "string"},
        },
        "required": ["segment", "region", "confidence", "reason"],
    },
}
SYSTEM = "Segments\n- Small: 1–99\n- Large: 100+\nRegions\n- Europe: DE, FR\n- Americas: US, BR\n"


def body(**changes: Any) -> dict[str, Any]:
    """A valid forced-tool request for one lead, with fields replaced."""
    request: dict[str, Any] = {
        "model": "claude-sonnet-5-5",
        "max_tokens": 200,
        "system": [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {
                "role": "user",
                "content": 'Route.\n<lead>\n{"Country": "Brasil", "NumberOfEmployees": "250"}\n</lead>',
            }
        ],
        "tools": [TOOL],
        "tool_choice": {"type": "tool", "name": "route_lead"},
    }
    request.update(changes)
    return request


@pytest.fixture
def api(sim: SimulatorHandle) -> Iterator[SimulatorHandle]:
    """The simulator with the Messages API reset before and after."""
    sim.reset_anthropic()
    yield sim
    sim.reset_anthropic()


def post(
    sim: SimulatorHandle, payload: Any, headers: dict[str, str] | None = None
) -> requests.Response:
    """POST /v1/messages with the simulator's key and a version header unless overridden."""
    sent = {
        "x-api-key": sim.anthropic_api_key,
        "anthropic-version": "2023-06-01",
        **(headers or {}),
    }
    return requests.post(
        f"{sim.anthropic_base_url}/v1/messages",
        json=payload,
        headers={k: v for k, v in sent.items() if v},
        verify=str(sim.ca_bundle),
        timeout=10,
    )


def test_forced_tool_is_answered_with_a_tool_use_block(api: SimulatorHandle) -> None:
    """A valid request gets a message with one tool_use block, values from the enums."""
    response = post(api, body())
    assert response.status_code == 200
    message = response.json()
    assert message["id"].startswith("msg_")
    assert (message["type"], message["role"], message["stop_reason"]) == (
        "message",
        "assistant",
        "tool_use",
    )
    assert message["model"] == "claude-sonnet-5-5"
    (block,) = message["content"]
    assert (block["type"], block["name"]) == ("tool_use", "route_lead")
    assert (block["input"]["segment"], block["input"]["region"]) == ("Large", "Americas")
    assert response.headers["request-id"].startswith("req_")


def test_bearer_authorization_is_accepted(api: SimulatorHandle) -> None:
    """The SDK sends the key as Authorization: Bearer; that works like x-api-key."""
    response = post(
        api, body(), {"x-api-key": "", "authorization": f"Bearer {api.anthropic_api_key}"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("headers", "status", "error_type"),
    [
        ({"x-api-key": ""}, 401, "authentication_error"),
        ({"x-api-key": "sk-ant-wrong"}, 401, "authentication_error"),
        ({"anthropic-version": ""}, 400, "invalid_request_error"),
    ],
    ids=["no-key", "wrong-key", "no-version"],
)
def test_headers_are_checked(
    api: SimulatorHandle, headers: dict[str, str], status: int, error_type: str
) -> None:
    """A missing or wrong key is 401, a missing anthropic-version 400, in Anthropic's error shape."""
    response = post(api, body(), headers)
    assert response.status_code == status
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == error_type
    assert "sk-ant-wrong" not in response.text


@pytest.mark.parametrize(
    ("payload", "status", "error_type"),
    [
        (body(model=""), 400, "invalid_request_error"),
        (body(max_tokens="lots"), 400, "invalid_request_error"),
        (body(messages=[]), 400, "invalid_request_error"),
        (body(messages=[{"role": "robot", "content": "hi"}]), 400, "invalid_request_error"),
        (body(tool_choice={"type": "tool", "name": "other"}), 400, "invalid_request_error"),
        (
            body(system=[{"type": "text", "text": "x", "cache_control": {"type": "forever"}}]),
            400,
            "invalid_request_error",
        ),
        (body(model="gpt-4o"), 404, "not_found_error"),
        (["not", "an", "object"], 400, "invalid_request_error"),
    ],
    ids=[
        "no-model",
        "max-tokens-not-int",
        "no-messages",
        "bad-role",
        "unknown-forced-tool",
        "bad-cache-control",
        "unknown-model",
        "not-an-object",
    ],
)
def test_invalid_requests_are_refused(
    api: SimulatorHandle, payload: Any, status: int, error_type: str
) -> None:
    """Requests the real API refuses are refused with the same status and error type."""
    response = post(api, payload)
    assert (response.status_code, response.json()["error"]["type"]) == (status, error_type)


def test_prompt_cache_is_written_then_read_above_the_minimum(api: SimulatorHandle) -> None:
    """A cached prefix long enough is written once, then read; input_tokens excludes it."""
    long_system = SYSTEM + "Notes\n" + "- Route by the lists above.\n" * 200
    payload = body(
        system=[{"type": "text", "text": long_system, "cache_control": {"type": "ephemeral"}}]
    )
    first = post(api, payload).json()["usage"]
    second = post(api, payload).json()["usage"]
    assert first["cache_creation_input_tokens"] >= 1024 and first["cache_read_input_tokens"] == 0
    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
    assert second["cache_creation_input_tokens"] == 0
    assert 0 < second["input_tokens"] < 200


def test_short_prefix_is_not_cached(api: SimulatorHandle) -> None:
    """Below the minimum cacheable length cache_control has no effect, as with the real API."""
    first, second = (post(api, body()).json()["usage"] for _ in range(2))
    assert first["cache_creation_input_tokens"] == second["cache_read_input_tokens"] == 0


def test_rate_limit_fault_answers_429_with_retry_after(api: SimulatorHandle) -> None:
    """An injected rate limit answers 429 rate_limit_error with retry-after, count times."""
    api.inject_anthropic_fault("rate_limit", count=1, retry_after=7)
    limited, served = post(api, body()), post(api, body())
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "7")
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert served.status_code == 200
    assert [r.faults for r in api.anthropic_requests()] == [("rate_limit",), ()]


def test_control_api_installs_faults_and_reports_usage(api: SimulatorHandle) -> None:
    """Faults and the request log are reachable over HTTP under /__sim/anthropic/."""
    control = f"{api.instance_url}/__sim/anthropic"
    verify = str(api.ca_bundle)
    created = requests.post(
        f"{control}/faults", json={"kind": "overloaded", "count": 1}, verify=verify, timeout=10
    )
    assert created.status_code == 201
    assert post(api, body()).status_code == 529
    assert post(api, body()).status_code == 200
    log = requests.get(f"{control}/requests", verify=verify, timeout=10).json()
    assert log["usage"]["requests"] == 2
    assert [r["status"] for r in log["requests"]] == [529, 200]
    assert log["usage"]["output_tokens"] > 0
    bad = requests.post(f"{control}/faults", json={"kind": "meteor"}, verify=verify, timeout=10)
    assert bad.status_code == 400
