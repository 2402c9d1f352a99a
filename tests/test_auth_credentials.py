"""Which grant the keys in a Vault secret call for, and what each grant requires."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from processmaker_prefect.auth.credentials import ProcessMakerCredentials, choose_grant
from processmaker_prefect.errors import ConfigurationError, VaultKeyMissingError


def creds(**values: str) -> ProcessMakerCredentials:
    return ProcessMakerCredentials.from_mapping({k: SecretStr(v) for k, v in values.items()})


@pytest.mark.parametrize(
    ("keys", "grant"),
    [
        ({"personal_access_token": "p", "username": "u", "password": "x"}, "pat"),
        ({"client_id": "1", "client_secret": "s", "username": "u", "password": "x"}, "password"),
        ({"client_id": "1", "client_secret": "s", "refresh_token": "r"}, "refresh_token"),
        ({"client_id": "1", "client_secret": "s"}, "client_credentials"),
    ],
)
def test_grant_is_inferred_from_keys(keys: dict[str, str], grant: str) -> None:
    assert choose_grant(None, creds(**keys)) == grant


def test_explicit_grant_wins_over_inference() -> None:
    both = creds(personal_access_token="p", client_id="1", client_secret="s")
    assert choose_grant("client_credentials", both) == "client_credentials"


def test_blank_values_count_as_absent() -> None:
    assert creds(personal_access_token="  ", client_id="1", client_secret="s").present() == {
        "client_id",
        "client_secret",
    }


def test_a_half_filled_password_secret_is_reported_as_missing_a_key() -> None:
    partial = creds(client_id="1", client_secret="s", username="u")
    grant = choose_grant(None, partial)
    assert grant == "password"
    with pytest.raises(VaultKeyMissingError, match=r"has no 'password'"):
        partial.require(grant, "secret/pm")


def test_no_usable_keys_names_what_to_store() -> None:
    with pytest.raises(ConfigurationError, match=r"Cannot infer the grant .*\(client_id\)"):
        choose_grant(None, creds(client_id="1"))


def test_require_names_the_missing_key_and_path() -> None:
    with pytest.raises(VaultKeyMissingError, match=r"secret/pm has no 'password'.*password grant"):
        creds(client_id="1", client_secret="s", username="u").require("password", "secret/pm")


def test_repr_masks_every_secret() -> None:
    text = repr(creds(client_id="1", client_secret="topsecret", password="hunter22"))
    assert "topsecret" not in text
    assert "hunter22" not in text
