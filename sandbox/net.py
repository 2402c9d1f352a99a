"""Loopback networking helpers shared by the dev servers (sandbox, OpenBao, PostgreSQL)."""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now.

    The port is released before it is returned, so another process could take it first; a
    server that can bind a socket itself (``SandboxServer``) binds port 0 instead.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
