"""Settings load from LEADFLEET_ variables, keep secrets secret and fail naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.errors import ConfigError
from shared.settings import load_settings
from shared.settings_doc import iter_settings, render_example_env

EXAMPLE_ENV = Path(__file__).resolve().parents[2] / "config" / "leadfleet.example.env"


@pytest.fixture(autouse=True)
def _no_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run each test where no .env file can leak in."""
    monkeypatch.chdir(tmp_path)


def test_nested_variables_reach_sub_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """LEADFLEET_SALESFORCE__TIMEOUT_SECONDS sets salesforce.timeout_seconds."""
    monkeypatch.setenv("LEADFLEET_SALESFORCE__TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("LEADFLEET_REDIS__URL", "redis://example:6380/3")
    settings = load_settings()
    assert settings.salesforce.timeout_seconds == 2.5
    assert settings.redis.url == "redis://example:6380/3"


def test_secret_never_shows_in_repr_or_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    """The consumer key is a SecretStr: repr, str and JSON dumps hide it."""
    monkeypatch.setenv("LEADFLEET_SALESFORCE__CONSUMER_KEY", "3MVG9-super-secret-key")
    settings = load_settings()
    assert settings.salesforce.consumer_key.get_secret_value() == "3MVG9-super-secret-key"
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "super-secret" not in text


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LEADFLEET_SALESFORCE__TIMEOUT_SECONDS", "soon"),
        ("LEADFLEET_SALESFORCE__TIMEOUT_SECONDS", "-1"),
        ("LEADFLEET_SIMULATOR__PORT", "70000"),
        ("LEADFLEET_REDIS__SOCKET_TIMEOUT_SECONDS", "0"),
    ],
    ids=["not-a-number", "negative-timeout", "port-out-of-range", "zero-timeout"],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """A bad value fails at start-up with the variable's full name and the value given."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as excinfo:
        load_settings()
    assert variable in str(excinfo.value)
    assert value in str(excinfo.value)


def test_example_env_is_current() -> None:
    """config/leadfleet.example.env documents every setting exactly as the model defines it."""
    assert EXAMPLE_ENV.read_text(encoding="utf-8") == render_example_env()


def test_every_setting_has_a_description() -> None:
    """No setting goes undocumented."""
    missing = [var for var, _default, description in iter_settings() if not description]
    assert missing == []


def test_example_env_values_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every non-empty value in the example file is accepted by the settings model."""
    for line in EXAMPLE_ENV.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            if value:
                monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.salesforce.call_options_client == "leadfleet"
