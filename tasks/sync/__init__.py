"""The sync engine: read what changed from a list route, store it with its watermark."""

from __future__ import annotations

from processmaker_prefect.sync.engine import ResourceSync, SyncResult, progress_listeners
from processmaker_prefect.sync.readers import IdScanReader, Reader, RecentFirstReader
from processmaker_prefect.sync.window import WindowReader, covers

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
