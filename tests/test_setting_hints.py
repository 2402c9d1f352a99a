"""A fix names where the value came from: the block's field for a run on a block, the variable
for a run on the worker's environment (issue 22, item 1).

Real OpenBao and the sandbox behind a saved ProcessMaker Connection block (in-process Prefect).
"""

from __future__ import annotations

import pytest

from processmaker_prefect import ProcessMakerConnection, load_settings, open_client
from processmaker_prefect.errors import ConfigurationError, VaultAuthError, VaultNotFoundError
from processmaker_prefect.settings import ProcessMakerSettings, VaultSettings
from processmaker_prefect.vault import get_vault, reset_vault_sessions
from tests.fixtures.stack import PmStack

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_server")]


def saved(name: str, **fields: object) -> ProcessMakerConnection:
    ProcessMakerConnection(**fields).save(name, overwrite=True)  # type: ignore[arg-type]
    block: ProcessMakerConnection = ProcessMakerConnection.load(name)  # type: ignore[assignment]
    return block


def test_a_field_the_block_lacks_is_named_as_the_blocks_field(
    pm_stack: PmStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROCESSMAKER_SECRET")
    block = saved("pm-hints", url=pm_stack.sandbox.url)
    with pytest.raises(ConfigurationError) as caught:
        block.settings()
    assert str(caught.value) == (
        "Invalid configuration: the secret field of block pm-hints is required "
        "(set it in the block)"
    )


def test_from_the_environment_the_variable_is_named(
    pm_stack: PmStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROCESSMAKER_SECRET")
    with pytest.raises(ConfigurationError, match=r"PROCESSMAKER_SECRET is required \(set it in"):
        load_settings(ProcessMakerSettings)


def test_an_approle_block_without_its_role_id_names_the_blocks_field(pm_stack: PmStack) -> None:
    block = saved("pm-hints", url=pm_stack.sandbox.url, secret=pm_stack.path,
                  vault_auth_method="approle")  # fmt: skip
    _, vault_settings = block.settings()
    with pytest.raises(ConfigurationError) as caught:
        get_vault(vault_settings)
    message = str(caught.value)
    assert message.startswith(
        "the vault_role_id field of block pm-hints is required when the vault_auth_method "
        "field of block pm-hints is approle"
    )
    assert "VAULT_ROLE_ID" not in message


def test_a_refused_token_in_the_block_names_the_blocks_token_field(pm_stack: PmStack) -> None:
    reset_vault_sessions()
    block = saved("pm-hints", url=pm_stack.sandbox.url, secret=pm_stack.path,
                  vault_token="hvs.not-a-token-of-this-vault")  # fmt: skip
    _, vault_settings = block.settings()
    with pytest.raises(VaultAuthError) as caught:
        get_vault(vault_settings).read(pm_stack.path)
    message = str(caught.value)
    assert "check the vault_token field of block pm-hints is valid" in message
    assert "VAULT_TOKEN" not in message
    assert "hvs.not-a-token" not in message


def test_the_worker_token_is_named_as_the_workers_variable_on_a_block(pm_stack: PmStack) -> None:
    # The block leaves the Vault login to the worker: the fix is on the worker.
    block = saved("pm-hints", url=pm_stack.sandbox.url, secret=pm_stack.path)
    _, vault_settings = block.settings()
    assert vault_settings.name_of("token") == "the worker's VAULT_TOKEN"
    assert vault_settings.name_of("role_id") == "the vault_role_id field of block pm-hints"


def test_a_missing_secret_names_the_blocks_secret_field(pm_stack: PmStack) -> None:
    block = saved("pm-hints", url=pm_stack.sandbox.url, secret="secret/no/such/secret")
    with pytest.raises(VaultNotFoundError) as caught, block.get_client() as client:
        client.get_user(1)
    assert str(caught.value).endswith("or fix the secret field of block pm-hints")


def test_settings_from_the_environment_still_name_variables(pm_stack: PmStack) -> None:
    settings, vault_settings = load_settings(ProcessMakerSettings), load_settings(VaultSettings)
    assert settings.name_of("url") == "PROCESSMAKER_URL"
    assert vault_settings.name_of("role_id") == "VAULT_ROLE_ID"
    assert vault_settings.secret_setting == "PROCESSMAKER_SECRET"
    with open_client(settings, vault_settings) as client:
        assert client.get_user(1)["id"] == 1


def test_the_titles_of_empty_block_fields_say_what_empty_means() -> None:
    # Prefect's block page shows an empty field as "None" (its key-value component does, for
    # null, missing and ""); the title says where the value then comes from.
    titles = {
        k: p["title"] for k, p in ProcessMakerConnection.model_json_schema()["properties"].items()
    }
    assert titles["vault_token"] == "Vault token (empty: VAULT_TOKEN)"
    assert titles["auth"] == "Grant (empty: PROCESSMAKER_AUTH)"


def test_an_unreachable_url_in_the_block_names_the_blocks_url_field(pm_stack: PmStack) -> None:
    from processmaker_prefect.errors import TokenEndpointUnavailableError
    from processmaker_prefect.sandbox.net import free_port

    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    block = saved("pm-hints", url=nobody, secret=pm_stack.path)
    with pytest.raises(TokenEndpointUnavailableError) as caught, block.get_client() as client:
        client.get_user(1)
    assert "check the url field of block pm-hints and that ProcessMaker is up" in str(caught.value)
    assert "PROCESSMAKER_URL" not in str(caught.value)
