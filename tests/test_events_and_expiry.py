"""tasks/events.py and the expiry horizons (tasks/auth/expiry.py) against real OpenBao.

What reaches a Prefect server, and the automations firing, is tested against a real
``prefect server start`` in tests/test_credential_events.py.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import PREFECT_API_URL, temporary_settings
from pydantic import SecretStr

from processmaker_prefect.auth.credentials import ProcessMakerCredentials
from processmaker_prefect.auth.expiry import REFRESH_TOKEN_LIFETIME, Horizon, credential_horizons
from processmaker_prefect.events import (
    emit,
    instance_resource,
    reset_emitted,
    secret_resource,
    set_event_sink,
)
from processmaker_prefect.prefect_layer.event_sink import PrefectEventSink
from processmaker_prefect.settings import VaultSettings
from processmaker_prefect.vault import VaultSecret, VaultSecrets
from tests.fixtures.openbao import PM_POLICY, OpenBao
from tests.fixtures.stack import PmStack

pytestmark = pytest.mark.integration

DAY = 86400.0


@pytest.fixture(autouse=True)
def _fresh_once_keys() -> Iterator[None]:
    # Events go to Prefect through the sink the Prefect layer installs; install it here, not by
    # whichever test module happened to import the layer first on this worker.
    previous = set_event_sink(PrefectEventSink())
    reset_emitted()
    yield
    reset_emitted()
    set_event_sink(previous)


def test_without_a_sink_an_event_is_dropped() -> None:
    set_event_sink(None)
    assert emit("processmaker.token.refused", instance_resource("http://pm.example")) is False


# -- events -----------------------------------------------------------------------------------


def test_without_an_api_and_outside_a_run_an_event_is_skipped_and_starts_no_server() -> None:
    # Prefect's emit_event would start a local server here first (tens of seconds).
    before = dict(SubprocessASGIServer._instances)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        sent = emit("processmaker.vault.login", {"prefect.resource.id": "vault.server.x"})
    assert sent is False
    assert SubprocessASGIServer._instances == before


def test_an_unknown_event_name_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown event name 'processmaker.token.got'"):
        emit("processmaker.token.got", {"prefect.resource.id": "x"})


def test_identical_reports_are_sent_once(prefect_server: None) -> None:
    resource = instance_resource("http://127.0.0.1:1")
    sends = [
        emit("processmaker.token.refused", resource, payload={"cause": "x"}, once="k1")
        for _ in range(4)
    ]
    assert sends == [True, False, False, False]
    assert emit("processmaker.token.refused", resource, once="k2") is True


def test_resources_name_the_instance_and_secret_never_userinfo_or_query() -> None:
    resource = instance_resource("https://etl:hunter22@pm.example.com:8443/?token=abc")
    assert resource["prefect.resource.id"] == "processmaker.instance.https://pm.example.com:8443"
    assert resource["prefect.resource.name"] == "pm.example.com:8443"
    related = secret_resource("/secret/processmaker/prod/", "http://127.0.0.1:8200")
    assert related == {
        "prefect.resource.id": "vault.secret.secret/processmaker/prod",
        "prefect.resource.role": "credentials",
        "prefect.resource.name": "secret/processmaker/prod",
        "vault.addr": "http://127.0.0.1:8200",
    }


# -- horizons ---------------------------------------------------------------------------------


def pat_expiring_in(seconds: float) -> SecretStr:
    claims = {"sub": "1", "exp": int(time.time() + seconds)}
    return SecretStr(jwt.encode(claims, "k" * 32, algorithm="HS256"))


def secret_with(**data: str) -> VaultSecret:
    return VaultSecret("secret/pm", 1, 2, {k: SecretStr(v) for k, v in data.items()})


@pytest.fixture
def root_vault(openbao: OpenBao) -> VaultSecrets:
    return VaultSecrets(VaultSettings(addr=openbao.addr, token=SecretStr(openbao.token)))


def by_name(horizons: list[Horizon]) -> dict[str, Horizon]:
    return {h.credential: h for h in horizons}


def test_a_pat_expiring_in_three_days_is_expiring_within_fourteen(root_vault: VaultSecrets) -> None:
    pat = pat_expiring_in(3 * DAY)
    creds = ProcessMakerCredentials(personal_access_token=pat)
    found = by_name(credential_horizons("pat", creds, secret_with(), root_vault, None))
    assert found["pat"].state == "expires"
    assert found["pat"].expiring(14)
    assert not found["pat"].expiring(2)
    row = found["pat"].row(14)
    assert row["attention"] == "EXPIRING"
    assert row["in"] == "3.0 days"
    assert pat.get_secret_value() not in str(row)


def test_an_opaque_pat_is_unknown_not_guessed(root_vault: VaultSecrets) -> None:
    creds = ProcessMakerCredentials(personal_access_token=SecretStr("opaque-pat-value"))
    pat = by_name(credential_horizons("pat", creds, secret_with(), root_vault, None))["pat"]
    assert (pat.state, pat.expires_at) == ("unknown", None)
    assert pat.row(14)["expires"] == "unknown"
    assert not pat.expiring(14)


def test_the_refresh_token_expires_a_year_after_its_stored_issue_time(
    root_vault: VaultSecrets,
) -> None:
    issued = time.time() - 360 * DAY
    creds = ProcessMakerCredentials(refresh_token=SecretStr("r"))
    stored = secret_with(refresh_token="r", refresh_token_issued_at=repr(issued))
    found = by_name(credential_horizons("refresh_token", creds, stored, root_vault, None))
    assert found["refresh_token"].expires_at == pytest.approx(issued + REFRESH_TOKEN_LIFETIME)
    assert found["refresh_token"].expiring(14)
    # The access token is renewed by the grant itself: shown, never warned about.
    assert found["access_token"].replaced
    assert found["access_token"].state == "unknown"
    unknown = by_name(credential_horizons("refresh_token", creds, secret_with(), root_vault, None))
    assert unknown["refresh_token"].state == "unknown"
    assert "refresh_token_issued_at absent" in unknown["refresh_token"].source


def test_a_root_vault_token_never_expires(root_vault: VaultSecrets) -> None:
    creds = ProcessMakerCredentials(personal_access_token=pat_expiring_in(DAY))
    found = by_name(credential_horizons("pat", creds, secret_with(), root_vault, None))
    assert found["vault_token"].state == "never"


def test_a_vault_token_with_a_ttl_expires_and_is_warned_about(openbao: OpenBao) -> None:
    token = openbao.token_for(PM_POLICY, ttl="48h", renewable=False)
    vault = VaultSecrets(VaultSettings(addr=openbao.addr, token=SecretStr(token)))
    creds = ProcessMakerCredentials(personal_access_token=pat_expiring_in(30 * DAY))
    found = by_name(credential_horizons("pat", creds, secret_with(), vault, None))
    horizon = found["vault_token"]
    assert horizon.expiring(14)  # VAULT_TOKEN cannot be replaced by a new login
    assert 1.9 < (horizon.days_left() or 0) <= 2.0
    assert "not renewable" in horizon.source


@pytest.fixture
def approle(openbao: OpenBao) -> dict[str, Any]:
    mount = openbao.enable_auth("approle", f"approle-{uuid.uuid4().hex[:6]}")
    api = openbao.client.auth.approle
    api.create_or_update_approle(
        "pm", token_policies=[PM_POLICY], secret_id_ttl="240h", mount_point=mount
    )
    role_id = api.read_role_id("pm", mount_point=mount)["data"]["role_id"]
    secret_id = api.generate_secret_id("pm", mount_point=mount)["data"]["secret_id"]
    return {"mount": mount, "role_id": role_id, "secret_id": secret_id}


def test_an_approle_secret_id_is_unknown_unless_the_policy_allows_its_lookup(
    openbao: OpenBao, approle: dict[str, Any]
) -> None:
    settings = VaultSettings(
        addr=openbao.addr,
        auth_method="approle",
        auth_mount=approle["mount"],
        role_id=approle["role_id"],
        secret_id=SecretStr(approle["secret_id"]),
    )
    creds = ProcessMakerCredentials(personal_access_token=pat_expiring_in(30 * DAY))
    found = by_name(credential_horizons("pat", creds, secret_with(), VaultSecrets(settings), None))
    assert found["vault_token"].replaced  # a new login replaces it: no warning
    secret_id = found["approle_secret_id"]
    assert secret_id.state == "unknown"
    assert f"grant update on auth/{approle['mount']}/role/pm/secret-id/lookup" in secret_id.source

    lookup = (
        f'path "auth/{approle["mount"]}/role/pm/secret-id/lookup" {{ capabilities = ["update"] }}'
    )
    openbao.client.sys.create_or_update_policy("pm-lookup", lookup)
    openbao.client.auth.approle.create_or_update_approle(
        "pm", token_policies=[PM_POLICY, "pm-lookup"], mount_point=approle["mount"]
    )
    found = by_name(credential_horizons("pat", creds, secret_with(), VaultSecrets(settings), None))
    secret_id = found["approle_secret_id"]
    assert secret_id.state == "expires"
    assert 9.9 < (secret_id.days_left() or 0) <= 10.0
    assert secret_id.expiring(14)
    assert not secret_id.expiring(7)


# -- the healthcheck artifact ------------------------------------------------------------------


def test_the_healthcheck_artifact_tables_every_expiry_it_can_know(
    prefect_server: None, pm_stack: PmStack
) -> None:
    from processmaker_prefect.flows.healthcheck import healthcheck
    from tests.test_flows import artifacts_of

    pat = pm_stack.control.create_pat(expires_in=int(3 * DAY))["accessToken"]
    pm_stack.put(personal_access_token=pat)
    state = healthcheck(return_state=True)
    assert state.is_completed()  # a warning is not a failure
    markdown = artifacts_of(state)["processmaker-health"]
    assert "| expiry | warn | 1 credential(s) expire within 14 days: pat in 3.0 days" in markdown
    # The last two lines: the expiry table's rows (cells are Markdown-escaped: vault\_token).
    rows = {
        line.split("|")[1].strip().replace("\\", ""): line for line in markdown.splitlines()[-2:]
    }
    assert "EXPIRING" in rows["pat"]
    assert "the PAT's JWT exp" in rows["pat"]
    assert "| never |" in rows["vault_token"]  # the dev server's root token has no TTL
    assert pat not in markdown
