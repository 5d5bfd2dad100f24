"""Pub/Sub API authentication: the call metadata checked against the org's REST sessions.

A call carries `accesstoken`, `instanceurl` and `tenantid` (any key case; other keys such as
x-client-trace-id are ignored). It is accepted with a live token (not expired, not revoked), the
org's id (15 or 18 characters) and one of the org's instance URLs; blank or missing headers and
wrong values are different errors, as on Salesforce.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from simulator.oauth import AccessToken
from simulator.org import Org
from simulator.pubsub_errors import AUTH_ERROR, AUTH_HEADERS_INVALID, PubSubError, fail

AUTH_KEYS = ("accesstoken", "instanceurl", "tenantid")


def _normalise_url(url: str) -> str:
    return url.strip().rstrip("/").lower()


class Authenticator:
    """Checks a call's metadata against the org's sessions."""

    def __init__(self, org: Org, instance_urls: Callable[[], list[str]]) -> None:
        self._org = org
        self._instance_urls = instance_urls

    def session(self, metadata: Any) -> AccessToken | PubSubError:
        """The caller's session, or the error to answer with."""
        headers: dict[str, str] = {}
        for key, value in metadata or ():
            if isinstance(value, str):
                headers[key.lower()] = value.strip()
        if any(not headers.get(key) for key in AUTH_KEYS):
            return AUTH_HEADERS_INVALID
        session = self._org.tokens.validate(headers["accesstoken"])
        org_id = str(self._org.identity.org_id)
        tenant = headers["tenantid"]
        known_urls = {_normalise_url(url) for url in self._instance_urls()}
        if (
            session is None
            or tenant not in (org_id, org_id[:15])
            or _normalise_url(headers["instanceurl"]) not in known_urls
        ):
            return AUTH_ERROR
        return session

    def require(self, context: grpc.ServicerContext, rpc_id: str) -> AccessToken:
        """The caller's session; ends the call with UNAUTHENTICATED when there is none."""
        result = self.session(context.invocation_metadata())
        if isinstance(result, PubSubError):
            fail(context, result, rpc_id)
        return result
