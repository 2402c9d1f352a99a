"""Wire the layers into a working client: settings -> Vault -> token provider -> API client.

The API client knows nothing of Vault or tokens; it takes a ``requests`` auth object. This is
the one place that builds that object from the process-wide token provider, so a grant and a
Vault login happen once per process and settings however many task runs ask.
"""

from __future__ import annotations

from processmaker_prefect.api import ProcessMakerClient, process_session
from processmaker_prefect.auth import BearerAuth, get_token_provider
from processmaker_prefect.prefect_layer.instance_limits import InstanceLimitedClient
from processmaker_prefect.settings import ProcessMakerSettings, VaultSettings, load_settings

__all__ = ["open_client"]


def open_client(
    settings: ProcessMakerSettings | None = None, vault_settings: VaultSettings | None = None
) -> ProcessMakerClient:
    """A client for ``settings`` (default: the environment), authenticated by its provider,
    on the process's pooled session for those settings; inside a Prefect run, its calls hold
    slots of the instance's Prefect concurrency limit when one exists."""
    settings = settings or load_settings(ProcessMakerSettings)
    provider = get_token_provider(settings, vault_settings)
    return InstanceLimitedClient.from_settings(
        settings, BearerAuth(provider), session=process_session(settings)
    )
