"""The cache over one DynamoDB table, as the sessions see it: keys (with the credential
partition of sharing.py), reads, writes, leases, invalidation, maintenance, and the rule that
none of its calls raises into a request.

Numbers in bodies round-trip, bodies come back byte for byte, construction makes no network
call, scans read every page, and redirect aliases live in the table where every container
sees them. What lies between a response and the table (rules on write, encoding, limits, the
bucket, the memory tier) is the storages' (storage.py). :meth:`SharedCache.from_config` is
how a :class:`~.config.CacheConfig` becomes a cache; the constructor takes requests-cache's
``DynamoDbCache`` keywords, and ``DynamoDbCache`` (backend.py) is this cache as a
requests-cache backend.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import NoRegionError
from requests import PreparedRequest, Request, Response

from .bounded import BoundedMemo
from .breaker import CircuitBreaker
from .config import (
    DEFAULT_MAX_BODY_MB,
    DEFAULT_MEMORY_MAX_AGE,
    DEFAULT_MEMORY_MB,
    DEFAULT_NAMESPACE,
    DEFAULT_TABLE,
    CacheConfig,
    ConfigError,
    validate_namespace,
)
from .core.expiration import utcnow
from .core.rules import redirect_expires
from .core.settings import CacheSettings
from .guard import StoreGuard
from .item import Alias, Entry, key_fingerprint
from .keys import Transport, stamp, stamped_transport, transport_of
from .large_objects import LargeObjectStore
from .memory import MemoryTier
from .observability import Tracing
from .response import CachedHttpResponse
from .sharing import SETS_COOKIE, SharingPolicy, vary_names
from .stats import CacheStats
from .storage import RedirectStorage, ResponseStorage
from .table import CacheTable, bounded_config, make_client, region_fallback

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger(__name__)

# The key memo holds no request with a body, and at most this many bytes (bounded.py's rule).
KEY_MEMO_BYTES = 512 * 1024


class SharedCache:
    """The shared cache in a DynamoDB table.

    Args:
        table_name: DynamoDB table name.
        create_table: Create the table (and enable TTL) if an operation finds it missing.
            Construction itself never calls DynamoDB.
        ttl: Write the ``ttl`` attribute (epoch seconds) from each response's expiration.
        connection: A boto3 DynamoDB client, resource or ``Table``, or a boto3 ``Session``, to
            use instead of a new client.
        namespace: Partition of the table this cache reads and writes (letters, digits,
            ``_ . -``, at most 64).
        consistent_read: Use strongly consistent reads (twice the read units).
        config: A botocore ``Config`` for a new client (timeouts, retries).
        memory_cache_bytes: Size of the in-container memory tier; 0 turns it off.
        memory_max_age: Seconds the memory tier serves an entry before reading the table.
        store_private: Store responses marked ``Cache-Control: private`` (off: this cache
            is shared).
        share_set_cookie: Store responses that set a cookie (without ``Set-Cookie``) even
            when not marked ``public`` or ``s-maxage`` (off: they are not shared).
        key_secret: Secret for the keyed hash of credentials in cache keys.
        breaker: The circuit breaker guarding table calls.
        stats: Where events are counted.
        tracing: Where cache reads and writes are traced.
        large_objects: Where bodies too large for an item go (off when None).
        max_body_bytes: The largest body stored or read back.
        kwargs: boto3 session or client keywords (``region_name``, ``endpoint_url``, ...).

    Reads and writes never raise: a failed or skipped read is a miss, a failed write leaves
    the response uncached; each is logged and counted.
    """

    def __init__(
        self,
        table_name: str = DEFAULT_TABLE,
        # On as in requests-cache's DynamoDbCache; off in CacheConfig (CDK provisions).
        create_table: bool = True,
        *,
        ttl: bool = CacheConfig.ttl,
        connection: Any = None,
        namespace: str = DEFAULT_NAMESPACE,
        consistent_read: bool = CacheConfig.consistent_read,
        config: Config | None = None,
        memory_cache_bytes: int = DEFAULT_MEMORY_MB * 1024 * 1024,
        memory_max_age: float = DEFAULT_MEMORY_MAX_AGE,
        store_private: bool = CacheConfig.store_private,
        share_set_cookie: bool = CacheConfig.share_set_cookie,
        key_secret: str | bytes | None = None,
        breaker: CircuitBreaker | None = None,
        stats: CacheStats | None = None,
        tracing: Tracing | None = None,
        large_objects: LargeObjectStore | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_MB * 1024 * 1024,
        decode_content: bool = True,
        **kwargs: Any,
    ) -> None:
        # decode_content is accepted for compatibility: bodies are always stored as bytes.
        if kwargs.pop("serializer", None) is not None:
            raise TypeError("DynamoDbCache stores its own item format; serializer is not used")
        validate_namespace(namespace)
        self.cache_name = table_name
        # The session's settings (it sets them: requests-cache's session does too).
        self._settings: Any = CacheSettings()
        table = CacheTable(
            make_client(connection, config=config, **kwargs),
            table_name,
            create_table=create_table,
            ttl=ttl,
            consistent_read=consistent_read,
        )
        self.namespace = namespace
        guard = StoreGuard(
            "the table",
            breaker or CircuitBreaker(),
            stats or CacheStats(),
            tracing or Tracing(enabled=False),
        )
        memory = MemoryTier(memory_cache_bytes, memory_max_age) if memory_cache_bytes > 0 else None
        # Without a configured secret the key's HMAC still separates credentials, but its key
        # is public: the documentation says what that costs, and the first use logs it once.
        secret = key_secret if key_secret is not None else f"lambda-http-cache:{table_name}"
        self.policy = SharingPolicy(
            self._settings.ignored_parameters or (),
            secret=secret.encode() if isinstance(secret, str) else secret,
            store_private=store_private,
            share_set_cookie=share_set_cookie,
            secret_configured=key_secret is not None,
        )
        self._policy_source: tuple[str, ...] = tuple(self._settings.ignored_parameters or ())
        self.responses: ResponseStorage = ResponseStorage(
            table,
            namespace,
            guard=guard,
            memory=memory,
            large_objects=large_objects,
            max_body_bytes=max_body_bytes,
        )
        self.redirects: RedirectStorage = RedirectStorage(
            table, namespace, guard=guard, memory=memory
        )
        self.responses.write_response = self.store
        # Heuristic freshness (off in standards mode; the session sets it): for redirects.
        self.heuristic = True
        self._key_memo: BoundedMemo[tuple[Any, ...], str] = BoundedMemo(KEY_MEMO_BYTES)

    def __repr__(self) -> str:
        name, namespace = self.cache_name, self.namespace
        return f"<{type(self).__name__}(table_name={name!r}, namespace={namespace!r})>"

    @classmethod
    def from_config(
        cls,
        config: CacheConfig,
        *,
        connection: Any = None,
        s3_client: Any = None,
        stats: CacheStats | None = None,
        tracing: Tracing | None = None,
    ) -> SharedCache:
        """The cache ``config`` describes: its table through a client bounded by the config's
        timeouts (or ``connection``), its bucket (through ``s3_client`` or a new client) if
        one is set. Makes no network call; a missing region is a :class:`ConfigError`."""
        timeouts = bounded_config(config.connect_timeout, config.read_timeout, config.max_attempts)
        try:
            client: DynamoDBClient = make_client(connection, config=timeouts)
        except NoRegionError:
            raise ConfigError(
                "AWS_DEFAULT_REGION",
                "no AWS region is configured (AWS_DEFAULT_REGION or AWS_REGION; Lambda sets both)",
            ) from None
        large_objects = None
        if config.large_object_bucket:
            if s3_client is None:
                s3_client = boto3.client(
                    "s3", region_name=region_fallback().get("region_name"), config=timeouts
                )
            large_objects = LargeObjectStore(
                s3_client, config.large_object_bucket, config.large_object_prefix
            )
        return cls(
            config.table_name,
            create_table=config.create_table,
            ttl=config.ttl,
            connection=client,
            namespace=config.namespace,
            consistent_read=config.consistent_read,
            memory_cache_bytes=int(config.memory_cache_mb * 1024 * 1024),
            memory_max_age=config.memory_max_age,
            max_body_bytes=int(config.max_body_mb * 1024 * 1024),
            store_private=config.store_private,
            share_set_cookie=config.share_set_cookie,
            key_secret=config.key_secret,
            breaker=CircuitBreaker(config.breaker_threshold, config.breaker_cooldown),
            stats=stats,
            tracing=tracing,
            large_objects=large_objects,
        )

    # What the storages own, for inspection (the admin command, tests) -------------------

    @property
    def table(self) -> CacheTable:
        return self.responses.table

    @property
    def memory(self) -> MemoryTier | None:
        return self.responses.memory

    @property
    def large_objects(self) -> LargeObjectStore | None:
        return self.responses.large_objects

    @property
    def stats(self) -> CacheStats:
        return self.responses.stats

    @property
    def breaker(self) -> CircuitBreaker:
        return self.responses.guard.breaker

    # SnapStart hooks (snapstart.py): see the storage's methods of the same names.

    def drop_connections(self) -> None:
        self.responses.drop_connections()

    def after_restore(self) -> None:
        self.responses.after_restore()

    @property
    def store_private(self) -> bool:
        return self.policy.store_private

    # Keys ---------------------------------------------------------------------------------

    def create_key(
        self,
        request: Any,
        match_headers: Any = None,
        *,
        follow_redirects: bool | None = None,
        transport: Transport | None = None,
        **kwargs: Any,
    ) -> str:
        """The cache key of ``request`` (keys.derive_key): over the transport it was sent with
        (its stamp, else ``transport``, else send()'s keywords in ``kwargs``: a request rebuilt
        from the table is keyed over the transport of the request it is compared with), with
        the redirect policy
        ``follow_redirects`` if given. A key this cache does not key a request for (keys.py)
        raises UnkeyedRequest; requests-cache's ``key_fn`` setting, if set, makes the base.

        Keys of requests without a body or client certificate are memoised by everything they
        are derived from: deriving one costs a large share of a memory-tier hit. The memo never
        holds a body, and counts what it holds (bounded.py)."""
        stamped = getattr(request, "cache_transport", None)
        if stamped is None and transport is None and kwargs:
            # requests-cache's own session keys a request with send()'s keywords: the request
            # keeps them, so every key later derived from it (its response's) accounts for them.
            transport = transport_of(str(getattr(request, "url", "") or ""), kwargs)
            stamp(request, transport)
        transport = stamped or transport or stamped_transport(request)
        if follow_redirects is not None and follow_redirects != transport.follow_redirects:
            transport = transport._replace(follow_redirects=follow_redirects)
        match = match_headers or self._settings.match_headers
        if getattr(request, "body", None) or transport.cert or self._settings.key_fn is not None:
            return self._create_key(request, transport, match, kwargs)
        try:
            memo = (
                request.method,
                request.url,
                tuple(request.headers.items()),
                getattr(request, "credential_fingerprint", None),
                transport,
                _hashable(match),
                self._sharing().extra,
            )
            key = self._key_memo.get(memo)
        except (AttributeError, TypeError):  # an unprepared or unhashable request
            return self._create_key(request, transport, match, kwargs)
        if key is None:
            key = self._create_key(request, transport, match, kwargs)
            self._key_memo.put(memo, key)
        return key

    def _create_key(
        self, request: Any, transport: Transport, match: Any, kwargs: dict[str, Any]
    ) -> str:
        key = self._sharing().key(request, transport, match)
        key_fn = self._settings.key_fn
        if key_fn is None:
            return key
        base = key_fn(request=request, match_headers=match, **kwargs)
        fingerprint = key_fingerprint(key)
        return f"{base}-{fingerprint}" if fingerprint else str(base)

    def _sharing(self) -> SharingPolicy:
        """The sharing policy, following the session's ``ignored_parameters`` (requests-cache
        sets the settings after building the backend)."""
        source = tuple(self._settings.ignored_parameters or ())
        if source != self._policy_source:
            self.policy.extra = frozenset(name.lower() for name in source)
            self._policy_source = source
        match = self._settings.match_headers
        self.policy.matched = (
            True if match is True else frozenset(str(n).lower() for n in match or ())
        )
        return self.policy

    # Reads --------------------------------------------------------------------------------

    def get_response(
        self, key: str, default: Any = None, *, follow_aliases: bool = True, marks: bool = False
    ) -> Any:
        """The memory tier first; then one GetItem (a second only for a redirect alias, unless
        ``follow_aliases`` is off: an alias is then a miss). With ``marks``, the
        :class:`~.item.Uncacheable` mark of a key whose last answer could not be stored is
        returned as such (else it is a miss)."""
        with self._never_raising("Cache read failed, treated as a miss"):
            found = self.responses.lookup_marked(key, follow_aliases=follow_aliases)
            return self._answer(key, found, marks, default)
        return default

    # Coordination -------------------------------------------------------------------------

    def acquire_lease(
        self, key: str, seconds: float, stored_at: datetime | None = None
    ) -> bool | None:
        """See :meth:`ResponseStorage.acquire_lease`; never raises (None on failure)."""
        with self._never_raising("Cache lease failed, refreshing without one"):
            return self.responses.acquire_lease(key, seconds, stored_at)
        return None

    def held(self, key: str) -> Any:
        """The response the memory tier holds for ``key``, fresh or stale, with no table call
        (None if none): the caller judges it, and serves a stale one only where it may go
        out at once (stale-while-revalidate). Never raises."""
        with self._never_raising("Cache read failed, treated as a miss"):
            entry = self.responses.held(key)
            if entry is not None:
                return self.responses.to_response(entry, key)
        return None

    def peek(self, key: str, *, marks: bool = False) -> Any:
        """The response the table holds for ``key`` now (strongly consistent, past the memory
        tier, which it updates), or with ``marks`` its uncacheable mark; never raises."""
        with self._never_raising("Cache read failed, treated as a miss"):
            found = self.responses.lookup_marked(key, follow_aliases=False, consistent=True)
            return self._answer(key, found, marks)
        return None

    def _answer(self, key: str, found: Any, marks: bool, default: Any = None) -> Any:
        """What a read of ``key`` answers: the response of a stored entry; with ``marks``, a
        mark (:class:`~.item.Uncacheable`, :class:`~.item.Pending`, a failed read) as such;
        else ``default``."""
        if isinstance(found, Entry):
            return self.responses.to_response(found, key)
        if found is not None and marks:
            return found
        return default

    def claim_fill(self, key: str, seconds: float) -> bool | None:
        """See :meth:`ResponseStorage.claim_fill`; never raises (None on failure)."""
        with self._never_raising("Cache claim failed, filling without one"):
            return self.responses.claim_fill(key, seconds)
        return None

    def mark_uncacheable(self, key: str) -> None:
        """Leave the hit-for-miss mark under ``key`` (storage.py); never raises."""
        with self._never_raising("Cache write failed, no uncacheable mark"):
            self.responses.mark_uncacheable(key)

    # Writes -------------------------------------------------------------------------------

    def save_response(
        self,
        response: Response,
        cache_key: str | None = None,
        expires: datetime | None = None,
    ) -> None:
        """Store a response; a failure leaves it uncached and is logged, never raised."""
        self.save(response, cache_key, expires)

    def save(
        self, response: Response, cache_key: str | None = None, expires: datetime | None = None
    ) -> str | None:
        """:meth:`save_response`, telling why the cache refused ``response`` (None if it was
        stored, or if its write failed or lost to a newer entry). Never raises."""
        with self._never_raising("Cache write failed, response not cached"):
            return self._save(response, cache_key, expires)
        return None

    def _save(
        self, response: Response, cache_key: str | None, expires: datetime | None
    ) -> str | None:
        cache_key = cache_key or self.create_key(response.request)
        if response.history and self._sharing().matches(cache_key, response.request):
            # (requests-cache's own session: the decorator's stores each response under its
            # own request's key, and never a chain.) A followed chain's end is stored under
            # the key of the request the chain really ended with, as a request following
            # redirects keys it (the end is no redirect, so that policy changes nothing of
            # it), and the requests of the chain get aliases to it: so an alias never points
            # at an entry that another URL may overwrite (see "A shared cache").
            target = self.create_key(response.request, follow_redirects=True)
        else:
            target = cache_key
        entry, refusal = self._store(target, response, expires)
        if entry is None or not response.history or getattr(response, "revalidated", False):
            return refusal
        for alias_key, alias in self._chain_aliases(response, cache_key, target, entry.expires):
            self.redirects.write(alias_key, alias)
        return None

    def store(self, key: str, response: Any, expires: datetime | None = None) -> Entry | None:
        """The one write path (:meth:`_store`): the entry stored, or None."""
        return self._store(key, response, expires)[0]

    def _store(
        self, key: str, response: Any, expires: datetime | None = None
    ) -> tuple[Entry | None, str | None]:
        """The one write path: store ``response`` under ``key`` if the sharing rules allow it
        (core/sharing.py), as the entry of it the table may hold; the entry stored (or None),
        and why it was refused (or None).
        A response whose body is still unread (``stream=True``) is not stored: the cache never
        reads a body the caller has not read. Raises nothing the table raises (storage.py
        guards every call); a response that cannot be read as one raises."""
        policy = self._sharing()
        reason = policy.refusal(response)
        if reason is None and not policy.matches(key, response.request):
            # Key what was sent: an auth handler, a cookie set on a redirect or credentials
            # dropped on the way made the response for other credentials than the key's.
            reason = "credentials changed on the way"
        if reason is None and getattr(response, "_content", None) is False:
            # A stream=True response reaches the caller untouched, its raw stream the
            # origin's own. (Without stream=True, requests has read the body whole.)
            reason = "streamed: the cache does not read a body the caller may not read"
        if reason is not None:
            self.responses.forget(key)
            self._refused(reason, response)
            return None, reason
        # Over the transport of the request as sent.
        entry = policy.to_entry(
            response, key_fingerprint(key), stamped_transport(response.request), expires=expires
        )
        stored = self.responses.put(key, entry)
        if isinstance(stored, str):
            return None, stored
        return stored, None

    def _refused(self, reason: str, response: Any) -> None:
        """Count and log a refusal."""
        self.stats.add("not_stored")
        logger.debug("Response not stored in the shared cache: %s", reason)
        if reason != SETS_COOKIE:
            return
        self.stats.add("not_stored_set_cookie")
        # A default that costs hits where every response sets a cookie (load balancer
        # stickiness), so said where it shows: WARNING, since Lambda shows no INFO by default,
        # but once per URL (scheme, host, path) and for a bounded number of URLs per
        # container, so it cannot flood the log; the counter has every refusal.
        shown = self.policy.first_cookie_refusal(str(response.url or ""))
        if shown is not None:
            logger.warning(
                "Responses of %s are not stored in the shared cache: they set a cookie and are "
                "not marked Cache-Control: public or s-maxage (set "
                "HTTP_CACHE_SHARE_SET_COOKIE=true to store them without the cookie)",
                shown,
            )

    def _chain_aliases(
        self, response: Response, cache_key: str, target: str, expires: datetime | None
    ) -> Iterator[tuple[str, Alias]]:
        """The aliases of a followed chain, from its last redirect back: each redirect is a
        response, judged by the rules of responses (refusals, freshness). An alias lives no
        longer than its target nor any redirect from its own on. A redirect that may not be
        stored ends the chain's aliases there (no request before it gets one), and so does
        one that varies: an alias is looked up by its key alone, with no request to match
        a Vary against."""
        now = utcnow()
        seen: set[str] = set()
        for hop in range(len(response.history) - 1, -1, -1):
            redirect = response.history[hop]
            until = redirect_expires(redirect, self._settings, heuristic=self.heuristic, now=now)
            if (
                until is False
                or vary_names(redirect.headers)
                or self._sharing().refusal(redirect) is not None
            ):
                return
            if until is not None and (expires is None or until < expires):
                expires = until
            key = (
                cache_key if hop == 0 else self.create_key(redirect.request, follow_redirects=True)
            )
            if key not in seen:
                seen.add(key)
                yield key, Alias(target, expires, hop)

    def invalidate(self, request: Any, response: Response) -> None:
        """After a successful unsafe request (POST, PUT, PATCH, DELETE...): tombstones under
        the GET and HEAD keys of its URL and of its ``Location`` and ``Content-Location`` on
        the same origin (RFC 9111, 4.4), for the caller's credentials and for none. Entries of
        other credentials or of ``Vary`` variants are not reached (their keys cannot be
        derived here); they expire as they would. Never raises."""
        with self._never_raising("Cache invalidation failed"):
            keys = {
                self.create_key(target)
                for target in invalidated_requests(request, response, self._sharing())
            }
            for key in keys:
                self.responses.invalidate(key)

    # Maintenance --------------------------------------------------------------------------

    def contains(
        self,
        key: str | None = None,
        request: Any = None,
        url: str | None = None,
        verify: bool = True,
    ) -> bool:
        """Whether the cache holds ``key``, or a response for ``request`` (or a GET of
        ``url``) as sent from this environment, ``verify``-ing or not: one the decorator's
        session stored (the URL's own response) or requests-cache's (a followed chain's)."""
        keys = [key] if key else []
        if url:
            request = Request("GET", url)
        if request is not None and not key:
            keys = self._keys_of(request, verify)
        return any(k in self.responses or k in self.redirects for k in keys)

    def delete(
        self,
        *keys: str,
        expired: bool = False,
        invalid: bool = False,
        older_than: Any = None,
        requests: Any = None,
        urls: Any = None,
        verify: bool = True,
    ) -> None:
        """As requests-cache's ``delete``; a failure is logged, never raised. ``requests`` and
        ``urls`` (GET) delete the entries of those requests as sent from this environment,
        with ``verify`` or without: the decorator's (each request's own response) and
        requests-cache's own session's (the end of a followed chain)."""
        with self._never_raising("Cache delete failed"):
            doomed = list(keys)
            for request in requests or ():
                doomed += self._keys_of(request, verify)
            for url in urls or ():
                doomed += self._keys_of(Request("GET", url), verify)
            if expired or invalid or older_than:
                doomed += [
                    response.cache_key
                    for response in self.filter(
                        valid=False, expired=expired, invalid=invalid, older_than=older_than
                    )
                ]
            if doomed:
                # Responses and aliases share the table's key space: one batch deletes both.
                self.responses.bulk_delete(doomed)

    def _keys_of(self, request: Any, verify: bool) -> list[str]:
        if not isinstance(request, PreparedRequest):
            request = request.prepare()
            if not isinstance(request, PreparedRequest):  # requests-cache's stored request
                prepared = PreparedRequest()
                prepared.prepare(method=request.method, url=request.url, headers=request.headers)
                request = prepared
        transport = stamped_transport(request)
        if not verify:
            transport = transport._replace(verify=False)
        return [
            self.create_key(request, transport=transport._replace(follow_redirects=follow))
            for follow in (False, True)
        ]

    @contextlib.contextmanager
    def _never_raising(self, failure: str) -> Iterator[None]:
        """The rule of every call the session makes: the cache never fails a request; an
        error is counted and logged as ``failure``, and the caller carries on without it."""
        try:
            yield
        except Exception as error:
            self.stats.add("errors")
            logger.warning("%s: %r", failure, error)

    def update(self, other: Any) -> None:
        """Copy every response of ``other`` (any requests-cache backend), each under the key
        this cache derives from its request: other backends derive keys their own way, so
        their keys (and their redirect aliases, which name them) are not copied."""
        for key in list(other.responses.keys()):
            with self._never_raising("Cache copy failed for one response"):
                response = other.responses[key]
                self.store(self.create_key(response.request), response)

    def _prune_redirects(self) -> None:
        """requests-cache scans every alias after each delete to drop dangling ones; here a
        dangling alias is a harmless miss that expires with its TTL, so no scan is made."""

    def clear(self) -> None:
        """Delete every response and alias of this cache's namespace."""
        self.responses.clear()
        self.redirects.clear()

    def close(self) -> None:
        """Nothing to close: the client's connections are botocore's."""

    def filter(
        self,
        valid: bool = True,
        expired: bool = True,
        invalid: bool = False,
        older_than: Any = None,
    ) -> Iterator[Any]:
        """As requests-cache's ``filter``, from one paginated scan instead of a GetItem per key."""
        if not any([valid, expired, invalid, older_than]):
            return
        for key, response in self.responses.entries():
            if response is None:
                if invalid:
                    placeholder = self._placeholder()
                    placeholder.cache_key = key
                    yield placeholder
            elif (
                (valid and not response.is_expired)
                or (expired and response.is_expired)
                or (older_than and response.is_older_than(older_than))
            ):
                yield response

    def _placeholder(self) -> Any:
        """What ``filter(invalid=True)`` yields for an unreadable item."""
        return CachedHttpResponse(status_code=504)


def invalidated_requests(
    request: Any, response: Response, policy: SharingPolicy
) -> Iterator[PreparedRequest]:
    """The GET and HEAD requests whose stored responses a successful unsafe ``request``
    invalidates: for its URL, and its response's ``Location`` and ``Content-Location`` when
    on the same origin; with the caller's credentials and without, over the caller's
    transport."""
    url = str(request.url or "")
    origin = urlsplit(url)[:2]
    urls = [url]
    for name in ("Location", "Content-Location"):
        value = response.headers.get(name)
        if value:
            target = urljoin(url, str(value))
            if urlsplit(target)[:2] == origin and target not in urls:
                urls.append(target)
    credentials = {k: v for k, v in request.headers.items() if policy.is_credential(k)}
    transport = stamped_transport(request)._replace(follow_redirects=False)
    variants: list[tuple[dict[str, Any], Transport]] = [({}, transport._replace(cert=()))]
    if credentials or transport.cert:
        variants.append((credentials, transport))
    for target in urls:
        for method in ("GET", "HEAD"):
            for headers, over in variants:
                prepared = PreparedRequest()
                prepared.prepare(method=method, url=target, headers=headers)
                stamp(prepared, over)
                yield prepared


def _hashable(value: Any) -> Any:
    """A hashable stand-in for a setting or a send() option (proxies arrive as a dict)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _hashable(v)) for k, v in value.items()))
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(_hashable(v) for v in value)
    return value


class DisabledCache:
    """The cache of a session built with the cache turned off (``HTTP_CACHE_ENABLED=false``):
    it holds nothing, and the session's settings say ``disabled``."""

    heuristic = True

    def __init__(self) -> None:
        self._settings: Any = CacheSettings(disabled=True)

    def create_key(self, request: Any, *args: Any, **kwargs: Any) -> str:
        return ""

    def get_response(self, key: str, default: Any = None, **kwargs: Any) -> Any:
        return default

    def save_response(self, *args: Any, **kwargs: Any) -> None:
        """Nothing is stored."""

    def contains(self, *args: Any, **kwargs: Any) -> bool:
        return False

    def delete(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to delete."""

    def clear(self) -> None:
        """Nothing to clear."""

    def close(self) -> None:
        """Nothing to close."""
