"""The sandbox's OAuth half over real HTTP: grants, rotation, errors, throttle, JWTs, PATs.

Requests are built with oauthlib's client classes, as the product builds them.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import uvicorn
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from oauthlib.oauth2 import (
    BackendApplicationClient,
    LegacyApplicationClient,
    WebApplicationClient,
)
from starlette.applications import Starlette

from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.oauth import OAuthServer
from processmaker_prefect.sandbox.oauth_routes import oauth_routes
from processmaker_prefect.sandbox.stats import Stats

CFG = SandboxConfig()
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
REDIRECT = "http://127.0.0.1:8765/callback"


class Served:
    """An OAuthServer's routes served by uvicorn on a free loopback port."""

    def __init__(self, config: SandboxConfig) -> None:
        self.stats = Stats()
        self.oauth = OAuthServer(config, self.stats)
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        app = Starlette(routes=oauth_routes(self.oauth))
        self._server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def __enter__(self) -> Served:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def token(self, body: str, **kwargs: Any) -> requests.Response:
        """POST /oauth/token with a form-encoded body."""
        kwargs.setdefault("headers", FORM)
        return requests.post(f"{self.url}/oauth/token", data=body, timeout=10, **kwargs)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with Served(CFG) as server:
        yield server


@pytest.fixture
def sb(served: Served, monkeypatch: pytest.MonkeyPatch) -> Served:
    """The module server with a fresh throttle, TTL and stats for each test."""
    # oauthlib's clients refuse http:// URIs; the sandbox is plain-HTTP loopback by design.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    served.oauth.reset_throttle()
    served.oauth.set_token_ttl(CFG.token_ttl)
    served.stats.reset()
    return served


def password_body(password: str = CFG.password, **kwargs: Any) -> str:
    client = LegacyApplicationClient(CFG.client_id)
    return client.prepare_request_body(
        username=CFG.username,
        password=password,
        include_client_id=True,
        client_secret=CFG.client_secret,
        **kwargs,
    )


def refresh_body(refresh_token: str, **kwargs: Any) -> str:
    client = LegacyApplicationClient(CFG.client_id)
    return client.prepare_refresh_body(
        refresh_token=refresh_token,
        client_id=CFG.client_id,
        client_secret=CFG.client_secret,
        **kwargs,
    )


def claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def bearer(token: str) -> str:
    return f"Bearer {token}"


def league(error: str, description: str, hint: str | None = None) -> dict[str, str]:
    body = {"error": error, "error_description": description}
    if hint:
        body["hint"] = hint
    body["message"] = description
    return body


INVALID_REQUEST = (
    "The request is missing a required parameter, includes an invalid parameter value, "
    "includes a parameter more than once, or is otherwise malformed."
)


# -- password grant ------------------------------------------------------------------------


def test_password_grant_answers_league_body_and_headers(sb: Served) -> None:
    response = sb.token(password_body())
    assert response.status_code == 200
    assert list(response.json()) == ["token_type", "expires_in", "access_token", "refresh_token"]
    assert response.json()["token_type"] == "Bearer"
    assert response.json()["expires_in"] == CFG.token_ttl
    assert response.headers["pragma"] == "no-cache"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert sb.stats.snapshot()["grants"] == {"password": 1}


def test_password_token_authenticates_the_admin(sb: Served) -> None:
    token = sb.token(password_body()).json()["access_token"]
    assert sb.oauth.authenticate(bearer(token)) == 1


def test_access_token_is_an_rs256_jwt_with_passport_claims(sb: Served) -> None:
    token = sb.token(password_body(scope="*")).json()["access_token"]
    header, payload, signature = token.split(".")
    key = serialization.load_pem_public_key(sb.oauth.public_key_pem)
    key.verify(  # type: ignore[union-attr,call-arg]
        base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
        f"{header}.{payload}".encode(),
        padding.PKCS1v15(),  # type: ignore[arg-type]
        hashes.SHA256(),  # type: ignore[arg-type]
    )
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"typ": "JWT", "alg": "RS256"}
    body = claims(token)
    assert list(body) == ["aud", "jti", "iat", "nbf", "exp", "sub", "scopes"]
    assert (body["aud"], body["sub"], body["scopes"]) == (CFG.client_id, "1", ["*"])
    assert round(body["exp"] - body["iat"]) == CFG.token_ttl
    assert len(body["jti"]) == 80


def test_basic_client_auth_is_accepted(sb: Served) -> None:
    body = LegacyApplicationClient(CFG.client_id).prepare_request_body(
        username=CFG.username, password=CFG.password
    )
    response = sb.token(body, auth=(CFG.client_id, CFG.client_secret))
    assert response.status_code == 200


def test_json_body_is_accepted_like_laravel(sb: Served) -> None:
    fields = dict(
        grant_type="password",
        client_id=CFG.client_id,
        client_secret=CFG.client_secret,
        username=CFG.username,
        password=CFG.password,
    )
    response = requests.post(f"{sb.url}/oauth/token", json=fields, timeout=10)
    assert response.status_code == 200


def test_wrong_password_is_invalid_grant_400(sb: Served) -> None:
    response = sb.token(password_body(password="wrong"))
    assert response.status_code == 400
    assert response.json() == league("invalid_grant", "The user credentials were incorrect.")
    assert sb.stats.snapshot()["grants"] == {}


def test_wrong_client_secret_is_invalid_client_401(sb: Served) -> None:
    body = LegacyApplicationClient(CFG.client_id).prepare_request_body(
        username=CFG.username, password=CFG.password, include_client_id=True, client_secret="x"
    )
    response = sb.token(body)
    assert response.status_code == 401
    assert response.json() == league("invalid_client", "Client authentication failed")
    assert "www-authenticate" not in response.headers


def test_wrong_basic_secret_adds_www_authenticate(sb: Served) -> None:
    body = BackendApplicationClient(CFG.client_id).prepare_request_body()
    response = sb.token(body, auth=(CFG.client_id, "wrong"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="OAuth"'


def test_unknown_client_id_is_invalid_client(sb: Served) -> None:
    body = LegacyApplicationClient("99").prepare_request_body(
        username=CFG.username, password=CFG.password, include_client_id=True, client_secret="x"
    )
    assert sb.token(body).status_code == 401


def test_missing_client_id_is_invalid_request(sb: Served) -> None:
    body = LegacyApplicationClient(CFG.client_id).prepare_request_body(
        username=CFG.username, password=CFG.password
    )
    response = sb.token(body)
    assert response.status_code == 400
    assert response.json() == league(
        "invalid_request", INVALID_REQUEST, "Check the `client_id` parameter"
    )


def test_missing_username_is_invalid_request_with_hint(sb: Served) -> None:
    body = f"grant_type=password&client_id={CFG.client_id}&client_secret={CFG.client_secret}"
    response = sb.token(body + "&password=x")
    assert response.status_code == 400
    assert response.json()["hint"] == "Check the `username` parameter"


@pytest.mark.parametrize("grant_type", ["implicit", "foo", ""])
def test_unknown_or_disabled_grant_is_unsupported_grant_type(sb: Served, grant_type: str) -> None:
    response = sb.token(f"grant_type={grant_type}&client_id=1&client_secret=x")
    assert response.status_code == 400
    assert response.json() == league(
        "unsupported_grant_type",
        "The authorization grant type is not supported by the authorization server.",
        "Check that all required parameters have been provided",
    )


def test_unknown_scope_is_invalid_scope(sb: Served) -> None:
    response = sb.token(password_body(scope=["read"]))
    assert response.status_code == 400
    assert response.json() == league(
        "invalid_scope",
        "The requested scope is invalid, unknown, or malformed",
        "Check the `read` scope",
    )


def test_scope_is_checked_before_the_user_as_league_does(sb: Served) -> None:
    response = sb.token(password_body(password="wrong", scope=["read"]))
    assert response.json()["error"] == "invalid_scope"


def test_scope_hint_is_html_escaped_like_php(sb: Served) -> None:
    response = sb.token(password_body(scope=["<x>"]))
    assert response.json()["hint"] == "Check the `&lt;x&gt;` scope"


def test_personal_access_grant_is_enabled_but_not_for_this_client(sb: Served) -> None:
    response = sb.token(
        f"grant_type=personal_access&client_id={CFG.client_id}&client_secret=x&user_id=1"
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_bearer_authorization_header_names_bearer_in_www_authenticate(sb: Served) -> None:
    body = BackendApplicationClient(CFG.client_id).prepare_request_body(
        include_client_id=True, client_secret="x"
    )
    response = sb.token(body, headers={**FORM, "Authorization": "Bearer abc"})
    assert response.headers["www-authenticate"] == 'Bearer realm="OAuth"'


def test_set_token_ttl_shortens_new_tokens(sb: Served) -> None:
    sb.oauth.set_token_ttl(5)
    body = sb.token(password_body()).json()
    assert body["expires_in"] == 5
    assert round(claims(body["access_token"])["exp"] - claims(body["access_token"])["iat"]) == 5


def test_expired_access_token_does_not_authenticate(sb: Served) -> None:
    sb.oauth.set_token_ttl(1)
    token = sb.token(password_body()).json()["access_token"]
    time.sleep(1.1)  # the token must really outlive its one-second lifetime
    assert sb.oauth.authenticate(bearer(token)) is None


# -- refresh grant -------------------------------------------------------------------------


def test_refresh_rotates_and_kills_the_old_pair(sb: Served) -> None:
    first = sb.token(password_body()).json()
    second = sb.token(refresh_body(first["refresh_token"]))
    assert second.status_code == 200
    assert list(second.json()) == ["token_type", "expires_in", "access_token", "refresh_token"]
    assert second.json()["refresh_token"] != first["refresh_token"]
    assert sb.oauth.authenticate(bearer(first["access_token"])) is None
    assert sb.oauth.authenticate(bearer(second.json()["access_token"])) == 1
    assert sb.token(refresh_body(second.json()["refresh_token"])).status_code == 200
    assert sb.stats.snapshot()["grants"] == {"password": 1, "refresh_token": 2}


def test_refresh_outlives_a_short_access_token_ttl(sb: Served) -> None:
    sb.oauth.set_token_ttl(1)
    body = sb.token(password_body()).json()
    time.sleep(1.1)  # the access token must really expire first
    assert sb.oauth.authenticate(bearer(body["access_token"])) is None
    assert sb.token(refresh_body(body["refresh_token"])).status_code == 200


def test_reused_refresh_token_is_invalid_request_401(sb: Served) -> None:
    refresh = sb.token(password_body()).json()["refresh_token"]
    sb.token(refresh_body(refresh))
    response = sb.token(refresh_body(refresh))
    assert response.status_code == 401
    assert response.json() == league(
        "invalid_request", "The refresh token is invalid.", "Token has been revoked"
    )


def test_unknown_refresh_token_cannot_be_decrypted(sb: Served) -> None:
    response = sb.token(refresh_body("def50200nonsense"))
    assert response.status_code == 401
    assert response.json()["hint"] == "Cannot decrypt the refresh token"


def test_expired_refresh_token_says_expired(sb: Served) -> None:
    refresh = sb.token(password_body()).json()["refresh_token"]
    # White-box: refresh tokens live a year; age this one instead of waiting.
    sb.oauth.registry.refresh[refresh].expires_at = time.time() - 1
    assert sb.token(refresh_body(refresh)).json()["hint"] == "Token has expired"


def test_refresh_drops_star_scope_like_passport(sb: Served) -> None:
    refresh = sb.token(password_body(scope="*")).json()["refresh_token"]
    token = sb.token(refresh_body(refresh)).json()["access_token"]
    assert claims(token)["scopes"] == []


def test_refresh_may_not_widen_scope(sb: Served) -> None:
    refresh = sb.token(password_body()).json()["refresh_token"]
    response = sb.token(refresh_body(refresh, scope="*"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_revoke_all_kills_tokens_refresh_tokens_and_the_configured_pat() -> None:
    with Served(CFG) as sb:
        body = sb.token(password_body()).json()
        assert sb.oauth.authenticate(bearer(CFG.pat)) == 1
        sb.oauth.revoke_all()
        assert sb.oauth.authenticate(bearer(body["access_token"])) is None
        assert sb.oauth.authenticate(bearer(CFG.pat)) is None
        assert sb.token(refresh_body(body["refresh_token"])).status_code == 401
        assert sb.oauth.authenticate(bearer(sb.token(password_body()).json()["access_token"]))


# -- client credentials ----------------------------------------------------------------------


def test_client_credentials_has_no_refresh_token_and_no_user(sb: Served) -> None:
    body = BackendApplicationClient(CFG.client_id).prepare_request_body(
        include_client_id=True, client_secret=CFG.client_secret
    )
    response = sb.token(body)
    assert response.status_code == 200
    assert list(response.json()) == ["token_type", "expires_in", "access_token"]
    assert claims(response.json()["access_token"])["sub"] == ""
    assert sb.oauth.authenticate(bearer(response.json()["access_token"])) is None
    assert sb.stats.snapshot()["grants"] == {"client_credentials": 1}


# -- authorization code ------------------------------------------------------------------------


def authorize(sb: Served, client: WebApplicationClient, **kwargs: Any) -> requests.Response:
    uri = client.prepare_request_uri(f"{sb.url}/oauth/authorize", REDIRECT, **kwargs)
    return requests.get(uri, timeout=10, allow_redirects=False)


def auth_token_of(page: requests.Response) -> str:
    marker = 'name="auth_token" value="'
    start = page.text.index(marker) + len(marker)
    return page.text[start : page.text.index('"', start)]


def approve(sb: Served, page: requests.Response, method: str = "POST") -> requests.Response:
    form = {"auth_token": auth_token_of(page), "state": "s1", "client_id": CFG.client_id}
    return requests.request(
        method, f"{sb.url}/oauth/authorize", data=form, timeout=10, allow_redirects=False
    )


def code_of(response: requests.Response) -> str:
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return query["code"][0]


def exchange(sb: Served, code: str, verifier: str | None = None) -> requests.Response:
    client = WebApplicationClient(CFG.client_id)
    body = client.prepare_request_body(
        code=code, redirect_uri=REDIRECT, code_verifier=verifier, client_secret=CFG.client_secret
    )
    return sb.token(body)


@pytest.mark.parametrize("method", ["S256", "plain"])
def test_authorization_code_with_pkce(sb: Served, method: str) -> None:
    client = WebApplicationClient(CFG.client_id)
    verifier = client.create_code_verifier(64)
    # oauthlib 3.3.1 returns None for an explicit "plain"; None means plain there.
    challenge = client.create_code_challenge(verifier, None if method == "plain" else method)
    page = authorize(sb, client, state="s1", code_challenge=challenge, code_challenge_method=method)
    assert page.status_code == 200
    assert 'action="/oauth/authorize"' in page.text
    redirect = approve(sb, page)
    assert redirect.status_code == 302
    assert redirect.headers["location"].startswith(REDIRECT + "?")
    assert parse_qs(urlsplit(redirect.headers["location"]).query)["state"] == ["s1"]
    response = exchange(sb, code_of(redirect), verifier)
    assert response.status_code == 200
    assert sb.oauth.authenticate(bearer(response.json()["access_token"])) == 1
    assert sb.stats.snapshot()["grants"] == {"authorization_code": 1}


def test_auth_code_is_single_use(sb: Served) -> None:
    code = code_of(approve(sb, authorize(sb, WebApplicationClient(CFG.client_id), state="s1")))
    assert exchange(sb, code).status_code == 200
    response = exchange(sb, code)
    assert response.status_code == 400
    assert response.json()["hint"] == "Authorization code has been revoked"


def test_wrong_code_verifier_fails_verification(sb: Served) -> None:
    client = WebApplicationClient(CFG.client_id)
    challenge = client.create_code_challenge(client.create_code_verifier(64), "S256")
    page = authorize(sb, client, code_challenge=challenge, code_challenge_method="S256")
    response = exchange(sb, code_of(approve(sb, page)), "x" * 64)
    assert response.status_code == 400
    assert response.json()["hint"] == "Failed to verify `code_verifier`."


def test_missing_code_verifier_is_invalid_request(sb: Served) -> None:
    client = WebApplicationClient(CFG.client_id)
    challenge = client.create_code_challenge(client.create_code_verifier(64), "S256")
    page = authorize(sb, client, code_challenge=challenge, code_challenge_method="S256")
    response = exchange(sb, code_of(approve(sb, page)))
    assert response.json()["hint"] == "Check the `code_verifier` parameter"


def test_expired_auth_code_is_invalid_grant(sb: Served) -> None:
    code = code_of(approve(sb, authorize(sb, WebApplicationClient(CFG.client_id), state="s1")))
    # White-box: codes live ten minutes; age this one instead of waiting.
    sb.oauth.registry.codes[code].expires_at = time.time() - 1
    response = exchange(sb, code)
    assert response.status_code == 400
    assert response.json()["hint"] == "Authorization code has expired"


def test_auth_code_with_other_redirect_uri_is_invalid_request(sb: Served) -> None:
    code = code_of(approve(sb, authorize(sb, WebApplicationClient(CFG.client_id), state="s1")))
    body = WebApplicationClient(CFG.client_id).prepare_request_body(
        code=code, redirect_uri="http://127.0.0.1:1/other", client_secret=CFG.client_secret
    )
    response = sb.token(body)
    assert response.status_code == 400
    assert response.json()["hint"] == "Invalid redirect URI"


def test_code_verifier_without_challenge_is_rejected(sb: Served) -> None:
    code = code_of(approve(sb, authorize(sb, WebApplicationClient(CFG.client_id), state="s1")))
    response = exchange(sb, code, "v" * 43)
    assert response.status_code == 400
    assert response.json()["hint"] == "code_verifier received when no code_challenge is present"


def test_malformed_code_challenge_is_rejected_at_authorize(sb: Served) -> None:
    page = authorize(sb, WebApplicationClient(CFG.client_id), code_challenge="short")
    assert page.status_code == 400
    assert page.json()["hint"] == "Code challenge must follow the specifications of RFC-7636."


def test_authorize_with_token_response_type_is_unsupported(sb: Served) -> None:
    uri = f"{sb.url}/oauth/authorize?response_type=token&client_id=1&redirect_uri={REDIRECT}"
    response = requests.get(uri, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_deny_redirects_with_access_denied(sb: Served) -> None:
    page = authorize(sb, WebApplicationClient(CFG.client_id), state="s1")
    response = approve(sb, page, method="DELETE")
    assert response.status_code == 302
    assert response.headers["location"] == f"{REDIRECT}?error=access_denied&state=s1"


def test_authorize_rejects_non_loopback_redirect_as_invalid_client(sb: Served) -> None:
    uri = WebApplicationClient(CFG.client_id).prepare_request_uri(
        f"{sb.url}/oauth/authorize", "https://evil.example/cb"
    )
    response = requests.get(uri, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_authorize_with_unknown_scope_redirects_invalid_scope(sb: Served) -> None:
    page = authorize(sb, WebApplicationClient(CFG.client_id), scope=["read"])
    assert page.status_code == 302
    assert parse_qs(urlsplit(page.headers["location"]).query)["error"] == ["invalid_scope"]


def test_approve_with_unknown_auth_token_is_403(sb: Served) -> None:
    response = requests.post(f"{sb.url}/oauth/authorize", data={"auth_token": "x"}, timeout=10)
    assert response.status_code == 403


# -- throttle ----------------------------------------------------------------------------------


def test_token_endpoint_throttles_like_laravel() -> None:
    with Served(SandboxConfig(throttle_per_minute=2)) as sb:
        first, second = sb.token(password_body()), sb.token(password_body("wrong"))
        assert (first.headers["x-ratelimit-remaining"], first.headers["x-ratelimit-limit"]) == (
            "1",
            "2",
        )
        assert second.headers["x-ratelimit-remaining"] == "0"
        third = sb.token(password_body())
        assert third.status_code == 429
        assert third.json() == {"message": "Too Many Attempts."}
        assert third.headers["x-ratelimit-remaining"] == "0"
        assert 1 <= int(third.headers["retry-after"]) <= 60
        assert int(third.headers["x-ratelimit-reset"]) >= int(time.time())
        sb.oauth.reset_throttle()
        assert sb.token(password_body()).status_code == 200


# -- personal access tokens ----------------------------------------------------------------------


def tokens_url(sb: Served, user_id: int = 1) -> str:
    return f"{sb.url}/api/1.0/users/{user_id}/tokens"


def pat_headers(token: str = CFG.pat) -> dict[str, str]:
    return {"Authorization": bearer(token), "Accept": "application/json"}


def test_create_pat_returns_200_with_access_token_and_row(sb: Served) -> None:
    response = requests.post(
        tokens_url(sb), json={"name": "etl"}, headers=pat_headers(), timeout=10
    )
    assert response.status_code == 200
    body = response.json()
    assert list(body["token"]) == [
        "id",
        "user_id",
        "client_id",
        "name",
        "scopes",
        "revoked",
        "created_at",
        "updated_at",
        "expires_at",
    ]
    assert (body["token"]["user_id"], body["token"]["name"], body["token"]["revoked"]) == (
        1,
        "etl",
        False,
    )
    assert claims(body["accessToken"])["jti"] == body["token"]["id"]
    assert sb.oauth.authenticate(bearer(body["accessToken"])) == 1
    assert sb.stats.snapshot()["grants"] == {"personal_access": 1}


def test_list_show_and_revoke_pat(sb: Served) -> None:
    created = requests.post(
        tokens_url(sb), json={"name": "to-revoke"}, headers=pat_headers(), timeout=10
    ).json()
    token_id = created["token"]["id"]
    listing = requests.get(tokens_url(sb), headers=pat_headers(), timeout=10).json()
    assert token_id in [row["id"] for row in listing["data"]]
    assert listing["meta"]["total"] == len(sb.oauth.registry.personal_tokens(1))
    one = requests.get(f"{tokens_url(sb)}/{token_id}", headers=pat_headers(), timeout=10)
    assert one.json()["name"] == "to-revoke"
    deleted = requests.delete(f"{tokens_url(sb)}/{token_id}", headers=pat_headers(), timeout=10)
    assert deleted.status_code == 204
    assert sb.oauth.authenticate(bearer(created["accessToken"])) is None
    listing = requests.get(tokens_url(sb), headers=pat_headers(), timeout=10).json()
    assert token_id not in [row["id"] for row in listing["data"]]


def test_pat_routes_need_a_user_token(sb: Served) -> None:
    cc = BackendApplicationClient(CFG.client_id).prepare_request_body(
        include_client_id=True, client_secret=CFG.client_secret
    )
    machine = sb.token(cc).json()["access_token"]
    for headers in ({}, pat_headers("nonsense"), pat_headers(machine)):
        response = requests.get(tokens_url(sb), headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.json() == {"error": "Unauthenticated."}


def test_other_users_tokens_are_403(sb: Served) -> None:
    response = requests.get(tokens_url(sb, 2), headers=pat_headers(), timeout=10)
    assert response.status_code == 403
    assert response.json() == {"message": "Not authorized to update this user."}


def test_pat_without_name_is_422(sb: Served) -> None:
    response = requests.post(tokens_url(sb), json={}, headers=pat_headers(), timeout=10)
    assert response.status_code == 422
    assert response.json() == {
        "message": "The Name field is required.",
        "errors": {"name": ["The Name field is required."]},
    }


def test_unknown_pat_id_is_404(sb: Served) -> None:
    response = requests.get(f"{tokens_url(sb)}/nope", headers=pat_headers(), timeout=10)
    assert response.status_code == 404


def test_concurrent_grants_issue_distinct_tokens(sb: Served) -> None:
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: sb.token(password_body()), range(16)))
    tokens = {r.json()["access_token"] for r in responses if r.status_code == 200}
    assert len(tokens) == 16
    assert sb.stats.snapshot()["grants"] == {"password": 16}


def test_non_ascii_credentials_are_plain_failures(sb: Served) -> None:
    assert sb.token(password_body(password="pässwörd")).status_code == 400
    assert sb.oauth.authenticate("Bearer tökén") is None
