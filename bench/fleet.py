"""`make bench-fleet`: one origin call per key per fill, measured on a simulated fleet.

    python -m bench.fleet [--quick] [--processes 8] [--threads 4] [--keys 3] [--seconds 20]
                          [--primed] [--load 2] [--loaded-variants leases,swr] ...

Processes stand for Lambda containers (started with ``spawn``, several threads each); they
request a few hot keys with a short expiry from a local origin that answers after a
realistic delay and records every call it gets, through a cache table on a local
DynamoDB-compatible server (a child process). The variants run one after the other, each on
a fresh, empty table and a fresh set of processes: requests-cache's own ``DynamoDbCache``,
then this project without coordination, with coalescing only, with coalescing and leases
(the defaults), with stale-while-revalidate and with early refresh. The keys open one after
the other over one expiry (so they do not expire together), and when a key opens, every
thread of every container asks for it at once: its first fill, the whole fleet missing an
empty table, is part of the run. ``--primed`` stores every key before the run instead
(staggered the same way), as earlier versions did.

A key's origin calls are grouped into fills (calls less than half an expiry apart: a correct
cache cannot need two fills within that), and each variant reports origin calls per key per
fill, first fill included, besides the older origin calls per key per expiry window. Then
the coordinated variants run again on a loaded machine: ``--load`` CPU-bound processes spin
beside the fleet for the run (2 by default; 0 skips it). A last scenario kills a lease
holder mid-refresh (SIGKILL while its origin call hangs) and measures how long the other
containers were delayed. Writes ``fleet.json``, ``fleet.md`` and ``fleet.png`` to the output
folder (``bench/results/``; ``bench/results/tmp/`` for ``--quick``) and prints the tables.
About 4 minutes (a minute and a half with ``--quick``).
"""

from __future__ import annotations

import argparse
import bisect
import json
import logging
import math
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.measure import read_units, summary_ms
from scripts.local_servers import (
    MotoServer,
    create_cache_table,
    dynamodb_client,
    local_environment,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

# A request carrying this header makes the origin hang (the killed lease holder's call).
HANG_HEADER = "X-Bench-Hang"
# Every request names itself, "<container>.<thread>.<n>", so the origin can tell which
# containers and which requests called it.
REQUEST_HEADER = "X-Bench-Request"
# The longest an origin call hangs (it is released as soon as its caller has been killed).
HANG_MAX_SECONDS = 20.0
# A request is issued "during an expiry" when it starts within this long after the expiry of
# a response served for its key.
EXPIRY_MOMENT_SECONDS = 0.2
# Origin calls for one key closer than this to the previous one belong to the same refresh
# (the per-window figures' grouping, kept for comparison with earlier runs).
BURST_GAP_SECONDS = 0.5
# Origin calls for one key less than this fraction of an expiry after the previous one belong
# to the same fill: with expiry E, a correct cache never needs two fills within E/2.
FILL_GAP_EXPIRIES = 0.5
# Without priming, every thread's first request starts within this long of the start: the
# whole fleet misses an empty table at once.
COLD_START_SPREAD_SECONDS = 0.02
# How often the load average is sampled during a run.
LOAD_SAMPLE_SECONDS = 0.5
# Bounds that make every loop stop by itself.
MAX_REQUESTS_PER_THREAD = 5_000
READY_TIMEOUT_SECONDS = 120.0
JOIN_GRACE_SECONDS = 30.0
REQUEST_TIMEOUT = (2.0, 15.0)
# DynamoDB's write unit: one per 1 KB written (a failed conditional write costs it too).
WRITE_UNIT_BYTES = 1024
TARGET_CALLS_PER_FILL = 1.1
# The p99 of a stale serve, at most this many times the p99 of a fresh hit.
TARGET_STALE_P99_RATIO = 1.2
COORDINATED = ("leases", "swr", "early_refresh")
# The variants run again on a loaded machine, unless --loaded-variants says otherwise.
LOADED_DEFAULT = ("leases", "swr")


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    short: str
    # Settings passed to CacheConfig.from_environment (None: requests-cache's own backend).
    settings: dict[str, Any] | None
    # The Cache-Control the origin sends with each answer (freshness itself comes from the
    # session's expire_after, the same for every variant).
    cache_control: str | None = None


VARIANTS = (
    Variant(
        "requests_cache",
        "requests-cache 1.3.3 DynamoDbCache (CachedSession, cache_control=True)",
        "requests-cache",
        None,
    ),
    Variant(
        "uncoordinated",
        "lambda-http-cache, coalesce=False, leases=False, stale_while_revalidate=False",
        "ours, no coordination",
        {"coalesce": False, "leases": False, "stale_while_revalidate": False},
    ),
    Variant(
        "coalesce",
        "lambda-http-cache, coalescing only (leases=False)",
        "ours, coalescing only",
        {"coalesce": True, "leases": False},
    ),
    Variant(
        "leases",
        "lambda-http-cache defaults: coalescing + leases",
        "ours, coalescing + leases",
        {},
    ),
    Variant(
        "swr",
        "lambda-http-cache defaults, origin sends stale-while-revalidate=30",
        "ours, stale-while-revalidate",
        {},
        "stale-while-revalidate=30",
    ),
    Variant(
        "early_refresh",
        "lambda-http-cache defaults + early_refresh=1",
        "ours, early refresh",
        {"early_refresh": 1},
    ),
)
BY_NAME = {v.name: v for v in VARIANTS}


# The origin ------------------------------------------------------------------------------------


@dataclass
class OriginCall:
    path: str
    container: str
    arrived: float  # wall-clock seconds (time.time(): comparable across processes)
    request: str = "?"
    answered: float | None = None
    hung: bool = False


class CountingOrigin:
    """An HTTP origin on loopback: every path answers a strings-only JSON body after ``delay``
    seconds (``/warmup/...`` at once), with the Cache-Control registered for its prefix;
    records each call with its arrival and answer times and the calling container. A request
    with the hang header waits until :meth:`release` (at most ``HANG_MAX_SECONDS``)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.cache_control: dict[str, str] = {}  # path prefix -> Cache-Control
        self.calls: list[OriginCall] = []
        self.broken = 0  # answers whose caller had gone (the killed holder's)
        self._lock = threading.Lock()
        self._release = threading.Event()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = -1

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                request = self.headers.get(REQUEST_HEADER, "?")
                call = OriginCall(self.path, request.split(".")[0], time.time(), request)
                warmup = self.path.startswith("/warmup/")
                if not warmup:
                    call.hung = self.headers.get(HANG_HEADER) == "1"
                    with origin._lock:
                        origin.calls.append(call)
                        version = sum(1 for c in origin.calls if c.path == self.path)
                    if call.hung:
                        origin._release.wait(HANG_MAX_SECONDS)
                    else:
                        time.sleep(origin.delay)
                else:
                    version = 0
                body = json.dumps(
                    # Strings only: requests-cache's DynamoDB serializer fails on numbers.
                    {"path": self.path, "version": str(version), "served_at": str(time.time())}
                ).encode()
                headers = {"Content-Type": "application/json", "Date": formatdate(usegmt=True)}
                control = origin.control_for(self.path)
                if control:
                    headers["Cache-Control"] = control
                try:
                    self.send_response_only(200)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    self.wfile.flush()
                except OSError:
                    with origin._lock:
                        origin.broken += 1
                    self.close_connection = True
                call.answered = time.time()

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256  # every thread of the fleet may connect at once

            def handle_error(self, request: Any, client_address: Any) -> None:
                # A connection reset by a caller that was killed: counted, not printed.
                with origin._lock:
                    origin.broken += 1

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def control_for(self, path: str) -> str | None:
        for prefix, control in self.cache_control.items():
            if path.startswith(prefix):
                return control
        return None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def calls_for(self, paths: Iterable[str]) -> list[OriginCall]:
        wanted = set(paths)
        with self._lock:
            return [c for c in self.calls if c.path in wanted]

    def release(self) -> None:
        self._release.set()

    def __enter__(self) -> CountingOrigin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()


# Counting DynamoDB calls -------------------------------------------------------------------------


class CallCounter:
    """DynamoDB calls of one client, by operation, counted through botocore's own events; a
    lease PutItem (key ending ``~lease``), a first fill's claim (a PutItem of a pending item
    under the key itself) and a strongly consistent GetItem are told apart, and error
    answers are counted by code. With ``trace``, every call is also kept with the
    request it served (the calling thread's current request), its start and end times."""

    def __init__(self, trace: bool = False) -> None:
        self.active = False
        self.calls: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.trace: list[list[Any]] | None = [] if trace else None
        self.current = threading.local()
        self._lock = threading.Lock()

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)
        client.meta.events.register("after-call-error.dynamodb", self._failed)

    def _before(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        from lambda_http_cache.item import KIND_PENDING, LEASE_SUFFIX

        kind = str(model.name)
        if kind == "PutItem":
            item = params.get("Item", {})
            key = item.get("key", {})
            if isinstance(key, dict) and str(key.get("S", "")).endswith(LEASE_SUFFIX):
                kind = "PutItem (lease)"
            else:
                marker = item.get("kind")
                if isinstance(marker, dict) and marker.get("S") == KIND_PENDING:
                    kind = "PutItem (claim)"
        elif kind == "GetItem" and params.get("ConsistentRead"):
            kind = "GetItem (consistent)"
        context["bench_kind"] = kind
        context["bench_counted"] = self.active
        context["bench_started"] = time.time()
        if self.active:
            with self._lock:
                self.calls[kind] += 1

    def _after(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        code = (parsed.get("Error") or {}).get("Code")
        if code and context.get("bench_counted"):
            with self._lock:
                self.errors[f"{context.get('bench_kind')}: {code}"] += 1
        self._keep(context, code)

    def _failed(self, exception: Exception, context: dict[str, Any], **_: Any) -> None:
        if context.get("bench_counted"):
            with self._lock:
                self.errors[f"{context.get('bench_kind')}: {type(exception).__name__}"] += 1
        self._keep(context, type(exception).__name__)

    def _keep(self, context: dict[str, Any], outcome: str | None) -> None:
        if self.trace is None or not context.get("bench_counted"):
            return
        request = getattr(self.current, "request", None)
        call = [request, context.get("bench_kind"), context.get("bench_started"), time.time()]
        with self._lock:
            self.trace.append([*call, outcome])


class LogCounter(logging.Handler):
    """The distinct warnings the libraries log, counted (kept off the terminal)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages[f"{record.name}: {record.getMessage()}"[:200]] += 1

    def install(self) -> None:
        for name in ("lambda_http_cache", "requests_cache", "botocore", "urllib3"):
            named = logging.getLogger(name)
            named.addHandler(self)
            named.propagate = False


# Sessions --------------------------------------------------------------------------------------


def build_session(variant: Variant, table: str, namespace: str, expire_after: int) -> Any:
    """The session of ``variant``, built the way its users build it, on ``table``; the DynamoDB
    endpoint comes from ``AWS_ENDPOINT_URL_DYNAMODB``."""
    if variant.settings is None:
        from requests_cache import CachedSession
        from requests_cache.backends.dynamodb import DynamoDbCache

        backend = DynamoDbCache(table, endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
        return CachedSession(backend=backend, cache_control=True, expire_after=expire_after)
    # What @cached_http does at import.
    from lambda_http_cache.config import CacheConfig
    from lambda_http_cache.session import build_session as build_ours

    environ = {
        "HTTP_CACHE_TABLE": table,
        "HTTP_CACHE_NAMESPACE": namespace,
        "HTTP_CACHE_EXPIRE_AFTER": str(expire_after),
    }
    return build_ours(CacheConfig.from_environment(environ, metrics=False, **variant.settings))


def dynamodb_client_of(session: Any) -> Any:
    """The boto3 client a session's backend calls DynamoDB with."""
    cache = session.cache
    table = getattr(cache, "table", None)
    if table is not None and hasattr(table, "client"):
        return table.client
    return cache.responses.connection.meta.client


# Workers (child processes) ---------------------------------------------------------------------


@dataclass
class WorkerSpec:
    index: int
    variant: str
    table: str
    namespace: str
    urls: list[str]
    threads: int
    think: tuple[float, float]
    expire_after: int
    seed: int
    out: str
    role: str = "fleet"  # "fleet", or "victim" (one request whose origin call hangs)
    warmup_url: str = ""
    trace: bool = False  # keep every DynamoDB call with its times
    # Each thread's first request starts at a random moment within this long of the start
    # (None: within one pause), and its first request for a key within this long of the
    # key's opening.
    start_spread: float | None = None
    # When each key opens, in seconds after the start (None: all at the start).
    key_offsets: list[float] | None = None


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _expires_epoch(response: Any) -> float | None:
    expires = getattr(response, "expires", None)
    if not isinstance(expires, datetime):
        return None
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return expires.timestamp()


def _one_request(session: Any, url: str, headers: dict[str, str], path: str) -> list[Any]:
    """``[issued, seconds, from_cache, stale, expires, error, produced]``: when the request
    was issued (wall clock) and how long it took, whether the cache served it and a stale
    entry, the served response's expiry (epoch), the error if it failed, and when the origin
    produced the body it got (wall clock, from the body)."""
    issued = time.time()
    started = time.perf_counter()
    error: str | None = None
    from_cache = stale = False
    expires: float | None = None
    produced: float | None = None
    try:
        response = session.get(url, headers=headers, timeout=REQUEST_TIMEOUT)
        body = response.content
        from_cache = bool(getattr(response, "from_cache", False))
        stale = bool(from_cache and getattr(response, "is_expired", False))
        expires = _expires_epoch(response)
        if response.status_code != 200:
            error = f"status {response.status_code}"
        else:
            document = json.loads(body)
            if document.get("path") != path:
                error = "wrong body"
            produced = float(document.get("served_at") or 0) or None
    except Exception as failure:
        error = f"{type(failure).__name__}: {failure}"[:200]
    seconds = time.perf_counter() - started
    return [issued, seconds, from_cache, stale, expires, error, produced]


def worker_main(spec: WorkerSpec, ready: Any, go: Any, times: Any) -> None:
    """One container (a child process): build the session, warm it up, report ready, wait
    for the start, then request the keys from ``spec.threads`` threads until the end time;
    write what happened to ``spec.out``."""
    logs = LogCounter()
    logs.install()
    variant = BY_NAME[spec.variant]
    session = build_session(variant, spec.table, spec.namespace, spec.expire_after)
    counter = CallCounter(trace=spec.trace)
    counter.attach(dynamodb_client_of(session))
    headers = {REQUEST_HEADER: f"{spec.index}.warmup"}
    if spec.warmup_url:  # connections opened and code paths run before anything counts
        _one_request(session, spec.warmup_url, headers, _path(spec.warmup_url))
    stats = getattr(session, "stats", None)
    if stats is not None:
        stats.drain()
    logs.messages.clear()
    ready.put(spec.index)
    if not go.wait(READY_TIMEOUT_SECONDS):
        return
    start, end = times[0], times[1]
    paths = [_path(url) for url in spec.urls]
    if spec.role == "victim":
        counter.active = True
        victim = {REQUEST_HEADER: f"{spec.index}.0.0", HANG_HEADER: "1"}
        # Killed while this waits; if it ever returns, the process just ends.
        _one_request(session, spec.urls[0], victim, paths[0])
        return
    records: list[list[Any]] = []
    lock = threading.Lock()

    def loop(thread: int) -> None:
        rng = random.Random(spec.seed * 1000 + thread)
        mine: list[list[Any]] = []
        # Threads start at random moments over one pause (or the start spread), not all in
        # the same millisecond.
        spread = spec.think[1] if spec.start_spread is None else spec.start_spread
        delay = start + rng.uniform(0.0, spread) - time.time()
        if delay > 0:
            time.sleep(delay)
        # Keys open one after the other (the key offsets); a thread asks for a key first as
        # soon as it opens (within the start spread), then picks among the open keys.
        opens = [start + offset for offset in spec.key_offsets] if spec.key_offsets else []
        opened = 0 if opens else len(spec.urls)
        for n in range(MAX_REQUESTS_PER_THREAD):
            now = time.time()
            if now >= end:
                break
            if opened < len(opens) and now >= opens[opened]:
                key = opened
                opened += 1
            else:
                key = rng.randrange(max(1, opened))
            request = f"{spec.index}.{thread}.{n}"
            named = {REQUEST_HEADER: request}
            counter.current.request = request
            # A record: [key, issued, seconds, from_cache, stale, expires, error, request,
            # produced] (see _one_request).
            outcome = _one_request(session, spec.urls[key], named, paths[key])
            mine.append([key, *outcome[:-1], request, outcome[-1]])
            pause = rng.uniform(*spec.think)
            if opened < len(opens):  # not past the next key's opening
                pause = min(pause, opens[opened] + rng.uniform(0.0, spread) - time.time())
            time.sleep(max(0.0, min(pause, end - time.time())))
        with lock:
            records.extend(mine)

    counter.active = True
    workers = [threading.Thread(target=loop, args=(t,), daemon=True) for t in range(spec.threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(max(0.0, end - time.time()) + JOIN_GRACE_SECONDS)
    # Refreshes after the response (stale-while-revalidate, early refresh) still in flight.
    time.sleep(0.3)
    counter.active = False
    result = {
        "index": spec.index,
        "records": records,
        "calls": dict(counter.calls),
        "call_errors": dict(counter.errors),
        "stats": stats.drain()[0] if stats is not None else {},
        "logged": dict(logs.messages),
        "unfinished_threads": sum(1 for t in workers if t.is_alive()),
        "trace": counter.trace,
    }
    Path(spec.out).write_text(json.dumps(result))


class Fleet:
    """Processes started with ``spawn``, each running :func:`worker_main`, each with its own
    start signal."""

    def __init__(self, specs: list[WorkerSpec]) -> None:
        self.context = multiprocessing.get_context("spawn")
        self.specs = specs
        self.ready = self.context.Queue()
        self.go = [self.context.Event() for _ in specs]
        self.times = [self.context.Array("d", 2) for _ in specs]
        self.processes = [
            self.context.Process(
                target=worker_main,
                args=(spec, self.ready, self.go[i], self.times[i]),
                name=f"container-{spec.index}",
                daemon=True,
            )
            for i, spec in enumerate(specs)
        ]

    def start(self) -> None:
        for process in self.processes:
            process.start()
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        waiting = len(self.processes)
        while waiting:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise TimeoutError("the containers did not get ready in time")
            try:
                self.ready.get(timeout=min(remaining, 1.0))
                waiting -= 1
            except Exception:
                if any(p.exitcode not in (None, 0) for p in self.processes):
                    self.stop()
                    raise RuntimeError("a container failed before it was ready") from None

    def go_now(self, indexes: Iterable[int], start: float, end: float) -> None:
        for i in indexes:
            self.times[i][0], self.times[i][1] = start, end
            self.go[i].set()

    def join(self, until: float) -> None:
        for process in self.processes:
            process.join(max(0.1, until - time.time()))
        self.stop()

    def stop(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.kill()  # only the processes this fleet started, by their own handle
                process.join(5)

    def results(self) -> list[dict[str, Any]]:
        found = []
        for spec in self.specs:
            path = Path(spec.out)
            if path.exists():
                found.append(json.loads(path.read_text()))
        return found


# Analysis --------------------------------------------------------------------------------------


def _bursts(times: list[float]) -> list[list[float]]:
    groups: list[list[float]] = []
    for moment in sorted(times):
        if groups and moment - groups[-1][-1] <= BURST_GAP_SECONDS:
            groups[-1].append(moment)
        else:
            groups.append([moment])
    return groups


def _fills(calls: list[OriginCall], gap: float) -> list[list[OriginCall]]:
    """One key's origin calls grouped into fills: a call less than ``gap`` after the previous
    one belongs to the same fill."""
    fills: list[list[OriginCall]] = []
    for call in sorted(calls, key=lambda c: c.arrived):
        if fills and call.arrived - fills[-1][-1].arrived < gap:
            fills[-1].append(call)
        else:
            fills.append([call])
    return fills


def fill_figures(
    calls: list[OriginCall],
    paths: list[str],
    *,
    start: float,
    end: float,
    expire_after: float,
    first_fill_included: bool,
) -> dict[str, Any]:
    """Origin calls per key per fill: each key's calls that arrived while the run lasted,
    grouped into fills (calls less than half an expiry apart). With ``first_fill_included``
    (the run started on an empty table), a key's first fill is its first fill ever."""
    gap = expire_after * FILL_GAP_EXPIRIES
    by_key = [
        _fills([c for c in calls if c.path == path and start <= c.arrived < end], gap)
        for path in paths
    ]
    sizes = [[len(f) for f in fills] for fills in by_key]
    per_key = [sum(n) / len(n) for n in sizes if n]
    everything = [fill for fills in by_key for fill in fills]
    containers = [len({c.container for c in fill}) for fill in everything]
    firsts = [fills[0] for fills in by_key if fills]
    return {
        "fill_gap_seconds": round(gap, 3),
        "first_fill_included": first_fill_included,
        "fills_per_key": [len(n) for n in sizes],
        "origin_calls_per_fill_by_key": sizes,
        "origin_calls_per_key_per_fill": [round(x, 3) for x in per_key],
        "origin_calls_per_key_per_fill_mean": (
            round(statistics.fmean(per_key), 3) if per_key else None
        ),
        "origin_calls_per_key_per_fill_max": round(max(per_key), 3) if per_key else None,
        "origin_calls_per_fill_worst": max((len(f) for f in everything), default=None),
        "containers_per_fill": {
            "mean": round(statistics.fmean(containers), 2) if containers else None,
            "max": max(containers, default=None),
        },
        # The run's first fill of each key: a first fill ever only when nothing was primed.
        "first_fill_calls_per_key": [len(f) for f in firsts] if first_fill_included else None,
        "first_fill_containers_per_key": (
            [len({c.container for c in f}) for f in firsts] if first_fill_included else None
        ),
        # From the first call of a key's first fill to its last, and to its first answer.
        "first_fill_span_ms_per_key": (
            [round((f[-1].arrived - f[0].arrived) * 1000, 1) for f in firsts]
            if first_fill_included
            else None
        ),
        "first_fill_answered_ms_per_key": (
            [
                round((min(c.answered for c in f if c.answered) - f[0].arrived) * 1000, 1)
                if any(c.answered for c in f)
                else None
                for f in firsts
            ]
            if first_fill_included
            else None
        ),
    }


def analyse_fleet(
    outputs: list[dict[str, Any]],
    calls: list[OriginCall],
    paths: list[str],
    *,
    start: float,
    end: float,
    expire_after: float,
    item_bytes: dict[str, int | None],
    first_fill_included: bool = True,
    key_offsets: list[float] | None = None,
) -> dict[str, Any]:
    """The figures of one variant's run; ``key_offsets``: when each key opened, in seconds
    after the start (None: all at the start)."""
    seconds = end - start
    windows = seconds / expire_after
    # Each key's expiry windows, from its opening to the end.
    key_windows = [
        (seconds - offset) / expire_after for offset in key_offsets or [0.0] * len(paths)
    ]
    records = [r for out in outputs for r in out["records"]]
    requests_made = len(records)
    # Origin calls per key, those that arrived while the run lasted.
    per_key: list[int] = []
    bursts: list[list[OriginCall]] = []
    for path in paths:
        mine = [c for c in calls if c.path == path and start <= c.arrived < end]
        per_key.append(len(mine))
        for group in _bursts([c.arrived for c in mine]):
            members = [c for c in mine if group[0] <= c.arrived <= group[-1]]
            bursts.append(members)
    per_window = [n / w for n, w in zip(per_key, key_windows, strict=True)]
    # Expiry moments: the expiry of every response served for a key.
    expiries: list[list[float]] = [[] for _ in paths]
    for r in records:
        if r[5] is not None:
            expiries[r[0]].append(r[5])
    ordered = [sorted(set(e)) for e in expiries]

    def at_expiry(key: int, issued: float) -> bool:
        moments = ordered[key]
        index = bisect.bisect_right(moments, issued) - 1
        return index >= 0 and issued - moments[index] < EXPIRY_MOMENT_SECONDS

    ok = [r for r in records if r[6] is None]
    failed = [r for r in records if r[6] is not None]
    everything = [r[2] for r in ok]
    during = [r[2] for r in ok if at_expiry(r[0], r[1])]
    # A fresh hit: served from the cache an entry that was fresh and already there when the
    # request was issued (the origin produced it before), away from an expiry; a request
    # that waited for a fill or a refresh and was then served its result is not one.
    fresh_hits = [
        r[2]
        for r in ok
        if r[3] and not r[4] and r[8] is not None and r[8] < r[1] and not at_expiry(r[0], r[1])
    ]
    stale_served = [r[2] for r in ok if r[4]]
    from_origin = [r[2] for r in ok if not r[3]]
    # How long a request that called the origin itself took to get there.
    own_call = {c.request: c.arrived for c in calls if start <= c.arrived < end}
    to_origin = [own_call[r[7]] - r[1] for r in ok if not r[3] and r[7] in own_call]
    dynamodb, errors, stats, logged = _counts(outputs)
    lease_puts = dynamodb["PutItem (lease)"]
    consistent_gets = dynamodb["GetItem (consistent)"]
    lease_size = item_bytes.get("lease")
    entry_size = item_bytes.get("entry")
    write_units = lease_puts * max(1, math.ceil((lease_size or 1) / WRITE_UNIT_BYTES))
    read_cost = consistent_gets * read_units(entry_size or 1, consistent=True)
    all_windows = sum(key_windows)
    fills = fill_figures(
        calls,
        paths,
        start=start,
        end=end,
        expire_after=expire_after,
        first_fill_included=first_fill_included,
    )
    # The requests that waited for their key's first fill: issued before it was answered.
    first_answer: dict[int, float] = {}
    if first_fill_included:
        for key, path in enumerate(paths):
            answers = [
                c.answered
                for c in calls
                if c.path == path and c.answered and start <= c.arrived < end
            ]
            if answers:
                first_answer[key] = min(answers)
    first_fill = [r[2] for r in ok if r[0] in first_answer and r[1] < first_answer[r[0]]]
    return {
        "seconds": round(seconds, 3),
        "expiry_windows": round(windows, 3),
        "key_opened_seconds": [round(x, 3) for x in key_offsets] if key_offsets else None,
        "requests": requests_made,
        "requests_per_second": round(requests_made / seconds, 1),
        "failed": len(failed),
        "failed_examples": sorted({str(r[6]) for r in failed})[:3],
        **fills,
        "origin_calls_per_key": per_key,
        "origin_calls_per_key_per_window": [round(x, 3) for x in per_window],
        "origin_calls_per_key_per_window_mean": round(statistics.fmean(per_window), 3),
        "origin_calls_per_key_per_window_max": round(max(per_window), 3),
        "refreshes": len(bursts),
        "origin_calls_per_refresh": {
            "mean": round(statistics.fmean(len(b) for b in bursts), 2) if bursts else None,
            "max": max((len(b) for b in bursts), default=None),
        },
        "containers_per_refresh": {
            "mean": (
                round(statistics.fmean(len({c.container for c in b}) for b in bursts), 2)
                if bursts
                else None
            ),
            "max": max((len({c.container for c in b}) for b in bursts), default=None),
        },
        "latency": summary_ms(everything),
        "latency_during_expiry": summary_ms(during),
        "latency_fresh_hits": summary_ms(fresh_hits),
        "latency_stale_served": summary_ms(stale_served),
        "latency_from_origin": summary_ms(from_origin),
        "latency_first_fill": summary_ms(first_fill),
        "to_own_origin_call": summary_ms(to_origin),
        "expiry_moments": sum(len(m) for m in ordered),
        "hit_ratio": round(sum(1 for r in ok if r[3]) / len(ok), 4) if ok else None,
        "dynamodb_calls": dict(sorted(dynamodb.items())),
        "dynamodb_calls_per_request": {
            op: round(n / requests_made, 4) for op, n in sorted(dynamodb.items())
        }
        if requests_made
        else {},
        "dynamodb_errors": dict(sorted(errors.items())),
        "dynamodb_failures": _failures(errors),
        "lease_costs": {
            "lease_put_items": lease_puts,
            "consistent_get_items": consistent_gets,
            "lease_item_bytes": lease_size,
            "entry_item_bytes": entry_size,
            "write_units": write_units,
            "read_units": read_cost,
            "write_units_per_key_per_window": round(write_units / all_windows, 3),
            "read_units_per_key_per_window": round(read_cost / all_windows, 3),
        },
        "cache_events": dict(sorted(stats.items())),
        "logged": dict(logged.most_common(5)),
        "unfinished_threads": sum(out["unfinished_threads"] for out in outputs),
        "containers_reporting": len(outputs),
    }


# Scenarios -------------------------------------------------------------------------------------


@dataclass
class Settings:
    processes: int
    threads: int
    keys: int
    seconds: float
    expire_after: int
    origin_delay: float
    think: tuple[float, float]
    kill_seconds: float
    seed: int
    variants: list[str] = field(default_factory=list)
    keep_records: bool = False
    # Every key stored before the run (the first fill is then not measured).
    primed: bool = False
    # CPU-bound processes beside the fleet in the loaded run (0: no loaded run), and the
    # variants run there.
    load: int = 2
    loaded_variants: list[str] = field(default_factory=list)


# A loaded machine ------------------------------------------------------------------------------


def _spin(stop: Any, ready: Any) -> None:
    """A CPU-bound process: a busy loop until ``stop`` is set."""
    ready.put(os.getpid())
    x = 0
    while not stop.is_set():
        for i in range(100_000):
            x ^= i


@contextmanager
def cpu_load(processes: int) -> Iterator[list[int]]:
    """``processes`` CPU-bound processes (``spawn``) spinning while the block runs, each
    started and spinning before it begins; always stopped on the way out (told to stop, then
    killed by their own handles if they have not)."""
    if processes <= 0:
        yield []
        return
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    ready = context.Queue()
    spinners = [
        context.Process(target=_spin, args=(stop, ready), name=f"load-{i}", daemon=True)
        for i in range(processes)
    ]
    try:
        for process in spinners:
            process.start()
        for _ in spinners:
            ready.get(timeout=READY_TIMEOUT_SECONDS)
        yield [process.pid for process in spinners if process.pid is not None]
    finally:
        stop.set()
        for process in spinners:
            if process.pid is None:
                continue  # never started
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)


def _cpu_times() -> tuple[float, float] | None:
    """The machine's busy and total CPU time so far (Linux's /proc/stat), in ticks."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    except OSError:
        return None
    ticks = [float(x) for x in fields]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return sum(ticks) - idle, sum(ticks)


class LoadProbe:
    """The machine's load while a block runs: the 1-minute load average sampled every
    ``LOAD_SAMPLE_SECONDS`` (at the start, its highest, at the end) and the share of CPU time
    spent busy."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._cpu: tuple[float, float] | None = None
        self.figures: dict[str, Any] = {}

    def _sample(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(LOAD_SAMPLE_SECONDS):
                return

    def __enter__(self) -> LoadProbe:
        self._cpu = _cpu_times()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.samples.append(os.getloadavg()[0])
        now = _cpu_times()
        busy = None
        if self._cpu and now and now[1] > self._cpu[1]:
            busy = round(100 * (now[0] - self._cpu[0]) / (now[1] - self._cpu[1]), 1)
        self.figures = {
            "load_average": {
                "start": round(self.samples[0], 2),
                "max": round(max(self.samples), 2),
                "end": round(self.samples[-1], 2),
            },
            "cpu_busy_percent": busy,
        }


def _item_sizes(client: Any, table: str, table_key: str | None) -> dict[str, int | None]:
    from lambda_http_cache.item import LEASE_SUFFIX, item_size

    sizes: dict[str, int | None] = {"entry": None, "lease": None}
    if table_key is None:
        return sizes
    for name, key in (("entry", table_key), ("lease", table_key + LEASE_SUFFIX)):
        item = client.get_item(TableName=table, Key={"key": {"S": key}}).get("Item")
        sizes[name] = item_size(item) if item else None
    return sizes


def _table_key(session: Any, response: Any) -> str | None:
    responses: Any = getattr(session.cache, "responses", None)
    cache_key = getattr(response, "cache_key", None)
    if cache_key and hasattr(responses, "table_key"):
        return str(responses.table_key(cache_key))
    return None


def run_variant(
    variant: Variant,
    settings: Settings,
    origin: CountingOrigin,
    client: Any,
    workdir: Path,
    progress: Callable[[str], None],
    *,
    load: int = 0,
) -> dict[str, Any]:
    """One variant's run: a fresh table and fresh containers; with ``load``, that many
    CPU-bound processes spin beside the fleet while it runs (the loaded run, on its own table
    and paths)."""
    tag = f"loaded-{variant.name}" if load else variant.name
    table = f"fleet_{tag.replace('-', '_')}"
    create_cache_table(client, table)
    prefix = f"/{tag}/"
    if variant.cache_control:
        origin.cache_control[prefix] = variant.cache_control
    paths = [f"{prefix}key{k}" for k in range(settings.keys)]
    # Without priming, the keys open one after the other over one expiry, so that they do not
    # expire together, and each key's first fill is asked by the whole fleet at once.
    offsets = [k * settings.expire_after / settings.keys for k in range(settings.keys)]
    specs = [
        WorkerSpec(
            index=i,
            variant=variant.name,
            table=table,
            namespace="fleet",
            urls=[origin.url(p) for p in paths],
            threads=settings.threads,
            think=settings.think,
            expire_after=settings.expire_after,
            seed=settings.seed + i,
            out=str(workdir / f"{tag}-{i}.json"),
            warmup_url=origin.url(f"/warmup/{tag}/{i}"),
            start_spread=None if settings.primed else COLD_START_SPREAD_SECONDS,
            key_offsets=None if settings.primed else offsets,
        )
        for i in range(settings.processes)
    ]
    fleet = Fleet(specs)
    fleet.start()
    table_key = None
    probe = LoadProbe()
    try:
        with cpu_load(load):
            if settings.primed:
                # Prime every key once, staggered over one expiry, so the run measures
                # refreshes of stored entries and the keys do not expire together.
                primer = build_session(variant, table, "fleet", settings.expire_after)
                gap = settings.expire_after / settings.keys
                for k, path in enumerate(paths):
                    if k:
                        time.sleep(gap)
                    primed = primer.get(
                        origin.url(path),
                        headers={REQUEST_HEADER: "primer"},
                        timeout=REQUEST_TIMEOUT,
                    )
                    table_key = table_key or _table_key(primer, primed)
            start = time.time() + 0.1
            end = start + settings.seconds
            with probe:
                fleet.go_now(range(len(specs)), start, end)
                progress(
                    f"  {variant.short}{f', {load} CPU-bound processes beside' if load else ''}"
                    f": {settings.processes} containers x {settings.threads} threads, "
                    f"{settings.seconds:g} s{'' if settings.primed else ', empty table'}"
                )
                fleet.join(end + JOIN_GRACE_SECONDS + 10)
    finally:
        fleet.stop()
    if table_key is None and variant.settings is not None:
        # The key the table stores the first path under, for the item sizes: one request
        # after the run (an origin call it makes comes after the end, and is not counted).
        after = build_session(variant, table, "fleet", settings.expire_after)
        answer = after.get(
            origin.url(paths[0]), headers={REQUEST_HEADER: "after"}, timeout=REQUEST_TIMEOUT
        )
        table_key = _table_key(after, answer)
    outputs = fleet.results()
    missing = len(specs) - len(outputs)
    result = analyse_fleet(
        outputs,
        origin.calls_for(paths),
        paths,
        start=start,
        end=end,
        expire_after=settings.expire_after,
        item_bytes=_item_sizes(client, table, table_key),
        first_fill_included=not settings.primed,
        key_offsets=None if settings.primed else offsets,
    )
    if settings.keep_records:
        result["records"] = [[out["index"], *r] for out in outputs for r in out["records"]]
        result["start"] = start
    result["containers_missing"] = missing
    result["label"] = variant.label
    result["short"] = variant.short
    result["origin_cache_control"] = variant.cache_control
    result["settings"] = variant.settings
    result["load_processes"] = load
    result.update(probe.figures)
    return result


def run_killed_holder(
    settings: Settings,
    origin: CountingOrigin,
    client: Any,
    workdir: Path,
    normal: dict[str, float | None],
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """One container takes a key's lease and is killed (SIGKILL) while its origin call hangs;
    the others, with the default settings, keep asking for the key."""
    from lambda_http_cache.coordination import lease_seconds, wait_plan
    from lambda_http_cache.item import LEASE_SUFFIX

    variant = BY_NAME["leases"]
    table = "fleet_killed_holder"
    create_cache_table(client, table)
    path = "/killed/key0"
    url = origin.url(path)
    specs = [
        WorkerSpec(
            index=i,
            variant=variant.name,
            table=table,
            namespace="fleet",
            urls=[url],
            threads=1 if i == 0 else settings.threads,
            think=settings.think,
            expire_after=settings.expire_after,
            seed=settings.seed + 100 + i,
            out=str(workdir / f"killed-{i}.json"),
            role="victim" if i == 0 else "fleet",
            warmup_url=origin.url(f"/warmup/killed/{i}"),
            trace=True,
        )
        for i in range(settings.processes)
    ]
    fleet = Fleet(specs)
    fleet.start()
    victim = fleet.processes[0]
    killed_at = None
    lease: dict[str, Any] = {}
    try:
        primer = build_session(variant, table, "fleet", settings.expire_after)
        primed = primer.get(url, headers={REQUEST_HEADER: "primer"}, timeout=REQUEST_TIMEOUT)
        table_key = _table_key(primer, primed)
        wait_bound, poll = wait_plan(primed)
        lease_length = lease_seconds(primed)
        expires = _expires_epoch(primed) or time.time() + settings.expire_after
        time.sleep(max(0.0, expires - time.time()) + 0.05)
        # The victim finds the entry stale, wins the lease and calls the origin, which hangs.
        fleet.go_now([0], time.time(), time.time() + settings.kill_seconds)
        deadline = time.time() + 10
        while time.time() < deadline and not any(c.hung for c in origin.calls_for([path])):
            time.sleep(0.01)
        hung = [c for c in origin.calls_for([path]) if c.hung]
        if not hung:
            raise RuntimeError("the lease holder's origin call never arrived")
        lease = client.get_item(
            TableName=table,
            Key={"key": {"S": (table_key or "") + LEASE_SUFFIX}},
            ConsistentRead=True,
        ).get("Item", {})
        start = time.time()
        end = start + settings.kill_seconds
        fleet.go_now(range(1, len(specs)), start, end)
        progress(
            f"  killed lease holder: {settings.processes - 1} containers x {settings.threads} "
            f"threads, {settings.kill_seconds:g} s"
        )
        time.sleep(0.2)
        victim.kill()  # SIGKILL, mid-refresh: its lease is taken, nothing is written
        killed_at = time.time()
        victim.join(5)
        origin.release()
        fleet.join(end + JOIN_GRACE_SECONDS + 10)
    finally:
        origin.release()
        fleet.stop()
    outputs = [o for o in fleet.results() if o["index"] != 0]
    since = float(lease["since"]["N"]) if "since" in lease else hung[0].arrived
    until = float(lease["until"]["N"]) if "until" in lease else None
    result = analyse_killed(
        outputs,
        origin.calls_for([path]),
        since=since,
        killed_at=killed_at,
        wait_bound=wait_bound,
        normal=normal,
    )
    result.update(
        {
            "containers": settings.processes - 1,
            "threads": settings.threads,
            "lease_seconds": lease_length,
            "lease_in_table_seconds": round(until - since, 3) if until else None,
            "lease_since_to_kill_ms": round((killed_at - since) * 1000, 1) if killed_at else None,
            "poll_seconds": round(poll, 3),
            "primed_origin_seconds": round(primed.elapsed.total_seconds(), 3),
            "holder_answers_broken": origin.broken,
        }
    )
    return result


def analyse_killed(
    outputs: list[dict[str, Any]],
    calls: list[OriginCall],
    *,
    since: float,
    killed_at: float | None,
    wait_bound: float,
    normal: dict[str, float | None],
) -> dict[str, Any]:
    """The figures of the killed-holder scenario. ``since``: when the dead holder took the
    lease; ``normal``: a normal refresh's median latency and median time to its origin call
    (``refresh_ms``, ``to_origin_ms``), from the defaults' run."""
    records = [r for out in outputs for r in out["records"]]
    after = [c for c in calls if not c.hung and c.arrived >= since]
    landed = min((c.answered for c in after if c.answered), default=None)
    own_call = {c.request: c.arrived for c in after}
    # The requests that had to wait: issued before the first refreshed response was answered.
    waited = [r for r in records if r[6] is None and (landed is None or r[1] < landed)]
    latencies = [r[2] for r in waited]
    to_origin = [own_call[r[7]] - r[1] for r in waited if r[7] in own_call]
    refresh = (normal.get("refresh_ms") or 0.0) / 1000
    normal_to_origin = (normal.get("to_origin_ms") or 0.0) / 1000
    beyond = max(latencies, default=0.0) - refresh
    waited_before_origin = max(to_origin, default=0.0) - normal_to_origin
    trace = [t for out in outputs for t in out["trace"] or []]
    lease_waits, flight_waits = _waits(trace, waited)
    # How long the local server took per call, for the requests that waited.
    waiting = {r[7] for r in waited}
    call_seconds = [t[3] - t[2] for t in trace if t[0] in waiting]
    dynamodb, errors, stats, logged = _counts(outputs)
    failed = [r for r in records if r[6] is not None]
    return {
        "requests": len(records),
        "failed": len(failed),
        "failed_examples": sorted({str(r[6]) for r in failed})[:3],
        "wait_bound_seconds": round(wait_bound, 3),
        "waited_requests": len(waited),
        "latency_waited": summary_ms(latencies),
        "latency_waited_max_ms": round(max(latencies, default=0.0) * 1000, 1),
        "normal_refresh_ms": round(refresh * 1000, 2),
        "normal_to_origin_ms": round(normal_to_origin * 1000, 2),
        "max_delay_beyond_normal_ms": round(beyond * 1000, 1),
        "within_bound": beyond <= wait_bound,
        "to_own_origin_call": summary_ms(to_origin),
        "max_wait_before_own_origin_call_beyond_normal_ms": round(waited_before_origin * 1000, 1),
        # The waits themselves, from each request's DynamoDB calls: a container that lost the
        # lease, from the lost PutItem to its last look at the table; a thread that waited for
        # its container's leader, between its first and second read.
        "lease_waits": summary_ms(lease_waits),
        "lease_wait_max_ms": round(max(lease_waits, default=0.0) * 1000, 1),
        "flight_waits": summary_ms(flight_waits),
        "flight_wait_max_ms": round(max(flight_waits, default=0.0) * 1000, 1),
        "dynamodb_call_ms_of_waiting_requests": summary_ms(call_seconds),
        "first_refreshed_answer_after_lease_ms": (
            round((landed - since) * 1000, 1) if landed else None
        ),
        "killed_after_lease_ms": round((killed_at - since) * 1000, 1) if killed_at else None,
        "origin_calls_after_kill": len(after),
        "containers_calling_origin": len({c.container for c in after}),
        "dynamodb_calls": dict(sorted(dynamodb.items())),
        "dynamodb_errors": dict(sorted(errors.items())),
        "dynamodb_failures": _failures(errors),
        # The waiting requests: request, issued (ms after the lease was taken), latency (ms),
        # served from the cache, its own origin call (ms after the lease), if it made one.
        "timeline": sorted(
            [
                r[7],
                round((r[1] - since) * 1000, 1),
                round(r[2] * 1000, 1),
                r[3],
                round((own_call[r[7]] - since) * 1000, 1) if r[7] in own_call else None,
            ]
            for r in waited
        ),
        "cache_events": dict(sorted(stats.items())),
        "logged": dict(logged.most_common(5)),
    }


def _counts(
    outputs: list[dict[str, Any]],
) -> tuple[Counter[str], Counter[str], Counter[str], Counter[str]]:
    """The processes' DynamoDB calls, failed calls, cache counters and log records, summed."""
    dynamodb: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    stats: Counter[str] = Counter()
    logged: Counter[str] = Counter()
    for out in outputs:
        dynamodb.update(out["calls"])
        errors.update(out["call_errors"])
        stats.update({k: v for k, v in out["stats"].items() if v})
        logged.update(out["logged"])
    return dynamodb, errors, stats, logged


def _waits(trace: list[list[Any]], waited: list[list[Any]]) -> tuple[list[float], list[float]]:
    """How long each waiting request waited (seconds), from its traced DynamoDB calls
    ``[request, kind, started, ended, outcome]``: for one that lost the lease, from the end of
    its lease PutItem to the start of its last strongly consistent GetItem (the wait loop's
    last look at the table); for one that waited for its container's leader (no lease call
    of its own), from the end of its first GetItem to the start of its second."""
    by_request: dict[str, list[list[Any]]] = {}
    for call in trace:
        if call[0] is not None:
            by_request.setdefault(call[0], []).append(call)
    lease_waits: list[float] = []
    flight_waits: list[float] = []
    for record in waited:
        calls = sorted(by_request.get(record[7], []), key=lambda c: c[2])
        lost = [c for c in calls if c[1] == "PutItem (lease)" and c[4]]
        if lost:
            polls = [c for c in calls if c[1] == "GetItem (consistent)" and c[2] >= lost[0][3]]
            if polls:
                lease_waits.append(polls[-1][2] - lost[0][3])
            continue
        if any(c[1] == "PutItem (lease)" for c in calls):
            continue  # won a lease (after the dead holder's ran out): no wait
        reads = [c for c in calls if c[1] == "GetItem"]
        if len(reads) >= 2:
            flight_waits.append(reads[1][2] - reads[0][3])
    return lease_waits, flight_waits


def _failures(errors: Counter[str]) -> int:
    """DynamoDB calls that failed other than by a lost condition (a lease lost, a newer
    response kept): timeouts of the local server, mostly."""
    return sum(
        n for name, n in errors.items() if not name.endswith("ConditionalCheckFailedException")
    )


# Targets ---------------------------------------------------------------------------------------


def _scope(v: dict[str, Any], load: int) -> str:
    return f"{v['short']}, loaded ({load} CPU-bound processes)" if load else f"{v['short']}, idle"


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    variants = results["variants"]
    loaded = results.get("loaded") or {}
    load = results["settings"].get("load", 0)
    primed = results["settings"].get("primed", False)
    runs = [(variants, 0), (loaded, load)]
    for section, section_load in runs:
        for name in COORDINATED:
            if name not in section:
                continue
            v = section[name]
            value = v["origin_calls_per_key_per_fill_max"]
            rows.append(
                {
                    "target": "origin calls per key per fill (worst key), "
                    + ("keys primed: first fill not measured" if primed else "first fill included"),
                    "scope": _scope(v, section_load),
                    "value": value,
                    "limit": f"<= {TARGET_CALLS_PER_FILL}",
                    "met": value is not None and value <= TARGET_CALLS_PER_FILL,
                }
            )
    for section, section_load in runs:
        swr = section.get("swr")
        if not swr:
            continue
        stale, fresh = swr["latency_stale_served"], swr["latency_fresh_hits"]
        row: dict[str, Any] = {
            "target": f"p99 of a stale serve <= {TARGET_STALE_P99_RATIO} x p99 of a fresh hit",
            "scope": _scope(swr, section_load),
            "limit": f"<= {TARGET_STALE_P99_RATIO}x",
        }
        if stale and fresh:
            ratio = stale["p99_ms"] / fresh["p99_ms"]
            row["value"] = (
                f"{stale['p99_ms']:.2f} ms vs {fresh['p99_ms']:.2f} ms ({ratio:.2f}x, "
                f"{stale['n']} stale serves)"
            )
            row["met"] = ratio <= TARGET_STALE_P99_RATIO
        else:
            row["value"] = "no stale serve measured" if fresh else "no fresh hit measured"
            row["met"] = False
        rows.append(row)
    killed = results.get("killed_holder")
    if killed:
        rows.append(
            {
                "target": "delay beyond a normal refresh, lease holder killed",
                "scope": "ours, coalescing + leases",
                "value": f"{killed['max_delay_beyond_normal_ms']:.0f} ms",
                "limit": f"<= {killed['wait_bound_seconds'] * 1000:.0f} ms",
                "met": killed["within_bound"],
            }
        )
    every = [*variants.values(), *loaded.values(), *([killed] if killed else [])]
    scope = "every variant and scenario" + (", loaded runs included" if loaded else "")
    timeouts = sum(v["dynamodb_failures"] for v in every)
    rows.append(
        {
            "target": "DynamoDB calls failed (the local server kept up: the run is valid)",
            "scope": scope,
            "value": timeouts,
            "limit": "0",
            "met": timeouts == 0,
        }
    )
    failed = sum(v["failed"] for v in every)
    rows.append(
        {
            "target": "failed requests",
            "scope": scope,
            "value": failed,
            "limit": "0",
            "met": failed == 0,
        }
    )
    return rows


# Main ------------------------------------------------------------------------------------------


FULL = {"seconds": 20.0, "kill_seconds": 3.0}
QUICK = {"seconds": 6.0, "kill_seconds": 2.5}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fleet", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--processes", type=int, default=8, help="containers (8)")
    parser.add_argument("--threads", type=int, default=4, help="threads per container (4)")
    parser.add_argument("--keys", type=int, default=3, help="hot keys (3)")
    parser.add_argument("--seconds", type=float, help="run length per variant (20)")
    parser.add_argument("--expire-after", type=int, default=2, help="expiry, seconds (2)")
    parser.add_argument(
        "--origin-delay", type=float, default=100.0, help="origin answer delay, ms (100)"
    )
    parser.add_argument(
        "--think-ms",
        default="50,250",
        help="pause between a thread's requests, uniform between these, ms (50,250)",
    )
    parser.add_argument("--kill-seconds", type=float, help="killed-holder scenario length (3)")
    parser.add_argument(
        "--variants",
        default=",".join(v.name for v in VARIANTS),
        help="comma list of variants (all): " + ", ".join(v.name for v in VARIANTS),
    )
    parser.add_argument(
        "--primed",
        action="store_true",
        help="store every key before the run, staggered over one expiry (the first fill is "
        "then not measured)",
    )
    parser.add_argument(
        "--load",
        type=int,
        default=2,
        help="CPU-bound processes spinning beside the fleet in the loaded run (2; 0: no "
        "loaded run)",
    )
    parser.add_argument(
        "--loaded-variants",
        help="comma list of variants run again on the loaded machine (those of "
        f"{','.join(LOADED_DEFAULT)} in --variants)",
    )
    parser.add_argument("--skip-kill", action="store_true", help="no killed-holder scenario")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--keep-records", action="store_true", help="every request's record in the results"
    )
    parser.add_argument("--out", type=Path, help="output folder (bench/results)")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.out is None:
        args.out = RESULTS / "tmp" if args.quick else RESULTS
    chosen = args.variants.split(",")
    if args.loaded_variants is None:
        args.loaded_variants = ",".join(n for n in LOADED_DEFAULT if n in chosen)
    loaded = [n for n in args.loaded_variants.split(",") if n]
    unknown = [n for n in chosen + loaded if n not in BY_NAME]
    if unknown:
        parser.error(f"unknown variants: {unknown}")
    args.loaded_variants = loaded if args.load > 0 else []
    if args.load < 0:
        parser.error("--load is a number of processes, 0 or more")
    if args.processes < 2 or args.threads < 1 or args.keys < 1 or args.expire_after < 1:
        parser.error("at least 2 processes, 1 thread, 1 key and 1 s of expiry")
    return args


def main(argv: list[str] | None = None) -> int:
    from bench import fleet_report
    from bench.run import machine

    args = parse_args(argv)
    started = time.perf_counter()
    think = tuple(float(x) / 1000 for x in args.think_ms.split(","))
    settings = Settings(
        processes=args.processes,
        threads=args.threads,
        keys=args.keys,
        seconds=args.seconds,
        expire_after=args.expire_after,
        origin_delay=args.origin_delay / 1000,
        think=(think[0], think[-1]),
        kill_seconds=args.kill_seconds,
        seed=args.seed,
        variants=args.variants.split(","),
        keep_records=args.keep_records,
        primed=args.primed,
        load=args.load if args.loaded_variants else 0,
        loaded_variants=args.loaded_variants,
    )
    local_environment()
    LogCounter().install()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", flush=True)

    results: dict[str, Any] = {"machine": machine(), "settings": asdict(settings)}
    results["settings"]["expiry_moment_seconds"] = EXPIRY_MOMENT_SECONDS
    results["settings"]["fill_gap_seconds"] = settings.expire_after * FILL_GAP_EXPIRIES
    results["variants"] = {}
    with (
        MotoServer() as moto,
        CountingOrigin(settings.origin_delay) as origin,
        tempfile.TemporaryDirectory(prefix="fleet-") as scratch,
    ):
        local_environment(moto.endpoint)
        client = dynamodb_client(moto.endpoint)
        progress(
            f"DynamoDB server at {moto.endpoint}, origin delay {args.origin_delay:g} ms, "
            f"expiry {settings.expire_after} s"
        )
        for name in settings.variants:
            results["variants"][name] = run_variant(
                BY_NAME[name], settings, origin, client, Path(scratch), progress
            )
        if settings.load and settings.loaded_variants:
            progress(f"loaded machine: {settings.load} CPU-bound processes beside the fleet")
            results["loaded"] = {
                name: run_variant(
                    BY_NAME[name],
                    settings,
                    origin,
                    client,
                    Path(scratch),
                    progress,
                    load=settings.load,
                )
                for name in settings.loaded_variants
            }
        if not args.skip_kill:
            leases = results["variants"].get("leases") or {}
            normal = {
                "refresh_ms": (leases.get("latency_from_origin") or {}).get("median_ms"),
                "to_origin_ms": (leases.get("to_own_origin_call") or {}).get("median_ms"),
            }
            results["killed_holder"] = run_killed_holder(
                settings, origin, client, Path(scratch), normal, progress
            )
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["targets"] = targets(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fleet.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "fleet.md").write_text(fleet_report.markdown(results))
    fleet_report.chart(results, args.out / "fleet.png")
    print()
    print(fleet_report.text(results))
    print(f"\nwrote {args.out / 'fleet.json'}, fleet.md and fleet.png")
    print(f"fleet benchmark took {results['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
