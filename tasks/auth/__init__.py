"""ProcessMaker credentials and bearer tokens: one class per grant, the token endpoint, the
process-wide token provider, and the one-time PKCE login that stores a refresh token."""

from __future__ import annotations

from processmaker_prefect.auth.credentials import (
    CREDENTIAL_FIELDS,
    ProcessMakerCredentials,
    choose_grant,
)
from processmaker_prefect.auth.pkce_login import (
    AuthorizationCodeLogin,
    CallbackListener,
    save_refresh_token,
)
from processmaker_prefect.auth.provider import (
    BearerAuth,
    TokenProvider,
    get_token_provider,
    reset_token_providers,
)
from processmaker_prefect.auth.token_endpoint import Token, TokenEndpoint

__all__ = [
    "CREDENTIAL_FIELDS",
    "AuthorizationCodeLogin",
    "BearerAuth",
    "CallbackListener",
    "ProcessMakerCredentials",
    "Token",
    "TokenEndpoint",
    "TokenProvider",
    "choose_grant",
    "get_token_provider",
    "reset_token_providers",
    "save_refresh_token",
]
