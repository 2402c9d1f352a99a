"""One-time authorization-code + PKCE login that stores a refresh token in Vault.

An operator runs ``pm-prefect login`` once: the browser approves the client in ProcessMaker,
the code comes back to a loopback redirect listener (RFC 8252) or is pasted, and the
refresh token goes to Vault by check-and-set. Scheduled runs then use the refresh grant.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from oauthlib.oauth2 import OAuth2Error, WebApplicationClient
from pydantic import SecretStr

from processmaker_prefect.auth.shared import SharedToken
from processmaker_prefect.auth.token_endpoint import Token, TokenEndpoint
from processmaker_prefect.errors import ConfigurationError, TokenRejectedError
from processmaker_prefect.vault import VaultSecrets

__all__ = ["AuthorizationCodeLogin", "CallbackListener", "save_refresh_token"]


@contextlib.contextmanager
def _loopback_transport_allowed() -> Iterator[None]:
    """oauthlib refuses http:// URIs; the redirect is to loopback (RFC 8252 §7.3) and the
    instance URL was already vetted by ``check_transport``, so allow it for this block."""
    previous = os.environ.get("OAUTHLIB_INSECURE_TRANSPORT")
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT", None)
        else:
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = previous


@dataclass
class AuthorizationCodeLogin:
    """Builds the authorize URL with PKCE (S256) and exchanges the code that comes back.

    Args:
        base_url: ProcessMaker's base URL.
        client_id: The Auth Client's id (an integer in ProcessMaker).
        client_secret: The client's secret (ProcessMaker's auth-code clients are confidential).
        redirect_uri: The loopback URI registered for the client.
        endpoint: The instance's token endpoint.
    """

    base_url: str
    client_id: str
    client_secret: SecretStr | None
    redirect_uri: str
    endpoint: TokenEndpoint
    state: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    _client: WebApplicationClient = field(init=False, repr=False)
    _verifier: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._client = WebApplicationClient(self.client_id)
        self._verifier = self._client.create_code_verifier(64)

    def authorize_url(self) -> str:
        """``GET /oauth/authorize`` URL to open in a browser."""
        challenge = self._client.create_code_challenge(self._verifier, "S256")
        with _loopback_transport_allowed():
            return str(
                self._client.prepare_request_uri(
                    self.base_url.rstrip("/") + "/oauth/authorize",
                    redirect_uri=self.redirect_uri,
                    state=self.state,
                    code_challenge=challenge,
                    code_challenge_method="S256",
                )
            )

    def exchange(self, callback: str) -> Token:
        """Exchange the code in ``callback`` (the redirect URL, its path or its query) for tokens.

        Raises:
            TokenRejectedError: the state does not match, the user denied access, or the
                token endpoint refused the code.
        """
        if callback.startswith("/"):
            # What CallbackListener.wait returns: the request path with its query.
            parts = urlsplit(self.redirect_uri)
            callback = f"{parts.scheme}://{parts.netloc}{callback}"
        elif "://" not in callback:
            callback = self.redirect_uri + ("" if callback.startswith("?") else "?") + callback
        try:
            with _loopback_transport_allowed():
                self._client.parse_request_uri_response(callback, state=self.state)
        except OAuth2Error as exc:
            raise TokenRejectedError(
                f"Authorization failed: {exc.error} ({exc.description or 'no detail'}); "
                "run `pm-prefect login` again and approve the client",
                error=exc.error,
            ) from None
        extra = {}
        if self.client_secret is not None:
            extra["client_secret"] = self.client_secret.get_secret_value()
        body = self._client.prepare_request_body(
            code=self._client.code,
            redirect_uri=self.redirect_uri,
            code_verifier=self._verifier,
            include_client_id=True,
            **extra,
        )
        secrets_ = [self.client_secret] if self.client_secret else []
        return self.endpoint.request(
            self._client, body, grant="authorization_code", secrets=secrets_
        )


class CallbackListener:
    """A one-shot HTTP listener on loopback that captures the OAuth redirect.

    Args:
        port: Port to listen on, 0 for a free one.
        path: The redirect path, e.g. ``/callback``.
    """

    def __init__(self, port: int = 0, path: str = "/callback") -> None:
        self.path = path
        self._received: str | None = None
        self._event = threading.Event()
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if urlsplit(self.path).path != listener.path:
                    self.send_error(404)
                    return
                listener._received = self.path
                listener._event.set()
                body = b"ProcessMaker login received. You can close this window."
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # the query carries the code: never log it

        self._server = http.server.HTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    def __enter__(self) -> CallbackListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, timeout: float) -> str:
        """Return the redirect's path and query, or raise after ``timeout`` seconds."""
        if not self._event.wait(timeout):
            raise ConfigurationError(
                f"No redirect reached {self.redirect_uri} within {timeout:.0f}s: approve the "
                "client in the browser, or rerun with --paste and paste the redirect URL"
            )
        return self._received or ""


def save_refresh_token(vault: VaultSecrets, path: str, token: Token) -> int | None:
    """Store ``token``'s refresh token in the secret at ``path``, keeping its other keys.

    Written with check-and-set against the version just read, so a concurrent change is
    reported (VaultCasConflictError) instead of overwritten.

    Returns:
        The new KV v2 version.
    """
    if token.refresh_token is None:
        raise TokenRejectedError(
            "The token endpoint returned no refresh_token: make sure the Auth Client has "
            "the authorization-code grant",
            error="missing_refresh_token",
        )
    secret = vault.read(path, fresh=True)
    # The shared access token (if any) belongs to the replaced login: drop it with it.
    data: dict[str, str | SecretStr] = SharedToken.strip(dict(secret.data))
    data["refresh_token"] = token.refresh_token
    version = vault.write(path, data, cas=secret.version)
    vault.invalidate(path)
    return version
