"""Pub/Sub errors are classified by their error-code trailer; auth metadata names the org."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from pydantic import SecretStr

from listener.connection import (
    PubSubAuth,
    StreamErrorKind,
    classify_stream_error,
    error_code_of,
    tenant_id_from_token,
)
from listener.testing import FakeRpcError
from shared.salesforce.auth import AccessToken
from shared.salesforce.ids import to_18

P = "sfdc.platform.eventbus.grpc."
ORG_15 = "00D5e0000001AbC"


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, P + "subscription.fetch.replayid.corrupted",
         StreamErrorKind.REPLAY_INVALID),
        (grpc.StatusCode.INVALID_ARGUMENT, P + "subscription.fetch.replayid.validation.failed",
         StreamErrorKind.REPLAY_INVALID),
        (grpc.StatusCode.UNAUTHENTICATED, P + "service.auth.error", StreamErrorKind.AUTH),
        (grpc.StatusCode.UNAUTHENTICATED, None, StreamErrorKind.AUTH),
        (grpc.StatusCode.INTERNAL, P + "service.auth.refresh.invalid", StreamErrorKind.AUTH),
        (grpc.StatusCode.UNAVAILABLE, P + "service.unavailable", StreamErrorKind.UNAVAILABLE),
        (grpc.StatusCode.INTERNAL, P + "service.unavailable", StreamErrorKind.UNAVAILABLE),
        (grpc.StatusCode.NOT_FOUND, P + "topic.not.found", StreamErrorKind.TOPIC),
        (grpc.StatusCode.INVALID_ARGUMENT, P + "subscription.fetch.requested.events.invalid",
         StreamErrorKind.OTHER),
        (None, None, StreamErrorKind.OTHER),
    ],
    ids=["replay-corrupted", "replay-validation", "auth", "unauthenticated-no-trailer",
         "auth-refresh", "unavailable", "unavailable-by-trailer", "topic-not-found",
         "bad-request-count", "unknown"],
)  # fmt: skip
def test_stream_errors_are_classified_by_trailer_then_status(
    status: grpc.StatusCode | None, code: str | None, kind: StreamErrorKind
) -> None:
    """Salesforce's error-code string decides; the status code is the fallback."""
    assert classify_stream_error(status, code) == kind


def test_error_code_is_read_from_the_trailer() -> None:
    """The error-code trailer is found whatever the key's case."""
    error = FakeRpcError(grpc.StatusCode.UNAUTHENTICATED, "service.auth.error")
    assert error_code_of(error) == P + "service.auth.error"


@pytest.mark.parametrize(
    ("token", "tenant"),
    [
        (f"{ORG_15}!AQ0AQH.opaque", to_18(ORG_15)),
        (f"{to_18(ORG_15)}!AQ0AQH.opaque", to_18(ORG_15)),
        ("00Q5e0000001AbC!opaque", None),
        ("no-bang-session-id", None),
        ("00D!short", None),
    ],
    ids=["15-char-prefix", "18-char-prefix", "not-an-org-prefix", "no-separator", "too-short"],
)
def test_tenant_id_from_token(token: str, tenant: str | None) -> None:
    """The org id before '!' in a Salesforce token, widened to 18 characters."""
    assert tenant_id_from_token(token) == tenant


class FakeTokens:
    def __init__(self) -> None:
        self.issued = 0
        self.invalidated: list[AccessToken] = []

    def token(self) -> AccessToken:
        self.issued += 1
        now = datetime.now(UTC)
        return AccessToken(
            access_token=SecretStr(f"{ORG_15}!token-{self.issued}"),
            instance_url="https://example.my.salesforce.com",
            issued_at=now,
            expires_at=now + timedelta(hours=1),
        )

    def invalidate(self, token: AccessToken) -> bool:
        self.invalidated.append(token)
        return True


def test_auth_metadata_and_reauthentication() -> None:
    """The three metadata pairs name token, instance and org; a rejection drops that token."""
    tokens = FakeTokens()
    auth = PubSubAuth(tokens)
    metadata = dict(auth.metadata())
    assert metadata == {
        "accesstoken": f"{ORG_15}!token-1",
        "instanceurl": "https://example.my.salesforce.com",
        "tenantid": to_18(ORG_15),
    }
    auth.reauthenticate()
    assert [t.access_token.get_secret_value() for t in tokens.invalidated] == [f"{ORG_15}!token-1"]
    assert "token-1" not in repr(auth)
