"""The memory tier: a per-container LRU of recently used entries, in front of DynamoDB.

Bounded in bytes, evicting the least recently used entry first, and never serving an entry
past its expiry as a hit (:meth:`MemoryTier.get_held` hands one to a stale-while-revalidate
serve). Keys are full table keys, so namespaces and credential partitions hold
here exactly as in the table. It holds entries under their own keys and redirect aliases
under theirs, so that deleting an entry also stops every alias that leads to it.

What it counts is what it holds: each key and entry by :func:`~.bounded.footprint`, every
header, history hop and request field included, computed once when put.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import NamedTuple

from .bounded import BoundedMemo
from .config import DEFAULT_MEMORY_MAX_AGE
from .item import Alias, Entry, Uncacheable

Cached = Entry | Alias | Uncacheable


class _Held(NamedTuple):
    value: Cached
    stored: float  # time.monotonic() when put


class MemoryTier:
    """``max_age``: seconds an entry is served from memory before the table is read again, so
    that what other containers change (an invalidation, a newer response) is seen within it.
    A :class:`~.bounded.BoundedMemo`: so one entry may take at most a quarter of the tier, and
    one big body cannot flush it."""

    def __init__(self, max_bytes: int, max_age: float = DEFAULT_MEMORY_MAX_AGE) -> None:
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._held: BoundedMemo[str, _Held] = BoundedMemo(max_bytes)

    @property
    def size(self) -> int:
        """Bytes held, by :func:`~.bounded.footprint`."""
        return self._held.size

    def __len__(self) -> int:
        return len(self._held)

    def get(self, key: str) -> Cached | None:
        held = self._held.get(key)
        if held is None:
            return None
        entry = held.value
        if (entry.expires is not None and entry.expires <= datetime.now(UTC)) or (
            time.monotonic() - held.stored > self.max_age
        ):
            self._held.pop(key)
            return None
        return entry

    def get_held(self, key: str) -> Entry | None:
        """The entry held for ``key`` if it was put less than ``max_age`` ago, fresh or past
        its expiry (else None; nothing is dropped). Only for a caller that judges the entry
        itself and serves a stale one only where a stale answer may go out at once
        (stale-while-revalidate), checking the table after the response: what other
        containers changed is still seen within ``max_age``."""
        held = self._held.get(key)
        if held is None or not isinstance(held.value, Entry):
            return None
        if time.monotonic() - held.stored > self.max_age:
            return None
        return held.value

    def put(self, key: str, entry: Cached) -> None:
        self._held.put(key, _Held(entry, time.monotonic()))

    def discard(self, key: str) -> None:
        self._held.pop(key)

    def clear(self) -> None:
        self._held.clear()
