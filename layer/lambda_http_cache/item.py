"""The DynamoDB item format: a cached response <-> one item of plain, typed attributes.

Items are written and read in DynamoDB's low-level attribute-value form (``{"S": ...}``,
``{"B": ...}``), so no JSON or ``Decimal`` conversion ever touches a body: the body is one
binary attribute holding the origin's bytes (zlib-compressed when that saves space), and the
metadata stays readable in the console. See the item layout page of the documentation.

Between a response and an item stands an :class:`Entry`: the decoded, immutable content of
one cache entry, which the memory tier keeps and turns into a fresh response on each hit.

Written by hand rather than through boto3's ``TypeSerializer``/``TypeDeserializer`` (what its
resource API uses): those turn every number into ``Decimal`` and know nothing of bodies,
compression or the bounds a hostile item needs.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict

from .keys import Transport
from .response import CachedHttpResponse, StoredRequest

FORMAT_VERSION = 1
KIND_RESPONSE = "response"
KIND_REDIRECT = "redirect"
# What an unsafe request (POST, PUT, DELETE...) leaves under the keys of the URL it changed:
# a miss for every container, and no older response may be written over it.
KIND_TOMBSTONE = "tombstone"
TOMBSTONE_SECONDS = 24 * 3600  # DynamoDB's TTL removes a tombstone after this
# The right to refresh a key, held by one container until ``until`` (see coordination.py),
# stored under "<table key>~lease".
KIND_LEASE = "lease"
LEASE_SUFFIX = "~lease"
# What a response the cache could not store leaves under its key for a short while (Varnish's
# hit-for-miss): the key's next callers go straight to the origin, without waiting on one
# another for a fill that will never come; any response stored later replaces it.
KIND_UNCACHEABLE = "uncacheable"
UNCACHEABLE_SECONDS = 30
# A key's first fill in progress: the container that wrote it calls the origin, the others
# wait for its answer. Under the key itself, which that answer then replaces.
KIND_PENDING = "pending"
# The kinds that hold no response: what the cache writes to coordinate and to remember.
MARKER_KINDS = frozenset({KIND_TOMBSTONE, KIND_LEASE, KIND_PENDING, KIND_UNCACHEABLE})
ITEM_KINDS = MARKER_KINDS | {KIND_RESPONSE, KIND_REDIRECT}

# DynamoDB's item limit is 400 KB, names and values included; keep 1 KB of headroom for any
# difference between these size rules and the service's own accounting.
MAX_ITEM_BYTES = 399 * 1024
# Compress bodies at least this long, and keep the compressed form only when it saves at
# least an eighth: below 1 KB an item already costs the minimum write unit.
COMPRESS_MIN_BYTES = 1024
COMPRESS_MIN_SAVING = 0.125
COMPRESS_LEVEL = 6
BODY_IDENTITY = "identity"
BODY_ZLIB = "zlib"
# The largest body the cache stores or reads back (the default of max_body_mb): every decode
# is bounded by it, whatever an item declares.
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024

# A cache key ends with "-" and 32 hex characters (a truncated HMAC) when the request carried
# credentials or a body; see sharing.py.
FINGERPRINT_HEX = 32
_FINGERPRINT = re.compile(rf"[0-9a-f]{{{FINGERPRINT_HEX}}}")
# An alias target is a cache key of the alias's own namespace (the reader adds the prefix):
# any text of bounded length, whatever a writer of the table put there.
MAX_CACHE_KEY_CHARS = 1024

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]
Headers = tuple[tuple[str, str], ...]


class ItemError(ValueError):
    """An item that is not a readable cache entry of this format (corrupt, foreign, newer)."""


def key_fingerprint(key: str) -> str | None:
    """The credential fingerprint a cache key ends with, or None."""
    head, separator, tail = key.rpartition("-")
    return tail if separator and head and _FINGERPRINT.fullmatch(tail) else None


class Hop(NamedTuple):
    """One redirect response of an entry's history (metadata only)."""

    method: str
    url: str
    status: int
    reason: str
    headers: Headers

    def to_response(
        self, final: Entry, request_headers: Any = None, response_type: Any = CachedHttpResponse
    ) -> Any:
        # Only the final request's Vary-selected headers are stored: each hop's request gets
        # them, since requests-cache checks Vary against the last hop's request. One mapping
        # for every hop (``request_headers``), so decoding costs the item's size, not hops
        # times headers.
        return response_type(
            content=b"",
            headers=CaseInsensitiveDict(self.headers),
            reason=self.reason,
            request=StoredRequest(
                method=self.method,
                url=self.url,
                headers=request_headers
                if request_headers is not None
                else CaseInsensitiveDict(final.request_headers),
                credential_fingerprint=final.fingerprint,
                cache_transport=final.transport,
            ),
            status_code=self.status,
            url=self.url,
        )


class Entry(NamedTuple):
    """The content of one cached response. (Named tuples: cheap to define at cold start.)"""

    content: bytes
    status: int
    reason: str
    url: str
    headers: Headers
    created: datetime
    expires: datetime | None
    elapsed: float
    encoding: str | None
    request_method: str
    request_url: str
    request_headers: Headers
    history: tuple[Hop, ...] = ()
    # The credential fingerprint of the request that produced it (from its key), or None.
    fingerprint: str | None = None
    # How old the response already was when received (RFC 9111, 4.2.3: corrected initial age).
    age: float = 0.0
    # A redirect response's next request (method, URL), for callers not following redirects.
    next: tuple[str, str] | None = None
    # The transport the request went over, without its secrets (those are in the key's
    # fingerprint): what keys computed from the stored request account for (keys.py).
    transport: Transport | None = None

    def with_history_from(self, hop: int) -> Entry:
        """This entry as served to a request that joined its redirect chain at ``hop``."""
        return self if hop == 0 else self._replace(history=self.history[hop:])

    def current_age(self, now: datetime) -> int:
        """The ``Age`` of this entry now, in whole seconds (RFC 9111, 4.2.3)."""
        return max(0, int(self.age + (now - self.created).total_seconds()))

    def _history_responses(self, response_type: Any) -> list[Any]:
        if not self.history:
            return []
        shared = CaseInsensitiveDict(self.request_headers)
        return [hop.to_response(self, shared, response_type) for hop in self.history]

    def to_response(self, cache_key: str = "", response_type: Any = CachedHttpResponse) -> Any:
        """A new response object (callers may consume or change it freely), with its ``Age``
        as of now: a :class:`CachedHttpResponse`, or a ``response_type`` built with the same
        keywords (requests-cache's ``CachedResponse``)."""
        headers = CaseInsensitiveDict(self.headers)
        headers["Age"] = str(self.current_age(datetime.now(UTC)))
        response = response_type(
            content=self.content,
            created_at=self.created,
            elapsed=timedelta(seconds=self.elapsed),
            encoding=self.encoding,
            expires=self.expires,
            headers=headers,
            history=self._history_responses(response_type),
            reason=self.reason,
            request=StoredRequest(
                method=self.request_method,
                url=self.request_url,
                headers=CaseInsensitiveDict(self.request_headers),
                credential_fingerprint=self.fingerprint,
                cache_transport=self.transport,
            ),
            status_code=self.status,
            url=self.url,
        )
        response.cache_key = cache_key
        response.initial_age = self.age
        # (method, URL); requests-cache's own class wants its request type: backend.py.
        response._next = self.next
        return response


# Encoding -------------------------------------------------------------------------------


def _s(value: str) -> AttributeValue:
    return {"S": value}


def _n(value: int | float) -> AttributeValue:
    return {"N": str(value)}


def _headers(headers: Headers) -> AttributeValue:
    return {"M": {name: _s(value) for name, value in headers}}


def _transport(transport: Transport) -> AttributeValue:
    verify = transport.verify
    return {
        "M": {
            "verify": {"S": verify} if isinstance(verify, str) else {"BOOL": verify},
            "proxy": _s(transport.proxy),
            "follow_redirects": {"BOOL": transport.follow_redirects},
            "max_redirects": _n(transport.max_redirects),
        }
    }


def encode_body(content: bytes) -> tuple[bytes, str]:
    """The bytes to store for a body, and how they are encoded."""
    if len(content) >= COMPRESS_MIN_BYTES:
        compressed = zlib.compress(content, COMPRESS_LEVEL)
        if len(compressed) <= len(content) * (1 - COMPRESS_MIN_SAVING):
            return compressed, BODY_ZLIB
    return content, BODY_IDENTITY


def encode_entry(key: str, namespace: str, entry: Entry, *, ttl: bool = True) -> Item:
    """The item that stores ``entry`` under the table key ``key``."""
    stored, body_encoding = encode_body(entry.content)
    item: Item = {
        "key": _s(key),
        "v": _n(FORMAT_VERSION),
        "kind": _s(KIND_RESPONSE),
        "namespace": _s(namespace),
        "method": _s(entry.request_method),
        "url": _s(entry.url),
        "status": _n(entry.status),
        "reason": _s(entry.reason),
        "headers": _headers(entry.headers),
        "created": _s(iso_time(entry.created)),
        "elapsed": _n(entry.elapsed),
        "body_size": _n(len(entry.content)),
        "body_encoding": _s(body_encoding),
        "request": {
            "M": {
                "method": _s(entry.request_method),
                "url": _s(entry.request_url),
                "headers": _headers(entry.request_headers),
                **({"transport": _transport(entry.transport)} if entry.transport else {}),
            }
        },
    }
    if stored:
        item["body"] = {"B": stored}
    if entry.age > 0:
        item["age"] = _n(round(entry.age, 3))
    if entry.next is not None:
        item["next"] = {"M": {"method": _s(entry.next[0]), "url": _s(entry.next[1])}}
    if entry.encoding:
        item["encoding"] = _s(entry.encoding)
    if entry.expires is not None:
        item["expires"] = _s(entry.expires.isoformat())
        if ttl:
            item["ttl"] = _n(expires_epoch(entry.expires))
    if entry.history:
        item["history"] = {
            "L": [
                {
                    "M": {
                        "method": _s(hop.method),
                        "url": _s(hop.url),
                        "status": _n(hop.status),
                        "reason": _s(hop.reason),
                        "headers": _headers(hop.headers),
                    }
                }
                for hop in entry.history
            ]
        }
    return item


class Alias(NamedTuple):
    """A redirect alias: the request stored under its key was redirected, joining at hop
    ``hop`` the chain whose final response is stored under ``target`` (a cache key of the
    same namespace). It expires no later than that response, nor than any redirect of the
    chain from its hop on."""

    target: str
    expires: datetime | None
    hop: int = 0

    def is_expired(self, now: datetime) -> bool:
        return self.expires is not None and self.expires <= now


def encode_redirect(key: str, namespace: str, alias: Alias) -> Item:
    """The item storing ``alias`` under the table key ``key``."""
    item: Item = {
        "key": _s(key),
        "v": _n(FORMAT_VERSION),
        "kind": _s(KIND_REDIRECT),
        "namespace": _s(namespace),
        "target": _s(alias.target),
        "hop": _n(alias.hop),
    }
    if alias.expires is not None:
        item["expires"] = _s(alias.expires.isoformat())
        item["ttl"] = _n(expires_epoch(alias.expires))
    return item


def encode_tombstone(key: str, namespace: str, now: datetime) -> Item:
    """A tombstone item under the table key ``key``, made at ``now``."""
    return {
        "key": _s(key),
        "v": _n(FORMAT_VERSION),
        "kind": _s(KIND_TOMBSTONE),
        "namespace": _s(namespace),
        "created": _s(iso_time(now)),
        "ttl": _n(expires_epoch(now) + TOMBSTONE_SECONDS),
    }


class Uncacheable(NamedTuple):
    """The mark of a key whose last answer could not be stored, until ``until``."""

    until: datetime

    @property
    def expires(self) -> datetime:
        return self.until

    def is_expired(self, now: datetime) -> bool:
        return self.until <= now


def encode_uncacheable(key: str, namespace: str, now: datetime, until: datetime) -> Item:
    """The hit-for-miss item under the table key ``key``, made at ``now``, until ``until``."""
    return {
        "key": _s(key),
        "v": _n(FORMAT_VERSION),
        "kind": _s(KIND_UNCACHEABLE),
        "namespace": _s(namespace),
        "created": _s(iso_time(now)),
        "until": _s(iso_time(until)),
        "ttl": _n(expires_epoch(until)),
    }


def decode_uncacheable(item: Mapping[str, Any]) -> Uncacheable:
    """The mark stored in ``item``; raises :class:`ItemError` if it is not a well-formed one."""
    return Uncacheable(_decode_datetime(_text(item, "until"), "until"))


class Pending(NamedTuple):
    """A key's first fill, in progress until ``until`` (then it is as if absent)."""

    until: datetime

    def is_expired(self, now: datetime) -> bool:
        return self.until <= now


def encode_pending(key: str, namespace: str, now: datetime, until: datetime, holder: str) -> Item:
    """The item claiming the first fill of the table key ``key`` for ``holder`` (a container)
    from ``now`` until ``until``."""
    return {
        "key": _s(key),
        "v": _n(FORMAT_VERSION),
        "kind": _s(KIND_PENDING),
        "namespace": _s(namespace),
        "holder": _s(holder),
        "created": _s(iso_time(now)),
        "until": _n(round(until.timestamp(), 3)),
        "ttl": _n(expires_epoch(until) + 60),
    }


def decode_pending(item: Mapping[str, Any]) -> Pending:
    """The claim stored in ``item``; raises :class:`ItemError` if it is not a well-formed one."""
    until = _decode_number(_get(item, "until", "N"), "until", 0, 2**34)
    return Pending(datetime.fromtimestamp(until, UTC))


def encode_lease(
    key: str, namespace: str, since: datetime, until: datetime, holder: str = ""
) -> Item:
    """A lease item under the table key ``key``, taken at ``since`` by ``holder`` (a container),
    held until ``until``."""
    return {
        "key": _s(key),
        "v": _n(FORMAT_VERSION),
        "kind": _s(KIND_LEASE),
        "namespace": _s(namespace),
        "holder": _s(holder),
        "since": _n(round(since.timestamp(), 3)),
        "until": _n(round(until.timestamp(), 3)),
        "ttl": _n(expires_epoch(until) + 3600),
    }


def iso_time(value: datetime) -> str:
    """An ISO 8601 time, always to the microsecond: stored times then sort as text, which the
    conditional write of a response relies on (it never replaces a newer one)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def expires_epoch(expires: datetime) -> int:
    return int(expires.timestamp())


def item_size(item: Mapping[str, Any]) -> int:
    """DynamoDB's size of an item: attribute names plus values, in bytes. No AWS library
    computes it (DynamoDB only refuses an item over the limit, after the call), and knowing it
    before the write is what lets an oversize response go to the bucket or stay uncached."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Mapping[str, Any]) -> int:
    """The size of one low-level attribute value by the rules AWS documents: strings and
    binaries by length, numbers a byte per two significant digits plus one, maps and lists
    3 bytes plus one per element, booleans and nulls one byte."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "B":
        return len(data)
    if kind == "N":
        digits = data.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
        return -(-len(digits) // 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _value_size(v) for k, v in data.items())
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in data)
    if kind == "SS":
        return sum(len(member.encode()) for member in data)
    if kind == "BS":
        return sum(len(member) for member in data)
    if kind == "NS":
        return sum(_value_size({"N": member}) for member in data)
    raise ValueError(f"unknown attribute type {kind}")


# Decoding -------------------------------------------------------------------------------


# What decoding produces is valid by construction, or it raises ItemError: strings, times
# with a zone (in UTC, within these years), finite numbers within these ranges. Whoever reads
# an entry or alias (the memory tier, requests-cache's policy, the admin command) can then
# compare, add and format its values without a check of its own.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
# Far enough from datetime's own end (year 9999) that adding any delta this package or
# requests-cache adds (at most 2**31 s, policy.MAX_DELTA_SECONDS) cannot overflow.
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)
MAX_TIME_CHARS = 64
# Seconds an origin took, or a response's age: as long as any delta this package accepts.
MAX_SECONDS = float(2**31)
MIN_STATUS, MAX_STATUS = 100, 999
# requests' own redirect limit: a longer stored chain was never written by the library.
MAX_HOPS = 30
MAX_ENCODING_CHARS = 64
# No text of an item can be longer than the item; the check also bounds items from elsewhere.
MAX_TEXT_CHARS = MAX_ITEM_BYTES
# The Python type each DynamoDB attribute type arrives as, from boto3's low-level client.
_PAYLOADS: dict[str, type | tuple[type, ...]] = {
    "S": str,
    "N": str,
    "B": (bytes, bytearray),
    "M": dict,
    "L": list,
    "BOOL": bool,
}


def _get(item: Mapping[str, Any], name: str, kind: str, required: bool = True) -> Any:
    value = item.get(name)
    if value is None:
        if required:
            raise ItemError(f"attribute {name!r} is missing")
        return None
    if not isinstance(value, dict) or kind not in value:
        raise ItemError(f"attribute {name!r} is not of type {kind}")
    payload = value[kind]
    if not isinstance(payload, _PAYLOADS.get(kind, object)):
        raise ItemError(f"attribute {name!r} is not of type {kind}")
    return payload


def _text(item: Mapping[str, Any], name: str, required: bool = True) -> Any:
    """A string attribute (None if absent and not ``required``)."""
    value = _get(item, name, "S", required)
    if value is not None and len(value) > MAX_TEXT_CHARS:
        raise ItemError(f"attribute {name!r} is longer than an item")
    return value


def _url(item: Mapping[str, Any], name: str) -> str:
    """A URL attribute: one requests can prepare a request for (so can requests-cache, which
    prepares a stored redirect's next request when asked, and keys stored requests), as
    every URL the library stores is."""
    value: str = _text(item, name)
    try:
        PreparedRequest().prepare_url(value, None)
        urlsplit(value).port  # noqa: B018  # raises on a port out of range
    except Exception:
        raise ItemError(f"attribute {name!r} is not a URL") from None
    return value


def _decode_headers(value: Any, name: str) -> Headers:
    if not isinstance(value, dict):
        raise ItemError(f"attribute {name!r} is not a map")
    return tuple((str(header), str(_text(value, header))) for header in value)


def _decode_datetime(raw: Any, name: str) -> datetime:
    """A time with a zone, in UTC, between EARLIEST_TIME and LATEST_TIME."""
    if not isinstance(raw, str) or len(raw) > MAX_TIME_CHARS:
        raise ItemError(f"attribute {name!r} is not an ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(raw)
    except (TypeError, ValueError):
        raise ItemError(f"attribute {name!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ItemError(f"attribute {name!r} has no time zone")
    try:
        parsed = parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ItemError(f"attribute {name!r} is out of range") from None
    if not EARLIEST_TIME <= parsed < LATEST_TIME:
        raise ItemError(f"attribute {name!r} is out of range")
    return parsed


def _decode_number(raw: Any, name: str, low: float, high: float) -> float:
    """A finite number from ``low`` to ``high``."""
    try:
        number = float(raw)
    except (TypeError, ValueError, OverflowError):
        raise ItemError(f"attribute {name!r} is not a number") from None
    if not (math.isfinite(number) and low <= number <= high):
        raise ItemError(f"attribute {name!r} is out of range")
    return number


def _decode_int(raw: Any, name: str, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high``."""
    number = _decode_number(raw, name, low, high)
    if not number.is_integer():
        raise ItemError(f"attribute {name!r} is not a whole number")
    return int(number)


def _decode_encoding(raw: Any) -> str | None:
    """A text encoding Python knows, or None (as requests reads a charset it does not know)."""
    if raw is None or len(raw) > MAX_ENCODING_CHARS:
        return None
    try:
        # A byte, not none: decoding nothing never looks the codec up.
        str(b"x", raw, "replace")
    except (LookupError, ValueError, TypeError):
        return None
    return str(raw)


def item_kind(item: Mapping[str, Any]) -> str:
    """The kind of a cache item, after checking its format version."""
    version = _get(item, "v", "N")
    if version != str(FORMAT_VERSION):
        raise ItemError(f"item format {version!r} is not {FORMAT_VERSION}")
    kind = _get(item, "kind", "S")
    if kind not in ITEM_KINDS:
        raise ItemError(f"unknown item kind {kind!r}")
    return str(kind)


def decode_alias(item: Mapping[str, Any]) -> Alias:
    """The alias stored in ``item``; raises :class:`ItemError` if it is not a well-formed one
    whose target is in the same credential partition as its own key. Whether it has expired
    is the reader's check."""
    if item_kind(item) != KIND_REDIRECT:
        raise ItemError("item is a response, not a redirect alias")
    target = str(_text(item, "target"))
    if not 0 < len(target) <= MAX_CACHE_KEY_CHARS:
        raise ItemError("alias target is not a cache key")
    if key_fingerprint(target) != key_fingerprint(str(_text(item, "key"))):
        raise ItemError("alias target is in another credential partition")
    hop = _get(item, "hop", "N", required=False)
    expires = _get(item, "expires", "S", required=False)
    return Alias(
        target=target,
        expires=_decode_datetime(expires, "expires") if expires is not None else None,
        hop=_decode_int(hop, "hop", 0, MAX_HOPS) if hop is not None else 0,
    )


def decode_body(
    stored: bytes, body_encoding: str, size: int, max_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> bytes:
    """The body from its stored bytes. Never produces more than the declared ``size``, and
    refuses a declared size over ``max_bytes``: a hostile item costs at most that much."""
    if not 0 <= size <= max_bytes:
        raise ItemError(f"body of {size} bytes is over the limit of {max_bytes}")
    if body_encoding == BODY_IDENTITY:
        content = stored
    elif body_encoding == BODY_ZLIB:
        inflater = zlib.decompressobj()
        try:
            content = inflater.decompress(stored, size + 1)
        except zlib.error as error:
            raise ItemError(f"compressed body is unreadable: {error}") from None
        if inflater.unconsumed_tail or len(content) > size:
            raise ItemError(f"compressed body inflates past its declared {size} bytes")
        if not inflater.eof:
            raise ItemError("compressed body is truncated")
    else:
        raise ItemError(f"unknown body encoding {body_encoding!r}")
    if len(content) != size:
        raise ItemError(f"body is {len(content)} bytes, item says {size}")
    return content


def body_location(item: Mapping[str, Any]) -> str | None:
    """Where the body is stored when it is not in the item (an ``s3://`` location)."""
    location = _get(item, "body_location", "S", required=False)
    return str(location) if location is not None else None


def decode_entry(
    item: Mapping[str, Any],
    stored_body: bytes | None = None,
    *,
    with_body: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Entry:
    """The entry stored in ``item`` (with its body fetched from ``body_location``, if it has
    one, passed as ``stored_body``); raises :class:`ItemError` if it is not one. With
    ``with_body=False`` only the metadata is decoded and the entry's content is empty."""
    kind = item_kind(item)
    if kind != KIND_RESPONSE:
        raise ItemError(f"item is a {kind}, not a response")
    body_encoding = _text(item, "body_encoding")
    # Its bound is decode_body's (max_body_bytes), checked there with the body.
    body_size = _decode_int(_get(item, "body_size", "N"), "body_size", -(2**53), 2**53)
    content = b""
    if with_body:
        if body_location(item) is not None and stored_body is None:
            raise ItemError("the body is stored outside the item and was not fetched")
        body = stored_body if stored_body is not None else _get(item, "body", "B", False)
        content = decode_body(
            bytes(body) if body is not None else b"", body_encoding, body_size, max_body_bytes
        )
    request = _get(item, "request", "M")
    age = _get(item, "age", "N", required=False)
    follow = _get(item, "next", "M", required=False)
    expires = _get(item, "expires", "S", required=False)
    history = _get(item, "history", "L", False) or []
    if len(history) > MAX_HOPS:
        raise ItemError(f"history of {len(history)} hops is over {MAX_HOPS}")
    return Entry(
        content=content,
        status=_decode_int(_get(item, "status", "N"), "status", MIN_STATUS, MAX_STATUS),
        reason=str(_text(item, "reason")),
        url=_url(item, "url"),
        headers=_decode_headers(_get(item, "headers", "M"), "headers"),
        created=_decode_datetime(_get(item, "created", "S"), "created"),
        expires=_decode_datetime(expires, "expires") if expires is not None else None,
        elapsed=_decode_number(_get(item, "elapsed", "N"), "elapsed", 0.0, MAX_SECONDS),
        encoding=_decode_encoding(_text(item, "encoding", required=False)),
        request_method=str(_text(request, "method")),
        request_url=_url(request, "url"),
        request_headers=_decode_headers(_get(request, "headers", "M"), "request.headers"),
        history=tuple(_decode_hop(hop) for hop in history),
        fingerprint=key_fingerprint(str(_text(item, "key"))),
        age=_decode_number(age, "age", 0.0, MAX_SECONDS) if age is not None else 0.0,
        next=(str(_text(follow, "method")), _url(follow, "url")) if follow is not None else None,
        transport=_decode_transport(_get(request, "transport", "M", required=False)),
    )


def _decode_transport(value: Any) -> Transport | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ItemError("attribute 'request.transport' is not a map")
    verify = value.get("verify")
    if isinstance(verify, dict) and isinstance(verify.get("BOOL"), bool):
        checked: bool | str = verify["BOOL"]
    else:
        checked = str(_text(value, "verify"))
    follow: bool = _get(value, "follow_redirects", "BOOL")
    return Transport(
        verify=checked,
        proxy=str(_text(value, "proxy")),
        follow_redirects=follow,
        max_redirects=_decode_int(_get(value, "max_redirects", "N"), "max_redirects", 0, 10_000),
    )


def _decode_hop(value: Any) -> Hop:
    if not isinstance(value, dict) or not isinstance(value.get("M"), dict):
        raise ItemError("history entry is not a map")
    hop = value["M"]
    return Hop(
        method=str(_text(hop, "method")),
        url=_url(hop, "url"),
        status=_decode_int(_get(hop, "status", "N"), "history.status", MIN_STATUS, MAX_STATUS),
        reason=str(_text(hop, "reason")),
        headers=_decode_headers(_get(hop, "headers", "M"), "history.headers"),
    )
