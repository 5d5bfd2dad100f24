"""OAuth 2.0 JWT bearer authentication with one token cached in Redis for the whole fleet.

The token lives at `<prefix>:salesforce:token` (JSON, Redis TTL = expiry). Only one process
refreshes at a time (a Redis lock); the others keep using a still-valid token or wait on the
lock and re-read the cache. A token Salesforce rejects is dropped with compare-and-delete,
so a late invalidation cannot remove a fresher token. Tokens, the private key and the JWT
assertion never appear in a log line, an exception message or a repr.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import redis
import requests
from pydantic import BaseModel, ConfigDict, SecretStr
from redis.exceptions import LockError, RedisError

from shared.errors import ConfigError, SalesforceError
from shared.salesforce.errors import (
    SalesforceAuthError,
    TransportError,
    error_from_exception,
    error_from_response,
)
from shared.settings import SalesforceSettings

__all__ = ["AccessToken", "JwtBearerAuth"]

log = logging.getLogger(__name__)

JWT_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Salesforce accepts an assertion whose exp is at most a few minutes ahead.
ASSERTION_LIFETIME = timedelta(seconds=180)
_OAUTH_RESOURCE = "oauth2/token"

# Deletes the cached token only while it is still the one the caller saw rejected.
_COMPARE_AND_DELETE = """
local cached = redis.call('GET', KEYS[1])
if not cached then return 0 end
local ok, decoded = pcall(cjson.decode, cached)
if ok and decoded['access_token'] == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AccessToken(BaseModel):
    """An access token and where to use it; the token itself stays a SecretStr."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    access_token: SecretStr
    instance_url: str
    issued_at: datetime
    expires_at: datetime

    def is_fresh(self, now: datetime, margin: timedelta) -> bool:
        """True while the token is valid for longer than the refresh margin."""
        return now < self.expires_at - margin

    def is_valid(self, now: datetime) -> bool:
        """True until the token's assumed expiry."""
        return now < self.expires_at

    def to_cache(self) -> str:
        """The JSON stored in Redis (the only place the token is written in clear)."""
        return json.dumps(
            {
                "access_token": self.access_token.get_secret_value(),
                "instance_url": self.instance_url,
                "issued_at": self.issued_at.isoformat(),
                "expires_at": self.expires_at.isoformat(),
            }
        )

    @classmethod
    def from_cache(cls, raw: str | bytes) -> AccessToken | None:
        """The token from its cached JSON, or None when the entry is unreadable."""
        try:
            return cls.model_validate_json(raw)
        except ValueError:
            return None


class JwtBearerAuth:
    """Gets access tokens by the JWT bearer flow and shares them through Redis."""

    def __init__(
        self,
        settings: SalesforceSettings,
        redis: redis.Redis,
        *,
        key_prefix: str,
        http: requests.Session,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._http = http
        self._clock = clock
        self._key = f"{key_prefix}:salesforce:token"
        self._lock_name = f"{key_prefix}:salesforce:token:lock"
        self._margin = timedelta(seconds=settings.token_refresh_margin_seconds)
        self._lifetime = timedelta(seconds=settings.token_lifetime_seconds)
        # A refresh holds the lock for at most a token request (connect + read) plus slack.
        self._lock_timeout = settings.timeout_seconds * 3 + 5
        self._compare_and_delete = redis.register_script(_COMPARE_AND_DELETE)
        self._private_key: str | None = None

    def __repr__(self) -> str:
        return f"JwtBearerAuth(login_url={self._settings.login_url!r}, key={self._key!r})"

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint on the login host."""
        return self._settings.login_url.rstrip("/") + "/services/oauth2/token"

    def token(self) -> AccessToken:
        """A token valid beyond the refresh margin, refreshed by one process at a time."""
        try:
            return self._token()
        except RedisError as exc:
            # The cache is shared by the fleet; without it a task retries rather than fails.
            raise TransportError(
                f"Salesforce token cache unavailable: {type(exc).__name__}",
                resource=_OAUTH_RESOURCE,
            ) from None

    def _token(self) -> AccessToken:
        cached = self._read()
        now = self._clock()
        if cached is not None and cached.is_fresh(now, self._margin):
            return cached
        lock = self._redis.lock(
            self._lock_name,
            timeout=self._lock_timeout,
            blocking_timeout=self._lock_timeout,
        )
        if cached is not None and cached.is_valid(now):
            # Someone else is refreshing: the old token still works until it expires.
            if not lock.acquire(blocking=False):
                return cached
        elif not lock.acquire(blocking=True):
            raise TransportError(
                "timed out waiting for another process to refresh the Salesforce token",
                resource=_OAUTH_RESOURCE,
            )
        try:
            current = self._read()
            if current is not None and current.is_fresh(self._clock(), self._margin):
                return current
            try:
                fresh = self._exchange()
            except SalesforceError as exc:
                if current is not None and current.is_valid(self._clock()):
                    log.warning("salesforce token refresh failed; using the current token: %s", exc)
                    return current
                raise
            ttl_ms = int((fresh.expires_at - self._clock()).total_seconds() * 1000)
            if ttl_ms > 0:
                self._redis.set(self._key, fresh.to_cache(), px=ttl_ms)
            return fresh
        finally:
            try:
                lock.release()
            except LockError:
                log.warning("salesforce token lock expired before release")

    def invalidate(self, token: AccessToken) -> bool:
        """Drop the cached token if it is still this one; True when it was dropped."""
        secret = token.access_token.get_secret_value()
        return bool(self._compare_and_delete(keys=[self._key], args=[secret]))

    def _read(self) -> AccessToken | None:
        raw = self._redis.get(self._key)
        if raw is None:
            return None
        if not isinstance(raw, str | bytes):
            return None
        return AccessToken.from_cache(raw)

    def _load_private_key(self) -> str:
        if self._private_key is None:
            path: Path | None = self._settings.private_key_path
            if path is None:
                raise ConfigError(
                    "LEADFLEET_SALESFORCE__PRIVATE_KEY_PATH",
                    ["a private key is required for the JWT bearer flow"],
                )
            try:
                self._private_key = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    "LEADFLEET_SALESFORCE__PRIVATE_KEY_PATH",
                    [f"cannot read {path}: {exc.strerror}"],
                ) from None
        return self._private_key

    def _assertion(self, now: datetime) -> str:
        claims = {
            "iss": self._settings.consumer_key.get_secret_value(),
            "sub": self._settings.username,
            "aud": self._settings.login_url.rstrip("/"),
            "exp": int((now + ASSERTION_LIFETIME).timestamp()),
        }
        try:
            return jwt.encode(claims, self._load_private_key(), algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError):
            # The library's message may quote key material; say only what is wrong.
            raise ConfigError(
                "LEADFLEET_SALESFORCE__PRIVATE_KEY_PATH",
                ["the file is not a usable RSA private key in PEM format"],
            ) from None

    def _exchange(self) -> AccessToken:
        # The local clock at request time: expiry is conservative whatever the server's clock says.
        issued_at = self._clock()
        data = {"grant_type": JWT_GRANT_TYPE, "assertion": self._assertion(issued_at)}
        verify: str | bool = str(self._settings.ca_bundle) if self._settings.ca_bundle else True
        try:
            response = self._http.post(
                self.token_url,
                data=data,
                timeout=self._settings.timeout_seconds,
                verify=verify,
                headers={"Accept": "application/json"},
            )
        except requests.RequestException as exc:
            # Dropping the cause keeps the prepared request (and its assertion) out of tracebacks.
            raise error_from_exception(exc, _OAUTH_RESOURCE) from None
        if response.status_code != 200:
            raise error_from_response(response.status_code, response.content, _OAUTH_RESOURCE)
        token = self._parse(response, issued_at)
        log.info(
            "salesforce token obtained",
            extra={"instance_url": token.instance_url, "expires_at": token.expires_at.isoformat()},
        )
        return token

    def _parse(self, response: requests.Response, issued_at: datetime) -> AccessToken:
        try:
            payload: Any = response.json()
        except ValueError:
            payload = None
        # Never quote a success body: it carries the access token.
        if not isinstance(payload, dict):
            raise SalesforceAuthError(
                "token response is not a JSON object", status=200, resource=_OAUTH_RESOURCE
            )
        access_token = payload.get("access_token")
        instance_url = self._settings.instance_url or payload.get("instance_url")
        if not isinstance(access_token, str) or not access_token:
            raise SalesforceAuthError(
                "token response has no access_token", status=200, resource=_OAUTH_RESOURCE
            )
        if not isinstance(instance_url, str) or not instance_url.startswith("https://"):
            raise SalesforceAuthError(
                "token response has no https instance_url", status=200, resource=_OAUTH_RESOURCE
            )
        return AccessToken(
            access_token=SecretStr(access_token),
            instance_url=instance_url.rstrip("/"),
            issued_at=issued_at,
            expires_at=issued_at + self._lifetime,
        )
