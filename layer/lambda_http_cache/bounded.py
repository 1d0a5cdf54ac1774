"""One accounting rule for every per-container structure: what it holds is what it counts.

:func:`footprint` is the rule: the bytes of every string and bytes value a key or value holds,
however deeply nested in tuples, lists, mappings or named tuples, plus a fixed overhead per
object. Every memo and tier of this package counts its keys and values by it, so no input
(a 42,000-name ``Vary``, a 10 KB header name, a long redirect chain) can make a structure hold
more than it counts. :class:`BoundedMemo` is the memo built on it.

The rule errs high, never low: a text that is not ASCII counts 8 bytes a character (CPython
keeps it in up to 4 bytes a character, and may add its UTF-8 form, up to 4 more); a container
counts its own table of references besides what it contains; an object of any other kind (a
number, a time, a function) counts the overhead, and a large integer its digits besides.
Memos hold plain data: keys and values are strings, bytes, numbers, times and containers of
them.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict, deque
from collections.abc import Mapping
from typing import Generic, TypeVar

# What one Python object costs besides its text (object header, pointer, hash slot): an
# estimate, the same for every kind, so that many small parts are not counted as free. At
# least what CPython 3.11-3.14 allocate for an empty str (49 bytes) or bytes (33).
OBJECT_OVERHEAD = 64
# A text with a character past ASCII: per character, its own storage (at most 4 bytes) and
# the UTF-8 copy CPython may keep beside it (at most 4), plus that copy's header.
WIDE_CHAR_BYTES = 8
WIDE_TEXT_OVERHEAD = 16

K = TypeVar("K")
V = TypeVar("V")


def footprint(value: object) -> int:
    """Bytes ``value`` holds, by the one rule (see the module's docstring). Iterative, so a
    deeply nested value cannot exhaust the stack; each container is counted once, so a value
    that contains itself cannot loop."""
    total = 0
    pending: list[object] = [value]
    seen: set[int] = set()
    while pending:
        item = pending.pop()
        total += OBJECT_OVERHEAD
        if isinstance(item, str):
            total += (
                len(item) if item.isascii() else WIDE_CHAR_BYTES * len(item) + WIDE_TEXT_OVERHEAD
            )
        elif isinstance(item, bytes | bytearray):
            total += len(item)
        elif isinstance(item, memoryview):
            # A view keeps its whole underlying buffer alive, not only the bytes it shows.
            total += item.nbytes
            if item.obj is not None and id(item.obj) not in seen:
                seen.add(id(item.obj))
                pending.append(item.obj)
        elif isinstance(item, int):
            total += item.bit_length() // 8
        elif isinstance(item, Mapping | tuple | list | set | frozenset | deque):
            if id(item) in seen:
                continue
            seen.add(id(item))
            # Its own table of slots or references (a set's or a dict's is far larger than
            # the overhead), besides what it contains.
            total += sys.getsizeof(item, 0)
            if isinstance(item, Mapping):
                pending.extend(item.keys())
                pending.extend(item.values())
            else:
                pending.extend(item)
    return total


class BoundedMemo(Generic[K, V]):
    """A thread-safe memo of at most ``max_bytes`` (keys and values counted by
    :func:`footprint`, once, when put), evicting the least recently used first. An entry
    larger than a quarter of the memo is not kept: one huge input cannot flush everything
    else. ``get`` cannot tell a stored None from a missing key: store no None."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Bytes held, by the rule."""
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            self._entries.move_to_end(key)
            return found[0]

    def put(self, key: K, value: V) -> None:
        size = footprint(key) + footprint(value)
        with self._lock:
            self._discard(key)
            if size > self.max_bytes // 4:
                return
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted

    def pop(self, key: K) -> V | None:
        with self._lock:
            found = self._entries.get(key)
            self._discard(key)
            return None if found is None else found[0]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def _discard(self, key: K) -> None:
        found = self._entries.pop(key, None)
        if found is not None:
            self._bytes -= found[1]
