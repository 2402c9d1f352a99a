"""A copy of the freshly seeded database, so ``POST /_sandbox/reset`` can put every row back.

Taken lazily, just before the first write, with SQLite's online backup API: a sandbox that is
only read (or a million-row seed nobody writes to) never pays for the copy. Restoring copies
the snapshot back over the live database, page by page, in one step.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

__all__ = ["Snapshot"]


class Snapshot:
    """The seeded state of one database file, kept in a sibling file ``<db>.seed``.

    Args:
        path: the live database file; the snapshot lives beside it.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(f"{path}.seed")
        self._copy: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self.dirty = False  # the live database differs from the snapshot

    def before_write(self, live: sqlite3.Connection) -> None:
        """Take the snapshot if there is none yet; mark the live database as changed."""
        with self._lock:
            if self._copy is None:
                self.path.unlink(missing_ok=True)
                self._copy = sqlite3.connect(self.path, check_same_thread=False)
                self._copy.execute("PRAGMA synchronous=OFF")
                live.backup(self._copy)
            self.dirty = True

    def restore(self, live: sqlite3.Connection) -> bool:
        """Copy the seeded state back over ``live``; return whether anything was restored.

        The caller holds the store's write lock, so no write interleaves; readers on other
        connections see either the old or the restored database, never a mix.
        """
        with self._lock:
            if self._copy is None or not self.dirty:
                return False
            self._copy.backup(live)
            self.dirty = False
            return True

    def close(self) -> None:
        with self._lock:
            if self._copy is not None:
                self._copy.close()
                self._copy = None
            self.path.unlink(missing_ok=True)
