"""PROCESSMAKER_CA_BUNDLE / PROCESSMAKER_VERIFY_TLS hold on every request, whatever
REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE say, and a TLS failure names the setting to fix.

An HTTPS sandbox signed by a local CA, credentials in a real OpenBao. Issue 10, item 3.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from processmaker_prefect.api.client import _SESSIONS
from processmaker_prefect.auth import reset_token_providers
from processmaker_prefect.errors import ConfigurationError
from processmaker_prefect.prefect_layer.connection import open_client
from tests.fixtures.openbao import OpenBao
from tests.fixtures.pki import TestCA
from tests.fixtures.sandbox import HttpsSandbox

pytestmark = pytest.mark.integration


@pytest.fixture
def https_env(
    vault_env: OpenBao,
    https_sandbox: HttpsSandbox,
    secret_path: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Path]:
    """PROCESSMAKER_* for the HTTPS sandbox; REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE point at
    another CA, as in many container images. Yields the CA that does sign the sandbox."""
    for name in list(os.environ):
        if name.startswith("PROCESSMAKER_"):
            monkeypatch.delenv(name)
    config = https_sandbox.server.config
    vault_env.put(
        secret_path,
        {
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "username": config.username,
            "password": config.password,
        },
    )
    monkeypatch.setenv("PROCESSMAKER_URL", https_sandbox.server.url)
    monkeypatch.setenv("PROCESSMAKER_SECRET", secret_path)
    other = TestCA("other-ca", tmp_path / "other").cert_file
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(other))
    reset_token_providers()
    yield https_sandbox.ca.cert_file
    reset_token_providers()
    # Close the process's pooled sessions: an idle keep-alive TLS connection left open makes
    # the HTTPS sandbox's shutdown wait 10 s for a close_notify that never comes.
    _SESSIONS.reset()


def test_the_ca_bundle_setting_wins_over_the_environment(
    https_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROCESSMAKER_CA_BUNDLE", str(https_env))
    with open_client() as client:
        assert client.get_page("/users")["data"]


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_tls_false_wins_over_the_environment(
    https_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROCESSMAKER_VERIFY_TLS", "false")
    with open_client() as client:
        assert client.get_page("/users")["data"]


def test_an_untrusted_certificate_names_the_ca_setting(https_env: Path) -> None:
    with (
        pytest.raises(ConfigurationError, match=r"TLS verification .* set PROCESSMAKER_CA_BUNDLE"),
        open_client() as client,
    ):
        client.get_page("/users")


def test_a_missing_ca_bundle_file_is_named(
    https_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROCESSMAKER_CA_BUNDLE", str(tmp_path / "nope.pem"))
    with pytest.raises(ConfigurationError, match=r"CA_BUNDLE=.*nope.pem is not a file"):
        open_client()
