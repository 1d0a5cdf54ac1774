"""What a shared cache does with one request, and then with the origin's answer: a
:class:`Plan`. Pure: no I/O, no clock (the time is an argument), no HTTP client; requests
and responses are read through their ``method``, ``url``, ``headers``, ``status_code``,
``expires`` and ``created_at``, whatever class they are.

The decisions are requests-cache's (so its settings and per-request options mean the same)
with a shared cache's rules where RFC 9111 and RFC 5861 differ:

- the freshness of a response is freshness.py's (``s-maxage`` first, ``Age`` and ``Date``
  accounted, heuristic freshness only where allowed);
- a response marked ``must-revalidate``, ``proxy-revalidate`` or ``s-maxage`` is never
  served stale, whatever ``stale_if_error``, ``stale-while-revalidate`` or ``max-stale``
  allow; a fresh one is served without revalidation;
- ``stale-while-revalidate``: the window the stored response states, else the configured
  default window;
- a redirect is judged as any response (it is stored so that chains are walked from the
  cache), whatever ``allowable_codes`` says;
- a 304 updates neither the fields RFC 9111, 3.2 excludes nor hop-by-hop ones.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any, Literal

from .expiration import (
    DO_NOT_CACHE,
    EXPIRE_IMMEDIATELY,
    expiration_seconds,
    expiration_time,
    url_expiration,
)
from .fields import MAX_DELTA_SECONDS, cache_control, delta_seconds, http_date, list_members
from .freshness import never_stale, response_expire_after, stale_window
from .settings import CacheSettings

# The status codes this cache understands (RFC 9110's, but 206: partial content is not
# combined): what must-understand requires; 304 only ever updates a stored response.
UNDERSTOOD_STATUSES = tuple(
    sorted(int(status) for status in HTTPStatus if 200 <= status < 600 and status not in (206, 304))
)
# What standards mode may store: any final status (RFC 9111, 3), unknown ones included when
# the response states its freshness or is marked public (freshness.py), but 206 and 304.
FINAL_STATUSES = tuple(status for status in range(200, 600) if status not in (206, 304))
# Statuses of the redirects requests follows.
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# Methods that change nothing at the origin: any other, when it succeeds, invalidates what is
# stored for its URL (RFC 9111, 4.4).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Non-standard headers that name the method a request really is.
METHOD_OVERRIDE_HEADERS = ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override")
# requests-cache's header for the per-request ``expire_after=DO_NOT_CACHE``.
NO_CACHE_HEADER = "X-ACTUAL-NO-CACHE"
# RFC 9111, 3.2: header fields a 304 does not update in the stored response; RFC 9110, 7.6.1:
# hop-by-hop fields, never stored.
NOT_UPDATED_BY_304 = frozenset(
    {"content-encoding", "content-length", "content-md5", "content-range", "etag"}
)
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade"}
)
# RFC 9110, 15.4.5: what a 304 carries of the stored response.
NOT_MODIFIED_HEADERS = (
    "Cache-Control",
    "Content-Location",
    "Date",
    "ETag",
    "Expires",
    "Vary",
    "Last-Modified",
    "Age",
)


def hop_by_hop(headers: Mapping[str, Any]) -> frozenset[str]:
    """The lower-case names of a message's hop-by-hop fields: the standard ones and those its
    ``Connection`` lists (RFC 9110, 7.6.1); a cache stores none of them."""
    listed = {name.lower() for name in list_members(headers.get("Connection"))}
    return HOP_BY_HOP | frozenset(listed)


def method_allowed(method: str | None, headers: Mapping[str, Any], allowed: Any) -> bool:
    """Whether a request's method, or a method-override header's, is one the cache handles."""
    methods = [headers.get(name) for name in METHOD_OVERRIDE_HEADERS] + [method]
    return any(m is not None and m in allowed for m in methods)


def _int(raw: Any) -> int | None:
    """requests-cache's reading of a directive's number (``max-age=-1`` included)."""
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def _safe_stale(value: Any) -> Any:
    """A stale-if-error / stale-while-revalidate value that cannot overflow a date."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return min(value, MAX_DELTA_SECONDS) if value >= 0 else None
    return value


def _opaque_tag(tag: str) -> str:
    tag = tag.strip()
    return (tag[2:] if tag.startswith("W/") else tag).strip('"')


def satisfies_conditions(
    conditions: Mapping[str, Any], status: int, stored: Mapping[str, Any]
) -> bool:
    """Whether a stored response satisfies a request's own ``If-None-Match`` (weak comparison,
    quotes optional) or, without it, ``If-Modified-Since``, so that the cache answers 304
    (RFC 9110, 13.1)."""
    if status != 200:
        return False
    if_none_match = conditions.get("If-None-Match")
    if if_none_match:
        etag = stored.get("ETag")
        if etag is None:
            return False
        wanted = {_opaque_tag(tag) for tag in str(if_none_match).split(",")}
        return "*" in wanted or _opaque_tag(str(etag)) in wanted
    since = http_date(conditions.get("If-Modified-Since") or "")
    modified = http_date(stored.get("Last-Modified") or stored.get("Date") or "")
    return since is not None and modified is not None and modified <= since


def freshened_headers(
    stored: Mapping[str, Any], not_modified: Mapping[str, Any]
) -> tuple[dict[str, Any], bool]:
    """A stored response's headers as a 304 updates them (RFC 9111, 3.2), and whether any
    changed."""
    skipped = NOT_UPDATED_BY_304 | hop_by_hop(not_modified)
    updates = {k: v for k, v in not_modified.items() if k.lower() not in skipped}
    merged: dict[str, Any] = dict(stored.items())
    lower = {k.lower(): k for k in merged}
    changed = False
    for name, value in updates.items():
        kept = lower.get(name.lower())
        previous = merged.pop(kept) if kept is not None else None
        changed = changed or kept is None or previous != value
        merged[name] = value
        lower[name.lower()] = name
    if "content-length" in lower and "transfer-encoding" in lower:
        del merged[lower["content-length"]]
    return merged, changed


def is_expired(expires: datetime | None, now: datetime) -> bool:
    return expires is not None and now >= expires


class Plan:
    """What to do with one request: read the cache or not, serve, serve stale and refresh
    after the response, revalidate with which validators, fetch, or answer 504; and then
    whether the origin's answer is stored, and until when.

    Built with :meth:`for_request`; the stored response found (if any) goes through
    :meth:`read`, the origin's answer through :meth:`judge`."""

    def __init__(self) -> None:
        self.cache_key = ""
        self.error_504 = False
        self.expire_after: Any = None
        self.send_request = False
        self.resend_request = False
        self.resend_async = False
        self.skip_read = False
        self.skip_write = False
        # The key of the variant the request's headers select, when a stored response's Vary
        # does not match them (set by the caller, which owns keys).
        self.vary_cache_key: str | None = None
        self.validation_headers: dict[str, str] = {}
        self.stale_if_error: Any = None
        self.stale_while_revalidate: Any = None
        # The key is marked uncacheable (its last answer could not be stored): a miss whose
        # fill is not coordinated (hit-for-miss).
        self.uncacheable = False
        # Another container is making the key's first fill: wait for it rather than fetch.
        self.filling = False
        # The cache could not be read for this request: its fill is not coordinated.
        self.unavailable = False
        self.heuristic = True
        self.now: datetime
        self._settings = CacheSettings()
        self._request_directives: dict[str, str | None] = {}
        self._only_if_cached = False
        self._refresh = False
        self._swr_enabled = True
        self._stale_window = 0
        # The stale-while-revalidate window the request and settings give, before read()
        # takes one from a stored response.
        self._requested_window: Any = None

    @classmethod
    def for_request(
        cls,
        cache_key: str,
        method: str | None,
        url: str | None,
        headers: Mapping[str, Any],
        settings: CacheSettings,
        now: datetime,
        *,
        heuristic: bool = True,
        stale_while_revalidate: bool = True,
        stale_window: int = 0,
    ) -> Plan:
        """The plan for a request, before the cache is read."""
        plan = cls()
        plan.cache_key = cache_key
        plan.now = now
        plan.heuristic = heuristic
        plan._settings = settings
        plan._swr_enabled = stale_while_revalidate
        plan._stale_window = stale_window
        directives = plan._request_directives = cache_control(headers)
        max_age = _int(directives.get("max-age")) if "max-age" in directives else None
        url_expire = url_expiration(url, settings.urls_expire_after)
        plan.expire_after = next(
            (v for v in (max_age, url_expire, settings.expire_after) if v is not None), None
        )
        actual_no_cache = bool(headers.get(NO_CACHE_HEADER)) or plan.expire_after == DO_NOT_CACHE
        kinda_no_cache = "no-cache" in directives or "no-store" in directives
        plan._only_if_cached = settings.only_if_cached or "only-if-cached" in directives
        plan._refresh = max_age == EXPIRE_IMMEDIATELY or "must-revalidate" in directives
        plan.stale_if_error = _safe_stale(
            settings.stale_if_error or _int(directives.get("stale-if-error"))
        )
        plan.stale_while_revalidate = plan._requested_window = _safe_stale(
            settings.stale_while_revalidate or _int(directives.get("stale-while-revalidate"))
        )
        plan.skip_read = (
            settings.disabled
            or not method_allowed(method, headers, settings.allowable_methods)
            or kinda_no_cache
            or actual_no_cache
        )
        plan.skip_write = "no-store" in directives
        return plan

    @property
    def expires(self) -> datetime | None:
        """When what is stored under this plan expires (None: never)."""
        return expiration_time(self.expire_after, self.now)

    def is_usable(self, stored: Any, error: bool = False) -> bool:
        """Whether ``stored`` may answer the request: fresh, or stale within what
        ``max-stale``, ``stale-while-revalidate`` or (on an ``error``) ``stale-if-error``
        allow; never stale when the response forbids it."""
        if stored is None:
            return False
        expires = stored.expires
        expired = is_expired(expires, self.now)
        if expired and never_stale(stored.headers):
            return False
        if (
            expires is None
            or (expired and self.stale_while_revalidate is True)
            or (error and self.stale_if_error is True)
        ):
            return True
        if error and self.stale_if_error:
            offset = expiration_seconds(self.stale_if_error, self.now)
        elif expired and self.stale_while_revalidate:
            offset = expiration_seconds(self.stale_while_revalidate, self.now)
        else:
            max_stale = _int(self._request_directives.get("max-stale"))
            min_fresh = _int(self._request_directives.get("min-fresh"))
            offset = max_stale if max_stale else (-min_fresh if min_fresh else 0)
        try:
            return bool(self.now < expires + timedelta(seconds=offset))
        except OverflowError:
            return offset > 0

    def read(self, stored: Any, *, vary_matches: bool = True) -> None:
        """Decide from the stored response found for the request (None if none), and whether
        its ``Vary`` selects it for this request (the caller compares the headers)."""
        if (
            stored is not None
            and self._swr_enabled
            and not self.stale_while_revalidate
            and is_expired(stored.expires, self.now)  # a fresh hit needs no window
        ):
            window = stale_window(stored.headers, self._stale_window)
            if window:
                self.stale_while_revalidate = window
        usable = self.is_usable(stored)
        usable_if_error = self.is_usable(stored, error=True)
        if not usable and self._only_if_cached and not usable_if_error:
            self.error_504 = True
        elif stored is None or not vary_matches:
            self.send_request = True
        elif not usable and not (self._only_if_cached and usable_if_error):
            self.resend_request = True
        elif is_expired(stored.expires, self.now) and usable and self.stale_while_revalidate:
            self.resend_async = True
        if stored is not None and vary_matches and not self._only_if_cached:
            self._validators(stored)

    def reset_read(self) -> None:
        """Forget what :meth:`read` decided, to read another stored response (a variant):
        the window it took from the first one included."""
        self.send_request = self.resend_request = self.resend_async = False
        self.stale_while_revalidate = self._requested_window
        self.error_504 = False
        self.vary_cache_key = None
        self.validation_headers = {}

    def _validators(self, stored: Any) -> None:
        """Revalidate a stored response when it is stale, when asked to, or when it says
        ``no-cache``; ``must-revalidate`` only matters once it is stale."""
        headers = stored.headers
        etag, last_modified = headers.get("ETag"), headers.get("Last-Modified")
        revalidate = bool(etag or last_modified) and (
            is_expired(stored.expires, self.now)
            or self._refresh
            or self._settings.always_revalidate
        )
        no_cache = self._settings.cache_control and "no-cache" in cache_control(headers)
        if revalidate or no_cache:
            if etag:
                self.validation_headers["If-None-Match"] = etag
            if last_modified:
                self.validation_headers["If-Modified-Since"] = last_modified
            self.send_request = False
            self.resend_request = True

    def update_request(self, headers: MutableMapping[str, Any]) -> None:
        """Add the validators to the request's headers."""
        headers.update(self.validation_headers)

    def judge(
        self,
        status: int,
        headers: Mapping[str, Any],
        *,
        method: str | None,
        request_headers: Mapping[str, Any],
        now: datetime,
        elapsed: Any = None,
        filtered_out: bool = False,
    ) -> None:
        """Decide whether the origin's answer (received at ``now``) is stored, and until when
        (:attr:`expires`). A redirect is judged by the rules of every response, whatever
        ``allowable_codes`` says."""
        self.now = now
        settings = self._settings
        allowed = tuple(settings.allowable_codes)
        if status in REDIRECT_STATUSES and status not in allowed:
            allowed = (*allowed, status)
        directives = cache_control(headers)
        if settings.cache_control:
            self.stale_if_error = _safe_stale(
                self.stale_if_error or _int(directives.get("stale-if-error"))
            )
            self.expire_after = response_expire_after(
                headers,
                self.expire_after,
                status=status,
                response_time=now,
                elapsed=elapsed,
                heuristic=self.heuristic,
            )
            self.skip_write = self.skip_write or forbids_storing(status, directives)
        has_validator = bool(headers.get("ETag") or headers.get("Last-Modified"))
        skip_stale = self.expire_after == EXPIRE_IMMEDIATELY and not has_validator
        self.skip_write = (
            settings.disabled
            or not method_allowed(method, request_headers, settings.allowable_methods)
            or status not in allowed
            or filtered_out
            or self.skip_write
            or self.expire_after == DO_NOT_CACHE
            or skip_stale
            or settings.read_only
        )

    def freshen(
        self,
        stored_headers: Mapping[str, Any],
        stored_expires: Any,
        not_modified: Mapping[str, Any],
    ) -> dict[str, Any]:
        """The stored response's headers as the 304 ``not_modified`` updates them; whether
        to write it back is :attr:`skip_write`."""
        merged, changed = freshened_headers(stored_headers, not_modified)
        settings = self._settings
        unchanged = not changed and self.expires == stored_expires
        self.skip_write = (
            settings.read_only
            or settings.disabled
            or "no-store" in self._request_directives
            or unchanged
        )
        return merged


def forbids_storing(status: int, directives: Mapping[str, Any]) -> bool:
    """Whether a response's Cache-Control ``directives`` forbid storing it: ``no-store``,
    unless ``must-understand`` comes with a status this cache understands (RFC 9111, 5.2.2.3:
    such a cache ignores ``no-store`` then; with any other status, must-understand refuses
    it on its own, core/sharing.py)."""
    if "no-store" not in directives:
        return False
    return not ("must-understand" in directives and status in UNDERSTOOD_STATUSES)


def invalidates(method: str | None, status: int) -> bool:
    """Whether an answer to ``method`` invalidates what is stored for its URL (RFC 9111, 4.4):
    an unsafe method's non-error answer."""
    return (method or "GET").upper() not in SAFE_METHODS and 200 <= status < 400


def redirect_expires(
    hop: Any, settings: CacheSettings, *, heuristic: bool, now: datetime
) -> datetime | Literal[False] | None:
    """When a redirect ``hop`` of a followed chain stops being fresh, judged by the rules of
    every response: the request's and the response's directives, explicit freshness,
    heuristic freshness only where allowed, the settings' expiry. An aware datetime, None for
    never, or False when the hop may not be stored (nor anything of the chain before it)."""
    request = hop.request
    request_headers = request.headers or {}
    plan = Plan.for_request(
        "", request.method, request.url, request_headers, settings, now, heuristic=heuristic
    )
    plan.judge(
        hop.status_code,
        hop.headers,
        method=request.method,
        request_headers=request_headers,
        now=now,
        elapsed=getattr(hop, "elapsed", None),
        filtered_out=settings.filter_fn is not None and not settings.filter_fn(hop),
    )
    if plan.skip_write or plan.skip_read:
        return False
    expires = plan.expires
    if expires is not None and expires <= now:
        return False
    return expires


__all__ = [
    "DO_NOT_CACHE",
    "NOT_MODIFIED_HEADERS",
    "Plan",
    "delta_seconds",
    "hop_by_hop",
    "invalidates",
    "redirect_expires",
    "satisfies_conditions",
]
