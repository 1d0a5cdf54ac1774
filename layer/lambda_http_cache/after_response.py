"""Work after the response: refreshes of stale entries that the caller does not wait for.

In Lambda, a thread started by a handler is frozen with the execution environment as soon as
the handler has returned, so a background refresh stalls until a later invocation thaws it.
Lambda keeps an invocation alive, after its response has been sent, until every registered
extension has asked for its next event. So the library registers an *internal extension*
(a thread of the runtime process, through the Extensions API) at init, and that thread runs
the invocation's queued refreshes once the runtime has posted the response, before it asks
for the next event. The caller does not wait; the refresh is billed as part of the invocation.

When the response has been posted. The handler's return is not that moment: the runtime then
serializes the result and posts it to the Runtime API, and outer decorators (a logger's, a
tracer's) still run before that. No public API says when the post is done: the runtime
client's only hooks are SnapStart's (``snapshot_restore_py``); the Extensions API sends only
INVOKE and SHUTDOWN events; the Telemetry API's ``platform.runtimeDone`` comes after the post
but through a listener the extension would have to serve, batched (at least 25 ms), on every
invocation. What is observable at no cost is the runtime's own call of the handler: Lambda's
runtime imports the handler module during init and calls the handler, on every invocation,
from a function that posts the result before it returns (``awslambdaric``'s loop, the Python
runtimes' bootstrap). :class:`InvocationFrames` finds that call: the outermost frame of the
invocation that was not on the stack when the module was imported. The extension waits until
the invoking thread has left it (``sys._current_frames``), which is after the Runtime API
accepted the response. Where the handler was not decorated during an import (a test, a
hand-written loop), the handler's return is the signal, as before; and if the call has not
returned within :data:`RESPONSE_WAIT_SECONDS`, the refreshes run, the runner stops waiting
for later invocations and says so once.

On Lambda Managed Instances (``AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances``, with
``AWS_LAMBDA_MAX_CONCURRENCY`` for the runtime, which then forks its worker processes), the
environment is never frozen: refreshes run on threads and no extension registers. Outside
Lambda (no ``AWS_LAMBDA_RUNTIME_API``), or when the extension cannot register, each refresh
runs on a daemon thread at once, as requests-cache does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from types import FrameType
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
# How long the extension waits, after the handler has returned, for the runtime to post the
# response (serializing a 6 MB result on a small function's CPU share takes a while).
RESPONSE_WAIT_SECONDS = 5.0
RESPONSE_POLL_SECONDS = 0.001
# What Lambda sets on Managed Instances: the initialization type (runtime and extensions),
# and the runtime's worker count.
MANAGED_INSTANCES = "lambda-managed-instances"

Work = Callable[[], Any]
# Where the runtime called the handler: (thread id, id of its frame, id of the frame's code).
# Plain numbers: nothing of the invocation is kept alive by them.
Caller = tuple[int, int, int]


def on_managed_instances(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this runs on Lambda Managed Instances (its environment is never frozen)."""
    environ = os.environ if environ is None else environ
    return environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == MANAGED_INSTANCES or bool(
        environ.get("AWS_LAMBDA_MAX_CONCURRENCY")
    )


class InvocationFrames:
    """Finds, during an invocation, the runtime's call of the handler (module docstring).

    Made during init, where the decorator runs: the stack then holds the runtime's frames down
    to its import of the handler module. An invocation's stack shares the runtime's outer
    frames (its loop); the first frame past them is the runtime's call of the handler."""

    def __init__(self) -> None:
        self._thread = threading.get_ident()
        stack = _stack(sys._getframe(1))
        # Only an import tells the runtime's frames from the caller's: a handler decorated in
        # a function (a test) is called from frames that may wait for the refreshes.
        self._outer: list[FrameType] = stack if any(map(_importing, stack)) else []

    def caller(self) -> Caller | None:
        """The runtime's call of the handler, for the invocation under way on this thread;
        None when it cannot be told from the handler's own frames."""
        outer = self._outer
        if not outer or threading.get_ident() != self._thread:
            return None
        stack = _stack(sys._getframe(1))
        shared = 0
        for before, now in zip(outer, stack, strict=False):
            if before is not now:
                break
            shared += 1
        # Init's inner frames (the import) have returned: keep only the runtime's loop.
        self._outer = outer[:shared]
        if shared == 0 or shared >= len(stack):
            return None
        frame = stack[shared]
        return (self._thread, id(frame), id(frame.f_code))


def _stack(frame: FrameType | None) -> list[FrameType]:
    """``frame`` and its callers, outermost first."""
    frames: list[FrameType] = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()
    return frames


def _importing(frame: FrameType) -> bool:
    return str(frame.f_globals.get("__name__", "")).startswith("importlib._bootstrap")


def returned(caller: Caller) -> bool:
    """Whether the runtime's call of the handler has returned (so the response is posted)."""
    thread, frame_id, code_id = caller
    frame = sys._current_frames().get(thread)
    while frame is not None:
        if id(frame) == frame_id and id(frame.f_code) == code_id:
            return False
        frame = frame.f_back
    return True


class AfterResponse:
    """Runs submitted work after the current invocation's response."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Work] = queue.SimpleQueue()
        # Request ids whose handler has returned, by digest: a caller's id of any length
        # (Lambda's are UUIDs) costs the same few bytes, and ids the extension never waits
        # for go oldest first. The value: where the runtime called the handler (() unknown).
        self._finished: BoundedMemo[bytes, Caller | tuple[()]] = BoundedMemo(FINISHED_MEMO_BYTES)
        self._changed = threading.Condition()
        self.extension: _Extension | None = None
        # False once the runtime's call was not seen returning in time (module docstring).
        self.watch_runtime = True

    @property
    def deferred(self) -> bool:
        """Whether work waits for the end of the invocation (the extension runs)."""
        return self.extension is not None

    def submit(self, work: Work) -> None:
        if self.extension is None:
            threading.Thread(target=_run, args=(work,), daemon=True).start()
        else:
            self._queue.put(work)

    def invocation_finished(self, request_id: str | None, caller: Caller | None = None) -> None:
        """The handler of invocation ``request_id`` has returned; the runtime posts its
        response once its call ``caller`` (:meth:`InvocationFrames.caller`) returns."""
        with self._changed:
            self._finished.put(_invocation(request_id), caller or ())
            self._changed.notify_all()

    def drain(self, request_id: str | None, timeout: float = HANDLER_WAIT_SECONDS) -> int:
        """Wait for the handler of invocation ``request_id`` to return and, if work is queued,
        for its response to be posted; then run what was queued; how many ran."""
        deadline = time.monotonic() + timeout
        key = _invocation(request_id)
        with self._changed:
            self._changed.wait_for(lambda: key in self._finished, timeout)
            caller = self._finished.pop(key)
        if caller and not self._queue.empty():
            self._await_response(caller, deadline)
        done = 0
        while True:
            try:
                work = self._queue.get_nowait()
            except queue.Empty:
                return done
            _run(work)
            done += 1

    def _await_response(self, caller: Caller, deadline: float) -> None:
        """Wait (bounded) until the runtime's call of the handler has returned."""
        if not self.watch_runtime:
            return
        limit = min(deadline, time.monotonic() + RESPONSE_WAIT_SECONDS)
        while not returned(caller):
            if time.monotonic() >= limit:
                if time.monotonic() < deadline:  # not the invocation's own timeout
                    self.watch_runtime = False
                    logger.warning(
                        "The runtime's call of the handler was still under way %g s after "
                        "the handler returned: refreshes now start when the handler returns",
                        RESPONSE_WAIT_SECONDS,
                    )
                return
            time.sleep(RESPONSE_POLL_SECONDS)

    def start_extension(self, runtime_api: str | None = None) -> bool:
        """Register the internal extension (during init only) and start its thread; whether
        it is running. Never raises."""
        runtime_api = runtime_api or os.environ.get("AWS_LAMBDA_RUNTIME_API")
        if not runtime_api or self.extension is not None:
            return self.extension is not None
        if on_managed_instances():
            # The environment is never frozen, so threads run the refreshes, and Lambda
            # refuses an extension that registers for INVOKE there.
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
