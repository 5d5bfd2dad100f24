"""The traffic generator's way into the org: REST over HTTPS with a JWT bearer token per user.

Written apart from leadfleet's client on purpose: the traffic plays the people in the org, so it
authenticates as each of them and never marks its calls as leadfleet's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import jwt
import requests

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_SECONDS = 170
TIMEOUT_SECONDS = 10.0
ATTEMPTS = 3
RETRY_PAUSE_SECONDS = 0.5
# Errors a person would simply try again after.
RETRYABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE"})
_BODY_LIMIT = 300


class TrafficError(Exception):
    """An org call that failed for good (the message never holds a token or key)."""


@dataclass(frozen=True)
class OrgConnection:
    """What the simulator prints on start-up, as far as REST and JWT need it."""

    instance_url: str
    login_url: str
    ca_bundle: Path
    consumer_key: str
    username: str
    private_key_path: Path

    @classmethod
    def from_file(cls, path: Path) -> OrgConnection:
        """Read the start-up JSON line saved to a file."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TrafficError(f"cannot read the connection file {path}: {exc}") from None
        missing = [
            key
            for key in ("instance_url", "ca_bundle", "consumer_key", "username", "private_key_path")
            if not raw.get(key)
        ]
        if missing:
            raise TrafficError(f"{path} lacks {', '.join(missing)}")
        return cls(
            instance_url=str(raw["instance_url"]).rstrip("/"),
            login_url=str(raw.get("login_url") or raw["instance_url"]).rstrip("/"),
            ca_bundle=Path(raw["ca_bundle"]),
            consumer_key=str(raw["consumer_key"]),
            username=str(raw["username"]),
            private_key_path=Path(raw["private_key_path"]),
        )

    def __repr__(self) -> str:
        return f"OrgConnection(instance_url={self.instance_url!r}, username={self.username!r})"


class RestOrg:
    """REST calls as any active user of the org; one access token per user, renewed on 401."""

    def __init__(
        self,
        connection: OrgConnection,
        *,
        api_version: str = "62.0",
        http: requests.Session | None = None,
        timeout: float = TIMEOUT_SECONDS,
        pause: float = RETRY_PAUSE_SECONDS,
    ) -> None:
        self.connection = connection
        self.api_version = api_version
        self.timeout = timeout
        self.pause = pause
        self.http = http or requests.Session()
        self.http.verify = str(connection.ca_bundle)
        # Otherwise REQUESTS_CA_BUNDLE in the environment would replace `verify` per request.
        self.http.trust_env = False
        self._tokens: dict[str, str] = {}
        self._key: bytes | None = None

    def __enter__(self) -> RestOrg:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.http.close()

    @property
    def data_url(self) -> str:
        """The versioned REST root."""
        return f"{self.connection.instance_url}/services/data/v{self.api_version}"

    def query(self, soql: str, *, as_user: str) -> list[dict[str, Any]]:
        """Every record of a query, following nextRecordsUrl."""
        body = self._call("GET", f"{self.data_url}/query?q={quote(soql)}", as_user)
        records = list(body.get("records", []))
        while not body.get("done", True) and body.get("nextRecordsUrl"):
            body = self._call(
                "GET", self.connection.instance_url + str(body["nextRecordsUrl"]), as_user
            )
            records.extend(body.get("records", []))
        return records

    def create(self, sobject: str, fields: dict[str, Any], *, as_user: str) -> str:
        """POST a new record; its id."""
        body = self._call("POST", f"{self.data_url}/sobjects/{sobject}/", as_user, fields)
        return str(body["id"])

    def get(
        self, sobject: str, record_id: str, fields: Sequence[str], *, as_user: str
    ) -> dict[str, Any]:
        """Some fields of one record."""
        url = f"{self.data_url}/sobjects/{sobject}/{record_id}?fields={','.join(fields)}"
        return self._call("GET", url, as_user)

    def _call(
        self, method: str, url: str, as_user: str, payload: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            headers = {
                "Authorization": f"Bearer {self._token(as_user)}",
                "Accept": "application/json",
            }
            try:
                response = self.http.request(
                    method, url, json=payload, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as exc:
                if attempt < ATTEMPTS:
                    time.sleep(self.pause * attempt)
                    continue
                raise TrafficError(f"{method} {_path(url)}: {type(exc).__name__}") from None
            if response.status_code == 401 and not renewed:
                self._tokens.pop(as_user, None)
                renewed = True
                continue
            if response.status_code < 300:
                return dict(response.json()) if response.content else {}
            if _retryable(response) and attempt < ATTEMPTS:
                time.sleep(self.pause * attempt)
                continue
            raise TrafficError(
                f"{method} {_path(url)} -> {response.status_code}: {response.text[:_BODY_LIMIT]}"
            )

    def _token(self, username: str) -> str:
        token = self._tokens.get(username)
        if token is None:
            token = self._exchange(username)
            self._tokens[username] = token
        return token

    def _exchange(self, username: str) -> str:
        if self._key is None:
            self._key = self.connection.private_key_path.read_bytes()
        claims = {
            "iss": self.connection.consumer_key,
            "sub": username,
            "aud": self.connection.login_url,
            "exp": int(time.time()) + ASSERTION_SECONDS,
        }
        assertion = jwt.encode(claims, self._key, algorithm="RS256")
        try:
            response = self.http.post(
                f"{self.connection.login_url}/services/oauth2/token",
                data={"grant_type": JWT_GRANT, "assertion": assertion},
                headers={"Accept": "application/json"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise TrafficError(f"token request for {username}: {type(exc).__name__}") from None
        if response.status_code != 200:
            # An error body names the problem; a success body would hold the token.
            raise TrafficError(
                f"token request for {username} -> {response.status_code}: "
                f"{response.text[:_BODY_LIMIT]}"
            )
        return str(response.json()["access_token"])


def _retryable(response: requests.Response) -> bool:
    if response.status_code >= 500:
        return True
    try:
        body = response.json()
    except ValueError:
        return False
    errors = body if isinstance(body, list) else [body]
    return any(isinstance(e, dict) and e.get("errorCode") in RETRYABLE_CODES for e in errors)


def _path(url: str) -> str:
    """The URL without host or query string: enough to say which call failed."""
    return "/" + url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
