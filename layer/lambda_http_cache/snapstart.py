"""SnapStart: the runtime hooks that keep a restored snapshot from reusing stale state.

Everything heavy (imports, the session, its DynamoDB client) is built at init, so a SnapStart
snapshot or provisioned concurrency captures it. Every environment restored from one snapshot
starts from the same memory, so after a restore:

- connections: those opened before the snapshot are useless (the peer has long closed them),
  so they are dropped before the snapshot and again after the restore;
- random numbers: Python's ``random`` is seeded again from the system (the probabilistic
  early refresh draws from it: one shared sequence would make every restored environment
  refresh at the same moment, the stampede it exists to prevent);
- lease ownership: the id a container writes into the leases it takes is made anew (two
  environments sharing one would each take the other's lease as its own), and the leases this
  container remembers asking for are forgotten (asked by the snapshot, not by it);
- the breakers and the counters start afresh.

The memory tier is kept: its entries carry absolute expiry times, checked on every read.

The hooks come from ``snapshot_restore_py``, which the Lambda runtime provides (and the runtime
client, ``awslambdaric``, depends on); the runtime runs the before-snapshot hooks at the end
of init when ``AWS_LAMBDA_INITIALIZATION_TYPE`` is ``snap-start``, and the after-restore hooks
once restored. Where the package is missing, registration does nothing.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

from requests import Session

logger = logging.getLogger(__name__)


def before_snapshot(session: Session) -> None:
    _drop_connections(session, "drop_connections")


def after_restore(session: Session) -> None:
    """New connections everywhere, new random numbers and lease owner, and the breakers and
    counters start afresh: the cache's storage does its part (``DynamoDbCache.after_restore``)."""
    _drop_connections(session, "after_restore")
    # Seeded from os.urandom, which differs in every restored environment.
    _guarded("seeding random numbers", random.seed)
    forget_leases = getattr(session, "forget_leases", None)
    if forget_leases is not None:
        _guarded("forgetting the snapshot's leases", forget_leases)
    stats = getattr(session, "stats", None)
    if stats is not None:
        _guarded("the counters' reset", lambda: stats.drain())


def _drop_connections(session: Session, cache_hook: str) -> None:
    """Close the session's pooled connections to origins, and ask its cache (if it has the
    hook) to close its own. Whatever init mounted or set, a hook never fails the snapshot or
    the restore: each step that fails is logged and the others still run."""
    adapters: list[Any] = []
    _guarded("reading the session's adapters", lambda: adapters.extend(session.adapters.values()))
    for adapter in adapters:
        _guarded(f"closing a {type(adapter).__name__}", _close, adapter)
    _guarded(f"{cache_hook} of the cache", _cache_hook, session, cache_hook)


def _close(adapter: Any) -> None:
    adapter.close()


def _cache_hook(session: Session, name: str) -> None:
    hook = getattr(getattr(session, "cache", None), name, None)
    if hook is not None:
        hook()


def _guarded(what: str, call: Callable[..., Any], *args: Any) -> None:
    try:
        call(*args)
    except Exception as error:
        logger.warning("A SnapStart hook's step failed (%s): %r", what, error)


def register(session: Session) -> bool:
    """Register the hooks with the Lambda runtime, if it offers them."""
    try:
        from snapshot_restore_py import (  # type: ignore[import-not-found]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    register_before_snapshot(before_snapshot, session)
    register_after_restore(after_restore, session)
    logger.debug("SnapStart hooks registered")
    return True
