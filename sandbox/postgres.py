"""A throwaway PostgreSQL cluster on a free loopback port, for tests and benchmarks.

Debian's server binaries (found by glob, any version) create the cluster in a temporary
directory with trust authentication on 127.0.0.1 only and fsync off. initdb refuses to run
as root, so as root the cluster belongs to the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from processmaker_prefect.sandbox.net import free_port

__all__ = ["DevPostgres"]


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(initdb: str) -> int:
    part = Path(initdb).parent.parent.name
    return int(part) if part.isdigit() else 0


class DevPostgres:
    """``initdb`` + ``pg_ctl start`` as a context manager.

    Attributes:
        url: ``postgresql://postgres@127.0.0.1:<port>/postgres``.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._root: Path | None = None
        self._bindir = _bindir()
        self._run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @staticmethod
    def missing() -> str:
        """Why a cluster cannot be started here, or ``""`` when it can."""
        if _bindir() is None:
            return "PostgreSQL server binaries not found (apt-get install postgresql)"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root and no 'postgres' system user to own the cluster"
            if shutil.which("runuser") is None:
                return "running as root and runuser is missing"
        return ""

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> DevPostgres:
        reason = self.missing()
        if reason or self._bindir is None:
            raise RuntimeError(reason)
        self._root = root = Path(tempfile.mkdtemp(prefix="pm-pg-"))
        if self._run_as:
            shutil.chown(root, "postgres", "postgres")
        data = root / "data"
        options = f"-p {self.port} -k {root} -h 127.0.0.1 -F -c fsync=off"
        subprocess.run(  # noqa: S603 - fixed argv, no shell
            [*self._run_as, str(self._bindir / "initdb"), "-D", str(data), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        subprocess.run(  # noqa: S603
            [*self._pg_ctl(self._bindir, root), "-l", str(root / "server.log"), "-o", options,
             "-w", "-t", "60", "start"],
            check=True, capture_output=True, timeout=90,
        )  # fmt: skip
        self._wait_ready()
        return self

    def _pg_ctl(self, bindir: Path, root: Path) -> list[str]:
        return [*self._run_as, str(bindir / "pg_ctl"), "-D", str(root / "data")]

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not accept connections on 127.0.0.1:{self.port}")

    def stop(self) -> None:
        if self._root is None or self._bindir is None:
            return
        subprocess.run(  # noqa: S603
            [*self._pg_ctl(self._bindir, self._root), "-m", "immediate", "-w", "stop"],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        shutil.rmtree(self._root, ignore_errors=True)
        self._root = None

    def __enter__(self) -> DevPostgres:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
