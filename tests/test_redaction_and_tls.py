"""Plain-HTTP policy and JWT decoding shared by the token endpoint and the client."""

from __future__ import annotations

import base64
import json

import pytest

from processmaker_prefect.api.tls import check_transport
from processmaker_prefect.auth.token_endpoint import Token, jwt_claims
from processmaker_prefect.errors import ConfigurationError
from processmaker_prefect.redaction import redact, redact_secrets, redact_url


@pytest.mark.parametrize(
    "url", ["https://pm.example.com", "http://127.0.0.1:8080", "http://localhost", "http://[::1]:1"]
)
def test_secure_or_loopback_urls_are_allowed(url: str) -> None:
    check_transport(url, allow_insecure_http=False)


def test_plain_http_to_a_remote_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="PROCESSMAKER_ALLOW_INSECURE_HTTP=1"):
        check_transport("http://pm.example.com", allow_insecure_http=False)


def test_plain_http_to_a_remote_host_can_be_allowed() -> None:
    check_transport("http://pm.example.com", allow_insecure_http=True)


def test_non_http_url_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="must be an http"):
        check_transport("ftp://pm.example.com", allow_insecure_http=True)


def _jwt(claims: dict[str, object]) -> str:
    def enc(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    signature = base64.urlsafe_b64encode(b"not-checked").rstrip(b"=").decode()
    return f"{enc({'alg': 'RS256'})}.{enc(claims)}.{signature}"


def test_jwt_claims_are_decoded_and_opaque_tokens_give_none() -> None:
    assert jwt_claims(_jwt({"sub": "7", "exp": 5})) == {"sub": "7", "exp": 5}
    assert jwt_claims("opaque-token") == {}
    assert jwt_claims("a.!!!.c") == {}


def test_token_expiry_counts_expires_in_from_receipt_not_the_servers_exp() -> None:
    # exp is far in the past on our clock (a server clock behind ours): it must not matter.
    body = {"access_token": _jwt({"iat": 900, "exp": 1000, "sub": "3"}), "expires_in": 10}
    token = Token.from_response(body, now=5000.0)
    assert token.expires_at == 5010.0
    assert token.subject() == "3"
    assert not token.expires_within(5, now=5000.0)
    assert token.expires_within(0, now=5010.0)


def test_without_expires_in_a_jwt_lives_exp_minus_iat_from_receipt() -> None:
    token = Token.from_response({"access_token": _jwt({"iat": 900, "exp": 960})}, now=5000.0)
    assert token.expires_at == 5060.0
    assert Token.from_response({"access_token": "opaque"}, now=5000.0).expires_at is None


def test_redaction_masks_values_bearer_headers_and_queries() -> None:
    text = redact("password=hunter22 Authorization: Bearer abc.def-ghi", ["hunter22"])
    assert "hunter22" not in text
    assert "abc.def" not in text
    assert redact_url("https://pm/api/1.0/requests?pmql=secret") == "https://pm/api/1.0/requests"


def test_credential_keys_are_masked_at_any_depth() -> None:
    body = {
        "accessToken": "eyJ.secret.jwt",
        "token": {"id": "abc", "name": "ci", "refresh_token": "r-1"},
        "data": [{"password": "hunter22", "value": 3}, {"password": None}],
    }
    masked = redact_secrets(body)
    assert masked == {
        "accessToken": "**********",
        "token": {"id": "abc", "name": "ci", "refresh_token": "**********"},
        "data": [{"password": "**********", "value": 3}, {"password": None}],
    }
    assert body["accessToken"] == "eyJ.secret.jwt"  # the input is left alone
