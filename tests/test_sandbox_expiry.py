"""Credential lifetimes over real HTTP: access, refresh and PAT TTLs, expired tokens refused."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import jwt
import pytest
import requests

from processmaker_prefect.sandbox.server import SandboxServer
from tests.fixtures.sandbox import SandboxControl

pytestmark = pytest.mark.integration

THREE_DAYS = 3 * 86400
UNAUTHENTICATED = (401, {"error": "Unauthenticated."})


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def password_grant(sandbox: SandboxServer) -> dict[str, Any]:
    config = sandbox.config
    response = requests.post(
        f"{sandbox.url}/oauth/token",
        data={
            "grant_type": "password", "client_id": config.client_id,
            "client_secret": config.client_secret, "username": config.username,
            "password": config.password,
        },
        timeout=30,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refresh_grant(sandbox: SandboxServer, refresh_token: str) -> requests.Response:
    config = sandbox.config
    return requests.post(
        f"{sandbox.url}/oauth/token",
        data={
            "grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": config.client_id, "client_secret": config.client_secret,
        },
        timeout=30,
    )  # fmt: skip


def me(sandbox: SandboxServer, token: str) -> tuple[int, Any]:
    response = requests.get(
        f"{sandbox.url}/api/1.0/users/1", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    return response.status_code, response.json()


def test_token_ttl_sets_each_lifetime_and_reports_them(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    ttls = sandbox_reset.set_token_ttls(access=600, refresh=7200, personal=THREE_DAYS)
    assert ttls == {"access_seconds": 600, "refresh_seconds": 7200, "personal_seconds": THREE_DAYS}
    body = password_grant(sandbox)
    assert body["expires_in"] == 600
    token = claims(body["access_token"])
    assert round(token["exp"] - token["iat"]) == 600


def test_reset_restores_the_configured_lifetimes(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_token_ttls(access=5, refresh=5, personal=5)
    sandbox_reset.reset()
    config = sandbox.config
    assert password_grant(sandbox)["expires_in"] == config.token_ttl
    pat = claims(sandbox_reset.create_pat()["accessToken"])
    assert round(pat["exp"] - pat["iat"]) == config.personal_token_ttl


def test_pat_expiring_in_three_days_carries_exp_and_works(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    created = sandbox_reset.create_pat(expires_in=THREE_DAYS, name="etl")
    token = claims(created["accessToken"])
    assert round(token["exp"] - token["iat"]) == THREE_DAYS
    assert token["sub"] == "1"
    expires_at = datetime.fromisoformat(created["token"]["expires_at"])
    assert round(expires_at.timestamp() - token["iat"]) == THREE_DAYS
    assert me(sandbox, created["accessToken"])[0] == 200


def test_expired_pat_is_refused_with_unauthenticated(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    created = sandbox_reset.create_pat(expires_in=-60)
    assert claims(created["accessToken"])["exp"] < time.time()
    assert me(sandbox, created["accessToken"]) == UNAUTHENTICATED


def test_personal_ttl_applies_to_pats_made_through_pms_own_route(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_token_ttls(personal=THREE_DAYS)
    response = requests.post(
        f"{sandbox.url}/api/1.0/users/1/tokens",
        json={"name": "from-the-ui"},
        headers={"Authorization": f"Bearer {sandbox.config.pat}"},
        timeout=30,
    )
    token = claims(response.json()["accessToken"])
    assert round(token["exp"] - token["iat"]) == THREE_DAYS


def test_expired_access_token_is_refused_with_unauthenticated(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_token_ttls(access=1)
    body = password_grant(sandbox)
    assert body["expires_in"] == 1
    time.sleep(1.2)  # the token must really outlive its one-second lifetime
    assert me(sandbox, body["access_token"]) == UNAUTHENTICATED


def test_expired_refresh_token_is_leagues_401(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_token_ttls(refresh=1)
    body = password_grant(sandbox)
    time.sleep(1.2)  # the refresh token must really outlive its one-second lifetime
    response = refresh_grant(sandbox, body["refresh_token"])
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "The refresh token is invalid.",
        "hint": "Token has expired",
        "message": "The refresh token is invalid.",
    }


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("token-ttl", {}, "give one of"),
        ("token-ttl", {"refresh_seconds": 0}, "refresh_seconds must be a positive integer"),
        ("personal-tokens", {"expires_in": "soon"}, "expires_in must be an integer"),
        ("personal-tokens", {"name": ""}, "name must be a string"),
    ],
)
def test_bad_lifetime_calls_are_422(
    sandbox: SandboxServer, path: str, body: dict[str, Any], message: str
) -> None:
    response = requests.post(f"{sandbox.url}/_sandbox/{path}", json=body, timeout=30)
    assert response.status_code == 422
    assert message in response.json()["message"]
