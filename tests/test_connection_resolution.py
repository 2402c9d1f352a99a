"""One resolution per run, one Vault read, grant and pool per instance.

The block loads are counted by wrapping ``ProcessMakerConnection.load`` (the one way a name
becomes a block); the Vault reads from OpenBao's own audit log; the grants from the
sandbox's count of the token requests it answered.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.settings import get_current_settings
from pydantic import SecretStr

from processmaker_prefect import (
    ProcessMakerConnection,
    ResolvedConnection,
    reset_token_providers,
    resolve_connection,
)
from processmaker_prefect.api import process_session
from processmaker_prefect.auth import get_token_provider
from processmaker_prefect.sandbox.openbao import DevVault
from processmaker_prefect.sandbox.server import SandboxServer
from processmaker_prefect.vault import reset_vault_sessions
from tests.fixtures.sandbox import SandboxControl
from tests.fixtures.stack import PmStack

pytestmark = pytest.mark.integration

SECRET = "processmaker/resolution"


class AuditedVault(DevVault):
    """``bao server -dev`` with a file audit device (OpenBao 2 enables none through the API)."""

    def __init__(self, audit: Path) -> None:
        config = audit.with_suffix(".hcl")
        device = f'audit "file" "t" {{\n  options {{\n    file_path = "{audit}"\n  }}\n}}\n'
        config.write_text(device)
        super().__init__(extra_args=(f"-config={config}",))
        self.audit = audit

    def secret_reads(self) -> int:
        """Reads of the KV secret by anyone but the test's own root-token writes."""
        count = 0
        for line in self.audit.read_text().splitlines():
            entry = json.loads(line)
            request = entry.get("request") or {}
            if (
                entry.get("type") == "request"
                and request.get("operation") == "read"
                and request.get("path") == f"secret/data/{SECRET}"
            ):
                count += 1
        return count


@pytest.fixture
def audited(
    tmp_path: Path,
    sandbox: SandboxServer,
    sandbox_reset: SandboxControl,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[AuditedVault]:
    with AuditedVault(tmp_path / "audit.log") as vault:
        config = sandbox.config
        vault.put(SECRET, {
            "client_id": config.client_id, "client_secret": config.client_secret,
            "username": config.username, "password": config.password,
        })  # fmt: skip
        for name in ("VAULT_ADDR", "VAULT_TOKEN", "VAULT_AUTH_METHOD", "PROCESSMAKER_SECRET"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("VAULT_ADDR", vault.addr)
        monkeypatch.setenv("VAULT_TOKEN", vault.token)
        reset_token_providers()
        reset_vault_sessions()
        yield vault
        reset_token_providers()
        reset_vault_sessions()


def test_two_connections_differing_in_page_size_share_one_read_grant_and_pool(
    audited: AuditedVault, sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    small = ProcessMakerConnection(url=sandbox.url, secret=f"secret/{SECRET}", page_size=50)
    large = ProcessMakerConnection(url=sandbox.url, secret=f"secret/{SECRET}", page_size=1000)
    for block in (small, large):
        with block.get_client() as client:
            assert client.get("/users/1")["id"] == 1
    assert audited.secret_reads() == 1
    assert sandbox_reset.stats()["grants_total"] == 1
    a, b = resolve_connection(small), resolve_connection(large)
    assert a.settings.page_size != b.settings.page_size
    assert process_session(a.settings) is process_session(b.settings)
    assert get_token_provider(a.settings, a.vault_settings) is get_token_provider(
        b.settings, b.vault_settings
    )


def test_connections_to_two_secrets_keep_their_own_grants(
    audited: AuditedVault, sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    """The check above can fail: what tells instances apart still does."""
    audited.put(f"{SECRET}-copy", dict(sandbox_reset_credentials(sandbox)))
    one = ProcessMakerConnection(url=sandbox.url, secret=f"secret/{SECRET}")
    two = ProcessMakerConnection(url=sandbox.url, secret=f"secret/{SECRET}-copy")
    for block in (one, two):
        with block.get_client() as client:
            client.get("/users/1")
    assert sandbox_reset.stats()["grants_total"] == 2
    a, b = resolve_connection(one), resolve_connection(two)
    assert get_token_provider(a.settings, a.vault_settings) is not get_token_provider(
        b.settings, b.vault_settings
    )


def sandbox_reset_credentials(sandbox: SandboxServer) -> dict[str, str]:
    config = sandbox.config
    return {
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "username": config.username,
        "password": config.password,
    }


def test_a_resolved_connection_carries_no_secret_out_of_the_process() -> None:
    block = ProcessMakerConnection(
        url="https://pm.example.com",
        secret="secret/pm",
        vault_auth_method="approle",
        vault_role_id="role-1",
        vault_secret_id=SecretStr("s.approle-secret-id-value"),
    )
    resolved = resolve_connection(block)
    assert "approle-secret-id-value" not in repr(resolved)
    assert "approle-secret-id-value" not in resolved.vault_settings.model_dump_json()
    assert "approle-secret-id-value" not in resolved.settings.model_dump_json()
    with pytest.raises(TypeError, match="stays in its process"):
        pickle.dumps(resolved)
    # ProcessMakerSettings has no secret field at all: nothing of it needs masking.
    assert not [
        name
        for name, field in type(resolved.settings).model_fields.items()
        if "Secret" in str(field.annotation)
    ]


def test_a_sync_of_five_resources_loads_the_connection_once(
    prefect_server: None,
    pm_stack: PmStack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from processmaker_prefect.flows.cli import app

    ProcessMakerConnection(url=pm_stack.sandbox.url, secret=pm_stack.path).save(
        "resolution-five", overwrite=True
    )
    monkeypatch.delenv("PROCESSMAKER_URL")
    loads: list[str] = []
    settings_built: list[str] = []
    original_load = ProcessMakerConnection.load.__func__  # type: ignore[attr-defined]
    original_settings = ProcessMakerConnection.settings

    def counting_load(cls: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        loads.append(name)
        return original_load(cls, name, *args, **kwargs)

    def counting_settings(self: ProcessMakerConnection) -> Any:
        settings_built.append(str(self._block_document_name))
        return original_settings(self)

    # The CLI's --connection needs a configured Prefect API (the block is saved there).
    monkeypatch.setenv("PREFECT_API_URL", str(get_current_settings().api.url))
    monkeypatch.setattr(ProcessMakerConnection, "load", classmethod(counting_load))
    monkeypatch.setattr(ProcessMakerConnection, "settings", counting_settings)
    destination = f"duckdb:///{tmp_path / 'five.duckdb'}"
    resources = "users,groups,processes,process_categories,screens"
    code = app(
        ["sync", "--connection", "resolution-five", "--resources", resources,
         "--destination", destination],
        result_action="return_value",
    )  # fmt: skip
    assert code == 0
    assert loads == ["resolution-five"]
    # Once for the checks the CLI makes before the run, once for the run: never per resource.
    assert settings_built == ["resolution-five", "resolution-five"]


def test_a_resolved_connection_is_what_the_tasks_get(pm_stack: PmStack) -> None:
    resolved = resolve_connection(None)
    assert isinstance(resolved, ResolvedConnection)
    assert resolve_connection(resolved) is resolved  # a task given one does not resolve again
