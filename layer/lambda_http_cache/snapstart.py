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


def drop_connections(session: Session) -> None:
    """Close every pooled connection of the session and of its DynamoDB client; the next
    request opens new ones."""
    for adapter in session.adapters.values():
        adapter.close()
    backend = getattr(session, "cache", None)
    table = getattr(backend, "table", None)
    large_objects = getattr(backend, "large_objects", None)
    for client in (getattr(table, "client", None), getattr(large_objects, "client", None)):
        endpoint = getattr(client, "_endpoint", None)
        http_session = getattr(endpoint, "http_session", None)
        if http_session is not None:
            http_session.close()


def before_snapshot(session: Session) -> None:
    drop_connections(session)


def after_restore(session: Session) -> None:
    drop_connections(session)
    backend = getattr(session, "cache", None)
    for name in ("breaker", "large_object_breaker"):
        breaker = getattr(backend, name, None)
        if breaker is not None:
            breaker.success()  # a failure streak from before the snapshot says nothing now
    stats = getattr(session, "stats", None)
    if stats is not None:
        stats.drain()


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
