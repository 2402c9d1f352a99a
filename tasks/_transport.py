"""Transport policy shared by the token endpoint and the API client: TLS, plain HTTP, retries."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from tasks.errors import ConfigurationError
from tasks.settings import ProcessMakerSettings

__all__ = ["check_transport", "mount_retries", "verify_option"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(url: str, *, allow_insecure_http: bool) -> None:
    """Refuse plain ``http://`` to anything but loopback unless explicitly allowed.

    Credentials and bearer tokens travel in every request; on plain HTTP anyone on the path
    can read them.

    Raises:
        ConfigurationError: the URL is not http(s), or is plain HTTP to a remote host.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            "PROCESSMAKER_URL must be an http(s) URL such as https://pm.example.com"
        )
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
        raise ConfigurationError(
            f"Refusing plain HTTP to {parts.hostname}: tokens would cross the network "
            "unencrypted; use https:// or set PROCESSMAKER_ALLOW_INSECURE_HTTP=1"
        )


def verify_option(settings: ProcessMakerSettings) -> bool | str:
    """The ``verify`` argument for requests: a CA bundle path, True, or False."""
    if not settings.verify_tls:
        return False
    return str(settings.ca_bundle) if settings.ca_bundle else True


def mount_retries(
    session: requests.Session,
    *,
    retries: int,
    backoff: float,
    statuses: Collection[int],
    methods: Collection[str],
    retry_reads: bool = True,
    pool_size: int = 10,
) -> None:
    """Mount an adapter whose urllib3 ``Retry`` backs off with jitter and honours Retry-After.

    Connection failures (nothing was sent) are always retried; status retries only for
    ``methods``, and read failures (the request may have been processed) only for ``methods``
    and only when ``retry_reads``. After the last retry the final response is returned, not
    raised, so the caller's single validation point names the status.
    """
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries if retry_reads else 0,
        status=retries,
        other=0,
        allowed_methods=frozenset(m.upper() for m in methods),
        status_forcelist=frozenset(statuses),
        backoff_factor=backoff,
        backoff_max=30.0,
        backoff_jitter=backoff / 2,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
