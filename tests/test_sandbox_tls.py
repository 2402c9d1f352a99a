"""The sandbox over HTTPS with a certificate from a local CA, as a private ProcessMaker would be."""

from __future__ import annotations

import pytest
import requests

from tests.fixtures.sandbox import HttpsSandbox

pytestmark = pytest.mark.integration


def test_https_sandbox_serves_the_api_to_a_client_trusting_its_ca(
    https_sandbox: HttpsSandbox,
) -> None:
    server = https_sandbox.server
    assert server.url.startswith("https://127.0.0.1:")
    response = requests.get(
        f"{server.url}/api/1.0/requests",
        headers={"Authorization": f"Bearer {server.config.pat}"},
        verify=str(https_sandbox.tls.ca_file),
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["meta"]["path"] == f"{server.url}/api/1.0/requests"


def test_https_sandbox_issues_tokens_over_tls(https_sandbox: HttpsSandbox) -> None:
    config = https_sandbox.server.config
    response = requests.post(
        f"{https_sandbox.server.url}/oauth/token",
        data={
            "grant_type": "password", "client_id": config.client_id,
            "client_secret": config.client_secret, "username": config.username,
            "password": config.password,
        },
        verify=str(https_sandbox.tls.ca_file),
        timeout=30,
    )  # fmt: skip
    assert response.status_code == 200


def test_client_without_the_ca_refuses_the_certificate(https_sandbox: HttpsSandbox) -> None:
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        requests.get(f"{https_sandbox.server.url}/api/1.0/requests", timeout=30)


def test_plain_http_to_the_https_port_gets_no_answer(https_sandbox: HttpsSandbox) -> None:
    plain = https_sandbox.server.url.replace("https://", "http://")
    with pytest.raises(requests.ConnectionError, match="closed connection without response"):
        requests.get(f"{plain}/api/1.0/requests", timeout=30)


def test_drop_fault_works_over_tls(https_sandbox: HttpsSandbox) -> None:
    server, ca = https_sandbox.server, str(https_sandbox.tls.ca_file)
    requests.post(f"{server.url}/_sandbox/faults", json={"drop_next": 1}, verify=ca, timeout=30)
    with pytest.raises(requests.ConnectionError, match="closed connection without response"):
        requests.get(
            f"{server.url}/api/1.0/requests",
            headers={"Authorization": f"Bearer {server.config.pat}"},
            verify=ca,
            timeout=30,
        )
