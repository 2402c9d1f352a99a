"""Assemble the sandbox: store, stats, OAuth, faults and routes in one Starlette app."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import Receive, Scope, Send

from processmaker_prefect.sandbox.api import api_routes
from processmaker_prefect.sandbox.churn import Churn
from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.control import control_routes
from processmaker_prefect.sandbox.fault_middleware import FaultMiddleware
from processmaker_prefect.sandbox.faults import Faults
from processmaker_prefect.sandbox.oauth import OAuthServer
from processmaker_prefect.sandbox.oauth_routes import oauth_routes
from processmaker_prefect.sandbox.stats import Stats
from processmaker_prefect.sandbox.store import Store

__all__ = ["SandboxState", "create_app"]


@dataclass
class SandboxState:
    """Everything a handler needs, at ``app.state.sandbox``."""

    config: SandboxConfig
    store: Store
    stats: Stats
    oauth: OAuthServer
    faults: Faults
    churn: Churn


class _SandboxApp(Starlette):
    """Starlette that keeps the server's own ``send`` in the scope.

    A dropped-connection fault needs the server's transport; Starlette's error middleware wraps
    ``send`` before user middleware sees it, so the original is kept here.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["sandbox.server_send"] = send
        await super().__call__(scope, receive, send)


def create_app(config: SandboxConfig) -> Starlette:
    """Build the sandbox app: seed the data, then mount OAuth, /api/1.0 and /_sandbox routes.

    OAuth's routes come first so its PAT routes (``/api/1.0/users/{id}/tokens``) win over the
    API's catch-all. Call ``app.state.sandbox.store.close()`` when done (the server does).
    """
    stats = Stats()
    oauth = OAuthServer(config, stats)
    faults = Faults(config.seed)
    routes = [*oauth_routes(oauth), *control_routes(), *api_routes()]
    app = _SandboxApp(
        routes=routes,
        middleware=[Middleware(FaultMiddleware, faults=faults, stats=stats, routes=routes)],
    )
    store = Store(config)
    app.state.sandbox = SandboxState(config, store, stats, oauth, faults, Churn(store, config.seed))
    return app
