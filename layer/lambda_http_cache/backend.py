"""requests-cache backend storing responses and redirect aliases in one DynamoDB table.

``DynamoDbCache`` is a drop-in replacement for ``requests_cache.DynamoDbCache``: same
constructor, usable as ``CachedSession(backend=DynamoDbCache(...))``. Unlike it, numbers in
bodies round-trip, bodies come back byte for byte, construction makes no network call, scans
read every page, and redirect aliases live in the table where every container sees them.

Table keys are ``<namespace>:<requests-cache key>``; responses and aliases share the key
space so that a lookup is one GetItem whichever it finds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError
from requests import Response
from requests_cache.backends.base import BaseCache, BaseStorage
from requests_cache.cache_keys import redact_response
from requests_cache.models.response import CachedResponse

from .config import DEFAULT_NAMESPACE, DEFAULT_TABLE
from .item import (
    KIND_REDIRECT,
    KIND_RESPONSE,
    ItemError,
    decode_response,
    encode_redirect,
    encode_response,
    item_kind,
    redirect_target,
)
from .table import CacheTable, attribute, error_code, make_client

logger = logging.getLogger(__name__)


class _NamespacedStorage:
    """Maps requests-cache keys to this namespace's table keys and back."""

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


class ResponseStorage(_NamespacedStorage, BaseStorage[str, CachedResponse]):
    """The responses of one namespace, as a mapping of requests-cache keys to responses."""

    kind = KIND_RESPONSE

    def __init__(self, table: CacheTable, namespace: str, *, ttl: bool = True) -> None:
        _NamespacedStorage.__init__(self, table, namespace)
        BaseStorage.__init__(self, serializer=None)
        self.ttl = ttl

    def __getitem__(self, key: str) -> CachedResponse:
        item = self.table.get(self.table_key(key))
        if item is None or attribute(item, "kind") != KIND_RESPONSE:
            raise KeyError(key)
        return self.decode(key, item)  # type: ignore[return-value]

    def decode(self, key: str, item: dict[str, Any]) -> CachedResponse | None:
        """The response in ``item``, or None (logged) if the item is unreadable."""
        try:
            response = decode_response(item)
        except ItemError as error:
            logger.warning("Unreadable cache item %s treated as a miss: %s", key, error)
            return None
        response.cache_key = key
        return response

    def __setitem__(self, key: str, response: CachedResponse) -> None:
        self.write(key, response)

    def write(self, key: str, response: CachedResponse) -> None:
        self.table.put(encode_response(self.table_key(key), self.namespace, response, ttl=self.ttl))

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

    def __delitem__(self, alias: str) -> None:
        if not self.table.delete(self.table_key(alias)):
            raise KeyError(alias)

    def __iter__(self) -> Iterator[str]:
        return self._scan_keys()

    def __len__(self) -> int:
        return sum(1 for _ in self._scan_keys())

    def bulk_delete(self, keys: Iterable[str]) -> None:
        self.table.delete_many(self.table_key(k) for k in keys)

    def clear(self) -> None:
        self.bulk_delete(list(self._scan_keys()))


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
        kwargs: boto3 session or client keywords (``region_name``, ``endpoint_url``, ...).
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
        self.responses: ResponseStorage = ResponseStorage(self.table, namespace, ttl=ttl)
        self.redirects: RedirectStorage = RedirectStorage(self.table, namespace)

    def get_response(self, key: str, default: Any = None) -> CachedResponse | None:
        """One GetItem for a response; a second only when the key is a redirect alias."""
        item = self.table.get(self.responses.table_key(key))
        if item is None:
            return default  # type: ignore[no-any-return]
        try:
            if item_kind(item) == KIND_REDIRECT:
                key = redirect_target(item)
                item = self.table.get(self.responses.table_key(key))
                if item is None:
                    return default  # type: ignore[no-any-return]
        except ItemError as error:
            logger.warning("Unreadable cache item %s treated as a miss: %s", key, error)
            return default  # type: ignore[no-any-return]
        response = self.responses.decode(key, item)
        return response if response is not None else default

    def save_response(
        self,
        response: Response,
        cache_key: str | None = None,
        expires: datetime | None = None,
    ) -> None:
        cache_key = cache_key or self.create_key(response.request)
        cached = CachedResponse.from_response(response, expires=expires)
        cached = redact_response(cached, self._settings.ignored_parameters)
        self.responses.write(cache_key, cached)
        # Aliases for each redirect hop, unless this is a revalidation of a stored response.
        if response.history and not cached.revalidated:
            for hop in response.history:
                self.redirects.write(self.create_key(hop.request), cache_key, cached.expires)

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
