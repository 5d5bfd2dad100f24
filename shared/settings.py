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


class AnalyticsSettings(BaseModel):
    """Reports, the beat schedule (celery-redbeat) and the SLA sweeper."""

    reports_dir: Path = Field(
        default=Path("reports"), description="Folder the dashboard JSON, CSV and HTML go to."
    )
    upload_to_s3: bool = Field(
        default=True,
        description="Also upload each report to the flywheel's S3 bucket when the sink is s3.",
    )
    s3_prefix: str = Field(default="reports", description="Key prefix of reports in S3.")
    report_interval_seconds: float = Field(
        default=3600.0, gt=0, description="How often beat rebuilds today's report."
    )
    daily_report_hour_utc: int = Field(
        default=0, ge=0, le=23, description="UTC hour of the final report for yesterday."
    )
    daily_report_minute: int = Field(
        default=30, ge=0, le=59, description="Minute of that hour (late records have landed)."
    )
    flywheel_flush_interval_seconds: float = Field(
        default=60.0, gt=0, description="How often beat asks for a flywheel flush."
    )
    sla_sweep_interval_seconds: float = Field(
        default=300.0, gt=0, description="How often beat runs the SLA sweeper."
    )
    alerts_interval_seconds: float = Field(
        default=300.0, gt=0, description="How often beat runs the alert checks."
    )
    sla_sweep_reroute: bool = Field(
        default=False,
        description="Re-route a lead past its SLA to the policy's overflow queue (alert only when off).",
    )
    sla_sweep_lookback_hours: float = Field(
        default=168.0, gt=0, description="The sweeper looks at leads created this far back."
    )
    sla_sweep_batch: int = Field(
        default=500, ge=1, le=2000, description="Most unanswered leads one sweep reads."
    )
    beat_max_loop_interval_seconds: float = Field(
        default=5.0, gt=0, description="Longest beat sleeps between two looks at the schedule."
    )
    beat_lock_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A beat that died without releasing its Redis lock is replaced after this long.",
    )

    @model_validator(mode="after")
    def _lock_outlives_loop(self) -> AnalyticsSettings:
        # redbeat extends the lock once per loop; a lock shorter than a few loops lapses
        # between ticks and the running beat exits with LockNotOwnedError.
        if self.beat_lock_timeout_seconds < 3 * self.beat_max_loop_interval_seconds:
            raise ValueError(
                "beat_lock_timeout_seconds must be at least 3 x beat_max_loop_interval_seconds"
            )
        return self


class AlertSettings(BaseModel):
    """Alert checks: thresholds, deduplication and where alerts are sent."""

    webhook_url: SecretStr = Field(
        default=SecretStr(""),
        description='Slack-compatible incoming webhook ({"text": ...}); alerts only go to the log '
        "when empty.",
    )
    webhook_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Timeout of one webhook POST."
    )
    cooldown_seconds: int = Field(
        default=3600, ge=1, description="The same alert is not sent again for this long."
    )
    window_minutes: float = Field(
        default=60.0, gt=0, description="Record-based checks look at decisions this recent."
    )
    ttfr_minutes: float = Field(
        default=60.0, gt=0, description="TTFR above this for the segment below raises an alert."
    )
    ttfr_segment: str = Field(
        default="Enterprise", description="The segment whose TTFR is watched."
    )
    min_confidence: float = Field(
        default=0.5, ge=0, le=1, description="A routing decision below this confidence alerts."
    )
    api_usage_share: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Alert when this share of the org's daily API allowance is used.",
    )
    dead_letter_growth: int = Field(
        default=1, ge=1, description="Alert when the dead-letter stream grew by this many."
    )
    template_failures: int = Field(
        default=1, ge=1, description="Alert on this many failed template fills or sends."
    )
    listener_url: str = Field(
        default="",
        description="The listener's health server (http://host:port); from listener settings "
        "when empty.",
    )
    listener_timeout_seconds: float = Field(
        default=3.0, gt=0, description="Timeout of the listener /readyz probe."
    )


class FlywheelSettings(BaseModel):
    """The flywheel: the Redis stream workers append to, and the store it is flushed to."""

    sink: Literal["local", "s3", "off"] = Field(
        default="local",
        description="Where records are flushed: a local folder (embedded default), S3, or off "
        "(records are dropped).",
    )
    local_dir: Path = Field(
        default=Path("logs/flywheel"),
        description="Folder of <workload_id>_<YYYY-MM-DD>.jsonl files when the sink is local.",
    )
    s3_bucket: str = Field(default="leadfleet-flywheel", description="S3 bucket of the records.")
    s3_prefix: str = Field(
        default="flywheel",
        description="Key prefix: <prefix>/<workload_id>/dt=YYYY-MM-DD/part-<time>-<uuid>.jsonl.gz.",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 endpoint (MinIO, moto); AWS's when empty."
    )
    s3_region: str = Field(default="us-east-1", description="S3 region.")
    s3_access_key_id: SecretStr = Field(
        default=SecretStr(""),
        description="S3 access key id; boto3's default credential chain when empty.",
    )
    s3_secret_access_key: SecretStr = Field(
        default=SecretStr(""), description="S3 secret access key; with the access key id."
    )
    s3_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Connect and read timeout of every S3 call."
    )
    s3_max_attempts: int = Field(
        default=3, ge=1, le=10, description="Attempts of one S3 call (botocore's standard retries)."
    )
    stream_max_length: int = Field(
        default=1_000_000,
        ge=1000,
        description="The Redis stream keeps about this many unflushed records (XADD MAXLEN ~); "
        "older ones are lost only if flushing stops for that long.",
    )
    flush_batch_size: int = Field(
        default=500, ge=1, le=100_000, description="Records read and written per object or append."
    )
    flush_max_batches: int = Field(
        default=200, ge=1, description="Most batches one flush writes before it returns."
    )
    flush_when_stream_exceeds: int = Field(
        default=5000,
        ge=1,
        description="An append that finds more unflushed records than this asks for a flush.",
    )
    flush_request_interval_seconds: float = Field(
        default=10.0, gt=0, description="Appends ask for a flush at most this often."
    )
    claim_idle_ms: int = Field(
        default=300_000,
        ge=1,
        description="A record read by a flusher but not acknowledged this long is reclaimed "
        "(XAUTOCLAIM) by the next flush: its flusher died.",
    )
    redact_pii: bool = Field(
        default=False,
        description="Replace emails, phone numbers and person names in prompts, responses and "
        "decisions before a record leaves the worker.",
    )
    routed_memory_seconds: int = Field(
        default=30 * 86400,
        gt=0,
        description="How long a routed lead's record id, owner and time are kept for feedback.",
    )

    @field_validator("s3_endpoint_url", mode="before")
    @classmethod
    def _blank_endpoint_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value


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
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    flywheel: FlywheelSettings = Field(default_factory=FlywheelSettings)


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
