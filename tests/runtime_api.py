"""A local stand-in for Lambda's Runtime and Extensions APIs, and a function process that AWS's
runtime interface client (``awslambdaric``) runs against it.

:class:`RuntimeApi` sequences invocations as Lambda does:

- on demand (``concurrent=False``): init is over once the runtime has asked for an invocation
  and every registered extension for an event; one invocation at a time, each delivered to
  the runtime and, as an INVOKE event, to every extension; it ends once the runtime has posted
  its response (or error) and every extension has asked for its next event, and only then is
  the next one delivered;
- Managed Instances (``concurrent=True``): every worker process asks for invocations on its
  own; an invocation goes to the worker that has waited longest and ends with its response.

Everything that arrives is marked on a :class:`Timeline`, which a test's origin marks too, so
that tests pin the order of events, never their timing. SnapStart's ``restore/next`` is
answered at once (the restore).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:execution-models"
TRACE = "Root=1-6745a1b2-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=0"
RUNTIME = "/2018-06-01/runtime"
EXTENSION = "/2020-01-01/extension"
# How long anything waits for the function process (a generous bound, never an assertion).
PATIENCE_SECONDS = 30.0


class Timeline:
    """Events in the order they happened, across threads and servers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[str, str]] = []

    def mark(self, kind: str, detail: str = "") -> int:
        with self._lock:
            self.events.append((kind, detail))
            return len(self.events) - 1

    def positions(self, kind: str, detail: str | None = None) -> list[int]:
        with self._lock:
            return [
                index
                for index, (k, d) in enumerate(self.events)
                if k == kind and (detail is None or d == detail)
            ]

    def first(self, kind: str, detail: str | None = None, after: int = -1) -> int:
        """The position of the first such event after position ``after``."""
        found = [index for index in self.positions(kind, detail) if index > after]
        if not found:
            raise AssertionError(f"no {kind} {detail or ''} after {after}: {self.events}")
        return found[0]


@dataclass
class Invocation:
    request_id: str
    event: bytes
    tenant_id: str | None
    response: bytes | None = None
    error: bytes | None = None
    posted: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    # Extensions that have not yet asked for their next event since this invocation's INVOKE.
    extensions_busy: set[str] = field(default_factory=set)


class _Slot:
    """A request of the runtime or an extension, blocked until it is given something."""

    def __init__(self) -> None:
        self.given: Any = None
        self.ready = threading.Event()

    def give(self, value: Any) -> None:
        self.given = value
        self.ready.set()


@dataclass
class _Extension:
    name: str
    events: list[str]
    waiting: _Slot | None = None
    current: Invocation | None = None


class RuntimeApi:
    """Lambda's Runtime API (and Extensions API) on loopback; see the module's docstring."""

    def __init__(self, timeline: Timeline, *, concurrent: bool = False) -> None:
        self.timeline = timeline
        self.concurrent = concurrent
        self.registrations: list[dict[str, Any]] = []
        self.errors: list[tuple[str, bytes]] = []
        self._changed = threading.Condition()
        self._pending: deque[Invocation] = deque()
        self._workers: deque[_Slot] = deque()
        self._extensions: dict[str, _Extension] = {}
        self._active: Invocation | None = None
        self._invocations: dict[str, Invocation] = {}
        self._count = 0
        self._closed = False
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
                try:
                    self.send_response_only(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the function process has ended

            def do_GET(self) -> None:
                if self.path == f"{RUNTIME}/invocation/next":
                    self._answer(*api._next_invocation())
                elif self.path == f"{EXTENSION}/event/next":
                    identifier = self.headers.get("Lambda-Extension-Identifier", "")
                    self._answer(*api._next_event(identifier))
                elif self.path == f"{RUNTIME}/restore/next":
                    api.timeline.mark("restore")
                    self._answer(200, b"{}", {"Content-Type": "application/json"})
                else:
                    self._answer(404, b"{}", {})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == f"{EXTENSION}/register":
                    name = self.headers.get("Lambda-Extension-Name", "")
                    self._answer(*api._register(name, body))
                    return
                parts = self.path.removeprefix(f"{RUNTIME}/invocation/").split("/")
                if self.path.startswith(f"{RUNTIME}/invocation/") and len(parts) == 2:
                    api._posted(parts[0], parts[1], body)
                else:
                    api.timeline.mark("runtime-error", self.path)
                    api.errors.append((self.path, body))
                self._answer(202, b'{"status": "OK"}', {"Content-Type": "application/json"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # What a test does -------------------------------------------------------------------------

    def invoke(self, event: Any, tenant_id: str | None = None) -> Invocation:
        """Queue an invocation of ``event``; it is delivered as soon as Lambda would."""
        with self._changed:
            self._count += 1
            invocation = Invocation(f"request-{self._count}", json.dumps(event).encode(), tenant_id)
            self._invocations[invocation.request_id] = invocation
            self._pending.append(invocation)
            self._dispatch()
        return invocation

    def wait_for_workers(self, count: int, timeout: float = PATIENCE_SECONDS) -> bool:
        """Whether ``count`` runtime workers are waiting for an invocation (within ``timeout``)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._workers) >= count, timeout)

    # The runtime's side -----------------------------------------------------------------------

    def _next_invocation(self) -> tuple[int, bytes, dict[str, str]]:
        slot = _Slot()
        with self._changed:
            self.timeline.mark("runtime-next")
            self._workers.append(slot)
            self._dispatch()
            self._changed.notify_all()
        slot.ready.wait()
        invocation: Invocation | None = slot.given
        if invocation is None:
            return 500, b'{"errorType": "NoMoreInvocations"}', {}
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 60_000),
            "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
            "Lambda-Runtime-Trace-Id": TRACE,
        }
        if invocation.tenant_id is not None:
            headers["Lambda-Runtime-Aws-Tenant-Id"] = invocation.tenant_id
        return 200, invocation.event, headers

    def _posted(self, request_id: str, outcome: str, body: bytes) -> None:
        with self._changed:
            self.timeline.mark(outcome, request_id)  # "response" or "error"
            invocation = self._invocations.get(request_id)
            if invocation is None:
                self.errors.append((f"{outcome} of unknown {request_id}", body))
                return
            if outcome == "response":
                invocation.response = body
            else:
                invocation.error = body
            invocation.posted.set()
            self._maybe_end(invocation)
            self._dispatch()

    # The extensions' side ---------------------------------------------------------------------

    def _register(self, name: str, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        events = list(json.loads(body or b"{}").get("events", []))
        with self._changed:
            self.timeline.mark("register", name)
            self.registrations.append({"name": name, "events": events})
            identifier = f"{name}-{len(self.registrations)}"
            self._extensions[identifier] = _Extension(name, events)
        answer = {"functionName": "execution-models", "functionVersion": "$LATEST"}
        return 200, json.dumps(answer).encode(), {"Lambda-Extension-Identifier": identifier}

    def _next_event(self, identifier: str) -> tuple[int, bytes, dict[str, str]]:
        slot = _Slot()
        with self._changed:
            self.timeline.mark("extension-next", identifier)
            extension = self._extensions.get(identifier)
            if extension is None:
                return 403, b'{"errorType": "Extension.Unknown"}', {}
            if extension.current is not None:
                extension.current.extensions_busy.discard(identifier)
                self._maybe_end(extension.current)
                extension.current = None
            extension.waiting = slot
            self._dispatch()
        slot.ready.wait()
        invocation: Invocation | None = slot.given
        if invocation is None:
            event: dict[str, Any] = {"eventType": "SHUTDOWN", "shutdownReason": "spindown"}
        else:
            event = {
                "eventType": "INVOKE",
                "deadlineMs": int(time.time() * 1000) + 60_000,
                "requestId": invocation.request_id,
                "invokedFunctionArn": FUNCTION_ARN,
                "tracing": {"type": "X-Amzn-Trace-Id", "value": TRACE},
            }
        return 200, json.dumps(event).encode(), {"Content-Type": "application/json"}

    # Sequencing (under the condition's lock) ----------------------------------------------------

    def _dispatch(self) -> None:
        while self._pending and self._workers and not self._closed:
            if not self.concurrent:
                if self._active is not None and not self._active.ended.is_set():
                    return  # one invocation at a time
                if any(e.waiting is None for e in self._extensions.values()):
                    return  # an extension is still busy (or still in init)
            invocation = self._pending.popleft()
            self._workers.popleft().give(invocation)
            self.timeline.mark("dispatch", invocation.request_id)
            if not self.concurrent:
                self._active = invocation
                for identifier, extension in self._extensions.items():
                    if "INVOKE" in extension.events and extension.waiting is not None:
                        invocation.extensions_busy.add(identifier)
                        extension.current = invocation
                        extension.waiting.give(invocation)
                        extension.waiting = None
        self._changed.notify_all()

    def _maybe_end(self, invocation: Invocation) -> None:
        if invocation.posted.is_set() and not invocation.extensions_busy:
            if not invocation.ended.is_set():
                self.timeline.mark("end", invocation.request_id)
                invocation.ended.set()
            self._changed.notify_all()

    def __enter__(self) -> RuntimeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._changed:
            self._closed = True
            for slot in self._workers:
                slot.give(None)
            for extension in self._extensions.values():
                if extension.waiting is not None:
                    extension.waiting.give(None)
        self.server.shutdown()
        self.server.server_close()


def runtime_folder() -> Path:
    """What the Lambda runtime ships (boto3, and the runtime interface client with
    ``snapshot_restore_py``), installed once from the package registry into the benchmark's
    cache, as the cold-start benchmark does."""
    from bench.coldstart import runtime_packages

    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    return runtime_packages(sys.executable, minor)


class FunctionProcess:
    """A function's execution environment: ``python -m awslambdaric <handler>`` in ``folder``
    (Lambda's working directory), with the layer and the runtime's packages on its path, in
    its own process group (Managed Instances fork workers), its output kept in a file."""

    def __init__(
        self, folder: Path, handler: str, environ: Mapping[str, str], runtime: Path
    ) -> None:
        self.folder = folder
        self.log = folder / "output.log"
        path = os.pathsep.join([str(folder), str(ROOT / "layer"), str(runtime)])
        self.environ = {**environ, "PYTHONPATH": path, "_HANDLER": handler}
        self.handler = handler
        self.process: subprocess.Popen[bytes] | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> FunctionProcess:
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "awslambdaric", self.handler],
                cwd=self.folder,
                env=self.environ,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def __exit__(self, *exc: object) -> None:
        process = self.process
        if process is None:
            return
        # The group is this process's own (start_new_session): it and its forked workers.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=PATIENCE_SECONDS)

    def result(self, invocation: Invocation, timeout: float = PATIENCE_SECONDS) -> Any:
        """The invocation's response (decoded), once the invocation has ended."""
        if not invocation.ended.wait(timeout):
            raise AssertionError(
                f"{invocation.request_id} did not end (posted: {invocation.posted.is_set()})"
                f"\n{self.output()[-4000:]}"
            )
        if invocation.error is not None or invocation.response is None:
            raise AssertionError(
                f"{invocation.request_id} failed: {invocation.error!r}\n{self.output()[-4000:]}"
            )
        return json.loads(invocation.response)
