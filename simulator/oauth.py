"""OAuth 2.0: the JWT bearer token exchange, access tokens with expiry and revocation, userinfo."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography import x509

from simulator.clock import SimClock, epoch_ms
from simulator.tls import ConnectedApp

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_EXP_AHEAD = timedelta(minutes=5, seconds=10)
_OPAQUE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"


@dataclass(frozen=True)
class AccessToken:
    """An issued session: whose it is and until when it is valid (simulator clock)."""

    user_id: str
    issued_at: datetime
    expires_at: datetime


class TokenStore:
    """Issued access tokens; expiry follows the simulator clock, revocation is immediate."""

    def __init__(self, clock: SimClock, ttl_seconds: int) -> None:
        self._clock = clock
        self.ttl_seconds = ttl_seconds
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()

    def issue(self, org_id: str, user_id: str) -> tuple[str, AccessToken]:
        """A new opaque token `<orgId>!<random>` for a user."""
        now = self._clock.now()
        token = org_id[:15] + "!" + "".join(secrets.choice(_OPAQUE_ALPHABET) for _ in range(96))
        info = AccessToken(user_id, now, now + timedelta(seconds=self.ttl_seconds))
        with self._lock:
            self._tokens[token] = info
        return token, info

    def validate(self, token: str) -> AccessToken | None:
        """The session behind a token, or None when it is unknown, revoked or expired."""
        with self._lock:
            info = self._tokens.get(token)
        if info is None or self._clock.now() >= info.expires_at:
            return None
        return info

    def revoke(self, token: str | None = None) -> int:
        """Revoke one token, or every token when none is named; returns how many were revoked."""
        with self._lock:
            if token is None:
                count = len(self._tokens)
                self._tokens.clear()
                return count
            return 1 if self._tokens.pop(token, None) else 0

    def active_count(self) -> int:
        """Tokens that would still be accepted."""
        now = self._clock.now()
        with self._lock:
            return sum(1 for info in self._tokens.values() if info.expires_at > now)


def _grant_error(description: str, error: str = "invalid_grant") -> tuple[int, dict[str, Any]]:
    return 400, {"error": error, "error_description": description}


class OAuthServer:
    """The token endpoint's rules, as a login host checks a JWT bearer assertion."""

    def __init__(
        self,
        app: ConnectedApp,
        tokens: TokenStore,
        clock: SimClock,
        *,
        org_id: Callable[[], str],
        find_user: Callable[[str], Mapping[str, Any] | None],
        base_urls: Callable[[], list[str]],
    ) -> None:
        self._app = app
        self._public_key = x509.load_pem_x509_certificate(app.certificate_pem).public_key()
        self._tokens = tokens
        self._clock = clock
        self._org_id = org_id
        self._find_user = find_user
        self._base_urls = base_urls

    def token(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """Answer POST /services/oauth2/token: (status, JSON body)."""
        if form.get("grant_type") != JWT_GRANT:
            return _grant_error("grant type not supported", "unsupported_grant_type")
        assertion = form.get("assertion", "")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return _grant_error("invalid assertion")
        if unverified.get("iss") != self._app.consumer_key:
            return _grant_error("client identifier invalid", "invalid_client_id")
        try:
            claims = jwt.decode(
                assertion,
                self._public_key,  # type: ignore[arg-type]
                algorithms=["RS256"],
                options={
                    "verify_exp": False,
                    "verify_aud": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_iss": False,
                },
            )
        except jwt.PyJWTError:
            return _grant_error("invalid assertion")
        audiences = claims.get("aud")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        accepted = {url.rstrip("/") for url in self._base_urls()}
        if not any(isinstance(a, str) and a.rstrip("/") in accepted for a in audiences):
            return _grant_error("audience is invalid")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            return _grant_error("invalid assertion")
        now = self._clock.now()
        if exp <= now.timestamp():
            return _grant_error("expired access/refresh token")
        if exp > (now + MAX_EXP_AHEAD).timestamp():
            return _grant_error("invalid assertion")
        user = self._find_user(str(claims.get("sub", "")))
        if user is None or not user.get("IsActive"):
            return _grant_error("user hasn't approved this consumer")
        org_id = self._org_id()
        token, info = self._tokens.issue(org_id, user["Id"])
        login = self._base_urls()[0]
        return 200, {
            "access_token": token,
            "scope": "api",
            "instance_url": login,
            "id": f"{login}/id/{org_id}/{user['Id']}",
            "token_type": "Bearer",
            "issued_at": str(epoch_ms(info.issued_at)),
        }

    def userinfo(self, user: Mapping[str, Any]) -> dict[str, Any]:
        """The OpenID Connect userinfo document of a user."""
        org_id = self._org_id()
        login = self._base_urls()[0]
        return {
            "sub": f"{login}/id/{org_id}/{user['Id']}",
            "user_id": user["Id"],
            "organization_id": org_id,
            "preferred_username": user["Username"],
            "nickname": str(user["Username"]).split("@")[0],
            "name": user["Name"],
            "email": user["Email"],
            "email_verified": True,
            "given_name": user["FirstName"],
            "family_name": user["LastName"],
            "zoneinfo": user["TimeZoneSidKey"],
            "active": bool(user["IsActive"]),
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "is_app_installed": True,
            "updated_at": user["LastModifiedDate"],
            "urls": {
                "rest": f"{login}/services/data/v{{version}}/",
                "sobjects": f"{login}/services/data/v{{version}}/sobjects/",
                "query": f"{login}/services/data/v{{version}}/query/",
                "profile": f"{login}/{user['Id']}",
            },
        }
