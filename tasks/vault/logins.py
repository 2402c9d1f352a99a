"""One small class per Vault login method, chosen by ``VAULT_AUTH_METHOD``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import hvac
from pydantic import SecretStr

from processmaker_prefect.errors import ConfigurationError
from processmaker_prefect.settings import VaultSettings

__all__ = ["Login", "LoginResult", "cli_token_file", "make_login"]


@dataclass(frozen=True)
class LoginResult:
    """What a login yields: the client token and how long it lives.

    Attributes:
        lease_duration: Seconds the token lives; 0 for a token that never expires.
        renewable: Whether ``auth/token/renew-self`` may extend it.
    """

    token: SecretStr
    lease_duration: int
    renewable: bool

    @classmethod
    def from_auth(cls, auth: dict[str, Any]) -> LoginResult:
        """Build from the ``auth`` block of a Vault login response."""
        return cls(
            token=SecretStr(str(auth["client_token"])),
            lease_duration=int(auth.get("lease_duration") or 0),
            renewable=bool(auth.get("renewable")),
        )


class Login(Protocol):
    """A way to obtain a Vault token; ``login`` may be called again whenever it expires."""

    method: str
    mount: str

    def login(self, client: hvac.Client) -> LoginResult: ...


def cli_token_file() -> Path:
    """Where the Vault CLI keeps its token: ``~/.vault-token``, ``HOME`` honoured."""
    return Path.home() / ".vault-token"


def _required(settings: VaultSettings, field: str, method: str, alternative: str = "") -> str:
    """The line for a setting the login method needs: where to set it (the block's field or
    the environment variable, :meth:`SourcedSettings.name_of`)."""
    name = settings.name_of(field)
    either = f"{name} or {alternative}" if alternative else name
    if settings.block is None:
        one = "one" if alternative else "it"
        return f"{either} is required when VAULT_AUTH_METHOD={method}: set {one} in the environment"
    return (
        f"{either} is required when {settings.name_of('auth_method')} is {method}: "
        f"set it in block {settings.block} (or in the worker's environment)"
    )


def _require(value: Any, settings: VaultSettings, field: str, method: str) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigurationError(_required(settings, field, method))
    return value


def _secret_from(
    value: SecretStr | None,
    file: Path | None,
    variable: str,
    method: str,
    settings: VaultSettings | None = None,
) -> SecretStr:
    """The secret given directly, else read from its file at login time (files rotate)."""
    if value is not None and value.get_secret_value():
        return value
    if file is None:
        if settings is not None:
            field = variable.removeprefix("VAULT_").lower()
            raise ConfigurationError(_required(settings, field, method, f"{variable}_FILE"))
        raise ConfigurationError(
            f"{variable} or {variable}_FILE is required when VAULT_AUTH_METHOD={method}: "
            "set one in the environment"
        )
    return _read_file(file, f"{variable}_FILE")


def _read_file(file: Path, variable: str) -> SecretStr:
    try:
        text = file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigurationError(
            f"{variable}={file} cannot be read ({exc.strerror or type(exc).__name__}): "
            "check the path and its permissions"
        ) from None
    if not text:
        raise ConfigurationError(f"{variable}={file} is empty: write the credential into it")
    return SecretStr(text)


class _Base:
    method: ClassVar[str]

    def __init__(self, settings: VaultSettings) -> None:
        self.mount = (settings.auth_mount or self.method).strip("/")
        self.settings = settings
        self.check()

    def check(self) -> None:
        """Fail fast, before any network call, on a missing setting."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mount={self.mount!r})"


class TokenLogin(_Base):
    """A token as is; "login" validates it with ``GET auth/token/lookup-self``.

    The token is ``VAULT_TOKEN``, else the file ``VAULT_TOKEN_FILE`` (re-read at each login:
    a Vault Agent's sink rotates it), else, when no ``VAULT_AUTH_METHOD`` was chosen,
    ``~/.vault-token`` as the Vault CLI reads it (``bao login`` / ``vault login`` write it).
    """

    method = "token"
    source = "VAULT_TOKEN"

    def check(self) -> None:
        self.mount = "token"
        s = self.settings
        self.file: Path | None = None
        if s.token is not None and s.token.get_secret_value():
            self.source = s.name_of("token")  # the variable, or the block's field
            return
        chosen = "auth_method" in s.model_fields_set
        if s.token_file is not None:
            self.source, self.file = "VAULT_TOKEN_FILE", s.token_file
        elif not chosen and cli_token_file().is_file():
            # The path too: a worker may run with another HOME than the one who logged in.
            self.source, self.file = f"~/.vault-token ({cli_token_file()})", cli_token_file()
        else:
            cli = (
                "~/.vault-token is read only when VAULT_AUTH_METHOD is unset"
                if chosen
                else f"or run `bao login` to write ~/.vault-token, absent at {cli_token_file()}"
            )
            if s.block is not None:
                raise ConfigurationError(_required(s, "token", self.method, "VAULT_TOKEN_FILE"))
            raise ConfigurationError(
                f"VAULT_TOKEN is required when VAULT_AUTH_METHOD={self.method}: set it or "
                f"VAULT_TOKEN_FILE ({cli})"
            )

    def login(self, client: hvac.Client) -> LoginResult:
        """``GET /v1/auth/token/lookup-self``: the token's remaining TTL and renewability."""
        token = self.settings.token
        if self.file is not None:
            token = _read_file(self.file, self.source.split(" ")[0])
        assert token is not None  # noqa: S101 - guaranteed by check()
        client.token = token.get_secret_value()
        data = client.auth.token.lookup_self()["data"]
        return LoginResult(token, int(data.get("ttl") or 0), bool(data["renewable"]))


class AppRoleLogin(_Base):
    """``POST /v1/auth/<mount>/login`` with ``VAULT_ROLE_ID`` and the secret id."""

    method = "approle"

    def check(self) -> None:
        _require(self.settings.role_id, self.settings, "role_id", self.method)
        if self.settings.secret_id is None and self.settings.secret_id_file is None:
            _secret_from(None, None, "VAULT_SECRET_ID", self.method, self.settings)

    def login(self, client: hvac.Client) -> LoginResult:
        """``POST /v1/auth/<mount>/login``."""
        s = self.settings
        secret_id = _secret_from(s.secret_id, s.secret_id_file, "VAULT_SECRET_ID", self.method, s)
        response = client.auth.approle.login(
            role_id=s.role_id, secret_id=secret_id.get_secret_value(), mount_point=self.mount
        )
        return LoginResult.from_auth(response["auth"])


class KubernetesLogin(_Base):
    """``POST /v1/auth/<mount>/login`` with the pod's service-account token."""

    method = "kubernetes"

    def check(self) -> None:
        _require(self.settings.role, self.settings, "role", self.method)

    def login(self, client: hvac.Client) -> LoginResult:
        """``POST /v1/auth/<mount>/login``; the token file is re-read: kubelet rotates it."""
        jwt = _read_file(self.settings.k8s_token_file, "VAULT_K8S_TOKEN_FILE")
        response = client.auth.kubernetes.login(
            role=self.settings.role, jwt=jwt.get_secret_value(), mount_point=self.mount
        )
        return LoginResult.from_auth(response["auth"])


class JwtLogin(_Base):
    """``POST /v1/auth/<mount>/login`` with ``VAULT_JWT`` or ``VAULT_JWT_FILE``."""

    method = "jwt"

    def check(self) -> None:
        _require(self.settings.role, self.settings, "role", self.method)
        if self.settings.jwt is None and self.settings.jwt_file is None:
            _secret_from(None, None, "VAULT_JWT", self.method, self.settings)

    def login(self, client: hvac.Client) -> LoginResult:
        """``POST /v1/auth/<mount>/login``."""
        jwt = _secret_from(self.settings.jwt, self.settings.jwt_file, "VAULT_JWT", self.method)
        response = client.auth.jwt.jwt_login(
            role=self.settings.role, jwt=jwt.get_secret_value(), path=self.mount
        )
        return LoginResult.from_auth(response["auth"])


class UserpassLogin(_Base):
    """``POST /v1/auth/<mount>/login/<username>`` with ``VAULT_PASSWORD``."""

    method = "userpass"

    def check(self) -> None:
        _require(self.settings.username, self.settings, "username", self.method)
        _require(self.settings.password, self.settings, "password", self.method)

    def login(self, client: hvac.Client) -> LoginResult:
        """``POST /v1/auth/<mount>/login/<username>``."""
        assert self.settings.password is not None  # noqa: S101 - guaranteed by check()
        response = client.auth.userpass.login(
            username=self.settings.username,
            password=self.settings.password.get_secret_value(),
            mount_point=self.mount,
        )
        return LoginResult.from_auth(response["auth"])


class CertLogin(_Base):
    """``POST /v1/auth/<mount>/login`` over TLS, presenting ``VAULT_CLIENT_CERT``.

    The certificate is the credential, so ``VaultSession`` presents it on every request;
    ``VAULT_CERT_ROLE`` picks the certificate role, else Vault tries each one it trusts.
    """

    method = "cert"

    def check(self) -> None:
        s = self.settings
        _require(s.client_cert, s, "client_cert", self.method)
        if not s.addr.lower().startswith("https://"):
            raise ConfigurationError(
                f"VAULT_ADDR={s.addr} is not https:// but VAULT_AUTH_METHOD=cert logs in with "
                "the TLS client certificate: point VAULT_ADDR at Vault's TLS listener"
            )
        if s.skip_verify:
            # hvac refuses a certificate login without verification, and so do we: the
            # certificate would be shown to whoever answers.
            raise ConfigurationError(
                "VAULT_SKIP_VERIFY cannot be used with VAULT_AUTH_METHOD=cert: unset it and set "
                "VAULT_CACERT to the CA that signs Vault's certificate"
            )

    def login(self, client: hvac.Client) -> LoginResult:
        """``POST /v1/auth/<mount>/login`` with ``{"name": VAULT_CERT_ROLE}``."""
        s = self.settings
        assert s.client_cert is not None  # noqa: S101 - guaranteed by check()
        # Read at each login, as certificates are renewed on disk.
        for file, variable in (
            (s.client_cert, "VAULT_CLIENT_CERT"),
            (s.client_key, "VAULT_CLIENT_KEY"),
        ):
            if file is not None:
                _read_file(file, variable)
        response = client.auth.cert.login(
            name=s.cert_role or "",
            cert_pem=str(s.client_cert),
            key_pem=str(s.client_key or s.client_cert),
            mount_point=self.mount,
        )
        return LoginResult.from_auth(response["auth"])


class AgentLogin(_Base):
    """No credential here: ``VAULT_ADDR`` is a Vault Agent whose API proxy adds its token.

    The agent (``api_proxy { use_auto_auth_token = true }``) logs in, renews and re-logs in
    by itself; "login" only asks ``GET auth/token/lookup-self`` through it, which proves the
    agent holds a token and names the auth mount it came from.
    """

    method = "agent"

    def check(self) -> None:
        if self.settings.token is not None or self.settings.token_file is not None:
            # A request bearing a token is forwarded with it, not with the agent's.
            raise ConfigurationError(
                "VAULT_TOKEN and VAULT_TOKEN_FILE must be unset when VAULT_AUTH_METHOD=agent: "
                "the agent adds its own token"
            )
        self.mount = "agent"

    def login(self, client: hvac.Client) -> LoginResult:
        """``GET /v1/auth/token/lookup-self`` with no token of ours."""
        client.token = ""
        data = client.auth.token.lookup_self()["data"]
        path = str(data.get("path") or "")  # e.g. auth/approle/login
        if path.startswith("auth/") and path.endswith("/login"):
            self.mount = path.removeprefix("auth/").removesuffix("/login")
        # Never expires from our side: the agent renews its token and replaces it.
        return LoginResult(SecretStr(""), 0, False)


_LOGINS: dict[str, type[_Base]] = {
    cls.method: cls
    for cls in (
        TokenLogin,
        AppRoleLogin,
        KubernetesLogin,
        JwtLogin,
        UserpassLogin,
        CertLogin,
        AgentLogin,
    )
}


def make_login(settings: VaultSettings) -> Login:
    """The login for ``settings.auth_method``, its required settings already checked.

    Raises:
        ConfigurationError: naming the missing variable.
    """
    login: Login = _LOGINS[settings.auth_method](settings)  # type: ignore[assignment]
    return login
