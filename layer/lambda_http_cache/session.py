"""The container's cached session: a requests-cache ``CachedSession`` on the DynamoDB backend,
built once from a :class:`~lambda_http_cache.config.CacheConfig`, counting what it serves."""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
from collections.abc import Callable, MutableMapping
from datetime import datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs
from requests import PreparedRequest, Response, Session
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from requests.hooks import dispatch_hook
from requests.sessions import merge_setting as _merge_setting
from requests.utils import get_environ_proxies
from requests_cache.backends.base import BaseCache
from requests_cache.models.response import CachedResponse, OriginalResponse
from requests_cache.policy import utcnow
from requests_cache.session import CachedSession, get_504_response

from .after_response import AfterResponse
from .backend import DynamoDbCache
from .bounded import BoundedMemo
from .config import CacheConfig
from .coordination import Flights, follower_wait, lease_seconds, refresh_early, wait_plan
from .keys import UnkeyedRequest, stamp, stamped_transport, transport_of, unkeyed_reason
from .observability import Tracing, log_decision
from .policy import (
    DEFAULT_STATUSES,
    UNDERSTOOD_STATUSES,
    SharedCacheActions,
    conditional_answer,
    initial_age,
    request_headers,
)
from .stats import CacheStats

if TYPE_CHECKING:
    from requests.sessions import _Settings

merge_setting: Callable[[Any, Any], Any] = _merge_setting
logger = logging.getLogger(__name__)
# Per-container memos (bounded.py's rule): proxies by scheme, host and no_proxy; the keys
# this container asked a lease for.
PROXY_MEMO_BYTES = 256 * 1024
LEASES_ASKED_BYTES = 256 * 1024
# Methods that change nothing at the origin: any other, when it succeeds, invalidates what is
# stored for its URL (RFC 9111, 4.4).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


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


class CachedHttpSession(CachedSession, OriginSession):
    """A requests-cache session that counts and logs each cache decision.

    It runs requests-cache's flow (key, read, decide, send, store) with its own policy
    (:class:`~lambda_http_cache.policy.SharedCacheActions`), in two guarded phases: a failure
    of the cache's own logic before the origin is called sends the request uncached; after
    the origin answered, it returns that answer uncached. Errors of the origin itself reach
    the caller as they would without a cache."""

    # The current invocation's cookie jar (the ``cookies`` property).
    _invocation_cookies: RequestsCookieJar

    def __init__(
        self,
        *args: Any,
        stats: CacheStats | None = None,
        tracing: Tracing | None = None,
        # Defaults are CacheConfig's (one place for every default).
        heuristic: bool = not CacheConfig.standards_mode,
        coalesce: bool = CacheConfig.coalesce,
        leases: bool = CacheConfig.leases,
        stale_while_revalidate: bool = CacheConfig.stale_while_revalidate,
        stale_window: int = CacheConfig.stale_window,
        early_refresh: float = CacheConfig.early_refresh,
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
        # key -> until when this container asked (time.monotonic()); bounded in bytes.
        self._leases_asked: BoundedMemo[str, float] = BoundedMemo(LEASES_ASKED_BYTES)
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
        # The invocation's tenant in Lambda's tenant isolation mode (the decorator sets it).
        self.tenant_id = ""
        super().__init__(*args, **kwargs)
        if isinstance(self.cache, DynamoDbCache):
            self.cache.heuristic = heuristic  # redirects are judged as responses (backend.py)

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
        fields = {f.name: _kept(getattr(settings, f.name)) for f in attrs.fields(type(settings))}
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
            actions, cached_response = self._plan(request, **kwargs)
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
        if actions.error_504:
            response = get_504_response(request)
        elif actions.resend_async:
            response = self._serve_stale(request, actions, cached_response, **kwargs)
        elif actions.resend_request or actions.send_request:
            response = self._coordinated(request, actions, cached_response, **kwargs)
        else:
            response = cached_response
            if self.early_refresh and refresh_early(response, self.early_refresh):
                self._refresh_after_response(request, actions, response, **kwargs)
        if kwargs.get("allow_redirects", True) and getattr(response, "from_cache", False):
            response = self._follow_stored(response, request, **kwargs)
        if self.settings.filter_fn is not None and not self.settings.filter_fn(response):
            self.cache.delete(actions.cache_key)
            return response
        if conditions and response is cached_response and cached_response is not None:
            # The caller's own conditional request, answered from a fresh stored response.
            response = conditional_answer(conditions, cached_response) or response
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
        actions: Any,
        cached_response: Any,
        **kwargs: Any,
    ) -> Any:
        """Serve the stale response at once; the lease winner (or, without leases, this
        container) refreshes it after the response."""
        self.stats.add("stale_served")
        self._refresh_after_response(request, actions, cached_response, **kwargs)
        return cached_response

    def _refresh_after_response(
        self,
        request: PreparedRequest,
        actions: Any,
        cached_response: Any,
        **kwargs: Any,
    ) -> None:
        """Refresh ``cached_response`` after the response, if this container wins its lease
        (or has no leases)."""
        if self._lease_lost(actions.cache_key, cached_response):
            return  # another container (or thread of this one) refreshes it
        again = request.copy()
        stamp(again, stamped_transport(request))
        # The refresh reads the body whole, so that it can be stored, whatever the caller
        # asked for its own answer (a streamed one would not be).
        kwargs = {**kwargs, "stream": False}

        def refresh() -> None:
            # Its own cookie jar on this thread, dropped when done: what the origin sets now
            # reaches no caller, and a concurrent invocation's jar is not touched.
            outer = getattr(self._private, "cookies", None)
            self._private.cookies = self._private_jar()
            try:
                # Nobody reads the answer: closed, so a streamed one frees its connection.
                self._send_and_cache(again, actions, cached_response, **kwargs).close()
            finally:
                self._private.cookies = outer
            self.stats.add("refreshes")

        self.after_response.submit(refresh)

    def _coordinated(
        self,
        request: PreparedRequest,
        actions: Any,
        cached_response: CachedResponse | None,
        **kwargs: Any,
    ) -> Any:
        """Go to the origin for a missing or stale key, once per container and fleet: a
        thread that finds another of this container fetching the key waits for it; a
        container that finds another holding the key's lease polls the table for its write.
        Each waits a bounded time (coordination.wait_plan), then falls through."""
        key = actions.cache_key
        if kwargs.get("stream"):
            # Its answer is never stored (the cache reads no body the caller may not read):
            # nobody should wait for it, nor it for a lease.
            return self._fetch(request, actions, cached_response, **kwargs)
        cacheable = not actions.skip_read and not self.settings.read_only
        if not (cacheable and self.coalesce):
            return self._lease_and_fetch(request, actions, cached_response, **kwargs)
        with self.flights.lead(key) as landed:
            if landed is None:
                return self._lease_and_fetch(request, actions, cached_response, **kwargs)
            landed.wait(follower_wait(cached_response))
            served = self._served_now(request, cached_response, **kwargs)
            if served is not None:
                return served
        return self._fetch(request, actions, cached_response, **kwargs)

    def _lease_and_fetch(
        self,
        request: PreparedRequest,
        actions: Any,
        cached_response: CachedResponse | None,
        **kwargs: Any,
    ) -> Any:
        # Only a stored (stale) response takes a lease: a key never stored may never be
        # cacheable, and its callers must not wait for one another.
        if not self.settings.read_only and self._lease_lost(actions.cache_key, cached_response):
            served = self._await_write(request, actions.cache_key, cached_response, **kwargs)
            if served is not None:
                return served
        return self._fetch(request, actions, cached_response, **kwargs)

    def _lease_lost(self, key: str, cached_response: CachedResponse | None) -> bool:
        """Whether another holds the right to refresh ``key``. The table is asked once per
        lease period per container: a later asker here takes the answer as lost, since the
        first is refreshing or waiting (no PutItem, no delay). A key never stored takes no
        lease; a lease the table cannot grant is not lost (the caller refreshes)."""
        acquire = getattr(self.cache, "acquire_lease", None)
        if not self.leases or acquire is None or cached_response is None:
            return False
        seconds = lease_seconds(cached_response)
        now = time.monotonic()
        with self._leases_lock:
            until = self._leases_asked.get(key)
            if until is not None and until > now:
                return True
            self._leases_asked.put(key, now + seconds)
        return bool(acquire(key, seconds, cached_response.created_at) is False)

    def _await_write(
        self,
        request: PreparedRequest,
        key: str,
        cached_response: CachedResponse | None,
        **kwargs: Any,
    ) -> Any:
        """Poll the table for the lease holder's write of ``key``: the response it stored, or
        None once the wait is over (the caller then goes to the origin itself). Whatever the
        table holds meanwhile, a failure ends the wait (counted, logged) and is not raised."""
        try:
            wait, poll = wait_plan(cached_response)
            deadline = time.monotonic() + wait
            peek = self.cache.peek  # type: ignore[attr-defined]  # only a DynamoDbCache leases
            while time.monotonic() < deadline:
                time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
                landed = peek(key)
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

    def _served_now(
        self, request: PreparedRequest, cached_response: CachedResponse | None, **kwargs: Any
    ) -> Any:
        """What the cache serves for ``request`` now that another's origin call has landed,
        if it is a newer response that needs no origin call; else None (also if the cache
        fails: the caller then goes to the origin)."""
        try:
            actions, served = self._plan(request, **kwargs)
        except Exception as error:
            self.stats.add("errors")
            logger.warning("Cache lookup failed, request sent uncached: %r", error)
            return None
        if served is None or actions.send_request or actions.resend_request:
            return None
        if not _newer(served, cached_response):
            return None
        self.stats.add("coalesced")
        return served

    def _fetch(
        self,
        request: PreparedRequest,
        actions: Any,
        cached_response: CachedResponse | None,
        **kwargs: Any,
    ) -> Any:
        if actions.resend_request and cached_response is not None:
            return self._resend(request, actions, cached_response, **kwargs)
        return self._send_and_cache(request, actions, cached_response, **kwargs)

    def _plan(
        self, request: PreparedRequest, **kwargs: Any
    ) -> tuple[SharedCacheActions, CachedResponse | None]:
        """The key, the cached response (if any) and what to do with the request."""
        # Keys over the transport this request goes over (send() stamped it): also those of
        # stored requests it is compared with for Vary.
        keying: dict[str, Any] = {"transport": stamped_transport(request)}
        actions = SharedCacheActions.from_request(
            self.cache.create_key(request, **keying),
            request,
            self.settings,
            heuristic=self.heuristic,
            stale_while_revalidate=self.stale_while_revalidate,
            stale_window=self.stale_window,
        )
        cached_response: CachedResponse | None = None
        if not actions.skip_read:
            cached_response = self._lookup(actions.cache_key, request)
        actions.update_from_cached_response(cached_response, self.cache.create_key, **keying)
        if actions.vary_cache_key:
            # The entry varies on headers this request does not match: look for the entry
            # stored under the key that includes them, and store under that key otherwise.
            # A stored response its Vary does not select for this request is not there for
            # it: no validator is taken from it, no 304 freshens it, it is never served (not
            # stale, not on an error, not for only-if-cached). Only the variant found under
            # the request's own Vary key counts.
            actions.cache_key = actions.vary_cache_key
            vary_cached = self._lookup(actions.vary_cache_key, request)
            actions.send_request = actions.resend_request = actions.resend_async = False
            actions.error_504 = False
            actions.vary_cache_key = None
            actions._validation_headers = {}
            actions.update_from_cached_response(vary_cached, self.cache.create_key, **keying)
            cached_response = vary_cached
        if cached_response is not None:
            # Served as the answer to this very request: what the caller (and requests'
            # redirect logic, which decides where credentials may go) reads as its request
            # and URL is what the caller sent, never what an item claims.
            cached_response.request = request  # type: ignore[assignment]
            cached_response.url = str(request.url or "")
        return actions, cached_response

    def _lookup(self, key: str, request: PreparedRequest) -> CachedResponse | None:
        """The stored response for ``key``. This session stores each request's own response
        and never a redirect alias, so it follows none: an alias under one of its keys was
        not written by it, and is a miss."""
        if isinstance(self.cache, DynamoDbCache):
            return self.cache.get_response(key, follow_aliases=False)
        return self.cache.get_response(key)

    def _send_and_cache(
        self,
        request: PreparedRequest,
        actions: Any,
        cached_response: CachedResponse | None = None,
        **kwargs: Any,
    ) -> Any:
        request = actions.update_request(request)
        # The origin: its errors are the caller's, exactly as without a cache.
        response = OriginSession.send(self, request, **kwargs)
        # This container's refresh of the key is done: its next expiry asks for a lease anew.
        with self._leases_lock:
            self._leases_asked.pop(actions.cache_key)
        try:
            return self._store(response, actions, cached_response)
        except Exception as error:
            self.stats.add("errors")
            logger.warning("Cache update failed, origin response returned uncached: %r", error)
            return self._uncached(response)

    def _resend(
        self,
        request: PreparedRequest,
        actions: Any,
        cached_response: CachedResponse,
        **kwargs: Any,
    ) -> Any:
        """Revalidate or refresh a stored response. With stale-if-error, the stored response
        stands in for an origin that fails (an exception, or a 5xx answer: RFC 5861), unless
        it must never be served stale; otherwise the origin's answer or error is the
        caller's, as without a cache."""
        stale_if_error = bool(actions._stale_if_error)
        try:
            response = self._send_and_cache(request, actions, cached_response, **kwargs)
        except Exception:
            if stale_if_error and actions.is_usable(cached_response, error=True):
                logger.warning("Origin failed; serving the stored response", exc_info=True)
                return cached_response
            raise
        if (
            stale_if_error
            and response.status_code >= 500
            and actions.is_usable(cached_response, error=True)
        ):
            logger.warning("Origin answered %d; serving the stored response", response.status_code)
            return cached_response
        return response

    def _store(
        self, response: Response, actions: Any, cached_response: CachedResponse | None
    ) -> Any:
        # What the key names is the request's own response: the first of a followed chain
        # (each later hop was stored by its own send); the caller gets the chain's end. An
        # auth handler's history (a 401, then the answer to other credentials) is no chain:
        # its answer is judged by the write path's credential check.
        own = response
        if response.history and response.history[0].is_redirect:
            own = response.history[0]
        actions.update_from_response(own)
        method = (own.request.method or "GET").upper()
        if (
            method not in SAFE_METHODS
            and 200 <= own.status_code < 400
            and not self.settings.disabled
            and hasattr(self.cache, "invalidate")
        ):
            self.cache.invalidate(own.request, own)
        if not actions.skip_write:
            self.cache.save_response(own, actions.cache_key, actions.expires)
        elif (
            cached_response is not None
            and response.status_code == 304
            # Only a 304 to the cache's own validators, taken from this stored response,
            # says it is still valid (RFC 9111, 4.3.4); one to the caller's own conditions
            # is the caller's answer alone.
            and actions._validation_headers
        ):
            cached_response = actions.update_revalidated_response(response, cached_response)
            # Freshened by the 304 (RFC 9111, 4.3.4): its age starts again from this answer.
            now = utcnow()
            cached_response.created_at = now
            cached_response.initial_age = initial_age(response.headers, now, response.elapsed)  # type: ignore[union-attr]
            if not actions.skip_write:
                self.cache.save_response(cached_response, actions.cache_key, actions.expires)
            return cached_response
        if isinstance(response, CachedResponse):
            return response
        return OriginalResponse.wrap_response(response, actions)

    @staticmethod
    def _uncached(response: Any) -> Any:
        if isinstance(response, CachedResponse | OriginalResponse):
            return response
        response.__class__ = OriginalResponse
        response.expires = None
        response.cache_key = None
        response.created_at = utcnow()
        return response


def _newer(response: Any, than: CachedResponse | None) -> bool:
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
    made to it in place is not undone (README)."""
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
    backend: BaseCache
    if config.enabled:
        backend = DynamoDbCache.from_config(config, stats=stats, tracing=tracing)
    else:
        backend = BaseCache()
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
        expire_after=config.expire_after,
        urls_expire_after=config.urls_expire_after,
        cache_control=config.cache_control,
        allowable_methods=config.allowable_methods,
        allowable_codes=config.allowable_codes
        or (UNDERSTOOD_STATUSES if config.standards_mode else DEFAULT_STATUSES),
        stale_if_error=config.stale_if_error,
        match_headers=config.match_headers,
        ignored_parameters=config.ignored_parameters,
    )
    session.settings.disabled = not config.enabled
    return session
