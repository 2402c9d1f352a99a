"""``VAULT_AUTH_METHOD=cert``: TLS certificate login against OpenBao on a TLS listener.

The server, its CA and the client certificates come from ``tests/fixtures/vault_tls.py``.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from processmaker_prefect.errors import ConfigurationError, VaultAuthError
from processmaker_prefect.settings import VaultSettings
from processmaker_prefect.vault import VaultSecrets, get_vault
from tests.fixtures.pki import Issued
from tests.fixtures.vault_tls import CERT_ROLE, TlsOpenBao

pytestmark = pytest.mark.integration

DATA = {"client_id": "pm-client", "client_secret": "cs-cert-7f6e5d"}


@pytest.fixture(autouse=True)
def _clean_env(no_vault_env: None) -> None:
    """No VAULT_* and no Vault session around each test (see tests/fixtures/openbao.py)."""


@pytest.fixture(scope="module")
def seeded(tls_openbao: TlsOpenBao) -> str:
    sub = f"cert-tests/{uuid.uuid4().hex[:8]}"
    tls_openbao.root.secrets.kv.v2.create_or_update_secret(sub, DATA, mount_point="secret")
    return f"secret/{sub}"


def client(bao: TlsOpenBao, presented: Issued, **kwargs: Any) -> VaultSecrets:
    given: dict[str, Any] = {
        "addr": bao.addr,
        "cacert": bao.cacert,
        "auth_method": "cert",
        "client_cert": presented.cert_file,
        "client_key": presented.key_file,
    }
    settings = VaultSettings(**(given | kwargs))
    return VaultSecrets(settings, attempts=2, backoff=0.01)


def test_cert_login_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tls_openbao: TlsOpenBao, seeded: str
) -> None:
    monkeypatch.setenv("VAULT_ADDR", tls_openbao.addr)
    monkeypatch.setenv("VAULT_CACERT", str(tls_openbao.cacert))
    monkeypatch.setenv("VAULT_AUTH_METHOD", "cert")
    monkeypatch.setenv("VAULT_CLIENT_CERT", str(tls_openbao.trusted.cert_file))
    monkeypatch.setenv("VAULT_CLIENT_KEY", str(tls_openbao.trusted.key_file))
    monkeypatch.setenv("VAULT_CERT_ROLE", CERT_ROLE)
    vault = get_vault()
    assert vault.logged_in_as() == "cert (mount cert)"
    assert vault.read(seeded).get("client_id").get_secret_value() == "pm-client"


def test_cert_login_without_a_role_tries_every_trusted_ca(
    tls_openbao: TlsOpenBao, seeded: str
) -> None:
    vault = client(tls_openbao, tls_openbao.trusted)
    assert vault.read(seeded).keys() == sorted(DATA)


def test_cert_login_with_key_and_certificate_in_one_file(
    tmp_path: Path, tls_openbao: TlsOpenBao, seeded: str
) -> None:
    both = tmp_path / "both.pem"
    trusted = tls_openbao.trusted
    both.write_bytes(trusted.cert_file.read_bytes() + trusted.key_file.read_bytes())
    settings = VaultSettings(
        addr=tls_openbao.addr, cacert=tls_openbao.cacert, auth_method="cert", client_cert=both
    )
    assert VaultSecrets(settings).read(seeded).keys() == sorted(DATA)


@pytest.mark.parametrize("presented", ["untrusted", "wrong_name"])
def test_a_certificate_the_role_does_not_trust_is_refused_in_one_line(
    tls_openbao: TlsOpenBao, seeded: str, presented: str
) -> None:
    vault = client(tls_openbao, getattr(tls_openbao, presented), cert_role=CERT_ROLE)
    with pytest.raises(
        VaultAuthError,
        match=r"^Vault login with method cert at auth/cert failed \(.+\): check "
        r"VAULT_CLIENT_CERT/VAULT_CLIENT_KEY .*VAULT_CERT_ROLE",
    ) as info:
        vault.read(seeded)
    assert "\n" not in str(info.value)


def test_token_near_expiry_is_renewed_with_the_certificate(
    tls_openbao: TlsOpenBao, seeded: str
) -> None:
    # A role like CERT_ROLE whose tokens live 4 s: renewed after half of that.
    existing = tls_openbao.root.auth.cert.read_ca_certificate_role(CERT_ROLE)["data"]
    tls_openbao.root.auth.cert.create_ca_certificate_role(
        "pm-etl-short",
        certificate=existing["certificate"],
        allowed_common_names=existing["allowed_common_names"],
        token_policies=existing["token_policies"],
        token_ttl="4s",
    )
    vault = client(tls_openbao, tls_openbao.trusted, cert_role="pm-etl-short")
    vault.logged_in_as()
    token = vault._session.client.token
    assert not tls_openbao.root.auth.token.lookup(token)["data"].get("last_renewal_time")
    time.sleep(2.5)
    vault.read(seeded, fresh=True)
    # Renewed (over the same TLS connection setup, presenting the certificate), not replaced.
    assert tls_openbao.root.auth.token.lookup(token)["data"]["last_renewal_time"]


def test_revoked_token_is_replaced_by_a_new_certificate_login(
    tls_openbao: TlsOpenBao, seeded: str
) -> None:
    vault = client(tls_openbao, tls_openbao.trusted)
    vault.read(seeded)
    first = vault._session.client.token
    tls_openbao.root.auth.token.revoke(first)
    assert vault.read(seeded, fresh=True).keys() == sorted(DATA)
    assert vault._session.client.token != first


def test_cert_login_needs_https(tls_openbao: TlsOpenBao) -> None:
    with pytest.raises(ConfigurationError, match=r"^VAULT_ADDR=http://.* is not https://"):
        VaultSecrets(
            VaultSettings(
                addr="http://127.0.0.1:8200",
                auth_method="cert",
                client_cert=tls_openbao.trusted.cert_file,
            )
        )


def test_cert_login_refuses_skip_verify(tls_openbao: TlsOpenBao) -> None:
    with pytest.raises(
        ConfigurationError, match=r"^VAULT_SKIP_VERIFY cannot be used .*VAULT_CACERT"
    ):
        client(tls_openbao, tls_openbao.trusted, skip_verify=True)


def test_cert_login_without_a_certificate_names_the_variable(tls_openbao: TlsOpenBao) -> None:
    with pytest.raises(ConfigurationError, match=r"^VAULT_CLIENT_CERT is required .*=cert"):
        VaultSecrets(VaultSettings(addr=tls_openbao.addr, auth_method="cert"))


def test_missing_key_file_names_the_variable(
    tmp_path: Path, tls_openbao: TlsOpenBao, seeded: str
) -> None:
    vault = client(tls_openbao, tls_openbao.trusted, client_key=tmp_path / "gone.key")
    with pytest.raises(ConfigurationError, match=r"^VAULT_CLIENT_KEY=.*gone.key cannot be read"):
        vault.read(seeded)
