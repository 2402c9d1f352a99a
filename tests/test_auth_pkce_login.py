"""Authorization code + PKCE against the sandbox's consent page, down to Vault and a refresh."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import pytest
import requests
from pydantic import SecretStr

from processmaker_prefect.auth.grants import RefreshTokenGrant
from processmaker_prefect.auth.pkce_login import (
    AuthorizationCodeLogin,
    CallbackListener,
    save_refresh_token,
)
from processmaker_prefect.auth.token_endpoint import TokenEndpoint
from processmaker_prefect.errors import ConfigurationError, TokenRejectedError
from processmaker_prefect.vault import get_vault
from tests.fixtures.stack import PmStack

pytestmark = pytest.mark.integration


class _Forms(HTMLParser):
    """The forms of a page: action and hidden fields of each, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((named.get("action", ""), {}))
        elif tag == "input" and self.forms and named.get("type") == "hidden":
            self.forms[-1][1][named["name"]] = named.get("value", "")


def consent(authorize_url: str, *, approve: bool = True) -> str:
    """Play the browser: open the consent page, press Authorize (or Cancel); the Location."""
    page = requests.get(authorize_url, timeout=10)
    assert page.status_code == 200, page.text
    parser = _Forms()
    parser.feed(page.text)
    approve_forms = [f for f in parser.forms if "_method" not in f[1]]
    deny_forms = [f for f in parser.forms if f[1].get("_method") == "DELETE"]
    action, fields = (approve_forms if approve else deny_forms)[0]
    answer = requests.post(
        urljoin(authorize_url, action), data=fields, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302, answer.text
    return str(answer.headers["Location"])


@pytest.fixture
def listener() -> Iterator[CallbackListener]:
    with CallbackListener() as running:
        yield running


@pytest.fixture
def login(pm_stack: PmStack, listener: CallbackListener) -> AuthorizationCodeLogin:
    config = pm_stack.sandbox.config
    return AuthorizationCodeLogin(
        pm_stack.sandbox.url,
        config.client_id,
        SecretStr(config.client_secret),
        listener.redirect_uri,
        TokenEndpoint(pm_stack.sandbox.url, retries=0),
    )


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return urlunsplit(parts._replace(query=urlencode({**query, **changes})))


def test_authorize_url_carries_pkce_s256_and_state(login: AuthorizationCodeLogin) -> None:
    parts = urlsplit(login.authorize_url())
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert parts.path == "/oauth/authorize"
    assert query["response_type"] == "code"
    assert query["client_id"] == "1"
    assert query["redirect_uri"] == login.redirect_uri
    assert query["state"] == login.state
    assert query["code_challenge_method"] == "S256"
    # S256: base64url of a SHA-256 digest, unpadded: 43 characters of the URL-safe alphabet.
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", query["code_challenge"])
    assert len(base64.urlsafe_b64decode(query["code_challenge"] + "=")) == 32
    assert "client_secret" not in query


def test_consent_redirect_exchange_and_vault_then_refresh_works(
    pm_stack: PmStack, login: AuthorizationCodeLogin, listener: CallbackListener
) -> None:
    config = pm_stack.sandbox.config
    before = pm_stack.put(client_id=config.client_id, client_secret=config.client_secret)
    location = consent(login.authorize_url())
    assert location.startswith(listener.redirect_uri + "?")
    landing = requests.get(location, timeout=10)  # the browser follows the 302
    assert landing.text == "ProcessMaker login received. You can close this window."
    token = login.exchange(listener.wait(5))
    assert token.subject() == "1"
    assert token.refresh_token is not None

    vault = get_vault()
    version = save_refresh_token(vault, pm_stack.path, token)
    assert version == (before or 0) + 1
    stored = vault.read(pm_stack.path, fresh=True)
    assert stored.get("refresh_token") == token.refresh_token
    assert stored.get("client_secret").get_secret_value() == config.client_secret

    refreshed = RefreshTokenGrant(
        vault, pm_stack.path, TokenEndpoint(pm_stack.sandbox.url, retries=0)
    ).obtain()
    assert refreshed.subject() == "1"
    rotated = vault.read(pm_stack.path, fresh=True)
    assert rotated.version == (version or 0) + 2  # the claim, then the rotated tokens
    assert rotated.get("refresh_token") == refreshed.refresh_token != token.refresh_token
    assert pm_stack.control.stats()["grants"] == {"authorization_code": 1, "refresh_token": 1}


def test_pasted_query_alone_is_enough(login: AuthorizationCodeLogin) -> None:
    location = consent(login.authorize_url())
    token = login.exchange("?" + urlsplit(location).query)
    assert token.subject() == "1"


def test_state_mismatch_is_rejected_before_any_token_request(
    pm_stack: PmStack, login: AuthorizationCodeLogin
) -> None:
    location = consent(login.authorize_url())
    forged = with_query(location, state="someone-elses-state")
    with pytest.raises(TokenRejectedError, match=r"^Authorization failed: mismatching_state") as e:
        login.exchange(forged)
    assert e.value.error == "mismatching_state"
    assert pm_stack.control.stats()["grants_total"] == 0


def test_user_denies(login: AuthorizationCodeLogin) -> None:
    location = consent(login.authorize_url(), approve=False)
    assert parse_qs(urlsplit(location).query)["error"] == ["access_denied"]
    with pytest.raises(
        TokenRejectedError,
        match=r"^Authorization failed: access_denied .*run `pm-prefect login` again and "
        "approve the client$",
    ) as caught:
        login.exchange(location)
    assert caught.value.error == "access_denied"


def test_a_code_used_twice_is_invalid_grant(login: AuthorizationCodeLogin) -> None:
    location = consent(login.authorize_url())
    login.exchange(location)
    with pytest.raises(
        TokenRejectedError,
        match=r"-> 400 invalid_grant for the authorization_code grant: .*; the code expired or "
        r"was already used, or the PKCE verifier does not match: run `pm-prefect login` again$",
    ) as caught:
        login.exchange(location)
    assert caught.value.error == "invalid_grant"
    code = parse_qs(urlsplit(location).query)["code"][0]
    assert code not in str(caught.value)


def test_no_redirect_within_the_timeout_names_paste_mode(listener: CallbackListener) -> None:
    with pytest.raises(ConfigurationError, match=r"No redirect reached .*rerun with --paste"):
        listener.wait(0.05)
