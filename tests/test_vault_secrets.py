"""tasks.vault against a real OpenBao dev server: KV v1/v2, CAS, errors, cache, redaction."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from processmaker_prefect.errors import (
    ConfigurationError,
    VaultAuthError,
    VaultCasConflictError,
    VaultKeyMissingError,
    VaultNotFoundError,
    VaultUnavailableError,
)
from processmaker_prefect.prefect_layer.vault_secrets import read_vault_secret
from processmaker_prefect.sandbox.net import free_port
from processmaker_prefect.sandbox.openbao import DevVault
from processmaker_prefect.settings import VaultSettings
from processmaker_prefect.vault import VaultSecret, VaultSecrets, get_vault, write_secret
from tests.fixtures.openbao import PM_POLICY, OpenBao

pytestmark = pytest.mark.integration

CREDENTIALS = {
    "client_id": "pm-client-7f3a",
    "client_secret": "cs-9d8e7f6a5b4c3d2e",
    "username": "admin",
    "password": "pw-correct-horse-battery",
}


@pytest.fixture(autouse=True)
def _clean_env(no_vault_env: None) -> None:
    """Each test starts with no VAULT_* and no Vault session (see tests/fixtures/openbao.py)."""


def vault(openbao: OpenBao, token: str | None = None, **kwargs: object) -> VaultSecrets:
    settings = VaultSettings(addr=openbao.addr, token=SecretStr(token or openbao.token))
    return VaultSecrets(settings, attempts=2, backoff=0.01, **kwargs)  # type: ignore[arg-type]


def test_reads_kv_v2_with_its_version(openbao: OpenBao, secret_path: str) -> None:
    openbao.put(secret_path, CREDENTIALS)
    version = openbao.put(secret_path, {**CREDENTIALS, "password": "second"})
    secret = vault(openbao).read(secret_path)
    assert (secret.kv_version, secret.version) == (2, version)
    assert secret.get("password").get_secret_value() == "second"
    assert secret.keys() == sorted(CREDENTIALS)


def test_reads_kv_v1_without_a_version(openbao: OpenBao) -> None:
    openbao.put("kv1/processmaker/v1", CREDENTIALS)
    secret = vault(openbao).read("kv1/processmaker/v1")
    assert (secret.kv_version, secret.version) == (1, None)
    assert secret.get("client_id").get_secret_value() == "pm-client-7f3a"


def test_kv_version_is_detected_for_a_mount_with_a_slash(openbao: OpenBao) -> None:
    openbao.enable_kv("team/kv", 1)  # the mount is "team/kv", not "team"
    openbao.put("team/kv/pm/x", {"client_id": "a"})
    openbao.put("secret/team/kv/pm/x", {"client_id": "b"})  # same tail, under KV v2 "secret"
    client = vault(openbao)
    assert client.kv_version("team/kv/pm/x") == 1
    assert client.kv_version("secret/team/kv/pm/x") == 2
    assert client.read("team/kv/pm/x").get("client_id").get_secret_value() == "a"
    assert client.read("secret/team/kv/pm/x").get("client_id").get_secret_value() == "b"


def test_a_path_on_no_mount_is_refused_naming_the_mount(openbao: OpenBao) -> None:
    with pytest.raises(VaultAuthError, match=r"KV mount of nosuchmount/pm .*mount name"):
        vault(openbao).read("nosuchmount/pm")


def test_a_bare_mount_is_a_configuration_error(openbao: OpenBao) -> None:
    with pytest.raises(ConfigurationError, match=r"names only the mount secret: use mount/path"):
        vault(openbao).read("secret/")


def test_write_with_cas_returns_the_new_version(openbao: OpenBao, secret_path: str) -> None:
    client = vault(openbao)
    assert client.write(secret_path, CREDENTIALS, cas=0) == 1
    read = client.read(secret_path)
    data = {**read.data, "refresh_token": SecretStr("rt-new")}
    assert client.write(secret_path, data, cas=read.version) == 2
    fresh = client.read(secret_path)
    assert fresh.get("refresh_token").get_secret_value() == "rt-new"
    assert fresh.get("password").get_secret_value() == CREDENTIALS["password"]


def test_a_lost_cas_is_a_conflict(openbao: OpenBao, secret_path: str) -> None:
    openbao.put(secret_path, CREDENTIALS)
    client = vault(openbao)
    seen = client.read(secret_path)
    openbao.put(secret_path, {**CREDENTIALS, "refresh_token": "theirs"})
    with pytest.raises(VaultCasConflictError, match=rf"Check-and-set write to {secret_path} lost"):
        client.write(secret_path, {"refresh_token": "ours"}, cas=seen.version)
    assert client.read(secret_path, fresh=True).get("refresh_token").get_secret_value() == "theirs"


def test_cas_on_kv_v1_asks_for_kv_v2(openbao: OpenBao) -> None:
    openbao.put("kv1/processmaker/cas", CREDENTIALS)
    with pytest.raises(ConfigurationError, match=r"KV v1 mount kv1, which cannot check-and-set"):
        vault(openbao).write("kv1/processmaker/cas", {"refresh_token": "x"}, cas=1)


def test_write_secret_without_cas_works_on_kv_v1(vault_env: OpenBao) -> None:
    assert write_secret("kv1/processmaker/full", CREDENTIALS) is None
    assert vault_env.client.secrets.kv.v1.read_secret("processmaker/full", "kv1")["data"] == (
        CREDENTIALS
    )


def test_missing_path_names_mount_and_kv_version(openbao: OpenBao, secret_path: str) -> None:
    with pytest.raises(
        VaultNotFoundError, match=rf"No Vault secret at {secret_path} \(mount secret, KV v2"
    ):
        vault(openbao).read(secret_path)


def test_missing_key_names_key_and_path(openbao: OpenBao, secret_path: str) -> None:
    openbao.put(secret_path, {"client_id": "x"})
    secret = vault(openbao).read(secret_path)
    with pytest.raises(VaultKeyMissingError, match=rf"{secret_path} .* has no key 'client_secret'"):
        secret.get("client_secret")


def test_wrong_token_is_a_login_error(openbao: OpenBao, secret_path: str) -> None:
    with pytest.raises(VaultAuthError, match=r"login with method token at auth/token failed"):
        vault(openbao, token="s.not-a-real-token").read(secret_path)


def test_permission_denied_names_the_api_path_to_grant(openbao: OpenBao, secret_path: str) -> None:
    openbao.put(secret_path, CREDENTIALS)
    # May list metadata (so the mount lookup succeeds) but not read the data.
    openbao.client.sys.create_or_update_policy(
        "list-only", 'path "secret/metadata/*" { capabilities = ["list"] }'
    )
    token = openbao.token_for("list-only")
    sub = secret_path.removeprefix("secret/")
    with pytest.raises(VaultAuthError, match=rf"policy grants read on secret/data/{sub}$"):
        vault(openbao, token=token).read(secret_path)


def test_unreachable_server_is_unavailable_after_bounded_retries() -> None:
    addr = f"http://127.0.0.1:{free_port()}"
    client = VaultSecrets(
        VaultSettings(addr=addr, token=SecretStr("t"), timeout=2), attempts=3, backoff=0.01
    )
    with pytest.raises(
        VaultUnavailableError, match=rf"Vault at {addr} is unreachable .* after 3 attempts"
    ):
        client.read("secret/pm")


def test_sealed_server_is_unavailable_and_says_unseal() -> None:
    with DevVault() as server:  # its own server: sealing is permanent for a dev server
        client = VaultSecrets(
            VaultSettings(addr=server.addr, token=SecretStr(server.token)), attempts=2, backoff=0
        )
        assert client.kv_version("secret/pm") == 2
        OpenBao(server).client.sys.seal()
        with pytest.raises(VaultUnavailableError, match=r"is sealed after 2 attempts: unseal it"):
            client.read("secret/pm", fresh=True)


def test_reads_are_served_once_until_fresh(openbao: OpenBao, secret_path: str) -> None:
    openbao.put(secret_path, CREDENTIALS)
    token = openbao.token_for(PM_POLICY)
    client = vault(openbao, token=token)
    first = client.read(secret_path)
    openbao.client.auth.token.revoke(token)
    # Served from memory: a request would fail now that the token is revoked.
    assert client.read(secret_path) is first
    with pytest.raises(VaultAuthError, match=r"check VAULT_TOKEN is valid"):
        client.read(secret_path, fresh=True)


def test_invalidate_forgets_a_cached_read(openbao: OpenBao, secret_path: str) -> None:
    openbao.put(secret_path, CREDENTIALS)
    client = vault(openbao)
    first = client.read(secret_path)
    openbao.put(secret_path, {**CREDENTIALS, "password": "rotated"})
    assert client.read(secret_path) is first
    client.invalidate(secret_path)
    assert client.read(secret_path).get("password").get_secret_value() == "rotated"


def test_get_vault_is_one_session_per_settings(vault_env: OpenBao) -> None:
    assert get_vault() is get_vault()
    other = VaultSettings(addr=vault_env.addr, token=SecretStr(vault_env.token), timeout=3)
    assert get_vault(other) is not get_vault()


def test_task_returns_metadata_only(vault_env: OpenBao, secret_path: str) -> None:
    version = vault_env.put(secret_path, CREDENTIALS)
    result = read_vault_secret.fn(secret_path)
    assert result == {
        "path": secret_path,
        "kv_version": 2,
        "version": version,
        "keys": sorted(CREDENTIALS),
    }


def test_no_secret_value_in_repr_or_errors(openbao: OpenBao, secret_path: str) -> None:
    openbao.put(secret_path, CREDENTIALS)
    secret = vault(openbao).read(secret_path)
    texts = [repr(secret), str(secret), repr(vault(openbao))]
    for action in (
        lambda: secret.get("refresh_token"),
        lambda: vault(openbao).write(secret_path, CREDENTIALS, cas=0),
        lambda: vault(openbao, token=CREDENTIALS["password"]).read(secret_path),
    ):
        with pytest.raises(Exception) as info:  # noqa: PT011 - any error: its text is checked
            action()
        texts += [str(info.value), repr(info.value)]
    for text in texts:
        for value in [*CREDENTIALS.values(), openbao.token]:
            assert value not in text, text
    assert isinstance(secret, VaultSecret)


def test_task_result_is_never_cached_or_persisted() -> None:
    from prefect.cache_policies import NO_CACHE

    assert read_vault_secret.cache_policy is NO_CACHE
    assert read_vault_secret.persist_result is False
