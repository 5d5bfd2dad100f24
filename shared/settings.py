"""One settings tree for every process: environment variables prefixed LEADFLEET_, nested with __."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

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
    pubsub_port: int = Field(
        default=7443, ge=0, le=65535, description="Pub/Sub API gRPC port (0 picks a free one)."
    )
    pubsub_plaintext: bool = Field(
        default=False, description="Serve gRPC without TLS (only for clients that need it)."
    )
    pubsub_keepalive_seconds: float = Field(
        default=270.0, gt=0, description="Empty FetchResponse interval while events are owed."
    )
    pubsub_idle_timeout_seconds: float = Field(
        default=60.0, gt=0, description="Close a stream with nothing owed and no request this long."
    )
    retention_hours: float = Field(default=72.0, gt=0, description="Change event retention.")
    cometd_timeout_seconds: float = Field(
        default=110.0, gt=0, description="CometD long-poll timeout (advice.timeout)."
    )
    cometd_client_expiry_seconds: float = Field(
        default=40.0, gt=0, description="A CometD client without a connect this long is unknown."
    )


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
    initial_replay_preset: Literal["LATEST", "EARLIEST"] = Field(
        default="LATEST",
        description="Where a topic with no stored checkpoint starts: new events only (LATEST) "
        "or everything retained (EARLIEST).",
    )
    replay_retention_hours: float = Field(
        default=72.0,
        gt=0,
        description="How long Salesforce keeps events; an older checkpoint is reconciled by query.",
    )
    poll_interval_seconds: float = Field(
        default=10.0, gt=0, description="--mode poll: seconds between two polls of each object."
    )
    poll_overlap_seconds: float = Field(
        default=120.0,
        ge=0,
        description="--mode poll: each poll re-reads this far behind the watermark (deduplicated).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level of the listener's JSON lines."
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


class LlmSettings(BaseModel):
    """The model that refines routing and picks templates: Anthropic when a key is set, else offline."""

    api_key: SecretStr = Field(
        default=SecretStr(""),
        description="Anthropic API key; when empty the offline heuristics answer (no network).",
    )
    base_url: str | None = Field(
        default=None,
        description="Messages API base URL; the SDK's default (api.anthropic.com) when empty.",
    )
    ca_bundle: Path | None = Field(
        default=None,
        description="CA bundle for TLS verification of base_url; the system store when empty.",
    )
    model: str = Field(
        default="claude-sonnet-5-5", description="Claude model id used for every request."
    )
    timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Timeout of one HTTP attempt; a call never waits past its caller's budget.",
    )
    max_retries: int = Field(
        default=1,
        ge=0,
        le=5,
        description="Retries after a timeout, 429, 5xx or 529, each only if it fits the budget.",
    )
    retry_backoff_seconds: float = Field(
        default=0.5,
        gt=0,
        description="Wait before the first retry when the API sends no retry-after; doubles after.",
    )
    routing_budget_seconds: float = Field(
        default=3.0,
        gt=0,
        description="Routing waits at most this long for the LLM; past it rules decide (degraded).",
    )
    max_tokens: int = Field(
        default=512, ge=1, description="Most tokens the model may write in one answer."
    )
    always_ask: bool = Field(
        default=False,
        description="Ask the LLM about every lead, not only those the rules are unsure of.",
    )

    @field_validator("base_url", "ca_bundle", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # An empty line copied from the example .env means "use the default", not "".
        if isinstance(value, str) and not value.strip():
            return None
        return value


class WorkerSettings(BaseModel):
    """The worker fleet: Celery reliability, retries, idempotency keys and email sending."""

    send_email: bool = Field(
        default=False,
        description="Send the suggested template to the lead; off by default (suggest only).",
    )
    max_retries: int = Field(
        default=8, ge=0, description="Retries of a retryable failure before the dead-letter stream."
    )
    retry_backoff_base_seconds: float = Field(
        default=1.0, gt=0, description="Backoff before the first retry; doubles per attempt."
    )
    retry_backoff_max_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Longest retry countdown; kept short because Redis holds countdowns in memory.",
    )
    task_max_run_seconds: float = Field(
        default=120.0,
        gt=0,
        description="The longest a task may run (its HTTP timeouts added up); sizes the timeout below.",
    )
    visibility_timeout_seconds: int = Field(
        default=900,
        gt=0,
        description="An unacknowledged message returns to its queue after this long "
        "(a SIGKILLed worker's tasks); above task_max_run_seconds plus the longest countdown.",
    )
    unacked_restore_interval_seconds: int = Field(
        default=10, ge=1, description="How often a worker looks for abandoned messages."
    )
    soft_shutdown_timeout_seconds: float = Field(
        default=30.0,
        ge=0,
        description="A stopping worker finishes running tasks this long, then requeues the rest.",
    )
    route_claim_lease_seconds: int = Field(
        default=300,
        gt=0,
        description="A routing run holds its lead this long; a crashed run's claim lapses after it.",
    )
    route_done_ttl_seconds: int = Field(
        default=30 * 86400, gt=0, description="How long a routed lead is remembered as routed."
    )
    first_touch_lock_seconds: int = Field(
        default=60, gt=0, description="First-touch runs for one lead are serialised this long."
    )
    send_claim_ttl_seconds: int = Field(
        default=180 * 86400, gt=0, description="How long a lead's email send claim is kept."
    )
    send_confirm_after_seconds: float = Field(
        default=60.0,
        ge=0,
        description="An unfinished send claim older than this is checked against the lead's "
        "logged emails and sent only if none was logged; 0 never sends after an unfinished claim.",
    )
    limits_cache_seconds: float = Field(
        default=60.0, ge=0, description="How long the org's SingleEmail remaining is cached."
    )
    llm_threads: int = Field(
        default=8, ge=1, description="Threads per process that wait on LLM calls under a budget."
    )
    dead_letter_max_length: int = Field(
        default=10000, gt=0, description="The dead-letter stream keeps about this many entries."
    )

    @model_validator(mode="after")
    def _timeouts_fit(self) -> WorkerSettings:
        if self.retry_backoff_max_seconds < self.retry_backoff_base_seconds:
            raise ValueError("retry_backoff_max_seconds is below retry_backoff_base_seconds")
        needed = self.task_max_run_seconds + self.retry_backoff_max_seconds
        if self.visibility_timeout_seconds <= needed:
            raise ValueError(
                f"visibility_timeout_seconds must exceed task_max_run_seconds + "
                f"retry_backoff_max_seconds ({needed:g}), or tasks run twice"
            )
        return self


class RateLimitSettings(BaseModel):
    """Fleet-wide limits in Redis: Salesforce calls per org and Anthropic requests and tokens."""

    enabled: bool = Field(default=True, description="Check limits before every call.")
    salesforce_calls: int = Field(
        default=1000, ge=1, description="Salesforce calls the fleet may make per window."
    )
    salesforce_window_seconds: int = Field(
        default=60, ge=1, description="The Salesforce calls window (a moving window)."
    )
    salesforce_daily_share: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Stop calling once this share of the org's daily API allowance is used.",
    )
    api_usage_recheck_seconds: int = Field(
        default=300,
        ge=1,
        description="Past the daily ceiling, let one call through this often to re-read usage.",
    )
    window_margin_seconds: int = Field(
        default=1,
        ge=0,
        description="Added to each window: a call arrives up to its latency after it was counted.",
    )
    org_key: str = Field(
        default="",
        description="Names the org's buckets; the Salesforce username when empty.",
    )
    anthropic_requests: int = Field(
        default=50, ge=1, description="Anthropic requests the fleet may make per window."
    )
    anthropic_input_tokens: int = Field(
        default=30000, ge=1, description="Anthropic input tokens per window."
    )
    anthropic_output_tokens: int = Field(
        default=8000, ge=1, description="Anthropic output tokens per window."
    )
    anthropic_window_seconds: int = Field(
        default=60, ge=1, description="The Anthropic window (a moving window)."
    )


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
    llm: LlmSettings = Field(default_factory=LlmSettings)
    workers: WorkerSettings = Field(default_factory=WorkerSettings)
    ratelimit: RateLimitSettings = Field(default_factory=RateLimitSettings)


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
