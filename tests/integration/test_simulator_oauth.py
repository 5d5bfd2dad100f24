"""The OAuth 2.0 JWT bearer flow: what the token endpoint accepts and refuses, and session expiry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from simulator.testing import SimulatorHandle

pytestmark = pytest.mark.integration


def _other_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _inactive_username(sim: SimulatorHandle) -> str:
    rows = sim.org.store.fetch_many("User", "IsActive = 0", ())
    return str(rows[0]["Username"])


REJECTIONS: list[tuple[str, Callable[[SimulatorHandle], str], str, str]] = [
    ("wrong-signature", lambda s: s.assertion(private_key=_other_key()),
     "invalid_grant", "invalid assertion"),
    ("garbled", lambda s: "not.a.jwt", "invalid_grant", "invalid assertion"),
    ("wrong-audience", lambda s: s.assertion(audience="https://login.salesforce.com"),
     "invalid_grant", "audience is invalid"),
    ("expired", lambda s: s.assertion(expires_in=-60),
     "invalid_grant", "expired access/refresh token"),
    ("exp-too-far-ahead", lambda s: s.assertion(expires_in=3600),
     "invalid_grant", "invalid assertion"),
    ("unknown-user", lambda s: s.assertion(subject="nobody@example.com"),
     "invalid_grant", "user hasn't approved this consumer"),
    ("inactive-user", lambda s: s.assertion(subject=_inactive_username(s)),
     "invalid_grant", "user hasn't approved this consumer"),
    ("unknown-consumer-key", lambda s: s.assertion(issuer="3MVG9unknown"),
     "invalid_client_id", "client identifier invalid"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make_assertion", "error", "description"),
    [r[1:] for r in REJECTIONS],
    ids=[r[0] for r in REJECTIONS],
)
def test_token_endpoint_refuses_bad_assertions(
    sim: SimulatorHandle, make_assertion: Callable[[SimulatorHandle], str], error: str,
    description: str,
) -> None:  # fmt: skip
    """Each bad assertion gets 400 with Salesforce's error and description."""
    response = sim.token_response(make_assertion(sim))
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


def test_wrong_grant_type_is_unsupported(sim: SimulatorHandle) -> None:
    """Only the JWT bearer grant is offered."""
    response = requests.post(
        f"{sim.login_url}/services/oauth2/token",
        data={"grant_type": "password", "username": sim.username},
        verify=str(sim.ca_bundle),
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_token_response_shape(sim: SimulatorHandle) -> None:
    """A good assertion gets an org-prefixed token, the instance URL and the identity URL."""
    body: dict[str, Any] = sim.token_response().json()
    assert body["access_token"].startswith(sim.org_id[:15] + "!")
    assert body["instance_url"] == sim.instance_url
    assert body["id"] == f"{sim.login_url}/id/{sim.org_id}/{sim.user_id}"
    assert body["token_type"] == "Bearer" and body["scope"] == "api"
    assert body["issued_at"].isdigit()


def test_localhost_audience_is_accepted(sim: SimulatorHandle) -> None:
    """The login URL can be named by 127.0.0.1 or localhost."""
    port = sim.login_url.rsplit(":", 1)[1]
    response = sim.token_response(sim.assertion(audience=f"https://localhost:{port}"))
    assert response.status_code == 200


def test_userinfo_names_the_user_and_org(sim: SimulatorHandle) -> None:
    """userinfo answers for a valid token and refuses an unknown one."""
    session = sim.session()
    info = session.get(f"{sim.instance_url}/services/oauth2/userinfo", timeout=10).json()
    assert info["user_id"] == sim.user_id and info["organization_id"] == sim.org_id
    assert info["preferred_username"] == sim.username
    session.headers["Authorization"] = "Bearer nope"
    assert (
        session.get(f"{sim.instance_url}/services/oauth2/userinfo", timeout=10).status_code == 403
    )


def _limits_status(sim: SimulatorHandle, token: str) -> requests.Response:
    return sim.session(token).get(f"{sim.instance_url}/services/data/v62.0/limits", timeout=10)


def test_revoked_token_gets_invalid_session(sim: SimulatorHandle) -> None:
    """A revoked token answers 401 with the INVALID_SESSION_ID array and WWW-Authenticate."""
    token = sim.access_token()
    other = sim.access_token()
    assert _limits_status(sim, token).status_code == 200
    sim.revoke_tokens(token)
    response = _limits_status(sim, token)
    assert response.status_code == 401
    assert response.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    assert response.headers["WWW-Authenticate"] == "Token"
    assert _limits_status(sim, other).status_code == 200


def test_clock_shift_expires_tokens(fresh_sim: SimulatorHandle) -> None:
    """A token dies once the simulator clock passes its lifetime."""
    token = fresh_sim.access_token()
    fresh_sim.shift_clock(fresh_sim.org.tokens.ttl_seconds - 60)
    assert _limits_status(fresh_sim, token).status_code == 200
    fresh_sim.shift_clock(120)
    assert _limits_status(fresh_sim, token).status_code == 401
    fresh_sim.reset()


def test_missing_token_is_refused(sim: SimulatorHandle) -> None:
    """No Authorization header, no data."""
    response = requests.get(
        f"{sim.instance_url}/services/data/v62.0/sobjects", verify=str(sim.ca_bundle), timeout=10
    )
    assert response.status_code == 401
    assert response.json()[0]["errorCode"] == "INVALID_SESSION_ID"
