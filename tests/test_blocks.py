"""The ProcessMakerConnection block: saved and loaded through a real Prefect server."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from processmaker_prefect.errors import ConfigurationError
from processmaker_prefect.prefect_layer.blocks import ProcessMakerConnection, resolve_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("PROCESSMAKER_URL", "PROCESSMAKER_SECRET", "PROCESSMAKER_AUTH", "VAULT_ADDR"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_block_fields_override_the_environment(
    prefect_server: None, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("PROCESSMAKER_SECRET", "secret/from/env")
    clean_env.setenv("VAULT_ADDR", "http://127.0.0.1:8200")
    ProcessMakerConnection(
        url="https://pm.example.com/",
        auth="pat",
        page_size=50,
        vault_addr="https://vault.example.com:8200",
        vault_auth_method="approle",
        vault_role_id="role-1",
        vault_secret_id=SecretStr("secret-id-value"),
    ).save("test-prod", overwrite=True)
    pm, vault = resolve_settings("test-prod")
    assert (pm.url, pm.secret, pm.auth, pm.page_size) == (
        "https://pm.example.com",
        "secret/from/env",
        "pat",
        50,
    )
    assert (vault.addr, vault.auth_method, vault.role_id) == (
        "https://vault.example.com:8200",
        "approle",
        "role-1",
    )
    assert vault.secret_id is not None
    assert vault.secret_id.get_secret_value() == "secret-id-value"


def test_a_block_missing_a_required_field_names_the_blocks_field(
    prefect_server: None, clean_env: pytest.MonkeyPatch
) -> None:
    ProcessMakerConnection(url="https://pm.example.com").save("test-partial", overwrite=True)
    with pytest.raises(
        ConfigurationError, match="the secret field of block test-partial is required"
    ):
        resolve_settings("test-partial")


def test_without_a_block_the_environment_is_used(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PROCESSMAKER_URL", "https://pm.example.com")
    clean_env.setenv("PROCESSMAKER_SECRET", "kv/pm")
    pm, _ = resolve_settings(None)
    assert pm.secret == "kv/pm"
