"""The sync engine: read what changed from a list route, store it with its watermark."""

from __future__ import annotations

from tasks.sync.engine import ResourceSync, SyncResult, progress_listeners
from tasks.sync.readers import IdScanReader, Reader, RecentFirstReader
from tasks.sync.window import WindowReader, covers

__all__ = [
    "IdScanReader",
    "Reader",
    "RecentFirstReader",
    "ResourceSync",
    "SyncResult",
    "WindowReader",
    "covers",
    "progress_listeners",
]
