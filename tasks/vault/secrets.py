"""Read and write ProcessMaker credentials in Vault KV (v1 or v2), one login per process.

``VaultSecrets`` is the plain client: it logs in with the method chosen by
``VAULT_AUTH_METHOD``, renews or replaces its token, detects each mount's KV version the way
``vault kv get`` does, caches reads per path, and translates every hvac/requests failure
once, in :func:`tasks.vault.session.translate`.

Example:
    >>> secret = get_vault().read("secret/processmaker/prod")  # doctest: +SKIP
    >>> secret.get("client_id").get_secret_value()  # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

import hvac.exceptions as hx
from pydantic import SecretStr

from processmaker_prefect.errors import (
    ConfigurationError,
    VaultKeyMissingError,
)
from processmaker_prefect.process_cache import ProcessCache
from processmaker_prefect.settings import VaultSettings, load_settings
from processmaker_prefect.vault.session import Op, VaultSession

__all__ = [
    "VaultSecret",
    "VaultSecrets",
    "get_vault",
    "reset_vault_sessions",
    "write_secret",
]


@dataclass(frozen=True, repr=False)
class VaultSecret:
    """One version of one KV secret; values stay ``SecretStr``.

    Attributes:
        path: ``mount/sub/path`` as given.
        version: The KV v2 version read, ``None`` on KV v1 (use it as ``cas`` when writing).
        kv_version: 1 or 2, detected from the mount.
        data: Key to value; unwrap a value only where a request is built.
    """

    path: str
    version: int | None
    kv_version: int
    data: dict[str, SecretStr]

    def get(self, key: str) -> SecretStr:
        """The value of ``key``.

        Raises:
            VaultKeyMissingError: naming the key and the path.
        """
        try:
            return self.data[key]
        except KeyError:
            raise VaultKeyMissingError(
                f"Vault secret {self.path} (KV v{self.kv_version}) has no key {key!r}: add it "
                f"(keys present: {', '.join(sorted(self.data)) or 'none'})"
            ) from None

    def keys(self) -> list[str]:
        """The key names, sorted."""
        return sorted(self.data)

    def __repr__(self) -> str:
        return (
            f"VaultSecret(path={self.path!r}, version={self.version!r}, "
            f"kv_version={self.kv_version}, keys={self.keys()!r})"
        )

    __str__ = __repr__


class VaultSecrets:
    """KV reads and writes over one process-wide Vault session.

    Args:
        settings: Where Vault is and how to log in.
        attempts: Tries of a transient failure (unreachable, sealed, 5xx); 4xx never retried.
        backoff: Seconds before the second try, doubled for each further one.
        cache_ttl: Seconds a read stays served from memory (``read(fresh=True)`` bypasses it).
    """

    def __init__(
        self,
        settings: VaultSettings,
        *,
        attempts: int = 4,
        backoff: float = 0.5,
        cache_ttl: float = 300.0,
    ) -> None:
        self.settings = settings
        self.cache_ttl = cache_ttl
        self._session = VaultSession(settings, attempts=attempts, backoff=backoff)
        self._lock = threading.Lock()
        self._mounts: dict[str, int] = {}  # mount path -> KV version, for the process
        self._cache: dict[str, tuple[float, VaultSecret]] = {}

    def __repr__(self) -> str:
        return f"VaultSecrets(addr={self.settings.addr!r}, login={self._session.describe()!r})"

    def logged_in_as(self) -> str:
        """Log in now (or validate the token) and say how, e.g. ``approle (mount approle)``.

        Named for what it does: it does log in (the doctor's Vault check calls it).

        Raises:
            VaultAuthError: the login failed.
            VaultUnavailableError: Vault is unreachable or sealed.
        """
        self._session.call(Op("log in", "", ""), lambda client: None)
        return self._session.describe()

    def _split(self, path: str) -> tuple[str, str, int]:
        """``mount/sub/path`` -> (mount, sub path, KV version), by longest mount prefix."""
        path = path.strip("/")
        with self._lock:
            known = [m for m in self._mounts if path.startswith(m + "/")]
        if not known:
            # What `vault kv get` does: Vault answers with the longest mount that holds path.
            op = Op("find the KV mount of", path, f"sys/internal/ui/mounts/{path}")
            body = self._session.call(
                op, lambda c: c.adapter.get(f"/v1/sys/internal/ui/mounts/{path}")
            )
            data = (body or {}).get("data") or {}
            mount = str(data.get("path") or "").strip("/")
            if data.get("type") not in ("kv", "generic") or not mount:
                raise ConfigurationError(
                    f"Vault path {path} is not on a KV secrets engine (mount {mount or '?'} is "
                    f"{data.get('type') or 'unknown'}): set {self.settings.secret_setting} to "
                    "mount/path "
                    "on a KV mount"
                )
            version = int((data.get("options") or {}).get("version") or 1)
            with self._lock:
                self._mounts[mount] = version
            known = [mount]
        mount = max(known, key=len)
        sub = path[len(mount) + 1 :]
        if not sub:
            raise ConfigurationError(
                f"Vault path {path} names only the mount {mount}: use mount/path, e.g. "
                f"{mount}/processmaker/prod"
            )
        return mount, sub, self._mounts[mount]

    def kv_version(self, path: str) -> int:
        """The KV version (1 or 2) of the mount holding ``path``, detected once per mount.

        Route: ``GET /v1/sys/internal/ui/mounts/<path>``.
        """
        return self._split(path)[2]

    def read(self, path: str, *, fresh: bool = False) -> VaultSecret:
        """Read the secret at ``mount/sub/path``, from memory unless ``fresh`` or stale.

        Routes: ``GET /v1/<mount>/data/<sub>`` (KV v2), ``GET /v1/<mount>/<sub>`` (KV v1).

        Raises:
            VaultNotFoundError: nothing at the path (or its latest version is deleted).
            VaultAuthError: login failed or the policy does not grant read.
            VaultUnavailableError: unreachable, sealed or 5xx after the retries.
        """
        path = path.strip("/")
        if not fresh:
            with self._lock:
                hit = self._cache.get(path)
            if hit is not None and time.monotonic() - hit[0] < self.cache_ttl:
                return hit[1]
        mount, sub, kv = self._split(path)
        if kv == 2:
            op = Op("read", path, f"{mount}/data/{sub}", where=f"mount {mount}, KV v2")
            body = self._session.call(
                op,
                lambda c: c.secrets.kv.v2.read_secret_version(
                    path=sub, mount_point=mount, raise_on_deleted_version=True
                ),
            )
            raw, version = body["data"]["data"], int(body["data"]["metadata"]["version"])
        else:
            op = Op("read", path, f"{mount}/{sub}", where=f"mount {mount}, KV v1")
            body = self._session.call(
                op, lambda c: c.secrets.kv.v1.read_secret(path=sub, mount_point=mount)
            )
            raw, version = body["data"], None
        if raw is None:  # a destroyed KV v2 version
            raise self._session.translate(hx.InvalidPath(), op)
        data = {k: SecretStr(str(v)) for k, v in raw.items() if v is not None}
        secret = VaultSecret(path=path, version=version, kv_version=kv, data=data)
        with self._lock:
            self._cache[path] = (time.monotonic(), secret)
        return secret

    def write(
        self, path: str, data: Mapping[str, str | SecretStr], *, cas: int | None = None
    ) -> int | None:
        """Write the whole secret at ``path`` (all keys), with check-and-set when ``cas``.

        Routes: ``POST /v1/<mount>/data/<sub>`` (KV v2), ``POST /v1/<mount>/<sub>`` (KV v1).

        Args:
            cas: The version the data was based on (``VaultSecret.version``); 0 = must not
                exist yet. KV v2 only.

        Returns:
            The new version (KV v2), ``None`` (KV v1).

        Raises:
            VaultCasConflictError: the secret has a newer version than ``cas``.
            ConfigurationError: ``cas`` given for a KV v1 mount.
        """
        path = path.strip("/")
        mount, sub, kv = self._split(path)
        plain = {
            k: v.get_secret_value() if isinstance(v, SecretStr) else str(v) for k, v in data.items()
        }
        self.invalidate(path)
        if kv == 1:
            if cas is not None:
                raise ConfigurationError(
                    f"Vault path {path} is on KV v1 mount {mount}, which cannot check-and-set: "
                    "move the secret to a KV v2 mount (refresh-token rotation needs it)"
                )
            op = Op("write", path, f"{mount}/{sub}", "create and update", f"mount {mount}, KV v1")
            self._session.call(
                op, lambda c: c.secrets.kv.v1.create_or_update_secret(sub, plain, mount_point=mount)
            )
            return None
        op = Op("write", path, f"{mount}/data/{sub}", "create and update", f"mount {mount}, KV v2")
        body = self._session.call(
            op,
            lambda c: c.secrets.kv.v2.create_or_update_secret(
                path=sub, secret=plain, cas=cas, mount_point=mount
            ),
        )
        return int(body["data"]["version"])

    def invalidate(self, path: str | None = None) -> None:
        """Forget the cached read of ``path``, or of every path when ``None``."""
        with self._lock:
            if path is None:
                self._cache.clear()
            else:
                self._cache.pop(path.strip("/"), None)

    def close(self) -> None:
        """Close the HTTP session; the object must not be used afterwards."""
        self._session.close()


def _open_vault(settings: VaultSettings) -> VaultSecrets:
    return VaultSecrets(settings, attempts=settings.max_retries + 1)


_VAULTS: ProcessCache[VaultSettings, VaultSecrets] = ProcessCache(_open_vault, VaultSecrets.close)


def get_vault(settings: VaultSettings | None = None) -> VaultSecrets:
    """The process-wide :class:`VaultSecrets` for ``settings`` (from the environment if None).

    Raises:
        ConfigurationError: a ``VAULT_*`` setting is missing or invalid.
    """
    return _VAULTS.get(settings or load_settings(VaultSettings))


def reset_vault_sessions() -> None:
    """Drop every process-wide session (tests, and the demo after changing VAULT_*); a token
    a login made is revoked, so none outlives the process."""
    _VAULTS.reset()


atexit.register(reset_vault_sessions)


def write_secret(
    path: str,
    data: Mapping[str, str | SecretStr],
    cas: int | None = None,
    *,
    settings: VaultSettings | None = None,
) -> int | None:
    """Write a full secret with the process-wide session; see :meth:`VaultSecrets.write`."""
    return get_vault(settings).write(path, data, cas=cas)
