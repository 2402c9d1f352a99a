"""Vault login methods and token lifecycle against a real OpenBao dev server.

Kubernetes: OpenBao's kubernetes auth method is configured with ``kubernetes_host`` pointing
at ``TokenReviewServer`` below, a loopback HTTP server that plays the Kubernetes API's
TokenReview endpoint, the only call the method makes. JWT: the jwt method validates a token
signed here with a locally generated RSA key (``jwt_validation_pubkeys``).
"""

from __future__ import annotations

import base64
import datetime
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from processmaker_prefect.errors import ConfigurationError, VaultAuthError
from processmaker_prefect.settings import VaultSettings
from processmaker_prefect.vault import VaultSecrets, get_vault
from tests.fixtures.openbao import PM_POLICY, OpenBao

pytestmark = pytest.mark.integration

DATA = {"client_id": "pm-client", "client_secret": "cs-5e4d3c2b1a"}


@pytest.fixture(autouse=True)
def _clean_env(no_vault_env: None) -> None:
    """Each test starts with no VAULT_* and no Vault session (see tests/fixtures/openbao.py)."""


@pytest.fixture(scope="module")
def seeded(openbao: OpenBao) -> str:
    path = f"secret/auth-tests/{uuid.uuid4().hex[:8]}"
    openbao.put(path, DATA)
    return path


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sign_jwt(key: rsa.RSAPrivateKey, claims: dict[str, Any]) -> str:
    """An RS256 JWT (RFC 7519) built by hand: pyjwt is not a dependency."""
    header = _b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "test"}).encode())
    payload = _b64(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{_b64(signature)}"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def settings(openbao: OpenBao, **kwargs: Any) -> VaultSettings:
    return VaultSettings(addr=openbao.addr, **kwargs)


def client(openbao: OpenBao, **kwargs: Any) -> VaultSecrets:
    return VaultSecrets(settings(openbao, **kwargs), attempts=2, backoff=0.01)


# --- AppRole -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def approle(openbao: OpenBao) -> tuple[str, str]:
    openbao.enable_auth("approle")
    openbao.client.auth.approle.create_or_update_approle(
        "pm", token_policies=[PM_POLICY], token_ttl="1h"
    )
    role_id = openbao.client.auth.approle.read_role_id("pm")["data"]["role_id"]
    secret_id = openbao.client.auth.approle.generate_secret_id("pm")["data"]["secret_id"]
    return role_id, secret_id


def test_approle_login_with_secret_id_from_env(
    monkeypatch: pytest.MonkeyPatch, openbao: OpenBao, approle: tuple[str, str], seeded: str
) -> None:
    monkeypatch.setenv("VAULT_ADDR", openbao.addr)
    monkeypatch.setenv("VAULT_AUTH_METHOD", "approle")
    monkeypatch.setenv("VAULT_ROLE_ID", approle[0])
    monkeypatch.setenv("VAULT_SECRET_ID", approle[1])
    vault = get_vault()
    assert vault.logged_in_as() == "approle (mount approle)"
    assert vault.read(seeded).get("client_id").get_secret_value() == "pm-client"


def test_approle_login_with_secret_id_from_file(
    tmp_path: Path, openbao: OpenBao, approle: tuple[str, str], seeded: str
) -> None:
    file = tmp_path / "secret-id"
    file.write_text(approle[1] + "\n")
    vault = client(openbao, auth_method="approle", role_id=approle[0], secret_id_file=file)
    assert vault.read(seeded).keys() == sorted(DATA)


def test_approle_at_a_custom_mount(openbao: OpenBao, seeded: str) -> None:
    mount = openbao.enable_auth("approle", "approle-prod")
    api = openbao.client.auth.approle
    api.create_or_update_approle("pm", token_policies=[PM_POLICY], mount_point=mount)
    role_id = api.read_role_id("pm", mount_point=mount)["data"]["role_id"]
    secret_id = api.generate_secret_id("pm", mount_point=mount)["data"]["secret_id"]
    vault = client(
        openbao, auth_method="approle", auth_mount=mount, role_id=role_id, secret_id=secret_id
    )
    assert vault.logged_in_as() == "approle (mount approle-prod)"
    assert vault.read(seeded).keys() == sorted(DATA)


def test_wrong_secret_id_names_method_and_mount(
    openbao: OpenBao, approle: tuple[str, str], seeded: str
) -> None:
    vault = client(
        openbao, auth_method="approle", role_id=approle[0], secret_id=SecretStr("wrong-secret")
    )
    with pytest.raises(
        VaultAuthError, match=r"login with method approle at auth/approle failed .*VAULT_ROLE_ID"
    ) as info:
        vault.read(seeded)
    assert "wrong-secret" not in str(info.value)


@pytest.mark.parametrize(
    ("method", "given", "variable"),
    [
        ("token", {}, "VAULT_TOKEN"),
        ("approle", {}, "VAULT_ROLE_ID"),
        ("approle", {"role_id": "r"}, "VAULT_SECRET_ID or VAULT_SECRET_ID_FILE"),
        ("kubernetes", {}, "VAULT_ROLE"),
        ("jwt", {"role": "r"}, "VAULT_JWT or VAULT_JWT_FILE"),
        ("userpass", {"username": "u"}, "VAULT_PASSWORD"),
    ],
)
def test_missing_setting_names_the_variable(
    openbao: OpenBao, method: str, given: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigurationError, match=rf"^{variable} .*VAULT_AUTH_METHOD={method}"):
        client(openbao, auth_method=method, **given)


def test_unreadable_secret_id_file_names_the_variable(
    tmp_path: Path, openbao: OpenBao, approle: tuple[str, str], seeded: str
) -> None:
    vault = client(
        openbao, auth_method="approle", role_id=approle[0], secret_id_file=tmp_path / "none"
    )
    with pytest.raises(ConfigurationError, match=r"VAULT_SECRET_ID_FILE=.*none cannot be read"):
        vault.read(seeded)


# --- userpass ------------------------------------------------------------------------------


def test_userpass_login(openbao: OpenBao, seeded: str) -> None:
    openbao.enable_auth("userpass")
    openbao.client.auth.userpass.create_or_update_user(
        "etl", password="pw-userpass-1", policies=[PM_POLICY]
    )
    vault = client(
        openbao, auth_method="userpass", username="etl", password=SecretStr("pw-userpass-1")
    )
    assert vault.read(seeded).get("client_secret").get_secret_value() == "cs-5e4d3c2b1a"


# --- JWT -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jwt_role(openbao: OpenBao, rsa_key: rsa.RSAPrivateKey) -> str:
    openbao.enable_auth("jwt")
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    openbao.client.auth.jwt.configure(jwt_validation_pubkeys=[pem.decode()])
    openbao.client.auth.jwt.create_role(
        "pm-etl",
        role_type="jwt",
        user_claim="sub",
        bound_audiences=["processmaker-prefect"],
        allowed_redirect_uris=[],
        token_policies=[PM_POLICY],
    )
    return "pm-etl"


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": "etl-job",
        "aud": "processmaker-prefect",
        "iat": now,
        "nbf": now - 5,
        "exp": now + 600,
        **overrides,
    }


def test_jwt_login_from_file(
    tmp_path: Path, openbao: OpenBao, rsa_key: rsa.RSAPrivateKey, jwt_role: str, seeded: str
) -> None:
    file = tmp_path / "jwt"
    file.write_text(sign_jwt(rsa_key, _claims()))
    vault = client(openbao, auth_method="jwt", role=jwt_role, jwt_file=file)
    assert vault.read(seeded).keys() == sorted(DATA)


def test_jwt_signed_by_another_key_is_refused(openbao: OpenBao, jwt_role: str, seeded: str) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    vault = client(
        openbao, auth_method="jwt", role=jwt_role, jwt=SecretStr(sign_jwt(other, _claims()))
    )
    with pytest.raises(VaultAuthError, match=r"login with method jwt at auth/jwt failed"):
        vault.read(seeded)


# --- Kubernetes ----------------------------------------------------------------------------


class TokenReviewServer:
    """Plays ``POST /apis/authentication.k8s.io/v1/tokenreviews`` of the Kubernetes API.

    Tokens in ``accounts`` are authenticated as that ``(namespace, name)`` service account;
    any other token is not. Every reviewed token is recorded in ``reviewed``.
    """

    def __init__(self) -> None:
        self.accounts: dict[str, tuple[str, str, str]] = {}
        self.reviewed: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                token = body["spec"]["token"]
                outer.reviewed.append(token)
                status: dict[str, Any] = {"authenticated": False}
                if self.path.startswith("/apis/authentication.k8s.io/v1/tokenreviews") and (
                    token in outer.accounts
                ):
                    namespace, name, uid = outer.accounts[token]
                    status = {
                        "authenticated": True,
                        "user": {
                            "username": f"system:serviceaccount:{namespace}:{name}",
                            "uid": uid,
                            "groups": ["system:serviceaccounts"],
                        },
                    }
                answer = json.dumps(
                    {
                        "apiVersion": "authentication.k8s.io/v1",
                        "kind": "TokenReview",
                        "status": status,
                    }
                ).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> TokenReviewServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _self_signed_ca(key: rsa.RSAPrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-kubernetes-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def kubernetes(
    openbao: OpenBao, rsa_key: rsa.RSAPrivateKey
) -> Iterator[tuple[TokenReviewServer, str]]:
    with TokenReviewServer() as api:
        openbao.enable_auth("kubernetes")
        openbao.client.auth.kubernetes.configure(
            kubernetes_host=api.url,
            token_reviewer_jwt="reviewer-token",
            # Required by the method; unused, as the TokenReview server speaks plain http.
            kubernetes_ca_cert=_self_signed_ca(rsa_key),
            disable_local_ca_jwt=True,
        )
        openbao.client.auth.kubernetes.create_role(
            "pm-etl",
            bound_service_account_names=["pm-etl"],
            bound_service_account_namespaces=["etl"],
            policies=[PM_POLICY],
        )
        uid = str(uuid.uuid4())
        token = sign_jwt(
            rsa_key,
            {
                "iss": "kubernetes/serviceaccount",
                "sub": "system:serviceaccount:etl:pm-etl",
                "kubernetes.io/serviceaccount/namespace": "etl",
                "kubernetes.io/serviceaccount/service-account.name": "pm-etl",
                "kubernetes.io/serviceaccount/service-account.uid": uid,
            },
        )
        api.accounts[token] = ("etl", "pm-etl", uid)
        yield api, token


def test_kubernetes_login_reviews_the_pod_token(
    tmp_path: Path, openbao: OpenBao, kubernetes: tuple[TokenReviewServer, str], seeded: str
) -> None:
    api, token = kubernetes
    file = tmp_path / "token"
    file.write_text(token)
    vault = client(openbao, auth_method="kubernetes", role="pm-etl", k8s_token_file=file)
    assert vault.read(seeded).keys() == sorted(DATA)
    assert token in api.reviewed


def test_kubernetes_login_of_an_unknown_account_fails(
    tmp_path: Path,
    openbao: OpenBao,
    rsa_key: rsa.RSAPrivateKey,
    kubernetes: tuple[TokenReviewServer, str],
    seeded: str,
) -> None:
    file = tmp_path / "token"
    file.write_text(sign_jwt(rsa_key, {"sub": "system:serviceaccount:etl:intruder"}))
    vault = client(openbao, auth_method="kubernetes", role="pm-etl", k8s_token_file=file)
    with pytest.raises(
        VaultAuthError, match=r"login with method kubernetes at auth/kubernetes failed"
    ):
        vault.read(seeded)


# --- token lifecycle -----------------------------------------------------------------------


def test_token_near_expiry_is_renewed(openbao: OpenBao, seeded: str) -> None:
    token = openbao.token_for(PM_POLICY, ttl="4s", renewable=True)
    vault = client(openbao, token=SecretStr(token))  # renewed after half its 4 s TTL
    vault.logged_in_as()  # logs in: looks the token up
    vault.read(seeded)
    assert not openbao.client.auth.token.lookup(token)["data"].get("last_renewal_time")
    time.sleep(2.5)
    vault.read(seeded, fresh=True)
    assert openbao.client.auth.token.lookup(token)["data"]["last_renewal_time"]


def test_revoked_token_is_replaced_by_a_new_login(
    openbao: OpenBao, approle: tuple[str, str], seeded: str
) -> None:
    vault = client(openbao, auth_method="approle", role_id=approle[0], secret_id=approle[1])
    vault.read(seeded)
    openbao.client.auth.token.revoke(vault._session.client.token)
    # One 403 with the revoked token, one re-login, one retry: the caller sees no error.
    assert vault.read(seeded, fresh=True).keys() == sorted(DATA)


def test_unrenewable_token_near_expiry_logs_in_again(openbao: OpenBao, seeded: str) -> None:
    openbao.enable_auth("approle")
    api = openbao.client.auth.approle
    api.create_or_update_approle(
        "batch", token_policies=[PM_POLICY], token_type="batch", token_ttl="4s"
    )
    role_id = api.read_role_id("batch")["data"]["role_id"]
    secret_id = api.generate_secret_id("batch")["data"]["secret_id"]
    vault = client(openbao, auth_method="approle", role_id=role_id, secret_id=secret_id)
    first = vault.logged_in_as() and vault._session.client.token
    vault.read(seeded, fresh=True)
    assert vault._session.client.token == first  # not before half its 4 s TTL
    time.sleep(2.5)
    vault.read(seeded, fresh=True)
    assert vault._session.client.token != first


def _limited_approle(openbao: OpenBao, name: str, logins: int) -> tuple[str, str]:
    """An AppRole whose secret id allows exactly ``logins`` logins: one more would fail."""
    openbao.enable_auth("approle")
    api = openbao.client.auth.approle
    api.create_or_update_approle(
        name, token_policies=[PM_POLICY], secret_id_num_uses=logins, token_ttl="1h"
    )
    return (
        api.read_role_id(name)["data"]["role_id"],
        api.generate_secret_id(name)["data"]["secret_id"],
    )


def _read_in_threads(vault: VaultSecrets, path: str, threads: int = 8) -> list[object]:
    results: list[object] = []
    barrier = threading.Barrier(threads)

    def work() -> None:
        barrier.wait()
        try:
            results.append(vault.read(path, fresh=True).keys())
        except Exception as exc:
            results.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


def test_concurrent_first_reads_log_in_once(openbao: OpenBao, seeded: str) -> None:
    role_id, secret_id = _limited_approle(openbao, "single-login", logins=1)
    vault = client(openbao, auth_method="approle", role_id=role_id, secret_id=secret_id)
    assert _read_in_threads(vault, seeded) == [sorted(DATA)] * 8


def test_concurrent_403s_log_in_again_once(openbao: OpenBao, seeded: str) -> None:
    role_id, secret_id = _limited_approle(openbao, "two-logins", logins=2)
    vault = client(openbao, auth_method="approle", role_id=role_id, secret_id=secret_id)
    vault.read(seeded)
    openbao.client.auth.token.revoke(vault._session.client.token)
    assert _read_in_threads(vault, seeded) == [sorted(DATA)] * 8
