"""Live changes to the seeded data: rows that move, rows that appear, request data that drifts.

What ``POST /_sandbox/mutate``, the ``churn``/``churn_new`` faults and ``POST
/_sandbox/request-data`` do, through the store's write transaction and clock. Random choices
come from an RNG seeded with the sandbox seed.
"""

from __future__ import annotations

import random
from typing import Any

from processmaker_prefect.sandbox.mutations import cast_request_data, set_request_data, update_rows
from processmaker_prefect.sandbox.resources import RESOURCES
from processmaker_prefect.sandbox.store import Row, Store

__all__ = ["Churn"]


class Churn:
    """Writers racing the clients of one store.

    Args:
        store: the store whose rows change.
        seed: seed of the choice of rows and processes.
    """

    def __init__(self, store: Store, seed: int) -> None:
        self.store = store
        self._seed = seed
        self._rng = random.Random(seed)

    def reset(self) -> None:
        """Restart the choices from the seed, so a reset sandbox churns the same rows again."""
        self._rng = random.Random(self._seed)

    def _pick(self, table: str, count: int) -> list[int]:
        top = self.store.db.execute(f"SELECT MAX(id) FROM {table}").fetchone()[0] or 0  # noqa: S608
        if top == 0 or count <= 0:
            return []
        ids = sorted({self._rng.randint(1, top) for _ in range(min(count, top) * 2)})
        return sorted(self._rng.sample(ids, min(count, len(ids))))

    def mutate(self, resource: str, count: int) -> list[int]:
        """Update ``count`` random rows of ``resource`` the way real use would; return their ids.

        Requests and tasks advance (ACTIVE -> COMPLETED/CLOSED), other rows change a name or a
        data field. Every touched row gets ``updated_at`` = the server clock.
        """
        with self.store.writing():
            ids = self._pick(RESOURCES[resource].table, count)
            if ids:
                update_rows(self.store.db, resource, ids, self.store.now())
        return ids

    def insert(self, resource: str, count: int) -> list[int]:
        """Create ``count`` new rows of ``resource`` now; return their ids.

        Requests and tasks: new ACTIVE requests (one task each) of random processes, as users
        starting cases; records: new records of collection 1. Other resources get none.
        """
        ids: list[int] = []
        for _ in range(count):
            if resource in ("requests", "tasks"):
                process = self._random_row("processes")
                request_id = self.store.start_request(process, 1, {"source": "churn"})
                ids.append(request_id if resource == "requests" else self._task_of(request_id))
            elif resource == "records":
                ids.append(self.store.add_record(1, {"name": "Churned", "revision": 0}))
        return ids

    def _random_row(self, table: str) -> Row:
        count = self.store.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608
        sql = f"SELECT * FROM {table} ORDER BY id LIMIT 1 OFFSET ?"  # noqa: S608
        row: Row = self.store.db.execute(sql, (self._rng.randrange(count),)).fetchone()
        return row

    def _task_of(self, request_id: int) -> int:
        sql = "SELECT id FROM tasks WHERE process_request_id = ? ORDER BY id LIMIT 1"
        return int(self.store.db.execute(sql, (request_id,)).fetchone()[0])

    def change_request_data(
        self,
        process_id: int,
        *,
        values: dict[str, Any] | None = None,
        cast: dict[str, str] | None = None,
        touch: bool = True,
    ) -> int:
        """Set keys (``values``) or change keys' JSON types (``cast``) in the data of every
        request of ``process_id``; ``touch`` stamps their ``updated_at``. Returns rows changed.
        """
        changed = 0
        with self.store.writing():
            now = self.store.now() if touch else None
            if values:
                changed = set_request_data(self.store.db, process_id, values, now)
            for key, to in (cast or {}).items():
                changed = max(changed, cast_request_data(self.store.db, process_id, key, to, now))
        return changed
