"""Which provider answers, from settings alone, and a default model the SDK knows."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from anthropic.types import ModelParam
from pydantic import SecretStr

from shared.errors import ConfigError
from shared.llm import AnthropicProvider, OfflineProvider, build_llm
from shared.settings import LlmSettings, load_settings


def _sdk_models() -> set[str]:
    """Every model id named in the installed SDK's ModelParam literal."""
    names: set[str] = set()
    for arm in typing.get_args(ModelParam):
        names.update(a for a in typing.get_args(arm) if isinstance(a, str))
    return names


def test_default_model_is_a_sonnet_the_sdk_names() -> None:
    """The default model is a Claude Sonnet id listed in the SDK's model type."""
    default = LlmSettings().model
    assert default in _sdk_models()
    assert default.startswith("claude-sonnet-")


def test_no_key_means_offline() -> None:
    """Without an API key the offline heuristics answer; no network is needed."""
    assert isinstance(build_llm(LlmSettings()), OfflineProvider)
    assert build_llm(LlmSettings(api_key=SecretStr("  "))).name == "offline"


def test_a_key_means_anthropic_without_connecting() -> None:
    """With a key the Anthropic provider is built; building opens no connection."""
    settings = LlmSettings(api_key=SecretStr("sk-ant-x"), base_url="https://127.0.0.1:9")
    llm = build_llm(settings)
    assert isinstance(llm, AnthropicProvider)
    assert llm.name == "anthropic"


def test_missing_ca_bundle_fails_at_start_naming_the_variable(tmp_path: Path) -> None:
    """A CA bundle path that does not exist is a ConfigError naming LEADFLEET_LLM__CA_BUNDLE."""
    settings = LlmSettings(api_key=SecretStr("sk-ant-x"), ca_bundle=tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match="LEADFLEET_LLM__CA_BUNDLE"):
        build_llm(settings)


def test_settings_from_environment_keep_the_key_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """LEADFLEET_LLM__* reach the LLM settings; the key never shows; blank URL means the default."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEADFLEET_LLM__API_KEY", "sk-ant-very-secret")
    monkeypatch.setenv("LEADFLEET_LLM__BASE_URL", "")
    monkeypatch.setenv("LEADFLEET_LLM__ROUTING_BUDGET_SECONDS", "1.5")
    settings = load_settings().llm
    assert settings.api_key.get_secret_value() == "sk-ant-very-secret"
    assert (settings.base_url, settings.routing_budget_seconds) == (None, 1.5)
    assert "very-secret" not in repr(settings) + settings.model_dump_json()
