"""Child process of ``bench.bench_speed``: a warm-up flow, then one ``sync`` flow run, timed.

Run as ``python -m bench._flow_child '<json>'`` with the environment of a real user
(``PROCESSMAKER_*``, ``VAULT_*``, its own ``PREFECT_HOME``); prints one ``RESULT <json>`` line.
A fresh process per run, so every run starts cold as a scheduled one would: no token or
Vault session left over from the previous run.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any


def main() -> None:
    args: dict[str, Any] = json.loads(sys.argv[1])
    from prefect import flow

    from processmaker_prefect.flows.sync import sync

    @flow(name="bench-warm-up")
    def hello() -> int:
        return 1

    hello()  # starts the ephemeral Prefect server: not part of the sync's time
    profile = args.get("profile")
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.002)
        profiler.start()
    started, cpu = time.perf_counter(), time.process_time()
    result = sync(resources=args["resources"], destination=args["destination"])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if profiler is not None:
        profiler.stop()
        with open(profile, "w") as out:
            out.write(profiler.output_text(unicode=False, color=False, show_all=False))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        "RESULT "
        + json.dumps({"flow_seconds": seconds, "cpu_seconds": cpu, "result": result, "rss": peak})
    )


if __name__ == "__main__":
    main()
