"""An Anthropic-compatible Messages API on the simulator's HTTPS port: POST /v1/messages.

It checks the key (x-api-key, or Authorization: Bearer as the SDK sends it) and the
anthropic-version header, validates the request like the real API (400 invalid_request_error,
404 not_found_error for a model that is not a Claude model), applies injected faults
(simulator.anthropic_faults), and answers the forced or offered tool with a tool_use block filled
in by simulator.anthropic_brain, with usage and prompt caching counted by simulator.anthropic_meter.
Control it from Python (AnthropicApi, or SimulatorHandle in tests) or under /__sim/anthropic/
(loopback only). It imports nothing from the product.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.admin import LOOPBACK
from simulator.anthropic_brain import answer
from simulator.anthropic_faults import ERROR_ANSWERS, AnthropicFault, AnthropicFaults
from simulator.anthropic_meter import MIN_CACHE_TOKENS, MessageRecord, Meter

logger = logging.getLogger(__name__)
_CLAUDE_MODEL = re.compile(r"^claude-[a-z0-9][a-z0-9.-]*$")


def api_key_for(seed: int) -> str:
    """The simulator's API key, shaped like Anthropic's and fixed per seed."""
    rng = random.Random(f"anthropic-key-{seed}")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "sk-ant-sim-" + "".join(rng.choice(alphabet) for _ in range(40))


@dataclass(frozen=True)
class _Outcome:
    """A response with what the log records about it."""

    response: Response
    usage: dict[str, int] = field(default_factory=dict)
    kinds: tuple[str, ...] = ()
    model: str | None = None


class _Rejected(Exception):
    """A request the real API would refuse, with its status and error type."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message


def _error(
    status: int, error_type: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    request_id = f"req_{uuid.uuid4().hex[:24]}"
    return JSONResponse(
        {
            "type": "error",
            "error": {"type": error_type, "message": message},
            "request_id": request_id,
        },
        status_code=status,
        headers={"request-id": request_id, **(headers or {})},
    )


def _text_blocks(system: object) -> list[dict[str, Any]]:
    """The system prompt as text blocks; 400 for anything else."""
    if system is None:
        return []
    if isinstance(system, str):
        return [{"type": "text", "text": system}]
    if isinstance(system, list) and all(
        isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        for b in system
    ):
        return system
    raise _Rejected(
        400, "invalid_request_error", "system: Input should be a string or a list of text blocks"
    )


def _last_user_text(messages: list[Any]) -> str:
    """The text of the last user message (string content or its text blocks)."""
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        return "\n".join(
            b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


def _validate(body: object) -> dict[str, Any]:
    """The request body when it is a valid Messages request; _Rejected otherwise."""
    if not isinstance(body, dict):
        raise _Rejected(400, "invalid_request_error", "The request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _Rejected(400, "invalid_request_error", "model: Field required")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
        raise _Rejected(
            400, "invalid_request_error", "max_tokens: Field required (an integer >= 0)"
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _Rejected(400, "invalid_request_error", "messages: at least one message is required")
    for index, message in enumerate(messages):
        if (
            not isinstance(message, dict)
            or message.get("role") not in ("user", "assistant")
            or not isinstance(message.get("content"), str | list)
        ):
            raise _Rejected(
                400, "invalid_request_error", f"messages.{index}: expected a role and content"
            )
    tools = body.get("tools") or []
    if not isinstance(tools, list) or not all(
        isinstance(t, dict)
        and isinstance(t.get("name"), str)
        and isinstance(t.get("input_schema"), dict)
        for t in tools
    ):
        raise _Rejected(
            400, "invalid_request_error", "tools: each tool needs a name and input_schema"
        )
    choice = body.get("tool_choice")
    if choice is not None:
        kind = choice.get("type") if isinstance(choice, dict) else None
        if kind not in ("auto", "any", "tool", "none"):
            raise _Rejected(400, "invalid_request_error", "tool_choice.type: unknown type")
        if kind == "tool" and choice.get("name") not in {t["name"] for t in tools}:
            raise _Rejected(
                400, "invalid_request_error", "tool_choice.name: no tool with that name"
            )
    for block in _text_blocks(body.get("system")):
        control = block.get("cache_control")
        if control is not None and (
            not isinstance(control, dict) or control.get("type") != "ephemeral"
        ):
            raise _Rejected(400, "invalid_request_error", "cache_control.type: must be 'ephemeral'")
    if not _CLAUDE_MODEL.match(model):
        raise _Rejected(404, "not_found_error", f"model: {model}")
    return body


class AnthropicApi:
    """The simulated Messages API: accepted keys, faults, and the meter of tokens and requests."""

    def __init__(
        self, *, api_keys: Iterable[str], seed: int = 7, min_cache_tokens: int = MIN_CACHE_TOKENS
    ) -> None:
        self.api_keys = tuple(key for key in api_keys if key)
        if not self.api_keys:
            raise ValueError("the simulated Messages API needs at least one non-empty API key")
        self.faults = AnthropicFaults(seed)
        self.meter = Meter(min_cache_tokens)

    @property
    def api_key(self) -> str:
        """The first accepted key (what a client should be configured with)."""
        return self.api_keys[0]

    def add_fault(
        self,
        kind: str,
        *,
        probability: float = 1.0,
        count: int | None = None,
        latency_ms: object = None,
        retry_after: float = 1.0,
    ) -> AnthropicFault:
        """Install a fault (see simulator.anthropic_faults); ValueError for bad arguments."""
        return self.faults.add(
            kind,
            probability=probability,
            count=count,
            latency_ms=latency_ms,
            retry_after=retry_after,
        )

    def clear_faults(self) -> None:
        """Remove every fault."""
        self.faults.clear()

    def requests(self) -> list[MessageRecord]:
        """Every logged request, oldest first."""
        return self.meter.records()

    def usage(self) -> dict[str, int]:
        """Requests and each kind of token over the log."""
        return self.meter.totals()

    def reset(self) -> None:
        """Forget faults, the request log and the prompt cache."""
        self.faults.clear()
        self.meter.clear()

    def _message(self, body: dict[str, Any], fired: list[AnthropicFault]) -> dict[str, Any]:
        """The assistant message answering a valid request."""
        tools = body.get("tools") or []
        choice = body.get("tool_choice") or {"type": "auto"}
        kinds = {fault.kind for fault in fired}
        tool = None
        if tools and choice.get("type") != "none" and "text_only" not in kinds:
            named = choice.get("name") if choice.get("type") == "tool" else None
            tool = next((t for t in tools if t["name"] == named), tools[0])
        system = "\n".join(b["text"] for b in _text_blocks(body.get("system")))
        user_text = _last_user_text(body["messages"])
        content: list[dict[str, Any]]
        if tool is None:
            content = [{"type": "text", "text": "Answers come through a tool; none was offered."}]
            stop_reason, output = "end_turn", content[0]["text"]
        else:
            tool_input = answer(tool, system, user_text)
            if "out_of_enum" in kinds:
                for key, schema in (tool["input_schema"].get("properties") or {}).items():
                    if isinstance(schema, dict) and "enum" in schema:
                        tool_input[key] = "Not-In-The-Enum"
                        break
            call_id = f"toolu_{uuid.uuid4().hex[:24]}"
            content = [
                {"type": "tool_use", "id": call_id, "name": tool["name"], "input": tool_input}
            ]
            stop_reason, output = "tool_use", json.dumps(tool_input)
        return {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": self.meter.usage(
                body.get("tools") or [], _text_blocks(body.get("system")), body["messages"], output
            ),
        }

    async def handle(self, request: Request) -> Response:
        """POST /v1/messages, logged with its usage and the faults that fired."""
        started = time.perf_counter()
        outcome = await self._answer(request)
        error_type = None
        if outcome.response.status_code >= 400:
            error_type = json.loads(bytes(outcome.response.body))["error"]["type"]
        record = MessageRecord(
            timestamp=datetime.now(UTC).isoformat(timespec="milliseconds"),
            status=outcome.response.status_code,
            model=outcome.model,
            error_type=error_type,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            faults=outcome.kinds,
            **outcome.usage,
        )
        self.meter.record(record)
        return outcome.response

    async def _answer(self, request: Request) -> _Outcome:
        """Authenticate, apply faults, validate and answer one request."""
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        key = request.headers.get("x-api-key") or (
            bearer.strip() if scheme.lower() == "bearer" else ""
        )
        if not key:
            return _Outcome(_error(401, "authentication_error", "x-api-key header is required"))
        if key not in self.api_keys:
            return _Outcome(_error(401, "authentication_error", "invalid x-api-key"))
        if not request.headers.get("anthropic-version"):
            return _Outcome(
                _error(400, "invalid_request_error", "anthropic-version: header is required")
            )
        try:
            raw = await request.body()
        except ClientDisconnect:
            return _Outcome(_error(499, "api_error", "the client closed the connection"))
        delay, fired = self.faults.fire()
        kinds = tuple(fault.kind for fault in fired)
        if delay:
            await asyncio.sleep(delay)
        for fault in fired:
            if fault.kind in ERROR_ANSWERS:
                status, error_type, text = ERROR_ANSWERS[fault.kind]
                headers = {"retry-after": f"{fault.retry_after:g}"} if status == 429 else None
                return _Outcome(_error(status, error_type, text, headers), kinds=kinds)
        try:
            body = _validate(json.loads(raw))
        except ValueError:
            return _Outcome(
                _error(400, "invalid_request_error", "The request body is not valid JSON"),
                kinds=kinds,
            )
        except _Rejected as rejected:
            response = _error(rejected.status, rejected.error_type, rejected.message)
            return _Outcome(response, kinds=kinds)
        try:
            message = self._message(body, fired)
        except Exception:
            # A simulator bug must still look like Anthropic to the client under test.
            logger.exception("unhandled error answering POST /v1/messages")
            return _Outcome(_error(500, "api_error", "Internal server error"), kinds=kinds)
        response = JSONResponse(message, headers={"request-id": f"req_{uuid.uuid4().hex[:24]}"})
        return _Outcome(response, message["usage"], kinds, body["model"])


def _admin(handler: Callable[[Request, Any], Any]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if request.client is None or request.client.host not in LOOPBACK:
            return JSONResponse({"error": "the control API answers loopback clients only"}, 403)
        raw = await request.body()
        try:
            result = handler(request, json.loads(raw) if raw.strip() else {})
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return result if isinstance(result, Response) else JSONResponse(result)

    return endpoint


def routes(api: AnthropicApi) -> list[Route]:
    """POST /v1/messages and its control API under /__sim/anthropic/."""

    def add_fault(_: Request, body: dict[str, Any]) -> Response:
        fault = api.add_fault(
            str(body["kind"]),
            probability=float(body.get("probability", 1.0)),
            count=None if body.get("count") is None else int(body["count"]),
            latency_ms=body.get("latency_ms"),
            retry_after=float(body.get("retry_after", 1.0)),
        )
        return JSONResponse(fault.to_json(), status_code=201)

    def clear_faults(_: Request, __: Any) -> dict[str, Any]:
        api.clear_faults()
        return {"faults": []}

    def requests_log(_: Request, __: Any) -> dict[str, Any]:
        return {"usage": api.usage(), "requests": [r.to_json() for r in api.requests()]}

    def reset(_: Request, __: Any) -> dict[str, Any]:
        api.reset()
        return {"usage": api.usage()}

    return [
        Route("/v1/messages", api.handle, methods=["POST"]),
        Route(
            "/__sim/anthropic/faults",
            _admin(lambda _r, _b: [f.to_json() for f in api.faults.rules()]),
            methods=["GET"],
        ),
        Route("/__sim/anthropic/faults", _admin(add_fault), methods=["POST"]),
        Route("/__sim/anthropic/faults", _admin(clear_faults), methods=["DELETE"]),
        Route("/__sim/anthropic/requests", _admin(requests_log), methods=["GET"]),
        Route("/__sim/anthropic/reset", _admin(reset), methods=["POST"]),
    ]
