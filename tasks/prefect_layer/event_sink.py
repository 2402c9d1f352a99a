"""The sink that sends our events to Prefect's event feed (installed by this layer's import)."""

from __future__ import annotations

from typing import Any

from processmaker_prefect.events import set_event_sink

__all__ = ["PrefectEventSink", "install_event_sink"]


class PrefectEventSink:
    """Events to Prefect: only where one listens without starting a server first.

    Outside a flow run and without ``PREFECT_API_URL``, Prefect's ``emit_event`` would start a
    local server (tens of seconds), so the event is skipped instead.
    """

    def listening(self) -> bool:
        """A configured API, or a flow/task run (which already has one)."""
        from prefect.context import FlowRunContext, TaskRunContext
        from prefect.settings import get_current_settings

        if get_current_settings().api.url:
            return True
        return FlowRunContext.get() is not None or TaskRunContext.get() is not None

    def send(
        self,
        event: str,
        resource: dict[str, str],
        related: list[dict[str, str]],
        payload: dict[str, Any],
    ) -> bool:
        """Hand the event to Prefect's events worker."""
        from prefect.events import emit_event

        return emit_event(event, resource=resource, related=related, payload=payload) is not None


def install_event_sink() -> None:
    """Send every later event to Prefect."""
    set_event_sink(PrefectEventSink())
