"""The LLM layer: the port the workloads call, its Anthropic and offline providers, and the factory.

    from shared.llm import build_llm
    llm = build_llm(settings.llm)          # AnthropicProvider with a key, OfflineProvider without
    answer = llm.route(lead, policy, timeout=settings.llm.routing_budget_seconds)

Errors: LlmUnavailableError is retryable (timeout, connection, 429, 5xx, 529: rules decide
meanwhile); LlmAnswerError (the model answered outside the tool or its enums) and LlmRequestError
(the API refused the request: key, permission, model, malformed request) are permanent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.llm.factory import build_llm
from shared.llm.offline import OfflineProvider
from shared.llm.port import (
    LlmAnswerError,
    LlmExchange,
    LlmPort,
    LlmUnavailableError,
    RoutingAnswer,
    TemplateAnswer,
)

if TYPE_CHECKING:
    from shared.llm.anthropic import AnthropicProvider, LlmRequestError

_FROM_ANTHROPIC = frozenset({"AnthropicProvider", "LlmRequestError"})


def __getattr__(name: str) -> object:
    # The anthropic SDK takes seconds to import; only code that names its provider pays for it.
    if name in _FROM_ANTHROPIC:
        from shared.llm import anthropic

        return getattr(anthropic, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AnthropicProvider",
    "LlmAnswerError",
    "LlmExchange",
    "LlmPort",
    "LlmRequestError",
    "LlmUnavailableError",
    "OfflineProvider",
    "RoutingAnswer",
    "TemplateAnswer",
    "build_llm",
]
