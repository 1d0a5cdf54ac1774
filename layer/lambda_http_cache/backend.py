"""``DynamoDbCache``: the shared cache (cache.py) as a requests-cache backend.

A drop-in replacement for ``requests_cache.DynamoDbCache``: same constructor, usable as
``CachedSession(backend=DynamoDbCache(...))``. It reads and writes the same items as the
decorator's session, through the same storage and rules; only the response objects it hands
to requests-cache are requests-cache's own. This module imports requests-cache, so only code
that uses requests-cache's session loads it (the package imports it on first use).
"""

from __future__ import annotations

from typing import Any

from requests_cache.backends.base import BaseCache
from requests_cache.models.request import CachedRequest
from requests_cache.models.response import CachedResponse

from .cache import SharedCache
from .config import DEFAULT_TABLE
from .item import Entry


class DynamoDbCache(SharedCache, BaseCache):  # type: ignore[misc]  # storages: cache.py's
    __doc__ = SharedCache.__doc__

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # requests-cache's attributes first (its storages are replaced by this cache's).
        BaseCache.__init__(
            self, cache_name=str(args[0] if args else kwargs.get("table_name", DEFAULT_TABLE))
        )
        SharedCache.__init__(self, *args, **kwargs)
        self.responses.to_response = _requests_cache_response

    def _placeholder(self) -> Any:
        return CachedResponse(status_code=504)


def _requests_cache_response(entry: Entry, key: str) -> CachedResponse:
    """A stored entry as requests-cache's own response class (its session's expectations:
    ``next`` is its request type)."""
    response: CachedResponse = entry.to_response(key, CachedResponse)
    if entry.next is not None:
        response._next = CachedRequest(method=entry.next[0], url=entry.next[1])
    else:
        response._next = None
    return response
