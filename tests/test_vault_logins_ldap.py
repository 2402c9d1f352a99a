"""``VAULT_AUTH_METHOD=ldap`` against OpenBao's ldap method over a real slapd.

The directory and the method's configuration are in ``tests/fixtures/ldap.py``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import SecretStr

from tasks.errors import ConfigurationError, VaultAuthError
from tasks.settings import VaultSettings
from tasks.vault import VaultSecrets, get_vault
from tests.fixtures.ldap import ETL_PASSWORD, OUTSIDER_PASSWORD
from tests.fixtures.openbao import OpenBao

pytestmark = pytest.mark.integration

DATA = {"client_id": "pm-client", "client_secret": "cs-ldap-0a9b8c"}


@pytest.fixture(autouse=True)
def _clean_env(no_vault_env: None) -> None:
    """No VAULT_* and no Vault session around each test (see tests/fixtures/openbao.py)."""


@pytest.fixture(scope="module")
def seeded(openbao: OpenBao) -> str:
    path = f"secret/ldap-tests/{uuid.uuid4().hex[:8]}"
    openbao.put(path, DATA)
    return path


def client(openbao: OpenBao, username: str, password: str, **kwargs: Any) -> VaultSecrets:
    settings = VaultSettings(
        addr=openbao.addr,
        auth_method="ldap",
        username=username,
        password=SecretStr(password),
        **kwargs,
    )
    return VaultSecrets(settings, attempts=2, backoff=0.01)


def test_ldap_login_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, openbao: OpenBao, ldap_auth: str, seeded: str
) -> None:
    monkeypatch.setenv("VAULT_ADDR", openbao.addr)
    monkeypatch.setenv("VAULT_AUTH_METHOD", "ldap")
    monkeypatch.setenv("VAULT_USERNAME", "etl")
    monkeypatch.setenv("VAULT_PASSWORD", ETL_PASSWORD)
    vault = get_vault()
    assert vault.login_method() == "ldap (mount ldap)"
    assert vault.read(seeded).get("client_secret").get_secret_value() == "cs-ldap-0a9b8c"


def test_wrong_password_is_refused_in_one_line(
    openbao: OpenBao, ldap_auth: str, seeded: str
) -> None:
    vault = client(openbao, "etl", "not-the-password")
    with pytest.raises(
        VaultAuthError,
        match=r"^Vault login with method ldap at auth/ldap failed \(.+\): check VAULT_USERNAME "
        r"and VAULT_PASSWORD",
    ) as info:
        vault.read(seeded)
    assert "\n" not in str(info.value)
    assert "not-the-password" not in str(info.value)


def test_user_outside_the_allowed_group_is_refused_in_one_line(
    openbao: OpenBao, ldap_auth: str, seeded: str
) -> None:
    vault = client(openbao, "outsider", OUTSIDER_PASSWORD)
    with pytest.raises(
        VaultAuthError,
        match=r"^Vault login with method ldap at auth/ldap failed \(.*not a member of any "
        r"authorized group.*\): .*LDAP group",
    ) as info:
        vault.read(seeded)
    assert "\n" not in str(info.value)


def test_token_near_expiry_is_renewed(openbao: OpenBao, ldap_auth: str, seeded: str) -> None:
    vault = client(openbao, "etl", ETL_PASSWORD, renew_leeway=86400)  # always near expiry
    vault.login_method()
    token = vault._session.client.token
    assert not openbao.client.auth.token.lookup(token)["data"].get("last_renewal_time")
    vault.read(seeded)
    # Renewing an ldap token makes OpenBao look the user's groups up in slapd again.
    assert openbao.client.auth.token.lookup(token)["data"]["last_renewal_time"]


def test_revoked_token_is_replaced_by_a_new_ldap_login(
    openbao: OpenBao, ldap_auth: str, seeded: str
) -> None:
    vault = client(openbao, "etl", ETL_PASSWORD)
    vault.read(seeded)
    first = vault._session.client.token
    openbao.client.auth.token.revoke(first)
    assert vault.read(seeded, fresh=True).keys() == sorted(DATA)
    assert vault._session.client.token != first


def test_missing_password_names_the_variable(openbao: OpenBao) -> None:
    with pytest.raises(ConfigurationError, match=r"^VAULT_PASSWORD is required .*=ldap"):
        VaultSecrets(VaultSettings(addr=openbao.addr, auth_method="ldap", username="etl"))
