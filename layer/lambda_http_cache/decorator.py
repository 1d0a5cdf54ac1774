"""``@cached_http``: one cached session per container, built at import, handed to the handler.

Lambda imports the handler module once per container (the init phase), which is when the
decorator runs: the session, its DynamoDB client and its connection pool are built there and
reused by every invocation the container serves.

Every execution model Lambda has goes through here:

- on demand (and provisioned concurrency): one invocation at a time per container; refreshes
  queued by an invocation run after its response has been posted, by the internal extension
  (after_response.py);
- SnapStart: the hooks of snapstart.py drop what a snapshot must not share;
- Lambda Managed Instances: the runtime forks worker processes, each importing the module
  (and so building its own session); nothing is frozen, refreshes run on threads;
- tenant isolation: the invocation's ``context.tenant_id`` partitions the cache key, unless
  ``share_across_tenants`` is set.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar, overload

from requests import Request

from . import snapstart
from .after_response import InvocationFrames
from .config import CacheConfig
from .observability import MetricsPublisher, join_powertools_logger, logger
from .session import CachedHttpSession, build_session

Handler = TypeVar("Handler", bound=Callable[..., Any])

# The warm-up's request: prepared and keyed at init, never sent (.invalid never resolves).
WARM_UP_URL = "https://warm-up.invalid/"

_lock = threading.Lock()
_container_session: CachedHttpSession | None = None


def _register(session: CachedHttpSession) -> CachedHttpSession:
    """Keep ``session`` as the container's, unless it has one; the container's session."""
    global _container_session
    with _lock:
        if _container_session is None:
            _container_session = session
        return _container_session


def get_session() -> CachedHttpSession:
    """The container's cached session: the one the first ``@cached_http`` built, or, if no
    handler was decorated, one built now from the environment."""
    global _container_session
    with _lock:
        if _container_session is None:
            _container_session = build_session(CacheConfig.from_environment())
            snapstart.register(_container_session)
        return _container_session


def _tenant_of(session: CachedHttpSession, context: Any) -> str:
    """The tenant ``session`` keys this invocation's entries under ("": none, or shared)."""
    if session.share_across_tenants:
        return ""
    return str(getattr(context, "tenant_id", None) or "")


def _wants_session(handler: Callable[..., Any]) -> bool:
    parameters = inspect.signature(handler).parameters
    return "session" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


@overload
def cached_http(handler: Handler, /) -> Handler: ...


@overload
def cached_http(handler: None = None, /, **settings: Any) -> Callable[[Handler], Handler]: ...


def cached_http(
    handler: Handler | None = None, /, **settings: Any
) -> Handler | Callable[[Handler], Handler]:
    """Give a Lambda handler the container's warm cached session.

    Use bare (``@cached_http``) or with settings (``@cached_http(expire_after=300)``); settings
    override the ``HTTP_CACHE_*`` environment variables, which override the defaults. A handler
    with a ``session`` parameter receives the session as that keyword argument on every
    invocation; any handler can also call :func:`get_session`.
    """
    if handler is None:
        return functools.partial(_decorate, settings=settings)
    return _decorate(handler, settings)


def _decorate(handler: Handler, settings: dict[str, Any]) -> Handler:
    config = CacheConfig.from_environment(**settings)
    session = build_session(config)
    container = _register(session)
    snapstart.register(session)
    if (
        container is session
        and config.enabled
        and (config.stale_while_revalidate or config.early_refresh)
    ):
        # Lambda's init phase: the only time an internal extension may register. One per
        # container, the container session's: Lambda invokes one handler of a module, and
        # another's extension would wait for it until each invocation's deadline.
        session.after_response.start_extension()
    # Where the runtime calls the handler from: its response is posted when that call
    # returns, and the extension runs the refreshes only then (after_response.py).
    frames = InvocationFrames() if container.after_response.deferred else None
    pass_session = _wants_session(handler)
    publisher = (
        MetricsPublisher(config.metrics_namespace, config.metrics_service)
        if config.metrics
        else None
    )
    # Work every request needs, done now rather than by the first caller (SnapStart and
    # provisioned concurrency absorb init). No network call.
    _quietly(_warm_up, session)
    first_invocation = True

    @functools.wraps(handler)
    def invoke(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal first_invocation
        if first_invocation:
            # By now the function's own module-level Powertools Logger, if any, exists.
            first_invocation = False
            _quietly(join_powertools_logger)
        if pass_session:
            kwargs["session"] = session
        # The handler's session and, if another, the container's (get_session()'s), which
        # any code of the module may use during this invocation.
        sessions = _sessions_of(session)
        try:
            for each in sessions:
                # Every invocation starts from the session as init left it: nothing of the
                # previous caller's (its cookies above all) goes with this one's requests.
                each.begin_invocation()
                # Lambda's tenant isolation mode: each tenant its own entries (keys.py).
                each.tenant_id = _tenant_of(each, context)
            return handler(event, context, *args, **kwargs)
        finally:
            # Refreshes queued by this invocation run after its response has been posted
            # (the container session's runner is the one whose extension waits for it).
            request_id = getattr(context, "aws_request_id", None)
            caller = frames.caller() if frames is not None else None
            for each in sessions:
                each.after_response.invocation_finished(request_id, caller)
            counts, latencies = session.stats.drain()
            if publisher is not None:
                _quietly(publisher.publish, counts, latencies)

    return invoke  # type: ignore[return-value]


def _sessions_of(session: CachedHttpSession) -> tuple[CachedHttpSession, ...]:
    container = _container_session
    if container is None or container is session:
        return (session,)
    return (session, container)


def _warm_up(session: CachedHttpSession) -> None:
    """Run once what every request runs before the cache is read, with no network call and
    nothing stored or counted: requests' request preparation (its first call imports
    ``netrc``), the environment's proxy settings, and the cache key (URL normalisation)."""
    request = session.prepare_request(Request("GET", WARM_UP_URL))
    session.merge_environment_settings(request.url, {}, None, None, None)
    session.cache.create_key(request)


def _quietly(call: Callable[..., Any], *args: Any) -> None:
    """Observability (and the warm-up) must never fail an invocation, nor init."""
    try:
        call(*args)
    except Exception as error:
        logger.warning("lambda_http_cache observability failed: %r", error)
