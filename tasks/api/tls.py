"""Transport policy shared by the token endpoint and the API client: TLS and plain HTTP."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from urllib.parse import urlsplit

from processmaker_prefect.errors import ConfigurationError
from processmaker_prefect.settings import ProcessMakerSettings

__all__ = ["check_transport", "verify_option"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _variable(field: str) -> str:
    return f"PROCESSMAKER_{field.upper()}"


def check_transport(
    url: str, *, allow_insecure_http: bool, name_of: Callable[[str], str] = _variable
) -> None:
    """Refuse plain ``http://`` to anything but loopback unless explicitly allowed.

    Credentials and bearer tokens travel in every request; on plain HTTP anyone on the path
    can read them. ``name_of`` names a setting in the fix (``ProcessMakerSettings.name_of``:
    a block's field, or the variable).

    Raises:
        ConfigurationError: the URL is not http(s), or is plain HTTP to a remote host.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{name_of('url')} must be an http(s) URL such as https://pm.example.com"
        )
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
        allow = name_of("allow_insecure_http")
        turn_on = f"set {allow}=1" if allow.startswith("PROCESSMAKER_") else f"turn on {allow}"
        raise ConfigurationError(
            f"Refusing plain HTTP to {parts.hostname}: tokens would cross the network "
            f"unencrypted; use https:// or {turn_on}"
        )


def verify_option(settings: ProcessMakerSettings) -> bool | str:
    """The ``verify`` argument for requests: a CA bundle path, True, or False.

    Pass it on every request, not only on the session: requests lets ``REQUESTS_CA_BUNDLE``
    or ``CURL_CA_BUNDLE`` override a session's ``verify``, but not a request's.

    Raises:
        ConfigurationError: PROCESSMAKER_CA_BUNDLE names no file.
    """
    if not settings.verify_tls:
        return False
    if settings.ca_bundle is None:
        return True
    if not settings.ca_bundle.is_file():
        raise ConfigurationError(
            f"{settings.name_of('ca_bundle')}={settings.ca_bundle} is not a file: point it at "
            "the PEM of the CA that signs ProcessMaker's certificate"
        )
    return str(settings.ca_bundle)
