"""One settings tree for every process: environment variables prefixed LEADFLEET_, nested with __."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DEFAULT_TOPICS = ("/data/LeadChangeEvent", "/data/TaskChangeEvent", "/data/EmailMessageChangeEvent")


class ConfigFilesSettings(BaseModel):
    """Where the data files that drive decisions live."""

    routing_policy: Path = Field(
        default=CONFIG_DIR / "routing_policy.json", description="Routing policy JSON file."
    )
    templates: Path = Field(
        default=CONFIG_DIR / "templates.json", description="Outreach template catalogue JSON file."
    )
    business_hours: Path = Field(
        default=CONFIG_DIR / "business_hours.json",
        description="Working hours, time zones and holiday calendars per region.",
    )


class SalesforceSettings(BaseModel):
    """How to reach and authenticate against the Salesforce org."""

    login_url: str = Field(
        default="https://login.salesforce.com",
        description="OAuth login host; the JWT audience. https://test.salesforce.com for sandboxes.",
    )
    instance_url: str = Field(
        default="", description="The org's instance URL; taken from the token response when empty."
    )
    api_version: str = Field(default="62.0", description="REST API version, e.g. 62.0.")
    consumer_key: SecretStr = Field(
        default=SecretStr(""), description="Connected app consumer key (JWT issuer)."
    )
    username: str = Field(default="", description="Integration user's username (JWT subject).")
    private_key_path: Path | None = Field(
        default=None, description="PEM private key whose certificate is on the connected app."
    )
    ca_bundle: Path | None = Field(
        default=None,
        description="CA bundle for TLS verification; the system store when empty.",
    )
    timeout_seconds: float = Field(default=10.0, gt=0, description="Timeout of every HTTP call.")
    token_refresh_margin_seconds: int = Field(
        default=300, ge=0, description="Refresh the cached token this long before it expires."
    )
    token_lifetime_seconds: int = Field(
        default=3600,
        gt=0,
        description="How long a token is assumed valid (the org's session timeout).",
    )
    call_options_client: str = Field(
        default="leadfleet",
        description="Sforce-Call-Options client id on every write; the listener drops these echoes.",
    )


class RedisSettings(BaseModel):
    """The Redis server shared by the fleet."""

    url: str = Field(default="redis://127.0.0.1:6379/0", description="Redis URL.")
    socket_timeout_seconds: float = Field(default=5.0, gt=0, description="Socket timeout.")
    key_prefix: str = Field(default="leadfleet", description="Prefix of every key leadfleet owns.")


class SimulatorSettings(BaseModel):
    """The development Salesforce org simulator (never used in production)."""

    host: str = Field(default="127.0.0.1", description="Address the simulator listens on.")
    port: int = Field(default=8443, ge=0, le=65535, description="HTTPS port (0 picks a free one).")
    state_dir: Path = Field(
        default=Path("state/simulator"), description="Folder for the org database and TLS files."
    )
    seed: int = Field(default=7, description="Seed for the deterministic org data.")
    token_ttl_seconds: int = Field(default=7200, gt=0, description="Access token lifetime.")
    daily_api_limit: int = Field(default=100000, gt=0, description="DailyApiRequests maximum.")
    single_email_limit: int = Field(default=5000, ge=0, description="SingleEmail daily maximum.")


class ListenerSettings(BaseModel):
    """The Change Data Capture listener: Pub/Sub API connection, flow control and health."""

    topics: Annotated[list[str], NoDecode] = Field(
        default=",".join(DEFAULT_TOPICS),
        validate_default=True,
        description="Change event channels to subscribe to, comma-separated (or a JSON list).",
    )
    pubsub_host: str = Field(
        default="api.pubsub.salesforce.com",
        description="Pub/Sub API host (api.deu.pubsub.salesforce.com in the EU; the simulator's).",
    )
    pubsub_port: int = Field(default=7443, ge=1, le=65535, description="Pub/Sub API port.")
    pubsub_plaintext: bool = Field(
        default=False,
        description="Use a plaintext gRPC channel; only for a local simulator, never Salesforce.",
    )
    batch_size: int = Field(
        default=100,
        ge=1,
        le=100,
        description="num_requested per FetchRequest; Salesforce allows at most 100 outstanding.",
    )
    rpc_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of GetTopic and GetSchema calls."
    )
    keepalive_stale_seconds: float = Field(
        default=600.0,
        gt=0,
        description="Not ready when no event or keepalive arrived for this long "
        "(Salesforce sends a keepalive within 270 s).",
    )
    reconnect_backoff_base_seconds: float = Field(
        default=1.0, gt=0, description="First reconnect delay; doubles per failed attempt."
    )
    reconnect_backoff_cap_seconds: float = Field(
        default=60.0, gt=0, description="Longest reconnect delay (before jitter)."
    )
    overflow_margin_seconds: float = Field(
        default=600.0,
        ge=0,
        description="A GAP_OVERFLOW reconciles records modified this long before its commit.",
    )
    http_host: str = Field(
        default="127.0.0.1", description="Address of the /healthz, /readyz and /metrics server."
    )
    http_port: int = Field(
        default=9108, ge=0, le=65535, description="Port of the health and metrics server."
    )
    dead_letter_max_length: int = Field(
        default=10000, gt=0, description="The dead-letter stream keeps about this many entries."
    )

    @field_validator("topics", mode="before")
    @classmethod
    def _split_topics(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [topic.strip() for topic in text.split(",") if topic.strip()]
        return value

    @model_validator(mode="after")
    def _backoff_cap_covers_base(self) -> ListenerSettings:
        if self.reconnect_backoff_cap_seconds < self.reconnect_backoff_base_seconds:
            raise ValueError(
                "reconnect_backoff_cap_seconds is below reconnect_backoff_base_seconds"
            )
        return self


class LeadfleetSettings(BaseSettings):
    """Every setting of leadfleet; see config/leadfleet.example.env."""

    model_config = SettingsConfigDict(
        env_prefix="LEADFLEET_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    client_id: str = Field(
        default="salesforce-dev", description="Names this deployment in flywheel records."
    )
    config: ConfigFilesSettings = Field(default_factory=ConfigFilesSettings)
    salesforce: SalesforceSettings = Field(default_factory=SalesforceSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)
    listener: ListenerSettings = Field(default_factory=ListenerSettings)


def load_settings() -> LeadfleetSettings:
    """Read settings from the environment, failing with the variable's name on a bad value."""
    try:
        return LeadfleetSettings()
    except ValidationError as exc:
        problems = [
            "LEADFLEET_"
            + "__".join(str(p).upper() for p in err["loc"])
            + f": {err['msg']} (got {err.get('input')!r})"
            for err in exc.errors()
        ]
        raise ConfigError("environment", problems) from None


@lru_cache(maxsize=1)
def get_settings() -> LeadfleetSettings:
    """The process's settings, loaded once."""
    return load_settings()
