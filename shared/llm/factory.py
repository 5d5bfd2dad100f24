"""The composition of the LLM port: which provider answers, decided once per process."""

from __future__ import annotations

from shared.llm.offline import OfflineProvider
from shared.llm.port import LlmPort
from shared.settings import LlmSettings


def build_llm(settings: LlmSettings) -> LlmPort:
    """Anthropic when an API key is set, otherwise the offline heuristics; nothing connects here."""
    if settings.api_key.get_secret_value().strip():
        # Imported only when used: the SDK takes seconds to import, which offline processes skip.
        from shared.llm.anthropic import AnthropicProvider

        return AnthropicProvider(settings)
    return OfflineProvider()
