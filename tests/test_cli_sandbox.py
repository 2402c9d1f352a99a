"""`pm-prefect sandbox` serves until interrupted and prints what it accepts."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.net import free_port

pytestmark = pytest.mark.integration


def test_cli_sandbox_serves_the_printed_credentials() -> None:
    port = free_port()
    command = [str(Path(sys.executable).parent / "pm-prefect"), "sandbox", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--records", "50", "--pat", "cli-test-pat"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                response = requests.get(
                    f"{url}/api/1.0/requests",
                    headers={"Authorization": "Bearer cli-test-pat"},
                    timeout=2,
                )
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            pytest.fail("pm-prefect sandbox did not start")
        assert response.status_code == 200
        assert response.json()["meta"]["total"] == 50
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=20)
    assert url in output
    assert SandboxConfig().client_secret in output  # demo credentials are printed on purpose
    assert "cli-test-pat" in output
