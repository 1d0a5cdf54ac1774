"""The stores of one namespace in the cache table: the only I/O of the cache.

:class:`ResponseStorage` owns everything between an entry and the table: the item encoding,
the size limits, the large-object bucket, TTL, the memory tier in front of the table, the
conditional write that never replaces a newer entry, tombstones and leases. It judges
nothing: what may be stored, and how a response becomes an entry, are the core's and the
cache's (cache.py), whose one write path ends in :meth:`ResponseStorage.put`. Reads go
through :meth:`ResponseStorage.lookup`. :class:`RedirectStorage` holds the redirect aliases.
They are mappings, as requests-cache's storages are, so its ``BaseCache`` works over them.

Every call to the table or the bucket goes through a :class:`~.guard.StoreGuard` (breaker,
trace segment, latency, and a failure turned into None), so neither store raises into a
request. Responses and aliases share the key space (``<namespace>:<requests-cache key>``),
so that a lookup is one GetItem whichever it finds.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any

from .breaker import CircuitBreaker
from .config import DEFAULT_MAX_BODY_MB
from .guard import StoreGuard
from .item import (
    KIND_PENDING,
    KIND_REDIRECT,
    KIND_RESPONSE,
    KIND_TOMBSTONE,
    KIND_UNCACHEABLE,
    LEASE_SUFFIX,
    MAX_ITEM_BYTES,
    UNCACHEABLE_SECONDS,
    Alias,
    Entry,
    ItemError,
    Pending,
    Uncacheable,
    body_location,
    decode_alias,
    decode_entry,
    decode_pending,
    decode_uncacheable,
    encode_entry,
    encode_lease,
    encode_pending,
    encode_redirect,
    encode_tombstone,
    encode_uncacheable,
    iso_time,
    item_kind,
    item_size,
    key_fingerprint,
)
from .large_objects import LargeObjectStore
from .memory import MemoryTier
from .table import CacheTable, attribute

logger = logging.getLogger(__name__)

# How far ahead of this container's clock another's may be; a stored time beyond is bogus.
MAX_CLOCK_SKEW = timedelta(minutes=5)


class Unavailable:
    """What a read that failed finds: a miss, after which nothing more is asked of the table
    for that request than storing its answer (no claim, no waiting on others)."""


UNAVAILABLE = Unavailable()
# What put() answers for an entry too large to store.
OVERSIZE = "oversize"
# The longest lease a container takes (coordination.py's bound, with room to spare).
MAX_LEASE = timedelta(minutes=1)


def _run_out(now: datetime) -> tuple[str, dict[str, Any]]:
    """The condition (and its values) under which a lease or claim item no longer holds its
    key at ``now``: its end has passed, or it is bogus (a corrupt or hostile item, whose end
    is not a number or later than any lease runs), so that it cannot block the key."""
    return (
        "(NOT attribute_type(#until, :number) OR #until < :now OR #until > :implausible)",
        {
            ":now": {"N": str(round(now.timestamp(), 3))},
            ":implausible": {"N": str(round((now + MAX_CLOCK_SKEW + MAX_LEASE).timestamp(), 3))},
            ":number": {"S": "N"},
        },
    )


class _NamespacedStorage(MutableMapping[str, Any]):
    """The items of one kind in one namespace: maps cache keys to table keys and back, and
    the mapping operations both storages share (what requests-cache's storages offer, so its
    ``BaseCache`` works over them). Deletes also leave the memory tier, so this container
    never serves what it has removed from the table."""

    kind: str
    # requests-cache's storage attributes: items are this project's own format.
    serializer = None
    decode_content = True

    def close(self) -> None:
        """Nothing to close: the client's connections are botocore's."""

    def __init__(self, table: CacheTable, namespace: str, memory: MemoryTier | None) -> None:
        self.table = table
        self.namespace = namespace
        self.prefix = f"{namespace}:"
        self.memory = memory

    def table_key(self, key: str) -> str:
        return self.prefix + key

    def forget(self, key: str) -> None:
        """Drop ``key`` from this container's memory tier."""
        if self.memory is not None:
            self.memory.discard(self.table_key(key))

    def _scan_keys(self) -> Iterator[str]:
        for item in self.table.scan(prefix=self.prefix, projection=("key", "kind")):
            if attribute(item, "kind") == self.kind:
                yield str(attribute(item, "key"))[len(self.prefix) :]

    def __delitem__(self, key: str) -> None:
        self.forget(key)
        if not self.table.delete(self.table_key(key)):
            raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return self._scan_keys()

    def __len__(self) -> int:
        return sum(1 for _ in self._scan_keys())

    def bulk_delete(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        for key in keys:
            self.forget(key)
        self.table.delete_many(self.table_key(k) for k in keys)

    def clear(self) -> None:
        if self.memory is not None:
            self.memory.clear()
        self.bulk_delete(list(self._scan_keys()))


class ResponseStorage(_NamespacedStorage):
    """The responses of one namespace, as a mapping of requests-cache keys to responses, and
    the one read path and the one write path of the cache."""

    kind = KIND_RESPONSE

    def __init__(
        self,
        table: CacheTable,
        namespace: str,
        *,
        guard: StoreGuard,
        memory: MemoryTier | None = None,
        large_objects: LargeObjectStore | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_MB * 1024 * 1024,
    ) -> None:
        _NamespacedStorage.__init__(self, table, namespace, memory)
        # What a stored entry is read as: the session's response class (requests-cache's own,
        # for its session: backend.py).
        self.to_response: Callable[[Entry, str], Any] = _cached_http_response
        # How a response written as ``storage[key] = response`` is stored: the cache's one
        # write path (cache.py sets it).
        self.write_response: Callable[[str, Any], Any] = _not_writable
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
        """A restored snapshot starts afresh: new connections, closed breakers (a failure
        streak from before the snapshot says nothing now), and a new lease owner's id, made at
        the next lease (every environment restored from one snapshot would share the old one
        and take each other's leases for their own)."""
        self.drop_connections()
        self._holder = ""
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
        """The entry for ``key`` (see :meth:`lookup_marked`); a mark is a miss."""
        found = self.lookup_marked(
            key, follow_aliases=follow_aliases, consistent=consistent, chain_history=chain_history
        )
        return found if isinstance(found, Entry) else None

    def held(self, key: str) -> Entry | None:
        """The entry the memory tier holds for ``key``, fresh or stale
        (:meth:`MemoryTier.get_held`), without a table call; None if it holds none."""
        if self.memory is None:
            return None
        entry = self.memory.get_held(self.table_key(key))
        return None if entry is None else entry.with_history_from(len(entry.history))

    def lookup_marked(
        self,
        key: str,
        *,
        follow_aliases: bool = True,
        consistent: bool = False,
        chain_history: bool = False,
    ) -> Entry | Uncacheable | Pending | Unavailable | None:
        """The entry for ``key``: the memory tier first, then one GetItem (a second to follow
        a redirect alias). None for a miss, a failed call or an unreadable item. With
        ``consistent``, the table as it is now: a strongly consistent GetItem, past the memory
        tier (which it then updates), how a container waiting for another's write sees it.
        An entry found under its own key is served
        without the redirect history of the chain that stored it (unless ``chain_history``):
        that history belongs to the requests whose aliases lead there. The mark of a key whose
        last answer could not be stored, and the claim of a first fill in progress (never
        kept in the memory tier: its answer replaces it soon), are returned as such; a read
        that failed, or an item that cannot be read (counted, logged), is
        :data:`UNAVAILABLE`."""
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
        if isinstance(cached, Uncacheable):
            return None if cached.is_expired(datetime.now(UTC)) else cached
        # None: the table's own setting (consistent_read); True forces a consistent read.
        strongly = True if consistent else None
        # In a tuple: the guard's None (the call failed) stays apart from an absent item's.
        answer = self.guard.call("read", lambda: (self.table.get(table_key, consistent=strongly),))
        if answer is None:
            return UNAVAILABLE
        (item,) = answer
        if item is None:
            return None
        try:
            kind = item_kind(item)
            if kind == KIND_TOMBSTONE:
                return None
            if kind == KIND_PENDING:
                claim = decode_pending(item)
                return None if claim.is_expired(datetime.now(UTC)) else claim
            if kind == KIND_UNCACHEABLE:
                mark = decode_uncacheable(item)
                if mark.is_expired(datetime.now(UTC)):
                    return None
                if self.memory is not None:
                    self.memory.put(table_key, mark)
                return mark
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
            # A miss, and no claim can be placed over it: as if the table had not answered.
            self.stats.add("unreadable")
            logger.warning("Unreadable cache item %s treated as a miss: %s", key, error)
            return UNAVAILABLE
        except Exception as error:  # whatever the item holds, a read never raises
            self.stats.add("errors")
            logger.warning("Cache item %s could not be read, treated as a miss: %r", key, error)
            return UNAVAILABLE
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

    def __getitem__(self, key: str) -> Any:
        """The response stored under ``key``; KeyError for a miss, whatever the table holds
        (a failure is counted and logged, as by every read)."""
        entry = self.lookup(key, follow_aliases=False)  # never raises
        if entry is None:
            raise KeyError(key)
        try:
            return self.to_response(entry, key)
        except Exception as error:
            self.stats.add("errors")
            logger.warning("Cache item %s could not be read, treated as a miss: %r", key, error)
            raise KeyError(key) from None

    def decode(self, key: str, item: dict[str, Any]) -> Any:
        """The response in ``item``, or None (counted, logged) if the item is unreadable,
        whatever it holds."""
        try:
            return self.to_response(self.load_entry(item), key)
        except Exception as error:
            self.stats.add("unreadable")
            logger.warning("Unreadable cache item %s treated as a miss: %r", key, error)
            return None

    def entries(self) -> Iterator[tuple[str, Any]]:
        """Every key and response of the namespace from one paginated scan (None if unreadable)."""
        for item in self.table.scan(prefix=self.prefix):
            if attribute(item, "kind") == KIND_RESPONSE:
                key = str(attribute(item, "key"))[len(self.prefix) :]
                yield key, self.decode(key, item)

    def values(self) -> Iterator[Any]:  # type: ignore[override]
        return (response for _, response in self.entries())

    # Writes -------------------------------------------------------------------------------

    def __setitem__(self, key: str, response: Any) -> None:
        # requests-cache's own writes (reset_expiration, recreate_keys): through the cache's
        # one write path, which judges them (cache.py).
        self.write_response(key, response)

    def put(self, key: str, entry: Entry) -> Entry | str | None:
        """Store ``entry`` under ``key``: the entry stored; :data:`OVERSIZE` if it is too large
        to store; None if the write failed or the table holds something newer. Either way but
        the first leaves nothing of it in either tier. What
        may be stored is not this store's to judge (cache.py and the core decide)."""
        table_key = self.table_key(key)
        self.forget(key)
        if len(entry.content) > self.max_body_bytes:
            self._oversize(entry, len(entry.content))
            return OVERSIZE
        item = encode_entry(table_key, self.namespace, entry, ttl=self.table.ttl)
        size = item_size(item)
        if size > MAX_ITEM_BYTES and self.large_objects is not None and "body" in item:
            if not self._store_body_apart(item, table_key):
                return None
            size = item_size(item)
        if size > MAX_ITEM_BYTES:
            self._oversize(entry, size)
            return OVERSIZE
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
        lease = encode_lease(
            self.table_key(key) + LEASE_SUFFIX,
            self.namespace,
            now,
            now + timedelta(seconds=seconds),
            self._lease_holder(),
        )
        run_out, values = _run_out(now)
        # In a tuple: the guard's None (failed) stays apart from the condition's None (lost).
        answer = self.guard.call(
            "write",
            lambda: (
                self.table.put_replacing(
                    lease,
                    # A container may take its own lease again (its refresh is done).
                    condition=f"attribute_not_exists(#k) OR {run_out} OR #holder = :me",
                    ExpressionAttributeNames={"#k": "key", "#until": "until", "#holder": "holder"},
                    ExpressionAttributeValues={**values, ":me": {"S": self._holder}},
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

    def claim_fill(self, key: str, seconds: float) -> bool | None:
        """Try to become the one container that makes the first fill of ``key`` for
        ``seconds``: True if claimed, False if another claimed it (or the key holds something
        now), None if the table could not say. One conditional PutItem under the key itself,
        over nothing, a tombstone or a run-out claim; the answer then replaces it."""
        now = datetime.now(UTC)
        claim = encode_pending(
            self.table_key(key),
            self.namespace,
            now,
            now + timedelta(seconds=seconds),
            self._lease_holder(),
        )
        run_out, values = _run_out(now)
        claimed = self.guard.call(
            "write",
            lambda: self.table.put(
                claim,
                condition=(
                    f"attribute_not_exists(#k) OR #kind = :tombstone "
                    f"OR (#kind = :pending AND {run_out})"
                ),
                ExpressionAttributeNames={"#k": "key", "#kind": "kind", "#until": "until"},
                ExpressionAttributeValues={
                    **values,
                    ":tombstone": {"S": KIND_TOMBSTONE},
                    ":pending": {"S": KIND_PENDING},
                },
            ),
        )
        if claimed is None:
            return None
        self.stats.add("leases_won" if claimed else "leases_lost")
        return bool(claimed)

    def _lease_holder(self) -> str:
        """This container's id in the leases and claims it writes: made at first use, never
        at init (a SnapStart snapshot must not give every restored environment the same one),
        and again after a restore (:meth:`after_restore`)."""
        if not self._holder:
            self._holder = secrets.token_hex(8)
        return self._holder

    def mark_uncacheable(self, key: str, seconds: float = UNCACHEABLE_SECONDS) -> None:
        """Leave the hit-for-miss mark under ``key`` for ``seconds`` (unless the table holds
        something newer): the key's next callers go to the origin at once, without a lease."""
        now = datetime.now(UTC)
        until = now + timedelta(seconds=seconds)
        mark = encode_uncacheable(self.table_key(key), self.namespace, now, until)
        if self.guard.call("write", self._put_unless_newer, mark) and self.memory is not None:
            self.memory.put(self.table_key(key), Uncacheable(until))

    def invalidate(self, key: str) -> None:
        """Leave a tombstone under ``key``: every container's next read of it is a miss, and
        no response older than it may be written over it."""
        self.forget(key)
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


def _not_writable(key: str, response: Any) -> None:
    raise TypeError("responses are written through the cache (SharedCache.store)")


def _cached_http_response(entry: Entry, key: str) -> Any:
    return entry.to_response(key)


class RedirectStorage(_NamespacedStorage):
    """Redirect aliases of one namespace: the key of a request that was redirected, mapped to
    the key its final response is stored under."""

    kind = KIND_REDIRECT

    def __init__(
        self, table: CacheTable, namespace: str, *, guard: StoreGuard, memory: MemoryTier | None
    ) -> None:
        _NamespacedStorage.__init__(self, table, namespace, memory)
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
        written = self.table.put(
            encode_redirect(table_key, self.namespace, alias),
            condition="attribute_not_exists(#k) OR #kind = :redirect",
            ExpressionAttributeNames={"#k": "key", "#kind": "kind"},
            ExpressionAttributeValues={":redirect": {"S": KIND_REDIRECT}},
        )
        if written and self.memory is not None:
            self.memory.put(table_key, alias)
