"""requests-cache backend storing responses and redirect aliases in one DynamoDB table.

``DynamoDbCache`` is a drop-in replacement for ``requests_cache.DynamoDbCache``: same
constructor, usable as ``CachedSession(backend=DynamoDbCache(...))``. Unlike it, numbers in
bodies round-trip, bodies come back byte for byte, construction makes no network call, scans
read every page, and redirect aliases live in the table where every container sees them.

Table keys are ``<namespace>:<requests-cache key>``; responses and aliases share the key
space so that a lookup is one GetItem whichever it finds.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar

from botocore.config import Config
from botocore.exceptions import ClientError
from requests import Response
from requests_cache.backends.base import BaseCache, BaseStorage
from requests_cache.models.response import CachedResponse

from .breaker import CircuitBreaker
from .config import DEFAULT_MEMORY_MB, DEFAULT_NAMESPACE, DEFAULT_TABLE
from .item import (
    KIND_REDIRECT,
    KIND_RESPONSE,
    MAX_ITEM_BYTES,
    Entry,
    Item,
    ItemError,
    body_location,
    decode_entry,
    encode_entry,
    encode_redirect,
    encode_response,
    item_kind,
    item_size,
    redirect_target,
)
from .large_objects import LargeObjectStore
from .memory import MemoryTier
from .observability import Tracing
from .sharing import credential_fingerprint, credential_names, redact, refusal
from .stats import CacheStats
from .table import CacheTable, attribute, error_code, make_client

logger = logging.getLogger(__name__)
T = TypeVar("T")


class _NamespacedStorage:
    """The items of one kind in one namespace: maps requests-cache keys to table keys and
    back, and the mapping operations both storages share."""

    kind: str

    def __init__(self, table: CacheTable, namespace: str) -> None:
        self.table = table
        self.namespace = namespace
        self.prefix = f"{namespace}:"

    def table_key(self, key: str) -> str:
        return self.prefix + key

    def _scan_keys(self) -> Iterator[str]:
        for item in self.table.scan(prefix=self.prefix, projection=("key", "kind")):
            if attribute(item, "kind") == self.kind:
                yield str(attribute(item, "key"))[len(self.prefix) :]

    def __delitem__(self, key: str) -> None:
        if not self.table.delete(self.table_key(key)):
            raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return self._scan_keys()

    def __len__(self) -> int:
        return sum(1 for _ in self._scan_keys())

    def bulk_delete(self, keys: Iterable[str]) -> None:
        self.table.delete_many(self.table_key(k) for k in keys)

    def clear(self) -> None:
        self.bulk_delete(list(self._scan_keys()))


class ResponseStorage(_NamespacedStorage, BaseStorage[str, CachedResponse]):
    """The responses of one namespace, as a mapping of requests-cache keys to responses."""

    kind = KIND_RESPONSE

    def __init__(
        self,
        table: CacheTable,
        namespace: str,
        *,
        large_objects: LargeObjectStore | None = None,
    ) -> None:
        _NamespacedStorage.__init__(self, table, namespace)
        BaseStorage.__init__(self, serializer=None)
        self.large_objects = large_objects

    def __getitem__(self, key: str) -> CachedResponse:
        item = self.table.get(self.table_key(key))
        if item is None or attribute(item, "kind") != KIND_RESPONSE:
            raise KeyError(key)
        return self.decode(key, item)  # type: ignore[return-value]

    def load_entry(self, item: dict[str, Any]) -> Entry:
        """The entry in ``item``, its body fetched from the bucket if it is stored there (for
        maintenance and inspection; the request path fetches behind its circuit breaker)."""
        location = body_location(item)
        if location is None:
            return decode_entry(item)
        if self.large_objects is None:
            raise ItemError("the body is in S3 and no bucket is configured")
        try:
            stored_body = self.large_objects.get(location)
        except Exception as error:
            raise ItemError(f"the body at {location} is unreadable: {error!r}") from None
        return decode_entry(item, stored_body)

    def decode(self, key: str, item: dict[str, Any]) -> CachedResponse | None:
        """The response in ``item``, or None (logged) if the item is unreadable."""
        try:
            return self.load_entry(item).to_response(key)
        except ItemError as error:
            logger.warning("Unreadable cache item %s treated as a miss: %s", key, error)
            return None

    def __setitem__(self, key: str, response: CachedResponse) -> None:
        self.write(key, response)

    def write(self, key: str, response: CachedResponse) -> None:
        item = encode_response(self.table_key(key), self.namespace, response, ttl=self.table.ttl)
        self.table.put(item)

    def entries(self) -> Iterator[tuple[str, CachedResponse | None]]:
        """Every key and response of the namespace from one paginated scan (None if unreadable)."""
        for item in self.table.scan(prefix=self.prefix):
            if attribute(item, "kind") == KIND_RESPONSE:
                key = str(attribute(item, "key"))[len(self.prefix) :]
                yield key, self.decode(key, item)

    def values(self) -> Iterator[CachedResponse | None]:  # type: ignore[override]
        return (response for _, response in self.entries())


class RedirectStorage(_NamespacedStorage, BaseStorage[str, str]):
    """Redirect aliases of one namespace: the key of a request that was redirected, mapped to
    the key its final response is stored under."""

    kind = KIND_REDIRECT

    def __init__(self, table: CacheTable, namespace: str) -> None:
        _NamespacedStorage.__init__(self, table, namespace)
        BaseStorage.__init__(self, serializer=None)

    def __getitem__(self, alias: str) -> str:
        item = self.table.get(self.table_key(alias))
        if item is None or attribute(item, "kind") != KIND_REDIRECT:
            raise KeyError(alias)
        return redirect_target(item)

    def __setitem__(self, alias: str, target: str) -> None:
        self.write(alias, target, expires=None)

    def write(self, alias: str, target: str, expires: datetime | None) -> None:
        if alias == target:
            return  # requests-cache aliases the original request to itself; nothing to store
        # Never replace a response stored under the same key with an alias.
        try:
            self.table.put(
                encode_redirect(self.table_key(alias), self.namespace, target, expires),
                condition="attribute_not_exists(#k) OR #kind = :redirect",
                ExpressionAttributeNames={"#k": "key", "#kind": "kind"},
                ExpressionAttributeValues={":redirect": {"S": KIND_REDIRECT}},
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise


class DynamoDbCache(BaseCache):
    """DynamoDB cache backend for requests-cache.

    Args:
        table_name: DynamoDB table name.
        create_table: Create the table (and enable TTL) if an operation finds it missing.
            Construction itself never calls DynamoDB.
        ttl: Write the ``ttl`` attribute (epoch seconds) from each response's expiration.
        connection: A boto3 DynamoDB client or resource to use instead of a new client.
        namespace: Partition of the table this cache reads and writes.
        consistent_read: Use strongly consistent reads (twice the read units).
        config: A botocore ``Config`` for a new client (timeouts, retries).
        memory_cache_bytes: Size of the in-container memory tier; 0 turns it off.
        store_private: Store responses marked ``Cache-Control: private`` (off: this cache
            is shared).
        key_secret: Secret for the keyed hash of credentials in cache keys.
        breaker: The circuit breaker guarding table calls.
        stats: Where events are counted.
        tracing: Where cache reads and writes are traced.
        large_objects: Where bodies too large for an item go (off when None).
        kwargs: boto3 session or client keywords (``region_name``, ``endpoint_url``, ...).

    Reads and writes never raise: a failed or skipped read is a miss, a failed write leaves
    the response uncached; each is logged and counted.
    """

    def __init__(
        self,
        table_name: str = DEFAULT_TABLE,
        create_table: bool = True,
        *,
        ttl: bool = True,
        connection: Any = None,
        namespace: str = DEFAULT_NAMESPACE,
        consistent_read: bool = False,
        config: Config | None = None,
        memory_cache_bytes: int = DEFAULT_MEMORY_MB * 1024 * 1024,
        store_private: bool = False,
        key_secret: str | bytes | None = None,
        breaker: CircuitBreaker | None = None,
        stats: CacheStats | None = None,
        tracing: Tracing | None = None,
        large_objects: LargeObjectStore | None = None,
        decode_content: bool = True,
        **kwargs: Any,
    ) -> None:
        # decode_content is accepted for compatibility: bodies are always stored as bytes.
        if kwargs.pop("serializer", None) is not None:
            raise TypeError("DynamoDbCache stores its own item format; serializer is not used")
        super().__init__(cache_name=table_name)
        client = make_client(connection, config=config, **kwargs)
        self.table = CacheTable(
            client,
            table_name,
            create_table=create_table,
            ttl=ttl,
            consistent_read=consistent_read,
        )
        self.namespace = namespace
        self.responses: ResponseStorage = ResponseStorage(
            self.table, namespace, large_objects=large_objects
        )
        self.redirects: RedirectStorage = RedirectStorage(self.table, namespace)
        self.memory = MemoryTier(memory_cache_bytes) if memory_cache_bytes > 0 else None
        self.store_private = store_private
        secret = key_secret if key_secret is not None else f"lambda-http-cache:{table_name}"
        self._key_secret = secret.encode() if isinstance(secret, str) else secret
        self.breaker = breaker or CircuitBreaker()
        self.stats = stats or CacheStats()
        self.tracing = tracing or Tracing(enabled=False)
        self.large_objects = large_objects
        self._key_memo: dict[tuple[Any, ...], str] = {}
        self.large_object_breaker = CircuitBreaker(self.breaker.threshold, self.breaker.cooldown)

    # Keys ---------------------------------------------------------------------------------

    def create_key(self, request: Any, match_headers: Any = None, **kwargs: Any) -> str:
        """requests-cache's key, plus a keyed hash of the credentials the request carries.

        Keys are memoised by everything they are derived from (the request's method, URL,
        body and headers, the call's options and the key settings): requests-cache's URL
        normalisation costs about 0.1 ms, a large share of a memory-tier hit."""
        settings = self._settings
        try:
            memo = (
                request.method,
                request.url,
                request.body,
                tuple(request.headers.items()),
                tuple(sorted((name, _hashable(value)) for name, value in kwargs.items())),
                _hashable(match_headers),
                _hashable(settings.match_headers),
                tuple(settings.ignored_parameters or ()),
                settings.content_root_key,
                settings.key_fn,
            )
            key = self._key_memo.get(memo)
        except (AttributeError, TypeError):  # an unprepared or unhashable request
            return self._create_key(request, match_headers, **kwargs)
        if key is None:
            key = self._create_key(request, match_headers, **kwargs)
            if len(self._key_memo) >= KEY_MEMO_SIZE:
                self._key_memo.clear()
            self._key_memo[memo] = key
        return key

    def _create_key(self, request: Any, match_headers: Any = None, **kwargs: Any) -> str:
        key = super().create_key(request, match_headers, **kwargs)
        fingerprint = credential_fingerprint(request, self._credential_names(), self._key_secret)
        return f"{key}-{fingerprint}" if fingerprint else key

    def _credential_names(self) -> frozenset[str]:
        return _credential_names(tuple(self._settings.ignored_parameters or ()))

    # Reads --------------------------------------------------------------------------------

    def get_response(self, key: str, default: Any = None) -> CachedResponse | None:
        """The memory tier first; then one GetItem (a second only for a redirect alias)."""
        try:
            entry = self._read_entry(key)
        except Exception as error:  # never let the cache fail a request
            self.stats.add("errors")
            logger.warning("Cache read failed, treated as a miss: %r", error)
            return default  # type: ignore[no-any-return]
        return entry.to_response(key) if entry is not None else default

    def _read_entry(self, key: str) -> Entry | None:
        table_key = self.responses.table_key(key)
        if self.memory is not None:
            entry = self.memory.get(table_key)
            if entry is not None:
                self.stats.add("memory_hits")
                return entry
        item = self._guarded("read", self.table.get, table_key)
        if item is None:
            return None
        try:
            if item_kind(item) == KIND_REDIRECT:
                item = self._guarded(
                    "read", self.table.get, self.responses.table_key(redirect_target(item))
                )
                if item is None:
                    return None
            stored_body = None
            location = body_location(item)
            if location is not None:
                if self.large_objects is None:
                    raise ItemError("the body is in S3 and no bucket is configured")
                stored_body = self._guarded(
                    "read", self.large_objects.get, location, breaker=self.large_object_breaker
                )
                if stored_body is None:
                    return None
            entry = decode_entry(item, stored_body)
        except ItemError as error:
            self.stats.add("unreadable")
            logger.warning("Unreadable cache item %s treated as a miss: %s", key, error)
            return None
        if self.memory is not None:
            self.memory.put(table_key, entry)
        return entry

    # Writes -------------------------------------------------------------------------------

    def save_response(
        self,
        response: Response,
        cache_key: str | None = None,
        expires: datetime | None = None,
    ) -> None:
        """Store a response; a failure leaves it uncached and is logged, never raised."""
        try:
            self._save(response, cache_key, expires)
        except Exception as error:  # never let the cache fail a request
            self.stats.add("errors")
            logger.warning("Cache write failed, response not cached: %r", error)

    def _save(self, response: Response, cache_key: str | None, expires: datetime | None) -> None:
        cache_key = cache_key or self.create_key(response.request)
        reason = refusal(response, store_private=self.store_private)
        if reason is not None:
            self.stats.add("not_stored")
            logger.debug("Response marked %s: not stored in the shared cache", reason)
            return
        cached = CachedResponse.from_response(response, expires=expires)
        entry = Entry.from_response(redact(cached, self._credential_names()))
        table_key = self.responses.table_key(cache_key)
        item = encode_entry(table_key, self.namespace, entry, ttl=self.table.ttl)
        size = item_size(item)
        if size > MAX_ITEM_BYTES and self.large_objects is not None and "body" in item:
            if not self._store_body_apart(item, table_key):
                return
            size = item_size(item)
        if size > MAX_ITEM_BYTES:
            self.stats.add("oversize")
            logger.warning(
                "Response of %d bytes is %d bytes as an item, over DynamoDB's limit of %d: "
                "not cached",
                len(entry.content),
                size,
                MAX_ITEM_BYTES,
            )
            if self.memory is not None:
                self.memory.discard(table_key)
            return
        self._guarded("write", self.table.put, item)
        if self.memory is not None:
            self.memory.put(table_key, entry)
        # Aliases for each redirect hop, unless this is a revalidation of a stored response.
        if response.history and not cached.revalidated:
            for hop in response.history:
                alias = self.create_key(hop.request)
                self._guarded("write", self.redirects.write, alias, cache_key, entry.expires)

    def _store_body_apart(self, item: Item, table_key: str) -> bool:
        """Move the body of ``item`` to the large-object bucket; whether that worked."""
        assert self.large_objects is not None
        location = self.large_objects.location(table_key)
        body = item.pop("body")["B"]
        stored = self._guarded(
            "write", self.large_objects.put, location, body, breaker=self.large_object_breaker
        )
        if stored is None:
            return False
        item["body_location"] = {"S": location}
        return True

    # Guard --------------------------------------------------------------------------------

    def _guarded(
        self,
        operation: str,
        call: Callable[..., T],
        *args: Any,
        breaker: CircuitBreaker | None = None,
    ) -> T | None:
        """Run one store call behind its circuit breaker; None if skipped or failed."""
        breaker = breaker or self.breaker
        if not breaker.allow():
            self.stats.add("bypassed")
            return None
        started = time.perf_counter()
        try:
            with self.tracing.segment(operation):
                result = call(*args)
        except Exception as error:
            opened = breaker.failure()
            self.stats.add("errors")
            outcome = "treated as a miss" if operation == "read" else "response not cached"
            logger.warning("Cache %s failed, %s: %r", operation, outcome, error)
            if opened:
                logger.warning(
                    "%d cache calls failed in a row: %s bypassed for %.0f s",
                    breaker.threshold,
                    "the large-object bucket"
                    if breaker is self.large_object_breaker
                    else "the table",
                    breaker.cooldown,
                )
            return None
        breaker.success()
        self.stats.record_latency("cache", (time.perf_counter() - started) * 1000)
        return result

    # Maintenance --------------------------------------------------------------------------

    def delete(self, *keys: str, **kwargs: Any) -> None:
        """As requests-cache's ``delete``; the memory tier is emptied (deletes are rare, and
        working out which of its entries a condition matches is not worth it)."""
        if self.memory is not None:
            self.memory.clear()
        try:
            super().delete(*keys, **kwargs)
        except Exception as error:
            self.stats.add("errors")
            logger.warning("Cache delete failed: %r", error)

    def _prune_redirects(self) -> None:
        """requests-cache scans every alias after each delete to drop dangling ones; here a
        dangling alias is a harmless miss that expires with its TTL, so no scan is made."""

    def clear(self) -> None:
        if self.memory is not None:
            self.memory.clear()
        super().clear()  # type: ignore[no-untyped-call]

    def filter(
        self,
        valid: bool = True,
        expired: bool = True,
        invalid: bool = False,
        older_than: Any = None,
    ) -> Iterator[CachedResponse]:
        """As requests-cache's ``filter``, from one paginated scan instead of a GetItem per key."""
        if not any([valid, expired, invalid, older_than]):
            return
        for key, response in self.responses.entries():
            if response is None:
                if invalid:
                    placeholder = CachedResponse(status_code=504)
                    placeholder.cache_key = key
                    yield placeholder
            elif (
                (valid and not response.is_expired)
                or (expired and response.is_expired)
                or (older_than and response.is_older_than(older_than))
            ):
                yield response


KEY_MEMO_SIZE = 1024


def _hashable(value: Any) -> Any:
    """A hashable stand-in for a setting or a send() option (proxies arrive as a dict)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _hashable(v)) for k, v in value.items()))
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(_hashable(v) for v in value)
    return value


@functools.lru_cache(maxsize=16)
def _credential_names(ignored_parameters: tuple[str, ...]) -> frozenset[str]:
    return credential_names(ignored_parameters)
