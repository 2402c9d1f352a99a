"""The one layer that knows Prefect: the ``@task``s, the connection block, events, locks and
limits. Importing it sends the lower layers' events to Prefect's feed and their warnings and
errors to the active run's log."""

from __future__ import annotations

from processmaker_prefect.prefect_layer.event_sink import install_event_sink
from processmaker_prefect.prefect_layer.run_logs import install_run_log_forwarding

install_event_sink()
install_run_log_forwarding()
