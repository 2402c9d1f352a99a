"""Run the sandbox with uvicorn: in a background thread for tests, or blocking for the CLI."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from types import TracebackType

import uvicorn
from rich.console import Console
from rich.table import Table

from processmaker_prefect.sandbox.app import create_app
from processmaker_prefect.sandbox.config import SandboxConfig

__all__ = ["SandboxServer", "serve"]


def _tls(config: SandboxConfig) -> tuple[str | None, str | None]:
    """uvicorn's ``(ssl_certfile, ssl_keyfile)`` for a config with a certificate, else none."""
    if not config.certfile:
        return None, None
    if not config.keyfile:
        raise ValueError("certfile needs keyfile: give the certificate's private key too")
    return config.certfile, config.keyfile


def _bind(host: str, port: int) -> socket.socket:
    # Bound here and handed to uvicorn, so port 0 has no window for another process to race.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it on Linux: without it Nagle + delayed ACK add ~40 ms to
    # every small response, which real PM behind nginx does not show.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


class SandboxServer:
    """A sandbox served by uvicorn in a daemon thread.

    Args:
        config: the sandbox settings; port 0 picks a free loopback port.

    Example:
        >>> with SandboxServer(SandboxConfig(port=0, records=100)) as server:  # doctest: +SKIP
        ...     requests.get(f"{server.url}/api/1.0/requests", headers=...)
    """

    def __init__(self, config: SandboxConfig) -> None:
        self._socket = _bind(config.host, config.port)
        config = dataclasses.replace(config, port=int(self._socket.getsockname()[1]))
        self.config = config
        self.url = config.base_url
        self.app = create_app(config)
        certfile, keyfile = _tls(config)
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app, host=config.host, port=config.port, log_level="warning",
                access_log=False, lifespan="off", timeout_keep_alive=30, server_header=False,
                ssl_certfile=certfile, ssl_keyfile=keyfile,
                # A client that left a keep-alive connection open must not hold a stop for 10 s.
                timeout_graceful_shutdown=1,
            )
        )  # fmt: skip
        self._thread: threading.Thread | None = None

    def start(self) -> SandboxServer:
        """Start serving and wait until the port accepts connections (max 30 s)."""
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="pm-sandbox",
            daemon=True,
        )  # fmt: skip
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox did not start on {self.url}; is the port free?")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop the server and delete its database."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()
        self.app.state.sandbox.store.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(config: SandboxConfig) -> None:
    """Serve the sandbox in the foreground until Ctrl-C, printing its URL and credentials."""
    sock = _bind(config.host, config.port)
    config = dataclasses.replace(config, port=int(sock.getsockname()[1]))
    console = Console()
    app = create_app(config)
    table = Table(title="ProcessMaker sandbox (demo credentials, not secrets)", show_header=False)
    table.add_row("Base URL", config.base_url)
    table.add_row("API", f"{config.base_url}/api/1.0")
    table.add_row("Token endpoint", f"{config.base_url}/oauth/token")
    table.add_row("Client id / secret", f"{config.client_id} / {config.client_secret}")
    table.add_row("Username / password", f"{config.username} / {config.password}")
    table.add_row("Personal access token", config.pat)
    table.add_row(
        "Data",
        f"{config.records} requests, seed {config.seed}, {config.ties} per updated_at"
        + (
            f", {config.distinct_updated_at} updated_at values"
            if config.distinct_updated_at
            else ""
        ),
    )
    table.add_row("Seeded in", f"{app.state.sandbox.store.seed_seconds:.2f} s")
    table.add_row("Controls", f"{config.base_url}/_sandbox/stats, /_sandbox/faults, ...")
    console.print(table)
    certfile, keyfile = _tls(config)
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="info", lifespan="off", server_header=False,
            ssl_certfile=certfile, ssl_keyfile=keyfile,
        )
    )  # fmt: skip
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        app.state.sandbox.store.close()
