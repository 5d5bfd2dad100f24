"""One exchange in OpenAI chat format, whatever answered, so every flywheel record reads alike.

The request is the `chat.completions.create` payload that would ask the same thing (system and user
messages exactly as sent, the tool as a function, the forced tool choice); the response is the
ChatCompletion a tool call comes back as. OpenAI counts cached prompt tokens inside
`prompt_tokens` (Anthropic's `input_tokens` excludes them), so prompt_tokens adds them back and
`prompt_tokens_details.cached_tokens` says how many were read from the cache.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.llm.port import LlmExchange
from shared.llm.prompts import Prompt


@dataclass(frozen=True)
class TokenUsage:
    """Tokens one answer cost, as the provider counted them."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        """Every input token, cached or not (OpenAI's prompt_tokens)."""
        return self.input_tokens + self.cache_read_tokens + self.cache_creation_tokens


def openai_request(model: str, prompt: Prompt) -> dict[str, Any]:
    """The OpenAI chat request equivalent to a prompt."""
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": prompt.tool.name,
                    "description": prompt.tool.description,
                    "parameters": prompt.tool.input_schema,
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": prompt.tool.name}},
    }


def openai_response(
    *,
    response_id: str,
    model: str,
    created: int,
    call_id: str,
    tool: str,
    arguments: Mapping[str, Any],
    usage: TokenUsage,
) -> dict[str, Any]:
    """The OpenAI chat completion of one tool call."""
    return {
        "id": response_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {
                                "name": tool,
                                "arguments": json.dumps(arguments, ensure_ascii=False),
                            },
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.prompt_tokens + usage.output_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        },
    }


def record_exchange(
    *,
    provider: str,
    request_model: str,
    response_model: str,
    prompt: Prompt,
    response_id: str,
    created: int,
    call_id: str,
    arguments: Mapping[str, Any],
    usage: TokenUsage,
    latency_ms: float,
) -> LlmExchange:
    """The exchange of one tool call: request and response in OpenAI format, usage and latency."""
    return LlmExchange(
        provider=provider,
        model=response_model,
        request=openai_request(request_model, prompt),
        response=openai_response(
            response_id=response_id,
            model=response_model,
            created=created,
            call_id=call_id,
            tool=prompt.tool.name,
            arguments=arguments,
            usage=usage,
        ),
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_creation_tokens=usage.cache_creation_tokens,
        latency_ms=round(max(latency_ms, 0.0), 3),
    )
