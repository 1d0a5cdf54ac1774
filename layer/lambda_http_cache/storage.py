"""The stores of one namespace in the cache table, as requests-cache storages.

:class:`ResponseStorage` owns everything between a response and the table: the shared-cache
rules applied on every write (refusals, credential partition, redaction through the sharing
policy), the item encoding, the size limits, the large-object bucket, TTL, and the memory
tier in front of the table. It is the one read path (:meth:`ResponseStorage.lookup`) and the
one write path (:meth:`ResponseStorage.write`): whoever writes (the session,
``responses[key] = value``, requests-cache's ``reset_expiration``, ``recreate_keys`` and
``update``) goes through it. :class:`RedirectStorage` holds the redirect aliases.

Every call to the table or the bucket goes through a :class:`~.guard.StoreGuard` (breaker,
trace segment, latency, and a failure turned into None), so neither store raises into a
request. Responses and aliases share the key space (``<namespace>:<requests-cache key>``),
so that a lookup is one GetItem whichever it finds.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from requests import Response
from requests_cache.backends.base import BaseStorage
from requests_cache.models.response import CachedResponse

from .breaker import CircuitBreaker
from .config import DEFAULT_MAX_BODY_MB
from .guard import StoreGuard
from .item import (
    KIND_REDIRECT,
    KIND_RESPONSE,
    KIND_TOMBSTONE,
    LEASE_SUFFIX,
    MAX_ITEM_BYTES,
    Alias,
    Entry,
    ItemError,
    body_location,
    decode_alias,
    decode_entry,
    encode_entry,
    encode_lease,
    encode_redirect,
    encode_tombstone,
    iso_time,
    item_kind,
    item_size,
    key_fingerprint,
)
from .keys import stamped_transport
from .large_objects import LargeObjectStore
from .memory import MemoryTier
from .sharing import SETS_COOKIE, SharingPolicy
from .table import CacheTable, attribute, error_code

logger = logging.getLogger(__name__)

# How far ahead of this container's clock another's may be; a stored time beyond is bogus.
MAX_CLOCK_SKEW = timedelta(minutes=5)
# The longest lease a container takes (coordination.py's bound, with room to spare).
MAX_LEASE = timedelta(minutes=1)


class _NamespacedStorage:
    """The items of one kind in one namespace: maps requests-cache keys to table keys and
    back, and the mapping operations both storages share. Deletes also leave the memory tier,
    so this container never serves what it has removed from the table."""

    kind: str

    def __init__(self, table: CacheTable, namespace: str, memory: MemoryTier | None) -> None:
        self.table = table
        self.namespace = namespace
        self.prefix = f"{namespace}:"
        self.memory = memory

    def table_key(self, key: str) -> str:
        return self.prefix + key

    def _forget(self, key: str) -> None:
        if self.memory is not None:
            self.memory.discard(self.table_key(key))

    def _scan_keys(self) -> Iterator[str]:
        for item in self.table.scan(prefix=self.prefix, projection=("key", "kind")):
            if attribute(item, "kind") == self.kind:
                yield str(attribute(item, "key"))[len(self.prefix) :]

    def __delitem__(self, key: str) -> None:
        self._forget(key)
        if not self.table.delete(self.table_key(key)):
            raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return self._scan_keys()

    def __len__(self) -> int:
        return sum(1 for _ in self._scan_keys())

    def bulk_delete(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        for key in keys:
            self._forget(key)
        self.table.delete_many(self.table_key(k) for k in keys)

    def clear(self) -> None:
        if self.memory is not None:
            self.memory.clear()
        self.bulk_delete(list(self._scan_keys()))


class ResponseStorage(_NamespacedStorage, BaseStorage[str, CachedResponse]):
    """The responses of one namespace, as a mapping of requests-cache keys to responses, and
    the one read path and the one write path of the cache."""

    kind = KIND_RESPONSE

    def __init__(
        self,
        table: CacheTable,
        namespace: str,
        *,
        policy: SharingPolicy,
        guard: StoreGuard,
        memory: MemoryTier | None = None,
        large_objects: LargeObjectStore | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_MB * 1024 * 1024,
    ) -> None:
        _NamespacedStorage.__init__(self, table, namespace, memory)
        BaseStorage.__init__(self, serializer=None)
        self.policy = policy
        self.guard = guard
        self.stats = guard.stats
        self.large_objects = large_objects
        # The bucket has its own breaker: a failing bucket must not stop the table's hits.
        self.bucket_guard = StoreGuard(
            "the large-object bucket",
            CircuitBreaker(guard.breaker.threshold, guard.breaker.cooldown),
            guard.stats,
            guard.tracing,
        )
        self.max_body_bytes = max_body_bytes
        self._holder = ""  # this container's identity in lease items

    # Connections --------------------------------------------------------------------------

    def drop_connections(self) -> None:
        """Close the pooled connections to the table and the bucket; the next call opens new
        ones (SnapStart: a connection from before a snapshot is dead after a restore)."""
        self.table.client.close()
        if self.large_objects is not None:
            self.large_objects.client.close()

    def after_restore(self) -> None:
        """A restored snapshot starts afresh: new connections, and closed breakers (a failure
        streak from before the snapshot says nothing now)."""
        self.drop_connections()
        self.guard.breaker.success()
        self.bucket_guard.breaker.success()

    # Reads --------------------------------------------------------------------------------

    def lookup(
        self,
        key: str,
        *,
        follow_aliases: bool = True,
        consistent: bool = False,
        chain_history: bool = False,
    ) -> Entry | None:
        """The entry for ``key``: the memory tier first, then one GetItem (a second to follow
        a redirect alias). None for a miss, a failed call or an unreadable item. With
        ``consistent``, the table as it is now: a strongly consistent GetItem, past the memory
        tier (which it then updates), how a container waiting for another's write sees it.
        An entry found under its own key is served
        without the redirect history of the chain that stored it (unless ``chain_history``):
        that history belongs to the requests whose aliases lead there."""
        table_key = self.table_key(key)
        cached = None
        if self.memory is not None and not consistent:
            cached = self.memory.get(table_key)
        if isinstance(cached, Entry):
            self.stats.add("memory_hits")
            return cached if chain_history else cached.with_history_from(len(cached.history))
        if isinstance(cached, Alias):
            if not follow_aliases:
                return None
            return self._follow(cached, key)
        # None: the table's own setting (consistent_read); True forces a consistent read.
        strongly = True if consistent else None
        item = self.guard.call("read", lambda: self.table.get(table_key, consistent=strongly))
        if item is None:
            return None
        try:
            kind = item_kind(item)
            if kind == KIND_TOMBSTONE:
                return None
            if kind == KIND_REDIRECT:
                if not follow_aliases:
                    return None
                alias = decode_alias(item)
                if alias.is_expired(datetime.now(UTC)):
                    return None
                if self.memory is not None:
                    self.memory.put(table_key, alias)
                return self._follow(alias, key)
            entry = self._decode(item, table_key)
        except ItemError as error:
            self.stats.add("unreadable")
            logger.warning("Unreadable cache item %s treated as a miss: %s", key, error)
            return None
        except Exception as error:  # whatever the item holds, a read never raises
            self.stats.add("errors")
            logger.warning("Cache item %s could not be read, treated as a miss: %r", key, error)
            return None
        if entry is not None and self.memory is not None:
            self.memory.put(table_key, entry)
        if entry is None or chain_history:
            return entry
        return entry.with_history_from(len(entry.history))

    def _follow(self, alias: Alias, key: str) -> Entry | None:
        entry = self.lookup(alias.target, follow_aliases=False, chain_history=True)
        if entry is None:
            return None
        if alias.expires is not None and (entry.expires is None or entry.expires > alias.expires):
            # The target was refreshed since the alias was written: the alias's own expiry
            # still bounds what it may serve.
            entry = entry._replace(expires=alias.expires)
        return entry.with_history_from(min(alias.hop, len(entry.history)))

    def _decode(self, item: Mapping[str, Any], table_key: str) -> Entry | None:
        """The entry in ``item``, its body fetched from the bucket if it is there; raises
        ItemError if unreadable, None if the bucket call failed."""
        stored_body = None
        location = self._body_location(item, table_key)
        if location is not None:
            assert self.large_objects is not None
            stored_body = self.bucket_guard.call(
                "read", self.large_objects.get, location, self.max_body_bytes
            )
            if stored_body is None:
                return None
        return decode_entry(item, stored_body, max_body_bytes=self.max_body_bytes)

    def _body_location(self, item: Mapping[str, Any], table_key: str) -> str | None:
        """Where the body of ``item`` is, if not in the item: only ever the location this
        store gives ``table_key`` itself, whatever the item says (raises ItemError if the
        item points anywhere else)."""
        location = body_location(item)
        if location is None:
            return None
        if self.large_objects is None:
            raise ItemError("the body is in S3 and no bucket is configured")
        if location != self.large_objects.location(self.namespace, table_key):
            raise ItemError(f"body_location {location!r} is not this key's location")
        return location

    def load_entry(self, item: Mapping[str, Any]) -> Entry:
        """The entry in ``item`` with its body (for maintenance and inspection); raises
        ItemError if it is unreadable, its body included."""
        location = self._body_location(item, str(attribute(item, "key")))
        if location is None:
            return decode_entry(item, max_body_bytes=self.max_body_bytes)
        assert self.large_objects is not None
        try:
            stored_body = self.large_objects.get(location, self.max_body_bytes)
        except Exception as error:
            raise ItemError(f"the body in S3 is unreadable: {error!r}") from None
        return decode_entry(item, stored_body, max_body_bytes=self.max_body_bytes)

    def __getitem__(self, key: str) -> CachedResponse:
        """The response stored under ``key``; KeyError for a miss, whatever the table holds
        (a failure is counted and logged, as by every read)."""
        entry = self.lookup(key, follow_aliases=False)  # never raises
        if entry is None:
            raise KeyError(key)
        try:
            return entry.to_response(key)
        except Exception as error:
            self.stats.add("errors")
            logger.warning("Cache item %s could not be read, treated as a miss: %r", key, error)
            raise KeyError(key) from None

    def decode(self, key: str, item: dict[str, Any]) -> CachedResponse | None:
        """The response in ``item``, or None (counted, logged) if the item is unreadable,
        whatever it holds."""
        try:
            return self.load_entry(item).to_response(key)
        except Exception as error:
            self.stats.add("unreadable")
            logger.warning("Unreadable cache item %s treated as a miss: %r", key, error)
            return None

    def entries(self) -> Iterator[tuple[str, CachedResponse | None]]:
        """Every key and response of the namespace from one paginated scan (None if unreadable)."""
        for item in self.table.scan(prefix=self.prefix):
            if attribute(item, "kind") == KIND_RESPONSE:
                key = str(attribute(item, "key"))[len(self.prefix) :]
                yield key, self.decode(key, item)

    def values(self) -> Iterator[CachedResponse | None]:  # type: ignore[override]
        return (response for _, response in self.entries())

    # Writes -------------------------------------------------------------------------------

    def __setitem__(self, key: str, response: CachedResponse) -> None:
        self.write(key, response)

    def write(
        self, key: str, response: Response | CachedResponse, expires: datetime | None = None
    ) -> Entry | None:
        """Store ``response`` under ``key`` if the rules allow it; the entry stored, or None.
        A refused, oversize or failed write leaves nothing of ``response`` in either tier. A
        response whose body is still unread (``stream=True``) is not stored: the cache never
        reads a body the caller has not read."""
        table_key = self.table_key(key)
        self._forget(key)
        reason = self.policy.refusal(response)
        if reason is None and not self.policy.matches(key, response.request):
            # Key what was sent: an auth handler, a cookie set on a redirect or credentials
            # dropped on the way made the response for other credentials than the key's.
            reason = "credentials changed on the way"
        if reason is not None:
            self.stats.add("not_stored")
            logger.debug("Response not stored in the shared cache: %s", reason)
            if reason != SETS_COOKIE:
                return None
            self.stats.add("not_stored_set_cookie")
            # A default that costs hits where every response sets a cookie (load balancer
            # stickiness), so said where it shows: WARNING, since Lambda shows no INFO by
            # default, but once per URL (scheme, host, path) and for a bounded number of URLs
            # per container, so it cannot flood the log; the counter has every refusal.
            shown = self.policy.first_cookie_refusal(str(response.url or ""))
            if shown is not None:
                logger.warning(
                    "Responses of %s are not stored in the shared cache: they set a cookie "
                    "and are not marked Cache-Control: public or s-maxage (set "
                    "HTTP_CACHE_SHARE_SET_COOKIE=true to store them without the cookie)",
                    shown,
                )
            return None
        if isinstance(response, CachedResponse):
            cached = response if expires is None else CachedResponse.from_response(response)
        else:
            if unread(response):
                # The cache never reads a body the caller has not read: a stream=True response
                # reaches the caller untouched, its raw stream the origin's own. (Without
                # stream=True, requests has read the body whole: the size checks below apply.)
                self.stats.add("not_stored")
                logger.debug(
                    "Response not stored in the shared cache: streamed: the cache does not "
                    "read a body the caller may not read"
                )
                return None
            cached = CachedResponse.from_response(response)
        if expires is not None:
            cached.expires = expires
        # The transport of the request as sent (a copy made above does not carry it).
        entry = self.policy.to_entry(
            cached, key_fingerprint(key), stamped_transport(response.request)
        )
        if len(entry.content) > self.max_body_bytes:
            self._oversize(entry, len(entry.content))
            return None
        item = encode_entry(table_key, self.namespace, entry, ttl=self.table.ttl)
        size = item_size(item)
        if size > MAX_ITEM_BYTES and self.large_objects is not None and "body" in item:
            if not self._store_body_apart(item, table_key):
                return None
            size = item_size(item)
        if size > MAX_ITEM_BYTES:
            self._oversize(entry, size)
            return None
        written = self.guard.call("write", self._put_unless_newer, item)
        if not written:
            if written is False:
                self.stats.add("not_stored")
                logger.debug("Response not stored: a newer one (or an invalidation) is")
            return None
        if self.memory is not None:
            self.memory.put(table_key, entry)
        return entry

    def _put_unless_newer(self, item: dict[str, Any]) -> bool:
        """Write a response item unless the table holds a newer response or tombstone under
        its key (``created`` sorts as text); whether it was written. A response fetched before
        an invalidation, or before another container's fresher copy, never replaces it. A
        ``created`` later than any clock could say (or not a time at all) does not count, so a
        corrupt or hostile item cannot block its key."""
        implausible = iso_time(datetime.now(UTC) + MAX_CLOCK_SKEW)
        try:
            return self.table.put(
                item,
                condition=(
                    "attribute_not_exists(#k) OR attribute_not_exists(#c) "
                    "OR NOT attribute_type(#c, :text) OR #c <= :c OR #c > :implausible"
                ),
                ExpressionAttributeNames={"#k": "key", "#c": "created"},
                ExpressionAttributeValues={
                    ":c": item["created"],
                    ":implausible": {"S": implausible},
                    ":text": {"S": "S"},
                },
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            return False

    # Coordination -------------------------------------------------------------------------

    def acquire_lease(
        self, key: str, seconds: float, stored_at: datetime | None = None
    ) -> bool | None:
        """Try to become the one container that refreshes ``key`` for ``seconds``: True if
        won, False if another holds it, None if the table could not say (counted, and the
        caller goes to the origin as without leases). One conditional PutItem. ``stored_at``
        is when the stale entry was written: a run-out lease taken after it was never
        followed by a write (its holder died or timed out), which is counted."""
        now = datetime.now(UTC)
        if not self._holder:
            # Made at first use, never at init: a SnapStart snapshot must not give every
            # restored environment the same identity.
            self._holder = secrets.token_hex(8)
        lease = encode_lease(
            self.table_key(key) + LEASE_SUFFIX,
            self.namespace,
            now,
            now + timedelta(seconds=seconds),
            self._holder,
        )
        # In a tuple: the guard's None (failed) stays apart from the condition's None (lost).
        answer = self.guard.call(
            "write",
            lambda: (
                self.table.put_replacing(
                    lease,
                    # A container may take its own lease again (its refresh is done). A lease
                    # whose end is not a number, or later than any lease runs, is bogus (a
                    # corrupt or hostile item): it cannot hold the key.
                    condition=(
                        "attribute_not_exists(#k) OR NOT attribute_type(#until, :number) "
                        "OR #until < :now OR #until > :implausible OR #holder = :me"
                    ),
                    ExpressionAttributeNames={"#k": "key", "#until": "until", "#holder": "holder"},
                    ExpressionAttributeValues={
                        ":now": {"N": str(round(now.timestamp(), 3))},
                        ":implausible": {
                            "N": str(round((now + MAX_CLOCK_SKEW + MAX_LEASE).timestamp(), 3))
                        },
                        ":number": {"S": "N"},
                        ":me": {"S": self._holder},
                    },
                ),
            ),
        )
        if answer is None:
            return None
        (replaced,) = answer
        if replaced is None:
            self.stats.add("leases_lost")
            return False
        self.stats.add("leases_won")
        since = replaced.get("since", {}).get("N") if replaced else None
        if since is not None and stored_at is not None and float(since) > stored_at.timestamp():
            self.stats.add("leases_expired")
        return True

    def invalidate(self, key: str) -> None:
        """Leave a tombstone under ``key``: every container's next read of it is a miss, and
        no response older than it may be written over it."""
        self._forget(key)
        tombstone = encode_tombstone(self.table_key(key), self.namespace, datetime.now(UTC))
        self.guard.call("write", self.table.put, tombstone)

    def _oversize(self, entry: Entry, size: int) -> None:
        self.stats.add("oversize")
        logger.warning(
            "Response of %d bytes is %d bytes stored, over the limit (%d bytes in an item, "
            "%d bytes of body): not cached",
            len(entry.content),
            size,
            MAX_ITEM_BYTES,
            self.max_body_bytes,
        )

    def _store_body_apart(self, item: dict[str, Any], table_key: str) -> bool:
        """Move the body of ``item`` to the large-object bucket; whether that worked."""
        assert self.large_objects is not None
        location = self.large_objects.location(self.namespace, table_key)
        body = item.pop("body")["B"]
        if self.bucket_guard.call("write", self.large_objects.put, location, body) is None:
            return False
        item["body_location"] = {"S": location}
        return True


def unread(response: Response) -> bool:
    """Whether the body of ``response`` is still unread: a ``stream=True`` response, whose
    ``_content`` requests leaves False until someone reads it."""
    return getattr(response, "_content", None) is False


class RedirectStorage(_NamespacedStorage, BaseStorage[str, str]):
    """Redirect aliases of one namespace: the key of a request that was redirected, mapped to
    the key its final response is stored under."""

    kind = KIND_REDIRECT

    def __init__(
        self, table: CacheTable, namespace: str, *, guard: StoreGuard, memory: MemoryTier | None
    ) -> None:
        _NamespacedStorage.__init__(self, table, namespace, memory)
        BaseStorage.__init__(self, serializer=None)
        self.guard = guard

    def _scan_keys(self) -> Iterator[str]:
        """The keys of the namespace's aliases that lookups would follow: not expired, not
        into another credential partition (iteration agrees with ``__getitem__``)."""
        now = datetime.now(UTC)
        projection = ("key", "kind", "v", "target", "hop", "expires")
        for item in self.table.scan(prefix=self.prefix, projection=projection):
            if attribute(item, "kind") != KIND_REDIRECT:
                continue
            try:
                if decode_alias(item).is_expired(now):
                    continue
            except Exception:  # unreadable, whatever it holds: lookups do not follow it
                continue
            yield str(attribute(item, "key"))[len(self.prefix) :]

    def __getitem__(self, key: str) -> str:
        """The target of the alias under ``key``; KeyError for none, an expired or unreadable
        one, or a failed read (counted and logged as every read is): nothing else is raised."""
        item = self.guard.call("read", self.table.get, self.table_key(key))
        if item is None or attribute(item, "kind") != KIND_REDIRECT:
            raise KeyError(key)
        try:
            alias = decode_alias(item)
            expired = alias.is_expired(datetime.now(UTC))
        except Exception as error:
            self.guard.stats.add("unreadable")
            logger.warning("Unreadable redirect alias %s treated as a miss: %r", key, error)
            raise KeyError(key) from None
        if expired:
            raise KeyError(key)
        return alias.target

    def __setitem__(self, key: str, target: str) -> None:
        """An alias to an existing entry, expiring with it (requests-cache's ``update``)."""
        item = self.table.get(self.table_key(target))
        try:
            entry = decode_entry(item, with_body=False) if item is not None else None
        except ItemError:
            entry = None
        if entry is None:
            logger.debug("Alias %s not stored: its target %s is not a stored response", key, target)
            return
        self.write(key, Alias(target, entry.expires))

    def write(self, key: str, alias: Alias) -> None:
        """Store ``alias`` under ``key``, never replacing a response stored there."""
        if key == alias.target or key_fingerprint(key) != key_fingerprint(alias.target):
            return
        self.guard.call("write", self._put, key, alias)

    def _put(self, key: str, alias: Alias) -> None:
        table_key = self.table_key(key)
        try:
            self.table.put(
                encode_redirect(table_key, self.namespace, alias),
                condition="attribute_not_exists(#k) OR #kind = :redirect",
                ExpressionAttributeNames={"#k": "key", "#kind": "kind"},
                ExpressionAttributeValues={":redirect": {"S": KIND_REDIRECT}},
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            return
        if self.memory is not None:
            self.memory.put(table_key, alias)
