"""The sync engine: read what changed from a list route, store it with its watermark."""

from __future__ import annotations

from tasks.sync.engine import ResourceSync, SyncResult, progress_listeners
from tasks.sync.readers import IdScanReader, KeysetReader, Reader, RecentFirstReader

__all__ = [
    "IdScanReader",
    "KeysetReader",
    "Reader",
    "RecentFirstReader",
    "ResourceSync",
    "SyncResult",
    "progress_listeners",
]
