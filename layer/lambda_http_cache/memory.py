"""The memory tier: a per-container LRU of recently used entries, in front of DynamoDB.

Bounded in bytes, evicting the least recently used entry first, and never serving an entry
past its expiry. Keys are full table keys, so namespaces and credential partitions hold
here exactly as in the table. It holds entries under their own keys and redirect aliases
under theirs, so that deleting an entry also stops every alias that leads to it.

What it counts is what it holds: each key and entry by :func:`~.bounded.footprint`, every
header, history hop and request field included, computed once when put.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import NamedTuple

from .bounded import footprint
from .config import DEFAULT_MEMORY_MAX_AGE
from .item import Alias, Entry

Cached = Entry | Alias


class _Held(NamedTuple):
    value: Cached
    size: int  # footprint of the key and the value
    stored: float  # time.monotonic() when put


class MemoryTier:
    """``max_age``: seconds an entry is served from memory before the table is read again, so
    that what other containers change (an invalidation, a newer response) is seen within it."""

    def __init__(self, max_bytes: int, max_age: float = DEFAULT_MEMORY_MAX_AGE) -> None:
        self.max_bytes = max_bytes
        self.max_age = max_age
        # One entry may take at most a quarter of the tier, so one big body cannot flush it.
        self.max_entry_bytes = max_bytes // 4
        self._entries: OrderedDict[str, _Held] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Bytes held, by :func:`~.bounded.footprint`."""
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, key: str) -> Cached | None:
        with self._lock:
            held = self._entries.get(key)
            if held is None:
                return None
            entry = held.value
            if (entry.expires is not None and entry.expires <= datetime.now(UTC)) or (
                time.monotonic() - held.stored > self.max_age
            ):
                self._remove(key)
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: str, entry: Cached) -> None:
        size = footprint(key) + footprint(entry)
        if size > self.max_entry_bytes:
            self.discard(key)
            return
        with self._lock:
            if key in self._entries:
                self._remove(key)
            self._entries[key] = _Held(entry, size, time.monotonic())
            self._bytes += size
            while self._bytes > self.max_bytes:
                oldest = next(iter(self._entries))
                self._remove(oldest)

    def discard(self, key: str) -> None:
        with self._lock:
            if key in self._entries:
                self._remove(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def _remove(self, key: str) -> None:
        self._bytes -= self._entries.pop(key).size
