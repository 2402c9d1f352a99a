"""Warnings and errors of the library's loggers in the flow run's log, as the Prefect UI shows it.

Page re-reads, the circuit breaker opening or degraded token sharing are logged by module
loggers (``processmaker_prefect.*``), which Prefect sends to a run's log only when the user
lists them in ``PREFECT_LOGGING_EXTRA_LOGGERS``. The handler installed here does it without a
setting: a WARNING or worse raised while a flow or task run is active goes to Prefect's own
API log handler, which files it under that run. Outside a run it does nothing (the console
handlers Prefect configures still print it), and a record that Prefect already sends,
because the user did list the logger, is not sent twice.
"""

from __future__ import annotations

import logging

from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging.handlers import APILogHandler

__all__ = ["LIBRARY_LOGGER", "RunLogForwarder", "install_run_log_forwarding"]

LIBRARY_LOGGER = "processmaker_prefect"


class RunLogForwarder(logging.Handler):
    """Hands the library's warnings and errors to Prefect's API log handler inside a run."""

    def __init__(self, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self._api = APILogHandler()

    def emit(self, record: logging.LogRecord) -> None:
        if FlowRunContext.get() is None and TaskRunContext.get() is None:
            return  # nowhere to file it; Prefect's handler would warn about a missing run
        if _sent_by_prefect(record):
            return
        self._api.handle(record)


def _sent_by_prefect(record: logging.LogRecord) -> bool:
    """Whether a logger between the record's and ours carries Prefect's API handler (the
    user listed it in PREFECT_LOGGING_EXTRA_LOGGERS), so the record reaches the API anyway."""
    logger: logging.Logger | None = logging.getLogger(record.name)
    while logger is not None:
        if any(isinstance(handler, APILogHandler) for handler in logger.handlers):
            return True
        if logger.name == LIBRARY_LOGGER or not logger.propagate:
            return False
        logger = logger.parent
    return False


def install_run_log_forwarding() -> None:
    """Forward the library's warnings and errors to the active run's log (once per process)."""
    logger = logging.getLogger(LIBRARY_LOGGER)
    if not any(isinstance(handler, RunLogForwarder) for handler in logger.handlers):
        logger.addHandler(RunLogForwarder())
