"""Work after the response: refreshes of stale entries that the caller does not wait for.

In Lambda, a thread started by a handler is frozen with the execution environment as soon as
the handler has returned, so a background refresh stalls until a later invocation thaws it.
Lambda keeps an invocation alive, after its response has been sent, until every registered
extension has asked for its next event. So the library registers an *internal extension*
(a thread of the runtime process, through the Extensions API) at init, and that thread runs
the invocation's queued refreshes after the handler has returned, before it asks for the
next event. The caller does not wait; the refresh is billed as part of the invocation.

Outside Lambda (no ``AWS_LAMBDA_RUNTIME_API``), or when the extension cannot register, each
refresh runs on a daemon thread at once, as requests-cache does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from .bounded import BoundedMemo

logger = logging.getLogger(__name__)

EXTENSION_NAME = "lambda-http-cache"
API_VERSION = "2020-01-01"
# How long the extension waits for the handler to return before it runs what is queued anyway
# (the invocation's own timeout ends it sooner).
HANDLER_WAIT_SECONDS = 900.0
# The ids of invocations whose handler has returned (a few hundred, by bounded.py's rule).
FINISHED_MEMO_BYTES = 32 * 1024

Work = Callable[[], Any]


class AfterResponse:
    """Runs submitted work after the current invocation's response."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Work] = queue.SimpleQueue()
        # Request ids whose handler has returned, by digest: a caller's id of any length
        # (Lambda's are UUIDs) costs the same few bytes, and ids the extension never waits
        # for go oldest first.
        self._finished: BoundedMemo[bytes, bool] = BoundedMemo(FINISHED_MEMO_BYTES)
        self._changed = threading.Condition()
        self.extension: _Extension | None = None

    @property
    def deferred(self) -> bool:
        """Whether work waits for the end of the invocation (the extension runs)."""
        return self.extension is not None

    def submit(self, work: Work) -> None:
        if self.extension is None:
            threading.Thread(target=_run, args=(work,), daemon=True).start()
        else:
            self._queue.put(work)

    def invocation_finished(self, request_id: str | None) -> None:
        """The handler of invocation ``request_id`` has returned (its response is on its way)."""
        with self._changed:
            self._finished.put(_invocation(request_id), True)
            self._changed.notify_all()

    def drain(self, request_id: str | None, timeout: float = HANDLER_WAIT_SECONDS) -> int:
        """Wait for the handler of invocation ``request_id`` to return, then run what was
        queued; how many ran."""
        key = _invocation(request_id)
        with self._changed:
            self._changed.wait_for(lambda: key in self._finished, timeout)
            self._finished.pop(key)
        done = 0
        while True:
            try:
                work = self._queue.get_nowait()
            except queue.Empty:
                return done
            _run(work)
            done += 1

    def start_extension(self, runtime_api: str | None = None) -> bool:
        """Register the internal extension (during init only) and start its thread; whether
        it is running. Never raises."""
        runtime_api = runtime_api or os.environ.get("AWS_LAMBDA_RUNTIME_API")
        if not runtime_api or self.extension is not None:
            return self.extension is not None
        if os.environ.get("AWS_LAMBDA_MAX_CONCURRENCY"):
            # Lambda Managed Instances: the environment is never frozen, so threads run the
            # refreshes after the response, and Lambda refuses an extension that registers
            # for no events there (it may not register for INVOKE).
            logger.debug("Refreshes run on threads: Lambda Managed Instances never freeze")
            return False
        try:
            self.extension = _Extension.register(runtime_api, self)
        except Exception as error:
            logger.warning("Refreshes run on threads: extension not registered: %r", error)
            return False
        return True


def _invocation(request_id: object) -> bytes:
    """The fixed-size digest an invocation's id is remembered by."""
    return hashlib.blake2b(str(request_id or "").encode(), digest_size=16).digest()


def _run(work: Work) -> None:
    try:
        work()
    except Exception as error:  # a refresh must never escape
        logger.warning("Refresh after the response failed: %r", error)


class _Extension:
    """The internal extension's side of the Extensions API."""

    def __init__(self, runtime_api: str, identifier: str, runner: AfterResponse) -> None:
        self.base = f"http://{runtime_api}/{API_VERSION}/extension"
        self.identifier = identifier
        self.runner = runner
        self.thread = threading.Thread(target=self._loop, name=EXTENSION_NAME, daemon=True)

    @classmethod
    def register(cls, runtime_api: str, runner: AfterResponse) -> _Extension:
        request = urllib.request.Request(
            f"http://{runtime_api}/{API_VERSION}/extension/register",
            data=json.dumps({"events": ["INVOKE"]}).encode(),
            headers={"Lambda-Extension-Name": EXTENSION_NAME},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=2) as answer:
            identifier = answer.headers["Lambda-Extension-Identifier"]
        extension = cls(runtime_api, identifier, runner)
        extension.thread.start()
        return extension

    def _loop(self) -> None:
        while True:
            try:
                event = self._next()
            except Exception as error:
                logger.warning("The cache's extension stopped: %r", error)
                self.runner.extension = None
                return
            if event.get("eventType") == "INVOKE":
                deadline_ms = event.get("deadlineMs")
                timeout = HANDLER_WAIT_SECONDS
                if isinstance(deadline_ms, int | float):
                    timeout = max(0.0, deadline_ms / 1000 - time.time())
                self.runner.drain(event.get("requestId"), timeout)

    def _next(self) -> dict[str, Any]:
        """Ask for the next event: this is what lets Lambda end the invocation."""
        request = urllib.request.Request(
            f"{self.base}/event/next", headers={"Lambda-Extension-Identifier": self.identifier}
        )
        with urllib.request.urlopen(request) as answer:  # blocks until the next event
            event: dict[str, Any] = json.loads(answer.read() or b"{}")
            return event
