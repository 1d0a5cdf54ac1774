"""SnapStart: the runtime hooks that keep a restored snapshot from reusing stale state.

Everything heavy (imports, the session, its DynamoDB client) is built at init, so a SnapStart
snapshot or provisioned concurrency captures it. Connections opened before the snapshot are
useless after a restore (the peer has long closed them), so they are dropped before the
snapshot and again after the restore; the breaker and the counters start afresh. The memory
tier is kept: its entries carry absolute expiry times, checked on every read.

The hooks come from ``snapshot_restore_py``, which only the Lambda runtime provides; elsewhere
registration does nothing.
"""

from __future__ import annotations

import logging

from requests import Session

logger = logging.getLogger(__name__)


def before_snapshot(session: Session) -> None:
    _drop_connections(session, "drop_connections")


def after_restore(session: Session) -> None:
    """New connections everywhere, and the breakers and counters start afresh: the cache's
    storage does its part (``DynamoDbCache.after_restore``)."""
    _drop_connections(session, "after_restore")
    stats = getattr(session, "stats", None)
    if stats is not None:
        stats.drain()


def _drop_connections(session: Session, cache_hook: str) -> None:
    """Close the session's pooled connections to origins, and ask its cache (if it has the
    hook) to close its own; a hook never fails the snapshot or the restore."""
    for adapter in session.adapters.values():
        adapter.close()
    hook = getattr(getattr(session, "cache", None), cache_hook, None)
    if hook is None:
        return
    try:
        hook()
    except Exception as error:
        logger.warning("SnapStart hook %s of the cache failed: %r", cache_hook, error)


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
