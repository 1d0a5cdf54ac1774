"""The container's cached session: a ``requests.Session`` that carries out, for each request,
what the cache core decides (core/rules.py) over the shared cache (cache.py). Built once from
a :class:`~lambda_http_cache.config.CacheConfig`; it counts what it serves.

It keeps requests-cache's session API (its constructor keywords, ``settings``,
``cache_disabled()``, per-request ``expire_after``, ``only_if_cached``, ``refresh`` and
``force_refresh``, and the cache's attributes on responses) without loading requests-cache.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from datetime import datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from math import ceil
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from requests import PreparedRequest, Response, Session
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from requests.hooks import dispatch_hook
from requests.sessions import merge_setting as _merge_setting
from requests.structures import CaseInsensitiveDict
from requests.utils import get_environ_proxies

from .after_response import AfterResponse
from .bounded import BoundedMemo
from .cache import DisabledCache, SharedCache
from .config import CacheConfig
from .coordination import (
    Flights,
    follower_wait,
    lease_seconds,
    poll_intervals,
    refresh_early,
    wait_plan,
)
from .core.expiration import DO_NOT_CACHE, expiration_time, utcnow
from .core.freshness import initial_age
from .core.rules import (
    FINAL_STATUSES,
    NO_CACHE_HEADER,
    NOT_MODIFIED_HEADERS,
    Plan,
    invalidates,
    satisfies_conditions,
)
from .core.settings import DEFAULT_IGNORED_PARAMS, DEFAULT_STATUS_CODES, CacheSettings
from .item import Pending, Uncacheable
from .keys import UnkeyedRequest, stamp, stamped_transport, transport_of, unkeyed_reason
from .observability import Tracing, log_decision
from .response import CachedHttpResponse, as_origin_response, gateway_timeout
from .stats import CacheStats
from .storage import Unavailable

if TYPE_CHECKING:
    from requests.sessions import _Settings

merge_setting: Callable[[Any, Any], Any] = _merge_setting
# What wrap() takes of a requests session.
_SESSION_ATTRIBUTES = (
    "adapters",
    "auth",
    "cert",
    "cookies",
    "headers",
    "hooks",
    "max_redirects",
    "params",
    "proxies",
    "stream",
    "trust_env",
    "verify",
)
# The settings' keywords, requests-cache's older names included (CacheSettings.from_kwargs).
_SETTING_KEYWORDS = frozenset(f.name for f in dataclasses.fields(CacheSettings)) | {
    "include_get_headers",
    "old_data_on_error",
}
logger = logging.getLogger(__name__)
# Per-container memos (bounded.py's rule): proxies by scheme, host and no_proxy; the keys
# this container asked a lease for.
PROXY_MEMO_BYTES = 256 * 1024
LEASES_ASKED_BYTES = 256 * 1024


class OriginSession(Session):
    """The origin side of the cached session: times, and traces, each request that really
    goes to the origin (requests-cache calls this for misses and revalidations only)."""

    stats: CacheStats
    tracing: Tracing

    def send(self, request: PreparedRequest, **kwargs: Any) -> Response:
        started = time.perf_counter()
        with self.tracing.segment("origin"):
            response = super().send(request, **kwargs)
        self.stats.record_latency("origin", (time.perf_counter() - started) * 1000)
        return response


class CachedHttpSession(OriginSession):
    """A cached session that counts and logs each cache decision.

    For each request: the key (keys.py), the stored response (cache.py), the core's plan
    (core/rules.py), then the origin if the plan says so, and the core's judgment of its
    answer. In two guarded phases: a failure of the cache's own logic before the origin is
    called sends the request uncached; after the origin answered, it returns that answer
    uncached. Errors of the origin itself reach the caller as they would without a cache.

    ``backend`` is the cache (a :class:`~.cache.SharedCache`, or the ``DynamoDbCache`` of
    requests-cache users); the other keywords are requests-cache's session settings."""

    # The current invocation's cookie jar (the ``cookies`` property).
    _invocation_cookies: RequestsCookieJar

    def __init__(
        self,
        cache_name: str = "",
        backend: Any = None,
        *,
        expire_after: Any = -1,
        urls_expire_after: Any = None,
        cache_control: bool = False,
        allowable_codes: Any = DEFAULT_STATUS_CODES,
        allowable_methods: Any = ("GET", "HEAD"),
        always_revalidate: bool = False,
        ignored_parameters: Any = DEFAULT_IGNORED_PARAMS,
        match_headers: Any = False,
        filter_fn: Callable[[Any], bool] | None = None,
        key_fn: Callable[..., str] | None = None,
        read_only: bool = False,
        stale_if_error: Any = False,
        autoclose: bool = True,
        stats: CacheStats | None = None,
        tracing: Tracing | None = None,
        # Defaults are CacheConfig's (one place for every default).
        heuristic: bool = not CacheConfig.standards_mode,
        coalesce: bool = CacheConfig.coalesce,
        leases: bool = CacheConfig.leases,
        stale_while_revalidate: bool = CacheConfig.stale_while_revalidate,
        stale_window: int = CacheConfig.stale_window,
        early_refresh: float = CacheConfig.early_refresh,
        share_across_tenants: bool = CacheConfig.share_across_tenants,
        **kwargs: Any,
    ) -> None:
        # Probabilistic early refresh (coordination.refresh_early): its beta, 0 is off.
        self.early_refresh = early_refresh
        # stale-while-revalidate: the window the origin states, or stale_window (policy.py);
        # the refresh runs after the response (after_response.py).
        self.stale_while_revalidate = stale_while_revalidate
        self.stale_window = stale_window
        self.after_response = AfterResponse()
        # False in standards mode: no freshness but what responses state (policy.py).
        self.heuristic = heuristic
        # One origin call per key per expiry, in this container and the fleet (coordination.py).
        self.coalesce = coalesce
        self.leases = leases
        self.flights = Flights()
        # key -> until when this container has taken the key on (time.monotonic()): a lease
        # asked for, or a refresh queued; its other threads do not ask again meanwhile.
        # Bounded in bytes.
        self._taken_on: BoundedMemo[str, float] = BoundedMemo(LEASES_ASKED_BYTES)
        self._leases_lock = threading.Lock()
        self.stats = stats or CacheStats()
        self.tracing = tracing or Tracing(enabled=False)
        self._depth = threading.local()
        self._proxy_memo: BoundedMemo[tuple[str, str, Any], dict[str, str]] = BoundedMemo(
            PROXY_MEMO_BYTES
        )
        self._ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        # Nothing of one invocation survives into the next (begin_invocation): the session as
        # init left it, taken at the first invocation; and, per thread, the private cookie jar
        # of work after the response (set before requests' __init__ assigns the jar).
        self._baseline: dict[str, Any] | None = None
        self._private = threading.local()
        self._unkeyed_reasons: set[str] = set()  # logged once each
        # The invocation's tenant in Lambda's tenant isolation mode (the decorator sets it),
        # unless entries are shared across tenants on purpose.
        self.tenant_id = ""
        self.share_across_tenants = share_across_tenants
        self._disable_lock = threading.RLock()
        if backend is None or isinstance(backend, str):
            # A name (requests-cache's "dynamodb") or none: the table of that name, or the
            # default table, with requests-cache's defaults.
            options = {k: v for k, v in kwargs.items() if k not in _SETTING_KEYWORDS}
            backend = SharedCache(cache_name or "http_cache", **options)
        self.cache = backend
        self.settings = CacheSettings.from_kwargs(
            expire_after=expire_after,
            urls_expire_after=urls_expire_after,
            cache_control=cache_control,
            allowable_codes=allowable_codes,
            allowable_methods=allowable_methods,
            always_revalidate=always_revalidate,
            ignored_parameters=ignored_parameters,
            match_headers=match_headers,
            filter_fn=filter_fn,
            key_fn=key_fn,
            read_only=read_only,
            stale_if_error=stale_if_error,
            autoclose=autoclose,
            **{k: v for k, v in kwargs.items() if k in _SETTING_KEYWORDS},
        )
        super().__init__()
        if isinstance(self.cache, SharedCache):
            self.cache.heuristic = heuristic  # redirects are judged as responses (cache.py)

    @property
    def settings(self) -> CacheSettings:
        """What shapes the cache's decisions (requests-cache's names); kept by the cache, as
        requests-cache does, since keys read some of them."""
        settings: CacheSettings = self.cache._settings
        return settings

    @settings.setter
    def settings(self, value: CacheSettings) -> None:
        self.cache._settings = value

    @property
    def expire_after(self) -> Any:
        return self.settings.expire_after

    @expire_after.setter
    def expire_after(self, value: Any) -> None:
        self.settings.expire_after = value

    @contextmanager
    def cache_disabled(self) -> Iterator[None]:
        """Send the requests of the ``with`` block around the cache (neither read nor
        written)."""
        if self.settings.disabled:
            yield
            return
        with self._disable_lock:
            self.settings.disabled = True
            try:
                yield
            finally:
                self.settings.disabled = False

    @classmethod
    def wrap(cls, original: Session, **kwargs: Any) -> CachedHttpSession:
        """A cached session with ``original``'s settings (auth, cookies, headers, adapters,
        TLS, proxies...), as requests-cache's ``CachedSession.wrap``."""
        session = cls(**kwargs)
        for name in _SESSION_ATTRIBUTES:
            setattr(session, name, getattr(original, name))
        return session

    def __repr__(self) -> str:
        return f"<{type(self).__name__}(cache={self.cache!r}, settings={self.settings!r})>"

    def __getstate__(self) -> dict[str, Any]:
        # As requests-cache's session: its cache holds clients and locks that do not pickle,
        # and a half-restored session would fail later, less clearly.
        raise NotImplementedError("CachedHttpSession cannot be pickled")

    def close(self) -> None:
        if self.settings.autoclose:
            self.cache.close()
        super().close()

    @property
    def cookies(self) -> RequestsCookieJar:
        """The jar requests reads and writes: the invocation's (a new one each invocation);
        on a thread inside a request, the jar of the invocation that sent it (a response that
        lands after that invocation ended writes into its jar, never the next one's); on a
        thread doing work after the response, that work's private jar."""
        private: RequestsCookieJar | None = getattr(self._private, "cookies", None)
        return self._invocation_cookies if private is None else private

    @cookies.setter
    def cookies(self, jar: RequestsCookieJar) -> None:
        private = getattr(self._private, "cookies", None)
        if private is None or private is self._invocation_cookies:
            # Not the jar of a refresh, nor of a request of an invocation that has ended.
            self._invocation_cookies = jar
        if private is not None:
            self._private.cookies = jar

    def begin_invocation(self) -> None:
        """Put the session back as it was at the end of init: whatever the previous
        invocation's handler, or the origins it called, changed (cookies, headers, auth,
        proxies, hooks, params, TLS and redirect settings, mounted adapters, the cache and its
        settings) is undone. Mappings and hooks are refilled in place (user code may hold
        them); each other value is a new copy of init's, and the cookie jar a new jar (init's
        cookies and policy), so nothing a late thread or a held object changes reaches this
        invocation. The first call takes that state, so module-level setup done after the
        decorator is part of it."""
        base = self._baseline
        if base is None:
            base = self._baseline = self._snapshot()
        self.cache = base["cache"]
        settings, fields = base["settings"]
        self.settings = settings
        for name, kept in fields.items():
            setattr(settings, name, _fresh(kept))
        for name, mapping, items in base["mappings"]:
            # Refilled only if changed: a refresh on a thread may be reading the adapters.
            if items is not None and tuple(mapping.items()) != items:
                mapping.clear()
                mapping.update(items)
            setattr(self, name, mapping)
        hooks, events = base["hooks"]
        if events is not None:
            hooks.clear()
            for event, value, items in events:
                if items is not None:
                    value[:] = items
                hooks[event] = value
        self.hooks = hooks
        self._invocation_cookies = base["jar"]()
        for name, kept in base["values"].items():
            setattr(self, name, _fresh(kept))
        for adapter, state in base["adapters"]:
            # The adapter objects outlive invocations (their pools do): what a handler set on
            # one (a patched send, other retries) is taken off again.
            current = vars(adapter)
            if current.keys() != state.keys() or any(current[k] is not v for k, v in state.items()):
                for name in [name for name in current if name not in state]:
                    del current[name]
                current.update(state)

    def _snapshot(self) -> dict[str, Any]:
        """What begin_invocation puts back: each object with a copy of its contents (the
        copies are never handed out, so they never change). Adapters are kept as they are:
        their connection pools outlive invocations."""
        settings = self.settings
        hooks: Any = self.hooks
        events = None
        if isinstance(hooks, MutableMapping):
            events = [
                (event, value, tuple(value) if isinstance(value, list) else None)
                for event, value in hooks.items()
            ]
        mappings = []
        for name in ("headers", "proxies", "params", "adapters"):
            mapping = getattr(self, name)
            items = tuple(mapping.items()) if isinstance(mapping, MutableMapping) else None
            mappings.append((name, mapping, items))
        fields = {f.name: _kept(getattr(settings, f.name)) for f in _fields_of(settings)}
        return {
            "cache": self.cache,
            "settings": (settings, fields),
            "mappings": mappings,
            "hooks": (hooks, events),
            "jar": _jar_factory(self._invocation_cookies),
            "adapters": [
                (adapter, dict(vars(adapter)))
                for adapter in {id(a): a for a in self.adapters.values()}.values()
                if hasattr(adapter, "__dict__")
            ],
            "values": {
                name: _kept(getattr(self, name))
                for name in ("auth", "verify", "cert", "stream", "trust_env", "max_redirects")
            },
        }

    def _private_jar(self) -> RequestsCookieJar:
        """A new jar for work after the response: init's cookies (none before the first
        invocation), never the jar of an invocation."""
        if self._baseline is None:
            return RequestsCookieJar()
        jar: RequestsCookieJar = self._baseline["jar"]()
        return jar

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> _Settings:
        """As requests does, but reading the proxy variables once per host: requests scans the
        whole environment on every request (about 0.15 ms, most of a memory-tier hit), and a
        function's environment does not change while its container lives."""
        if self.trust_env:
            no_proxy = proxies.get("no_proxy") if proxies is not None else None
            parts = urlsplit(url)
            memo = (parts.scheme, parts.netloc, no_proxy)
            env_proxies = self._proxy_memo.get(memo)
            if env_proxies is None:
                env_proxies = get_environ_proxies(url, no_proxy=no_proxy)
                self._proxy_memo.put(memo, env_proxies)
            if proxies is not None:
                for name, value in env_proxies.items():
                    proxies.setdefault(name, value)
            if verify is True or verify is None:
                verify = self._ca_bundle or verify
        return {
            "proxies": merge_setting(proxies, self.proxies),
            "stream": merge_setting(stream, self.stream),
            "verify": merge_setting(verify, self.verify),
            "cert": merge_setting(cert, self.cert),
        }

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        *args: Any,
        headers: Any = None,
        expire_after: Any = None,
        only_if_cached: bool = False,
        refresh: bool = False,
        force_refresh: bool = False,
        **kwargs: Any,
    ) -> Any:
        headers = request_headers(headers, expire_after, only_if_cached, refresh, force_refresh)
        # The cookies the request is prepared with come from the jar send() writes into.
        sender = self._hold_jar()
        try:
            # requests' own request(), past requests-cache's (which would take these options
            # again): it prepares the request and calls this session's send(). A multipart
            # upload gets requests' random boundary, so it is keyed on its own and never
            # shared.
            return Session.request(self, method, url, *args, headers=headers, **kwargs)  # type: ignore[misc]
        finally:
            self._private.cookies = sender

    def _hold_jar(self) -> RequestsCookieJar | None:
        """Make the jar of the invocation this thread sends for the one ``cookies`` gives
        this thread until the outermost request ends (the caller then puts back what this
        returns): requests writes a response's cookies into ``cookies`` when it lands, and a
        request still under way when its invocation ends (a thread the handler left
        running) must write them into that invocation's jar, never into the next one's."""
        held: RequestsCookieJar | None = getattr(self._private, "cookies", None)
        if held is None:
            self._private.cookies = self._invocation_cookies
        return held

    def send(
        self,
        request: PreparedRequest,
        expire_after: Any = None,
        only_if_cached: bool = False,
        refresh: bool = False,
        force_refresh: bool = False,
        **kwargs: Any,
    ) -> Any:
        # requests sends each redirect hop through send() again: count the outermost only.
        depth = getattr(self._depth, "value", 0)
        self._depth.value = depth + 1
        sender = self._hold_jar()
        started = time.perf_counter()
        try:
            request.headers = request_headers(
                request.headers, expire_after, only_if_cached, refresh, force_refresh
            )
            # Every key derived from this request accounts for the transport it goes over. A
            # key names the URL's own response (a redirect, if it redirects), whatever the
            # caller's redirect policy: a caller that follows redirects follows stored ones
            # through requests' own rules (_follow_stored), hop by hop, each hop a response.
            transport = transport_of(str(request.url or ""), kwargs, self)
            stamp(request, transport._replace(follow_redirects=False))
            reason = (
                unkeyed_reason(kwargs)
                or self._adapter_reason(str(request.url or ""))
                or self._hooks_reason(request)
            )
            if reason is None:
                response = self._cached_send(request, **kwargs)
            else:
                response = self._unkeyed(reason, request, **kwargs)
        finally:
            self._depth.value = depth
            self._private.cookies = sender
        if depth:
            return response
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        if self.settings.disabled or (request.method or "") not in self.settings.allowable_methods:
            decision = "skipped"
        elif getattr(response, "from_cache", False):
            decision = "stale" if getattr(response, "is_expired", False) else "hit"
            self.stats.add("hits")
            self.stats.add("bytes_served", len(response.content or b""))
        else:
            decision = "miss"
            self.stats.add("misses")
        log_decision(
            decision,
            cache_key=getattr(response, "cache_key", None) or None,
            method=request.method,
            status=response.status_code,
            latency_ms=latency_ms,
        )
        return response

    def _adapter_reason(self, url: str) -> str | None:
        """Why the adapter that sends to ``url`` keeps the request from the cache, or None.
        requests' own HTTPAdapter is understood (its retries change no answer); any other
        (one that pins a client certificate in its TLS context, a source address...) shapes
        the response in ways the key cannot see."""
        try:
            adapter = self.get_adapter(url)
        except Exception:  # no adapter: requests raises as it would without a cache
            return None
        if type(adapter) is not HTTPAdapter:
            return f"transport adapter {type(adapter).__name__}"
        # Only an adapter the session had at init, and not patched since, is the same for
        # every caller: one mounted or changed by a handler could shape one caller's answer.
        if "send" in vars(adapter) or not any(adapter is own for own in self._init_adapters()):
            return "a transport adapter mounted or changed after init"
        return None

    def _init_adapters(self) -> tuple[Any, ...]:
        """The adapters the session had at the end of init (as they are now, outside the
        decorator, which knows no invocations)."""
        base = self._baseline
        if base is not None:
            for name, _, items in base.get("mappings", ()):
                if name == "adapters" and items is not None:
                    return tuple(adapter for _, adapter in items)
        return tuple(self.adapters.values())

    def _hooks_reason(self, request: PreparedRequest) -> str | None:
        """Why the request's response hooks keep it from the cache, or None. requests runs
        them on the origin's response before the cache stores it, so a hook given for one
        request (or added by an auth handler, as Digest's is) could shape what another
        caller is served; the session's own hooks, set at init, run alike for every caller."""
        hooks = (request.hooks or {}).get("response") or ()
        if not hooks:
            return None
        known = self._init_response_hooks()
        if all(any(hook is own for own in known) for hook in hooks):
            return None
        return "response hooks of the request"

    def _init_response_hooks(self) -> tuple[Any, ...]:
        """The session's response hooks as init left them (as they are, outside the
        decorator, which knows no invocations)."""
        if self._baseline is not None:
            for event, value, items in self._baseline["hooks"][1] or ():
                if event == "response":
                    return tuple(items if items is not None else value)
            return ()
        return tuple(self.hooks.get("response") or ())

    def _unkeyed(self, reason: str, request: PreparedRequest, **kwargs: Any) -> Any:
        """Send a request the key cannot account for around the cache, counted and logged
        (each reason once per container, at WARNING)."""
        self.stats.add("unkeyed")
        if reason not in self._unkeyed_reasons and len(self._unkeyed_reasons) < 64:
            self._unkeyed_reasons.add(reason)
            logger.warning("Requests sent around the cache: the key cannot account for %s", reason)
        return self._uncached(OriginSession.send(self, request, **kwargs))

    def _cached_send(self, request: PreparedRequest, **kwargs: Any) -> Any:
        """requests-cache's send flow (key, read, decide, send, store), with this project's
        policy and guards."""
        # The caller's own conditions (revalidation adds the cache's to the same headers).
        conditions = {
            name: request.headers[name]
            for name in ("If-None-Match", "If-Modified-Since")
            if name in request.headers
        }
        unkeyed = None
        try:
            plan, cached_response = self._plan(request, **kwargs)
        except UnkeyedRequest as error:
            unkeyed = str(error)
        except Exception as error:
            # Nothing has gone to the origin yet: the cache's failure is a miss.
            self.stats.add("errors")
            logger.warning("Cache lookup failed, request sent uncached: %r", error)
            return self._uncached(OriginSession.send(self, request, **kwargs))
        if unkeyed is not None:  # sent outside the handler: the caller's error is its own
            return self._unkeyed(unkeyed, request, **kwargs)
        response: Any
        if plan.error_504:
            response = gateway_timeout(request)
        elif plan.resend_async:
            response = self._serve_stale(request, plan, cached_response, **kwargs)
        elif plan.resend_request or plan.send_request:
            response = self._coordinated(request, plan, cached_response, **kwargs)
        else:
            response = cached_response
            if self.early_refresh and refresh_early(response, self.early_refresh):
                self._refresh_after_response(request, plan, response, **kwargs)
        if kwargs.get("allow_redirects", True) and getattr(response, "from_cache", False):
            response = self._follow_stored(response, request, **kwargs)
        if self.settings.filter_fn is not None and not self.settings.filter_fn(response):
            self.cache.delete(plan.cache_key)
            return response
        if (
            conditions
            and response is cached_response
            and cached_response is not None
            and satisfies_conditions(
                conditions, cached_response.status_code, cached_response.headers
            )
        ):
            # The caller's own conditional request, answered from a fresh stored response.
            response = _not_modified(cached_response)
        return dispatch_hook("response", request.hooks, response, **kwargs)  # type: ignore[no-untyped-call]

    def _follow_stored(self, response: Any, request: PreparedRequest, **kwargs: Any) -> Any:
        """A stored redirect, served to a caller that follows redirects, followed as requests'
        Session.send follows one from the origin: by its resolve_redirects (its rules on
        methods, credentials across hosts, cookies, proxies, and the redirect limit), each
        hop sent through this session, so each is a lookup of its own."""
        if not response.is_redirect:
            return response
        options = {name: value for name, value in kwargs.items() if name != "allow_redirects"}
        history = list(self.resolve_redirects(response, request, **options))
        if not history:
            return response
        history.insert(0, response)
        final = history.pop()
        final.history = history
        return final

    def _serve_stale(
        self,
        request: PreparedRequest,
        plan: Any,
        cached_response: Any,
        **kwargs: Any,
    ) -> Any:
        """Serve the stale response at once; the lease winner (or, without leases, this
        container) refreshes it after the response."""
        self.stats.add("stale_served")
        self._refresh_after_response(request, plan, cached_response, **kwargs)
        return cached_response

    def _refresh_after_response(
        self,
        request: PreparedRequest,
        plan: Any,
        cached_response: Any,
        **kwargs: Any,
    ) -> None:
        """Refresh ``cached_response`` after the response, if this container wins its lease
        (or has no leases). The lease is asked for after the response too: a stale serve
        costs its caller the lookup alone, not the lease's conditional write."""
        key = plan.cache_key
        if not self._take_on(key, lease_seconds(cached_response)):
            return  # this container refreshes it already, or another one does
        again = request.copy()
        stamp(again, stamped_transport(request))
        # The refresh reads the body whole, so that it can be stored, whatever the caller
        # asked for its own answer (a streamed one would not be).
        kwargs = {**kwargs, "stream": False}

        def refresh() -> None:
            if self._acquire(key, cached_response) is False:
                return  # another container refreshes it
            # Only if the entry is still the one seen stale: another container may have
            # replaced it since (this one's memory tier may hold the old one, and served it).
            peek = getattr(self.cache, "peek", None)
            landed = peek(plan.cache_key) if peek is not None else None
            if landed is not None and _newer(landed, cached_response):
                return
            # Its own cookie jar on this thread, dropped when done: what the origin sets now
            # reaches no caller, and a concurrent invocation's jar is not touched.
            outer = getattr(self._private, "cookies", None)
            self._private.cookies = self._private_jar()
            try:
                # Nobody reads the answer: closed, so a streamed one frees its connection.
                self._send_and_cache(again, plan, cached_response, **kwargs).close()
            finally:
                self._private.cookies = outer
            self.stats.add("refreshes")

        self.after_response.submit(refresh)

    def _coordinated(
        self,
        request: PreparedRequest,
        plan: Any,
        cached_response: Any,
        **kwargs: Any,
    ) -> Any:
        """Go to the origin for a missing or stale key, once per container and fleet: a
        thread that finds another of this container fetching the key waits for it; a
        container that finds another holding the key's lease polls the table for its write.
        Each waits a bounded time (coordination.wait_plan), then falls through."""
        key = plan.cache_key
        if kwargs.get("stream"):
            # Its answer is never stored (the cache reads no body the caller may not read):
            # nobody should wait for it, nor it for a lease.
            return self._fetch(request, plan, cached_response, **kwargs)
        cacheable = not plan.skip_read and not self.settings.read_only
        if not (cacheable and self.coalesce):
            return self._lease_and_fetch(request, plan, cached_response, **kwargs)
        with self.flights.lead(key) as landed:
            if landed is None:
                return self._lease_and_fetch(request, plan, cached_response, **kwargs)
            landed.wait(follower_wait(cached_response))
            served = self._served_now(request, cached_response, **kwargs)
            if served is not None:
                return served
        return self._fetch(request, plan, cached_response, **kwargs)

    def _lease_and_fetch(
        self,
        request: PreparedRequest,
        plan: Any,
        cached_response: Any,
        **kwargs: Any,
    ) -> Any:
        # A key takes a lease for its first fill as for a refresh, unless its last answer
        # could not be stored (hit-for-miss): then nobody would fill it, and its callers go
        # to the origin without waiting on one another.
        if self._coordinates(plan, **kwargs):
            if cached_response is None:
                lease = False if plan.filling else self._claim(plan.cache_key)
            else:
                lease = self._lease(plan.cache_key, cached_response)
            if lease is False:
                served = self._await_write(request, plan.cache_key, cached_response, **kwargs)
                if served is not None:
                    return served
            elif lease and cached_response is not None:
                # Won: unless another container has replaced the entry seen stale since it
                # was read (this container's memory tier may hold the old one), in which
                # case that newer one is served.
                served = self._replaced(request, plan, cached_response, **kwargs)
                if served is not None:
                    return served
        return self._fetch(request, plan, cached_response, **kwargs)

    def _coordinates(self, plan: Plan, **kwargs: Any) -> bool:
        """Whether a fetch for ``plan`` takes part in the fleet's coordination: a request
        whose answer may be stored (read, not streamed, the cache writable, the key not
        marked uncacheable)."""
        return not (
            plan.skip_read
            or plan.uncacheable
            or plan.unavailable
            or self.settings.read_only
            or self.settings.disabled
            or kwargs.get("stream")
        )

    def _replaced(
        self, request: PreparedRequest, plan: Plan, cached_response: Any, **kwargs: Any
    ) -> Any:
        """What the cache serves for ``request`` if the table now holds a newer entry than
        ``cached_response`` (one strongly consistent read, which also updates the memory
        tier), else None."""
        landed = self.cache.peek(plan.cache_key, marks=True)
        if landed is None or isinstance(landed, Uncacheable | Unavailable | Pending):
            return None
        if not _newer(landed, cached_response):
            return None
        return self._served_now(request, cached_response, **kwargs)

    def forget_leases(self) -> None:
        """Forget the leases this container remembers asking for (SnapStart: those were
        asked by the snapshot, not by this restored environment)."""
        with self._leases_lock:
            self._taken_on.clear()

    def _lease(self, key: str, cached_response: Any) -> bool | None:
        """The right to fill or refresh ``key``: True if this container holds it now, False
        if another does, None if no lease was taken (leases off, or the table could not
        grant one: the caller goes on). The table is asked once per lease period per
        container: a later asker here takes the answer as lost, since the first is fetching
        or waiting (no PutItem, no delay)."""
        if not self.leases or getattr(self.cache, "acquire_lease", None) is None:
            return None
        if not self._take_on(key, lease_seconds(cached_response)):
            return False
        return self._acquire(key, cached_response)

    def _acquire(self, key: str, cached_response: Any) -> bool | None:
        """Ask the table for ``key``'s lease (see :meth:`_lease`), whatever this container
        has taken on; None if leases are off."""
        acquire = getattr(self.cache, "acquire_lease", None)
        if not self.leases or acquire is None:
            return None
        stored_at = getattr(cached_response, "created_at", None)
        granted: bool | None = acquire(key, lease_seconds(cached_response), stored_at)
        return granted

    def _take_on(self, key: str, seconds: float) -> bool:
        """Whether this container takes ``key`` on now (for ``seconds``): False if it already
        did within that time (a lease asked for, a refresh queued)."""
        now = time.monotonic()
        with self._leases_lock:
            until = self._taken_on.get(key)
            if until is not None and until > now:
                return False
            self._taken_on.put(key, now + seconds)
        return True

    def _claim(self, key: str) -> bool | None:
        """The first fill of ``key``: True if this container makes it, False if another
        does, None if no claim was made (leases off, or the table could not say)."""
        claim = getattr(self.cache, "claim_fill", None)
        if not self.leases or claim is None:
            return None
        granted: bool | None = claim(key, lease_seconds(None))
        return granted

    def _await_write(
        self,
        request: PreparedRequest,
        key: str,
        cached_response: Any,
        **kwargs: Any,
    ) -> Any:
        """Poll the table for the lease holder's write of ``key``: the response it stored, or
        None once the wait is over (the caller then goes to the origin itself). Whatever the
        table holds meanwhile, a failure ends the wait (counted, logged) and is not raised."""
        try:
            wait, poll = wait_plan(cached_response)
            deadline = time.monotonic() + wait
            peek = self.cache.peek  # only a DynamoDbCache leases
            for interval in poll_intervals(poll):
                if time.monotonic() >= deadline:
                    break
                time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
                landed = peek(key, marks=True)
                if isinstance(landed, Uncacheable | Unavailable):
                    # The holder's answer could not be stored, or the table cannot be read:
                    # fetch at once.
                    return None
                if isinstance(landed, Pending):
                    continue  # the first fill is under way
                if landed is None and cached_response is None:
                    return None  # nobody is filling the key (any more): fetch at once
                if landed is not None and _newer(landed, cached_response):
                    served = self._served_now(request, cached_response, **kwargs)
                    if served is not None:
                        return served
        except Exception as error:
            self.stats.add("errors")
            logger.warning(
                "Waiting for another's write failed, request sent to the origin: %r", error
            )
        return None

    def _served_now(self, request: PreparedRequest, cached_response: Any, **kwargs: Any) -> Any:
        """What the cache serves for ``request`` now that another's origin call has landed,
        if it is a newer response that needs no origin call; else None (also if the cache
        fails: the caller then goes to the origin)."""
        try:
            plan, served = self._plan(request, **kwargs)
        except Exception as error:
            self.stats.add("errors")
            logger.warning("Cache lookup failed, request sent uncached: %r", error)
            return None
        if served is None or plan.send_request or plan.resend_request:
            return None
        if not _newer(served, cached_response):
            return None
        self.stats.add("coalesced")
        return served

    def _fetch(
        self,
        request: PreparedRequest,
        plan: Any,
        cached_response: Any,
        **kwargs: Any,
    ) -> Any:
        if plan.resend_request and cached_response is not None:
            return self._resend(request, plan, cached_response, **kwargs)
        return self._send_and_cache(request, plan, cached_response, **kwargs)

    def _plan(self, request: PreparedRequest, **kwargs: Any) -> tuple[Plan, Any]:
        """The key, the cached response (if any) and what to do with the request."""
        # Keys over the transport this request goes over (send() stamped it): also those of
        # stored requests it is compared with for Vary.
        keying: dict[str, Any] = {"transport": stamped_transport(request)}
        headers = request.headers
        plan = Plan.for_request(
            self.cache.create_key(request, **keying),
            request.method,
            request.url,
            headers,
            self.settings,
            utcnow(),
            heuristic=self.heuristic,
            stale_while_revalidate=self.stale_while_revalidate,
            stale_window=self.stale_window,
        )
        cached_response: Any = None
        held = None if plan.skip_read else self._held(plan, request, keying)
        if held is not None:
            # A memory hit, fresh or served stale at once as the table's copy would be (the
            # refresh after the response reads the table before any origin call).
            self.stats.add("memory_hits")
            cached_response = held
        else:
            if not plan.skip_read:
                cached_response = self._lookup(plan, plan.cache_key)
            plan.read(
                cached_response,
                vary_matches=self._vary_matches(plan, cached_response, request, keying),
            )
        if plan.vary_cache_key:
            # The entry varies on headers this request does not match: look for the entry
            # stored under the key that includes them, and store under that key otherwise.
            # A stored response its Vary does not select for this request is not there for
            # it: no validator is taken from it, no 304 freshens it, it is never served (not
            # stale, not on an error, not for only-if-cached). Only the variant found under
            # the request's own Vary key counts.
            plan.cache_key = plan.vary_cache_key
            vary_cached = self._lookup(plan, plan.vary_cache_key)
            plan.reset_read()
            matches = self._vary_matches(plan, vary_cached, request, keying)
            plan.vary_cache_key = None  # a variant leads to no further one
            plan.read(vary_cached, vary_matches=matches)
            cached_response = vary_cached
        if cached_response is not None:
            # Served as the answer to this very request: what the caller (and requests'
            # redirect logic, which decides where credentials may go) reads as its request
            # and URL is what the caller sent, never what an item claims.
            cached_response.request = request
            cached_response.url = str(request.url or "")
        return plan, cached_response

    def _vary_matches(
        self, plan: Plan, stored: Any, request: PreparedRequest, keying: dict[str, Any]
    ) -> bool:
        """Whether the ``Vary`` of ``stored`` selects it for ``request`` (RFC 9111, 4.1): the
        headers it names, keyed as the key keys them, are the same in the stored request
        and in this one. If not, ``plan.vary_cache_key`` names the key of the variant this
        request selects (unless a header it names is one the key ignores: then none)."""
        if stored is None:
            return True
        vary = stored.headers.get("Vary")
        if not vary:
            return True
        names = [name.strip().lower() for name in str(vary).split(",") if name.strip()]
        if "*" in names:
            return False
        stored_request = stored.history[-1].request if stored.history else stored.request
        if "cookie" in names:
            # requests keeps cookies apart from the stored headers: compared as requests-cache
            # does (a stored request keeps none, so only a request without cookies matches).
            if _cookies(getattr(stored_request, "cookies", None)) != _cookies(
                getattr(request, "_cookies", None)
            ):
                return False
            names.remove("cookie")
        if not names:
            return True
        ignored = {str(name).lower() for name in self.settings.ignored_parameters or ()}
        if any(name in request.headers for name in ignored & set(names)):
            return False
        create_key = self.cache.create_key
        if create_key(stored_request, match_headers=names, **keying) == create_key(
            request, match_headers=names, **keying
        ):
            return True
        matched = self.settings.match_headers
        merged: Any = names
        if matched is True:
            merged = True
        elif matched:
            merged = sorted(set(names) | {str(name).lower() for name in matched})
        plan.vary_cache_key = create_key(request, match_headers=merged, **keying)
        return False

    def _held(self, plan: Plan, request: PreparedRequest, keying: dict[str, Any]) -> Any:
        """The response the memory tier holds for the request's key, if ``plan`` serves it as
        it is: fresh, or stale at once (stale-while-revalidate), its Vary selecting it. No
        table call. Else None, and ``plan`` is as before (the caller reads the table)."""
        held_entry = getattr(self.cache, "held", None)
        held = held_entry(plan.cache_key) if held_entry is not None else None
        if held is None:
            return None
        plan.read(held, vary_matches=self._vary_matches(plan, held, request, keying))
        if not (plan.send_request or plan.resend_request or plan.error_504 or plan.vary_cache_key):
            return held
        plan.reset_read()
        return None

    def _lookup(self, plan: Plan, key: str) -> Any:
        """The stored response for ``key``. This session stores each request's own response
        and never a redirect alias, so it follows none: an alias under one of its keys was
        not written by it, and is a miss. A key whose last answer could not be stored is a
        miss that ``plan`` remembers (hit-for-miss: its callers do not wait on one another)."""
        found = self.cache.get_response(key, follow_aliases=False, marks=True)
        if isinstance(found, Uncacheable):
            plan.uncacheable = True
            return None
        if isinstance(found, Pending):
            plan.filling = True  # another container makes the key's first fill now
            return None
        if isinstance(found, Unavailable):
            plan.unavailable = True  # the read failed: ask the table no more than needed
            return None
        return found

    def _send_and_cache(
        self,
        request: PreparedRequest,
        plan: Any,
        cached_response: Any = None,
        **kwargs: Any,
    ) -> Any:
        plan.update_request(request.headers)
        # The origin: its errors are the caller's, exactly as without a cache.
        response = OriginSession.send(self, request, **kwargs)
        # This container's refresh of the key is done: its next expiry asks for a lease anew.
        with self._leases_lock:
            self._taken_on.pop(plan.cache_key)
        try:
            return self._store(response, plan, cached_response)
        except Exception as error:
            self.stats.add("errors")
            logger.warning("Cache update failed, origin response returned uncached: %r", error)
            return self._uncached(response)

    def _resend(
        self,
        request: PreparedRequest,
        plan: Any,
        cached_response: Any,
        **kwargs: Any,
    ) -> Any:
        """Revalidate or refresh a stored response. With stale-if-error, the stored response
        stands in for an origin that fails (an exception, or a 5xx answer: RFC 5861), unless
        it must never be served stale; otherwise the origin's answer or error is the
        caller's, as without a cache."""
        stale_if_error = bool(plan.stale_if_error)
        try:
            response = self._send_and_cache(request, plan, cached_response, **kwargs)
        except Exception:
            if stale_if_error and plan.is_usable(cached_response, error=True):
                logger.warning("Origin failed; serving the stored response", exc_info=True)
                return cached_response
            raise
        if (
            stale_if_error
            and response.status_code >= 500
            and plan.is_usable(cached_response, error=True)
        ):
            logger.warning("Origin answered %d; serving the stored response", response.status_code)
            return cached_response
        return response

    def _store(self, response: Response, plan: Plan, cached_response: Any) -> Any:
        """Carry out the core's judgment of the origin's answer: store it, freshen the stored
        response with a 304, invalidate, or none of these; the caller's response."""
        # What the key names is the request's own response: the first of a followed chain
        # (each later hop was stored by its own send); the caller gets the chain's end. An
        # auth handler's history (a 401, then the answer to other credentials) is no chain:
        # its answer is judged by the write path's credential check.
        own = response
        if response.history and response.history[0].is_redirect:
            own = response.history[0]
        sent = own.request
        filter_fn = self.settings.filter_fn
        plan.judge(
            own.status_code,
            own.headers,
            method=sent.method,
            request_headers=sent.headers,
            now=utcnow(),
            elapsed=own.elapsed,
            filtered_out=filter_fn is not None and not filter_fn(own),
        )
        if (
            invalidates(sent.method, own.status_code)
            and not self.settings.disabled
            and hasattr(self.cache, "invalidate")
        ):
            self.cache.invalidate(sent, own)
        refusal = None
        if not plan.skip_write:
            refusal = self.cache.save(own, plan.cache_key, plan.expires)
        streamed = getattr(own, "_content", None) is False  # the caller's choice, not the URL's
        if ((plan.skip_write and response.status_code != 304) or refusal) and not streamed:
            self._mark_uncacheable(plan, cached_response)
        if plan.skip_write and (
            cached_response is not None
            and response.status_code == 304
            # Only a 304 to the cache's own validators, taken from this stored response,
            # says it is still valid (RFC 9111, 4.3.4); one to the caller's own conditions
            # is the caller's answer alone.
            and plan.validation_headers
        ):
            return self._freshen(response, plan, cached_response)
        if getattr(response, "from_cache", False):
            return response
        return as_origin_response(
            response,
            expires=None if plan.skip_write else plan.expires,
            cache_key=None if plan.skip_write else plan.cache_key,
        )

    def _mark_uncacheable(self, plan: Plan, cached_response: Any) -> None:
        """After a first fill whose answer could not be stored: mark the key (hit-for-miss),
        so that its next callers, here and in other containers, go to the origin without a
        lease or a wait. Never over a stored entry (a refresh's stale one may yet serve on an
        error), and only where fills are coordinated."""
        if cached_response is None and self.leases and self._coordinates(plan):
            mark = getattr(self.cache, "mark_uncacheable", None)
            if mark is not None:
                mark(plan.cache_key)

    def _freshen(self, not_modified: Response, plan: Plan, cached_response: Any) -> Any:
        """The stored response, freshened by the origin's 304 (RFC 9111, 4.3.4): updated
        headers and expiry, its age counted again from this answer; written back if that
        changed anything."""
        headers = plan.freshen(
            cached_response.headers, cached_response.expires, not_modified.headers
        )
        cached_response.headers = CaseInsensitiveDict(headers)
        cached_response.expires = plan.expires
        cached_response.revalidated = True
        now = utcnow()
        cached_response.created_at = now
        cached_response.initial_age = initial_age(not_modified.headers, now, not_modified.elapsed)
        if not plan.skip_write:
            self.cache.save_response(cached_response, plan.cache_key, plan.expires)
        return cached_response

    @staticmethod
    def _uncached(response: Any) -> Any:
        return as_origin_response(response)


def _newer(response: Any, than: Any) -> bool:
    """Whether ``response`` was stored after ``than`` (any response is, if there was none, or
    if either time is unknown). Never raises: times that cannot be compared (not times, one
    with a zone and one without, a zone that fails) are not newer, so the caller does as it
    would without the other's write."""
    if than is None:
        return True
    created, before = getattr(response, "created_at", None), getattr(than, "created_at", None)
    if created is None or before is None:
        return True
    try:
        if not (isinstance(created, datetime) and isinstance(before, datetime)):
            return False
        if (created.utcoffset() is None) != (before.utcoffset() is None):
            return False
        return bool(created > before)
    except Exception as error:
        logger.warning("Stored times %r and %r are not comparable: %r", created, before, error)
        return False


def request_headers(
    headers: Any,
    expire_after: Any,
    only_if_cached: bool,
    refresh: bool,
    force_refresh: bool,
) -> Any:
    """requests-cache's per-request options as request headers, keeping the caller's
    ``Cache-Control`` as sent (requests-cache re-joins it without its spaces, which can make
    an invalid header). ``headers`` itself when there is no option to add."""
    if expire_after is None and not (only_if_cached or refresh or force_refresh):
        return headers
    headers = CaseInsensitiveDict(headers)
    added = []
    if only_if_cached:
        added.append("only-if-cached")
    if refresh:
        added.append("must-revalidate")
    if force_refresh:
        added.append("no-cache")
    if expire_after == DO_NOT_CACHE:
        headers[NO_CACHE_HEADER] = "true"
    elif expire_after is not None:
        now = utcnow()
        expires = expiration_time(expire_after, now)
        # requests-cache's own encoding: max-age=-1 is "never expires" for this request, and a
        # time already past is as many seconds ago.
        seconds = -1 if expires is None else ceil((expires - now).total_seconds())
        added.append(f"max-age={seconds}")
    if added:
        existing = [part.strip() for part in str(headers.get("Cache-Control") or "").split(",")]
        directives = [part for part in existing if part]
        directives += [part for part in added if part not in directives]
        headers["Cache-Control"] = ", ".join(directives)
    return headers


def _not_modified(stored: Any) -> CachedHttpResponse:
    """The 304 the cache answers a request's own conditions with, from ``stored``."""
    headers = stored.headers
    answer = CachedHttpResponse(
        status_code=304,
        reason="Not Modified",
        headers=CaseInsensitiveDict(
            {name: headers[name] for name in NOT_MODIFIED_HEADERS if name in headers}
        ),
        request=stored.request,
        url=stored.url,
        created_at=stored.created_at,
        expires=stored.expires,
    )
    answer.cache_key = getattr(stored, "cache_key", "")
    return answer


def _cookies(jar: Any) -> str:
    """Cookies as requests-cache compares them for ``Vary: Cookie``."""
    try:
        return "; ".join(sorted(f"{k}={v}" for k, v in (jar or {}).items()))
    except Exception:
        return repr(jar)


def _fields_of(settings: Any) -> tuple[Any, ...]:
    """The fields of a settings object: this project's (a dataclass) or requests-cache's."""
    if dataclasses.is_dataclass(settings):
        return dataclasses.fields(settings)
    return tuple(getattr(type(settings), "__attrs_attrs__", ()))


# A value begin_invocation puts back: init's value, a private deep copy of it (never handed
# out), and whether each invocation needs a copy of its own.
Kept = tuple[Any, Any, bool]
# A jar's policy as requests builds it: each new jar builds its own.
_DEFAULT_POLICY = vars(DefaultCookiePolicy())


def _kept(value: Any) -> Kept:
    """Init's ``value`` as begin_invocation keeps it: a deep copy, so that what a handler
    changes in place (an auth object's password, a dict setting) is undone at the next
    invocation. A value that deep-copies to itself (a number, a string, a function, a tuple
    of those) needs no copy. A value that cannot be copied (one holding a lock or a
    threading.local, as requests' HTTPDigestAuth does) is kept by reference, so a change
    made to it in place is not undone (documented)."""
    try:
        copied = copy.deepcopy(value)
    except Exception:
        return value, value, False
    return value, copied, copied is not value


def _fresh(kept: Kept) -> Any:
    """One invocation's own copy of a kept value."""
    value, copied, needs_copy = kept
    if not needs_copy:
        return value
    try:
        return copy.deepcopy(copied)
    except Exception:  # copied once, so never in practice: init's value, as if uncopyable
        return value


def _jar_factory(jar: Any) -> Callable[[], Any]:
    """What makes each invocation's new jar from init's ``jar``: a jar of its kind (requests'
    own if that kind cannot be built without arguments), with a copy of each of its cookies
    and of its policy. Nothing of a jar is shared between invocations, so a cookie or policy
    set in one, or a response landing late in its jar, never reaches another."""
    if not isinstance(jar, CookieJar):
        kept_jar = _kept(jar)  # not a jar: as any other value
        return lambda: _fresh(kept_jar)
    kind = type(jar)
    cookies = tuple(copy.copy(cookie) for cookie in jar)
    policy = getattr(jar, "_policy", None)
    default = type(policy) is DefaultCookiePolicy and vars(policy) == _DEFAULT_POLICY
    kept_policy = None if default else _kept(policy)

    def new_jar() -> CookieJar:
        try:
            made = kind()
        except Exception:
            made = RequestsCookieJar()
        if kept_policy is not None:
            made.set_policy(_fresh(kept_policy))
        for cookie in cookies:
            made.set_cookie(copy.copy(cookie))
        return made

    return new_jar


def build_session(config: CacheConfig) -> CachedHttpSession:
    """A cached session for ``config``. Makes no network call."""
    stats = CacheStats()
    tracing = Tracing(enabled=config.tracing)
    backend: SharedCache | DisabledCache
    if config.enabled:
        backend = SharedCache.from_config(config, stats=stats, tracing=tracing)
    else:
        backend = DisabledCache()
    session = CachedHttpSession(
        backend=backend,
        stats=stats,
        tracing=tracing,
        heuristic=not config.standards_mode,
        coalesce=config.coalesce,
        leases=config.leases,
        stale_while_revalidate=config.stale_while_revalidate,
        stale_window=config.stale_window,
        early_refresh=config.early_refresh,
        share_across_tenants=config.share_across_tenants,
        expire_after=config.expire_after,
        urls_expire_after=config.urls_expire_after,
        cache_control=config.cache_control,
        allowable_methods=config.allowable_methods,
        allowable_codes=config.allowable_codes
        or (FINAL_STATUSES if config.standards_mode else DEFAULT_STATUS_CODES),
        stale_if_error=config.stale_if_error,
        match_headers=config.match_headers,
        ignored_parameters=config.ignored_parameters,
    )
    session.settings.disabled = not config.enabled
    return session
