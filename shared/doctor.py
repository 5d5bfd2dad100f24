"""`leadfleet doctor`: read what each check needs from settings, Redis, the org, the change
event stream and S3, and let shared/diagnostics.py judge it.

Checks run in order; a check whose inputs come from a check that failed is skipped and says
which one to fix first. Salesforce calls use a token from a fresh JWT exchange, cached under
its own key prefix and dropped at the end, so the doctor proves the key and the connected app
rather than reusing a token the fleet cached. Nothing here prints a token or key material.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from redis import Redis
from redis.exceptions import RedisError, ResponseError

from shared.business_hours import load_business_hours
from shared.diagnostics import (
    ASSIGN_HINT,
    CheckResult,
    TopicProbe,
    assess_api_headroom,
    assess_api_version,
    assess_cdc_selection,
    assess_fields,
    assess_object_access,
    assess_owners,
    assess_stream,
    jwt_fix,
    required_owner_ids,
)
from shared.errors import ConfigError, LeadfleetError, SalesforceError
from shared.policy import QUEUE_PREFIX, RoutingPolicy, load_policy
from shared.salesforce.auth import AccessToken, JwtBearerAuth
from shared.salesforce.client import SalesforceClient
from shared.salesforce.errors import (
    NotFoundError,
    SalesforceAuthError,
    TransportError,
    error_from_exception,
    error_from_response,
)
from shared.salesforce.port import Limit, OrgLimits
from shared.salesforce.soql import id_list
from shared.salesforce.wire import build_http_session
from shared.settings import LeadfleetSettings, load_settings
from shared.templates import load_templates

__all__ = ["StreamProbe", "StreamProbeFactory", "TokenSource", "failed", "run_doctor"]

CDC_MEMBERS_QUERY = (
    "SELECT Id, DeveloperName, EventChannel, SelectedEntity FROM PlatformEventChannelMember"
)
SETTINGS_HINT = (
    "fix the variables named above (every setting: config/leadfleet.example.env and the "
    "README's configuration reference)"
)


class TokenSource(Protocol):
    """Access tokens: a valid one, and forgetting one that was rejected."""

    def token(self) -> AccessToken:
        """A currently valid token."""
        ...

    def invalidate(self, token: AccessToken) -> bool:
        """Drop a token."""
        ...


class StreamProbe(Protocol):
    """Subscribes briefly to each topic and reports what it found."""

    def probe(self, topics: Sequence[str], seconds: float) -> list[TopicProbe]:
        """One TopicProbe per topic, within about `seconds`."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


StreamProbeFactory = Callable[[LeadfleetSettings, TokenSource, requests.Session], StreamProbe]


@dataclass
class _Inputs:
    """What earlier checks produced for later ones."""

    settings: LeadfleetSettings | None = None
    policy: RoutingPolicy | None = None
    redis: Redis | None = None
    http: requests.Session | None = None
    auth: JwtBearerAuth | None = None
    token: AccessToken | None = None
    lead_describe: dict[str, Any] | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)


@dataclass(frozen=True)
class _Check:
    name: str
    needs: tuple[str, ...]
    run: Callable[[], CheckResult]


class _Doctor:
    """The checks, in order, sharing what they gathered."""

    def __init__(
        self,
        load: Callable[[], LeadfleetSettings],
        stream_probe: StreamProbeFactory | None,
        subscribe_seconds: float,
    ) -> None:
        self._load = load
        self._stream_probe = stream_probe
        self._subscribe_seconds = subscribe_seconds
        self._in = _Inputs()
        self._run_id = uuid.uuid4().hex[:12]

    # -- plumbing ----------------------------------------------------------------------------

    def checks(self) -> list[_Check]:
        """Every check with the checks whose output it needs."""
        sf = ("salesforce.jwt",)
        return [
            _Check("settings", (), self.settings),
            _Check("config.files", ("settings",), self.config_files),
            _Check("redis", ("settings",), self.redis),
            _Check("salesforce.private_key", ("settings",), self.private_key),
            _Check("salesforce.jwt", ("redis", "salesforce.private_key"), self.jwt),
            _Check("salesforce.api_version", sf, self.api_version),
            _Check("salesforce.fields", sf, self.fields),
            _Check("salesforce.access", sf, self.access),
            _Check("salesforce.cdc", sf, self.cdc),
            _Check("pubsub.stream", sf, self.stream),
            _Check("salesforce.limits", sf, self.limits),
            _Check("config.owners", ("config.files", *sf), self.owners),
            _Check("s3", ("settings",), self.s3),
        ]

    def run(self) -> Iterator[CheckResult]:
        """Run every check; yield each result as soon as it is known."""
        outcome: dict[str, str] = {}
        try:
            for check in self.checks():
                blocking = [n for n in check.needs if outcome.get(n) not in ("pass", "warn")]
                if blocking:
                    result = CheckResult(
                        check=check.name,
                        status="skip",
                        detail=f"needs {', '.join(blocking)} to pass first",
                    )
                else:
                    result = self._guarded(check)
                outcome[check.name] = result.status
                yield result
        finally:
            self._close()

    def _guarded(self, check: _Check) -> CheckResult:
        try:
            return check.run()
        except SalesforceAuthError as exc:
            return CheckResult(
                check=check.name,
                status="fail",
                detail=str(exc),
                fix=jwt_fix(exc.error, exc.description),
            )
        except TransportError as exc:
            return CheckResult(
                check=check.name,
                status="fail",
                detail=f"cannot reach Salesforce: {exc}",
                fix="check the URL settings, the network and LEADFLEET_SALESFORCE__CA_BUNDLE",
            )
        except (LeadfleetError, RedisError, OSError) as exc:
            return CheckResult(
                check=check.name, status="fail", detail=f"{type(exc).__name__}: {exc}"
            )

    def _close(self) -> None:
        auth, token = self._in.auth, self._in.token
        if auth is not None and token is not None:
            with suppress(RedisError, LeadfleetError):
                auth.invalidate(token)
        for close in reversed(self._in.closers):
            with suppress(Exception):
                close()

    @property
    def _settings(self) -> LeadfleetSettings:
        assert self._in.settings is not None
        return self._in.settings

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET a REST resource of the org with the doctor's token; errors map like the client's."""
        http, token = self._in.http, self._in.token
        assert http is not None and token is not None
        base = (self._settings.salesforce.instance_url or token.instance_url).rstrip("/")
        headers = {
            "Authorization": f"Bearer {token.access_token.get_secret_value()}",
            "Sforce-Call-Options": f"client={self._settings.salesforce.call_options_client}",
        }
        try:
            response = http.get(base + path, params=params, headers=headers)
        except requests.RequestException as exc:
            raise error_from_exception(exc, path) from None
        if response.status_code != 200:
            raise error_from_response(response.status_code, response.content, path)
        return response.json()

    def _versioned(self, path: str) -> str:
        return f"/services/data/v{self._settings.salesforce.api_version}{path}"

    # -- the checks --------------------------------------------------------------------------

    def settings(self) -> CheckResult:
        """Settings load from the environment and .env."""
        try:
            settings = self._load()
        except ConfigError as exc:
            return CheckResult(
                check="settings", status="fail", detail="; ".join(exc.problems), fix=SETTINGS_HINT
            )
        self._in.settings = settings
        who = settings.salesforce.username or "no username set"
        return CheckResult(
            check="settings",
            status="pass",
            detail=f"loaded (org {settings.salesforce.login_url} as {who})",
        )

    def config_files(self) -> CheckResult:
        """The routing policy, template catalogue and business hours are valid."""
        files = self._settings.config
        try:
            policy = load_policy(files.routing_policy)
            templates = load_templates(files.templates)
            load_business_hours(files.business_hours)
        except ConfigError as exc:
            return CheckResult(
                check="config.files",
                status="fail",
                detail=f"{exc.source}: " + "; ".join(exc.problems),
                fix="correct the file (leadfleet policy check lists every policy problem)",
            )
        self._in.policy = policy
        return CheckResult(
            check="config.files",
            status="pass",
            detail=f"routing policy {policy.version}, {len(templates.templates)} templates, "
            "business hours",
        )

    def redis(self) -> CheckResult:
        """Redis answers and has streams, consumer groups and Lua; nothing is evicted."""
        settings = self._settings.redis
        client = Redis.from_url(
            settings.url,
            socket_timeout=settings.socket_timeout_seconds,
            socket_connect_timeout=settings.socket_timeout_seconds,
        )
        self._in.closers.append(client.close)
        key = f"{settings.key_prefix}:doctor:{self._run_id}"
        try:
            client.ping()
            version = str(client.info("server").get("redis_version", "?"))
            client.xadd(key, {"probe": "1"})
            client.xgroup_create(key, "doctor", id="0")
            client.xreadgroup("doctor", "doctor", {key: ">"}, count=1)
            client.xack(key, "doctor", "0-0")
            lua = client.eval("return redis.call('INCR', KEYS[1])", 1, f"{key}:lua")
        except RedisError as exc:
            return CheckResult(
                check="redis",
                status="fail",
                detail=f"{settings.url.split('@')[-1]}: {type(exc).__name__}: {exc}",
                fix="start Redis 6.2 or later and set LEADFLEET_REDIS__URL",
            )
        finally:
            with suppress(RedisError):
                client.delete(key, f"{key}:lua")
        self._in.redis = client
        detail = f"Redis {version}: streams, consumer groups and Lua work"
        if lua != 1:
            return CheckResult(check="redis", status="fail", detail="EVAL gave a wrong answer")
        try:
            policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
        except ResponseError:
            policy = None
        if policy is None:
            return CheckResult(
                check="redis",
                status="warn",
                detail=detail + "; could not read maxmemory-policy (CONFIG is disabled)",
                fix="make sure the server's maxmemory-policy is noeviction",
            )
        if policy != "noeviction":
            return CheckResult(
                check="redis",
                status="warn",
                detail=detail + f"; maxmemory-policy is {policy}, so queued work can be evicted",
                fix="set maxmemory-policy noeviction",
            )
        return CheckResult(check="redis", status="pass", detail=detail + "; noeviction")

    def private_key(self) -> CheckResult:
        """The consumer key and username are set and the private key is a readable RSA key."""
        salesforce = self._settings.salesforce
        unset = [
            name
            for name, value in (
                ("LEADFLEET_SALESFORCE__CONSUMER_KEY", salesforce.consumer_key.get_secret_value()),
                ("LEADFLEET_SALESFORCE__USERNAME", salesforce.username),
                ("LEADFLEET_SALESFORCE__PRIVATE_KEY_PATH", str(salesforce.private_key_path or "")),
            )
            if not value
        ]
        if unset:
            return CheckResult(
                check="salesforce.private_key",
                status="fail",
                detail=f"not set: {', '.join(unset)}",
                fix="create the connected app (README: connecting a real org) and set them",
            )
        path = salesforce.private_key_path
        assert path is not None
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except OSError as exc:
            return CheckResult(
                check="salesforce.private_key",
                status="fail",
                detail=f"cannot read {path}: {exc.strerror}",
                fix="check the path and that the file is readable by this user",
            )
        except (ValueError, TypeError):
            return CheckResult(
                check="salesforce.private_key",
                status="fail",
                detail=f"{path} is not an unencrypted PEM private key",
                fix="use the key whose certificate is on the connected app, without a passphrase",
            )
        if not isinstance(key, rsa.RSAPrivateKey):
            return CheckResult(
                check="salesforce.private_key",
                status="fail",
                detail=f"{path} is not an RSA key (JWT bearer signs with RS256)",
                fix="create an RSA key: openssl req -x509 -newkey rsa:2048 ...",
            )
        return CheckResult(
            check="salesforce.private_key",
            status="pass",
            detail=f"RSA {key.key_size}-bit key read from {path}",
        )

    def jwt(self) -> CheckResult:
        """The JWT bearer exchange gives a token (a fresh one, not the fleet's cached token)."""
        settings = self._settings
        assert self._in.redis is not None
        http = build_http_session(settings.salesforce)
        self._in.closers.append(http.close)
        self._in.http = http
        auth = JwtBearerAuth(
            settings.salesforce,
            self._in.redis,
            key_prefix=f"{settings.redis.key_prefix}:doctor:{self._run_id}",
            http=http,
        )
        self._in.auth = auth
        token = auth.token()
        self._in.token = token
        return CheckResult(
            check="salesforce.jwt",
            status="pass",
            detail=f"token for {settings.salesforce.username} at {token.instance_url}",
        )

    def api_version(self) -> CheckResult:
        """The configured API version is served."""
        served = [str(v.get("version")) for v in self._get("/services/data/") or []]
        return assess_api_version(served, self._settings.salesforce.api_version)

    def fields(self) -> CheckResult:
        """Lead has every custom field leadfleet reads and writes."""
        describe = self._get(self._versioned("/sobjects/Lead/describe"))
        self._in.lead_describe = describe
        return assess_fields(describe.get("fields") or [])

    def access(self) -> CheckResult:
        """The integration user can read Lead, Task and EmailMessage and update Lead."""
        describes: dict[str, Mapping[str, Any] | None] = {"Lead": self._in.lead_describe}
        for sobject in ("Lead", "Task", "EmailMessage"):
            if describes.get(sobject) is not None:
                continue
            try:
                describes[sobject] = self._get(self._versioned(f"/sobjects/{sobject}/describe"))
            except NotFoundError:
                describes[sobject] = None
        return assess_object_access(describes)

    def cdc(self) -> CheckResult:
        """Lead, Task and EmailMessage are selected for Change Data Capture (Tooling API)."""
        try:
            answer = self._get(self._versioned("/tooling/query/"), {"q": CDC_MEMBERS_QUERY})
        except SalesforceError as exc:
            if isinstance(exc, TransportError):
                raise
            return CheckResult(
                check="salesforce.cdc",
                status="fail",
                detail=f"cannot read the CDC selection: {exc}",
                fix=f"the user needs View Setup and Configuration; {ASSIGN_HINT}",
            )
        return assess_cdc_selection(answer.get("records") or [])

    def stream(self) -> CheckResult:
        """A short subscription reaches every topic the listener subscribes to."""
        if self._stream_probe is None:
            return CheckResult(
                check="pubsub.stream", status="skip", detail="no Pub/Sub client in this process"
            )
        assert self._in.auth is not None and self._in.http is not None
        probe = self._stream_probe(self._settings, self._in.auth, self._in.http)
        self._in.closers.append(probe.close)
        topics = self._settings.listener.topics
        return assess_stream(probe.probe(topics, self._subscribe_seconds))

    def limits(self) -> CheckResult:
        """The org has API allowance left for the fleet."""
        raw = self._get(self._versioned("/limits/"))
        entries = {
            name: Limit.model_validate(value)
            for name, value in dict(raw).items()
            if isinstance(value, dict) and {"Max", "Remaining"} <= value.keys()
        }
        settings = self._settings
        return assess_api_headroom(
            OrgLimits(limits=entries),
            fleet_share=settings.ratelimit.salesforce_daily_share,
            alert_share=settings.alerts.api_usage_share,
            sends_email=settings.workers.send_email,
        )

    def owners(self) -> CheckResult:
        """Every owner in the routing policy is an active user or an existing queue."""
        assert self._in.policy is not None and self._in.auth is not None
        assert self._in.http is not None
        owners = required_owner_ids(self._in.policy)
        client = SalesforceClient(self._settings.salesforce, self._in.auth, http=self._in.http)
        users = [i for i in owners if not i.startswith(QUEUE_PREFIX)]
        queues = [i for i in owners if i.startswith(QUEUE_PREFIX)]
        active = client.active_user_ids(users) if users else set()
        found_queues: set[str] = set()
        if queues:
            soql = (
                "SELECT Id FROM Group WHERE Type = 'Queue'"  # noqa: S608 - soql.py literals
                f" AND Id IN {id_list(queues, (QUEUE_PREFIX,))}"
            )
            found = {str(r["Id"])[:15] for r in client.query_records("Group", soql)}
            found_queues = {q for q in queues if q[:15] in found}
        return assess_owners(owners, active, found_queues)

    def s3(self) -> CheckResult:
        """The flywheel bucket takes a write, when the flywheel goes to S3."""
        flywheel = self._settings.flywheel
        if flywheel.sink != "s3":
            return CheckResult(
                check="s3", status="skip", detail=f"the flywheel sink is {flywheel.sink}"
            )
        # Imported here: boto3 loads only when S3 is configured.
        from botocore.exceptions import BotoCoreError, ClientError

        from shared.flywheel.s3 import build_s3_client, store_error

        key = f"{flywheel.s3_prefix}/_doctor/{self._run_id}.txt"
        try:
            client = build_s3_client(flywheel)
            client.put_object(Bucket=flywheel.s3_bucket, Key=key, Body=b"leadfleet doctor\n")
            client.delete_object(Bucket=flywheel.s3_bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            error = store_error(exc, "put")
            return CheckResult(
                check="s3",
                status="fail",
                detail=f"s3://{flywheel.s3_bucket}: {error}",
                fix="create the bucket and give the credentials s3:PutObject and s3:DeleteObject "
                "on it (LEADFLEET_FLYWHEEL__S3_*)",
            )
        return CheckResult(
            check="s3",
            status="pass",
            detail=f"s3://{flywheel.s3_bucket}/{flywheel.s3_prefix} takes writes",
        )


def run_doctor(
    load: Callable[[], LeadfleetSettings] = load_settings,
    *,
    stream_probe: StreamProbeFactory | None = None,
    subscribe_seconds: float = 5.0,
) -> Iterator[CheckResult]:
    """Every check's result, in order, as each completes."""
    return _Doctor(load, stream_probe, subscribe_seconds).run()


def failed(results: Sequence[CheckResult]) -> bool:
    """Whether any check failed (warnings and skips do not fail the doctor)."""
    return any(r.status == "fail" for r in results)
