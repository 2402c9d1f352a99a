"""The Prefect API a command-line run talks to: the configured one, or a private temporary one.

Without ``PREFECT_API_URL`` (in the environment or the active profile) Prefect would start a
temporary server of its own on first use, with its SQLite database in ``PREFECT_HOME``
(``~/.prefect``): several ``pm-prefect sync`` started at once then share one database and
start their servers at the same time on a busy machine, and some time out with a traceback.
Here each command gets a throwaway ``PREFECT_HOME`` in the temporary directory (nothing in
the user's home; an explicit ``PREFECT_HOME`` is kept), and starts its server while holding
a machine-wide lock, so that servers
start one after the other: a command waits for its turn instead of failing. The start-up
timeout counts from the turn, not from the wait.

Nothing here imports Prefect at module level: :func:`private_home` must run before the first
import of Prefect, which reads ``PREFECT_HOME`` once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from processmaker_prefect import ProcessMakerPrefectError

__all__ = ["LocalPrefect", "PrefectServerError", "api_configured", "check_api", "local_prefect"]

# Seconds a temporary server gets to answer /health once its turn has come.
STARTUP_TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
# Per user: another user's lock file in a shared /tmp would not be ours to open.
_LOCK_NAME = f"pm-prefect-server-start-{os.getuid()}.lock"


class PrefectServerError(ProcessMakerPrefectError):
    """The temporary Prefect server did not start (in time)."""


@dataclass
class LocalPrefect:
    """Which API the command uses, and what starting it cost.

    Attributes:
        api_url: The API's URL.
        temporary: True for the private temporary server (stopped when the command ends).
        startup_seconds: Seconds from asking for the server to it answering (0 when
            configured), without the wait for the turn.
        waited_seconds: Seconds spent waiting for other commands' servers to start first.
    """

    api_url: str
    temporary: bool
    startup_seconds: float = 0.0
    waited_seconds: float = 0.0


def _profile_sets_api_url() -> bool:
    """Whether the active Prefect profile sets PREFECT_API_URL (read without Prefect)."""
    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        profiles = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return False
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    settings = profiles.get("profiles", {}).get(active, {})
    return bool(isinstance(settings, dict) and settings.get("PREFECT_API_URL"))


def api_configured() -> bool:
    """Whether the user points Prefect at a server (environment or active profile)."""
    return bool(os.environ.get("PREFECT_API_URL")) or _profile_sets_api_url()


def private_home() -> Path | None:
    """Before Prefect is imported: a throwaway PREFECT_HOME in place of ``~/.prefect``.

    Not when an API is configured (the server keeps the runs), nor when PREFECT_HOME is set:
    whoever set it chose where Prefect's files go, and may want to read them afterwards.

    Returns:
        The directory (the caller removes it), or None.
    """
    if api_configured() or os.environ.get("PREFECT_HOME"):
        return None
    home = Path(tempfile.mkdtemp(prefix="pm-prefect-home-"))
    os.environ["PREFECT_HOME"] = str(home)
    # The profile of the user's home is not read any more: keep Prefect quiet and local.
    os.environ.setdefault("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true")
    # Nobody reads the logs of a server that is gone when the command ends, and sending
    # them at exit would race its stop ("Error logging to API").
    os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
    return home


def check_api(url: str) -> None:
    """Fail in one line when the configured Prefect API does not answer.

    Raises:
        PrefectServerError: naming the URL (without user info) and the fix.
    """
    import httpx
    from prefect.settings import get_current_settings

    from processmaker_prefect import redact_userinfo

    settings = get_current_settings()
    headers = {}
    if settings.api.key is not None:  # Prefect Cloud: /health wants the key too
        headers["Authorization"] = f"Bearer {settings.api.key.get_secret_value()}"
    try:
        response = httpx.get(f"{url.rstrip('/')}/health", headers=headers, timeout=10)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise PrefectServerError(
            f"The Prefect API at {redact_userinfo(url)} does not answer "
            f"({type(exc).__name__}): start the server, fix PREFECT_API_URL, or unset it "
            "to run on a temporary server of this command's own"
        ) from None


@contextlib.contextmanager
def _turn() -> Iterator[float]:
    """Hold the machine-wide start-up lock; yields the seconds waited for it."""
    path = Path(tempfile.gettempdir()) / _LOCK_NAME
    started = time.monotonic()
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, also on a crash
        yield time.monotonic() - started


def _start_temporary_server() -> LocalPrefect:
    from prefect.server.api.server import SubprocessASGIServer

    timeout = int(float(os.environ.get(STARTUP_TIMEOUT_ENV) or 120))
    # The same instance Prefect's client uses when no API URL is set (one per process).
    server = SubprocessASGIServer()
    with _turn() as waited:
        started = time.monotonic()
        try:
            server.start(timeout=timeout)
        except Exception as exc:  # Prefect raises RuntimeError with the server's output
            server.stop()
            raise PrefectServerError(
                f"The temporary Prefect server did not start within {timeout} s "
                f"({type(exc).__name__}): the machine may be busy; rerun, raise "
                f"{STARTUP_TIMEOUT_ENV}, or set PREFECT_API_URL to a running Prefect server"
            ) from None
        seconds = time.monotonic() - started
    return LocalPrefect(server.api_url, True, seconds, waited)


@contextlib.contextmanager
def local_prefect() -> Iterator[LocalPrefect]:
    """The Prefect API for this command; a temporary server is stopped and its home removed.

    Call it before anything imports Prefect (see :func:`private_home`).

    Raises:
        PrefectServerError: the temporary server did not start in time.
    """
    home = private_home()
    try:
        from prefect.settings import get_current_settings

        configured = get_current_settings().api.url  # also prefect.toml or .env in the cwd
        if configured:
            check_api(str(configured))
            yield LocalPrefect(str(configured), False)
            return
        local = _start_temporary_server()
        try:
            yield local
        finally:
            from prefect.server.api.server import SubprocessASGIServer

            SubprocessASGIServer().stop()
    finally:
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)
