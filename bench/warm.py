"""Warm-container measurements: latency of hits and misses, DynamoDB calls per request, item
sizes, hit ratio, byte identity, throughput with threads, and profiles of the hit path.

Each variant is built the way its users build it:

- ``no_cache``: a plain ``requests.Session``;
- ``requests_cache``: requests-cache's own ``DynamoDbCache`` as its documentation shows,
  ``CachedSession(backend=DynamoDbCache("http_cache_rc", endpoint_url=...))``, on its own table;
- ``drop_in``: requests-cache's ``CachedSession`` over this project's ``DynamoDbCache``, as
  the README shows the drop-in (``CachedSession(backend=DynamoDbCache("http_cache", ...))``),
  memory tier off (``memory_cache_bytes=0``): a DynamoDB hit through requests-cache's session;
- ``ours_no_l1`` / ``ours_l1``: this project's session as ``@cached_http`` builds it
  (``build_session(CacheConfig.from_environment(...))``), without and with the memory tier;
- ``requests_cache_memory``: requests-cache's own memory backend,
  ``CachedSession(backend="memory", cache_control=True, ...)`` with the settings of
  ``ours_l1`` (expiry, methods, codes, ignored parameters), the yardstick for a memory hit;
- ``raw_get_item``: a plain boto3 client's ``get_item`` of the item ``ours_no_l1`` stored,
  the floor for a DynamoDB hit.

Latency is timed against the DynamoDB server directly. DynamoDB calls are counted in a separate,
shorter pass where the same constructions point at the counting proxy (a proxy in this process
would compete with the timed code for the interpreter).
"""

from __future__ import annotations

import cProfile
import logging
import pstats
import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from lambda_http_cache.item import item_size

from bench.bodies import Body
from bench.measure import read_units, summary_ms
from scripts.local_servers import DynamoDbProxy, dynamodb_client, environment

OURS_TABLE = "http_cache"
RC_TABLE = "http_cache_rc"
CACHED_VARIANTS = ("requests_cache", "drop_in", "ours_no_l1", "ours_l1", "requests_cache_memory")
SESSION_VARIANTS = ("no_cache", *CACHED_VARIANTS)
HIT_VARIANTS = (*CACHED_VARIANTS, "raw_get_item")
VARIANTS = (*SESSION_VARIANTS, "raw_get_item")
# The variants that read DynamoDB on a hit (the others answer from memory or not at all).
DYNAMODB_VARIANTS = ("requests_cache", "drop_in", "ours_no_l1")
LABELS = {
    "no_cache": "no cache (plain requests)",
    "requests_cache": "requests-cache DynamoDbCache (documented setup)",
    "drop_in": "requests-cache CachedSession over our DynamoDbCache (drop-in), no memory tier",
    "ours_no_l1": "lambda-http-cache, no memory tier",
    "ours_l1": "lambda-http-cache, memory tier (default)",
    "requests_cache_memory": "requests-cache memory backend, the same settings",
    "raw_get_item": "raw boto3 get_item of the same item",
}
NAMESPACES = {"ours_no_l1": "bench", "ours_l1": "bench-l1", "drop_in": "bench-drop-in"}
# Bounds on requests that cannot succeed, so a variant that fails or never hits does not set the
# run time (requests-cache takes over a second per failing 1 MB request): a variant stops after
# this many errors on a body, and stops repeating a URL that has not hit once in as many
# repeats as there were timed misses. What was skipped is counted in the results.
ERROR_CAP = 5
# Consecutive requests a variant makes before the next variant's turn.
BLOCK = 10


# Building the variants ------------------------------------------------------------------------


def build_session(variant: str, endpoint: str) -> Any:
    """The session of ``variant`` with its DynamoDB client pointed at ``endpoint``."""
    if variant == "no_cache":
        return requests.Session()
    if variant == "requests_cache":
        # As requests-cache's documentation shows; the endpoint is the local server.
        from requests_cache import CachedSession, DynamoDbCache

        return CachedSession(backend=DynamoDbCache(RC_TABLE, endpoint_url=endpoint))
    if variant == "drop_in":
        # The README's drop-in, on this project's table; the memory tier off so that a hit
        # reads DynamoDB (as ours_no_l1's does).
        from lambda_http_cache import DynamoDbCache as OurDynamoDbCache
        from requests_cache import CachedSession

        backend = OurDynamoDbCache(
            OURS_TABLE,
            namespace=NAMESPACES[variant],
            memory_cache_bytes=0,
            endpoint_url=endpoint,
        )
        return CachedSession(backend=backend)
    if variant == "requests_cache_memory":
        # requests-cache's memory backend with the settings @cached_http's session has by
        # default (the origin sends no Cache-Control: expire_after decides).
        from lambda_http_cache.config import CacheConfig
        from requests_cache import CachedSession

        defaults = CacheConfig()
        return CachedSession(
            backend="memory",
            cache_control=defaults.cache_control,
            expire_after=defaults.expire_after,
            allowable_methods=defaults.allowable_methods,
            allowable_codes=defaults.allowable_codes or (200,),
            ignored_parameters=defaults.ignored_parameters,
            match_headers=defaults.match_headers,
            stale_if_error=defaults.stale_if_error,
        )
    if variant in ("ours_no_l1", "ours_l1"):
        # What @cached_http does at import: build_session(CacheConfig.from_environment(...)).
        from lambda_http_cache.config import CacheConfig
        from lambda_http_cache.session import build_session as build_ours

        environ = {"HTTP_CACHE_TABLE": OURS_TABLE, "HTTP_CACHE_NAMESPACE": NAMESPACES[variant]}
        if variant == "ours_no_l1":
            environ["HTTP_CACHE_MEMORY_MB"] = "0"
        with environment({"AWS_ENDPOINT_URL_DYNAMODB": endpoint}):
            return build_ours(CacheConfig.from_environment(environ))
    raise ValueError(variant)


def table_key(session: Any, cache_key: str) -> str:
    """The table key under which this project's session stored ``cache_key``."""
    return str(session.cache.responses.table_key(cache_key))


# One request ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    seconds: float
    from_cache: bool = False
    identical: bool | None = None
    error: str | None = None
    cache_key: str | None = None


def get(session: Any, url: str, expected: bytes) -> Outcome:
    started = time.perf_counter()
    try:
        response = session.get(url, timeout=30)
        content = response.content
    except Exception as error:
        return Outcome(time.perf_counter() - started, error=f"{type(error).__name__}: {error}")
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        return Outcome(seconds, error=f"status {response.status_code}")
    return Outcome(
        seconds,
        from_cache=bool(getattr(response, "from_cache", False)),
        identical=content == expected,
        cache_key=getattr(response, "cache_key", None),
    )


def raw_get(client: Any, key: str) -> Outcome:
    started = time.perf_counter()
    try:
        answer = client.get_item(TableName=OURS_TABLE, Key={"key": {"S": key}})
    except Exception as error:
        return Outcome(time.perf_counter() - started, error=f"{type(error).__name__}: {error}")
    return Outcome(time.perf_counter() - started, from_cache="Item" in answer)


# Results -------------------------------------------------------------------------------------


class LogCapture(logging.Handler):
    """Keeps the distinct warnings and errors the libraries log (the reasons for misses)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages[f"{record.name}: {record.getMessage()}"[:240]] += 1

    def take(self) -> dict[str, int]:
        taken = dict(self.messages.most_common(3))
        self.messages.clear()
        return taken


@dataclass
class Samples:
    misses: list[Outcome] = field(default_factory=list)
    repeats: list[Outcome] = field(default_factory=list)
    log: Counter[str] = field(default_factory=Counter)
    skipped: int = 0

    @property
    def errors(self) -> int:
        return sum(1 for o in self.misses + self.repeats if o.error)

    def may_repeat(self, limit_without_hit: int) -> bool:
        """Whether another repeat is worth timing (see ERROR_CAP)."""
        if self.errors >= ERROR_CAP:
            return False
        hit = any(o.from_cache for o in self.repeats if not o.error)
        return hit or len(self.repeats) < limit_without_hit

    def result(self) -> dict[str, Any]:
        everything = self.misses + self.repeats
        failed = [o for o in everything if o.error]
        answered = [o for o in everything if not o.error]
        hits = [o for o in self.repeats if not o.error and o.from_cache]
        checked = [o for o in answered if o.identical is not None]
        return {
            "miss": summary_ms([o.seconds for o in self.misses if not o.error]),
            "hit": summary_ms([o.seconds for o in hits]),
            # Every repeated request of one URL, hit or not: what a repeat costs this variant.
            "repeat": summary_ms([o.seconds for o in self.repeats if not o.error]),
            "hit_ratio": round(len(hits) / len(self.repeats), 4) if self.repeats else None,
            "requests": len(everything),
            "errors": len(failed),
            "error_examples": sorted({o.error[:240] for o in failed if o.error})[:3],
            # How long the caller waited before the failure it saw.
            "failed": summary_ms([o.seconds for o in failed]),
            "skipped": self.skipped,
            "byte_identical": (all(o.identical for o in checked) if checked else None),
            "byte_mismatches": sum(1 for o in checked if not o.identical),
            "logged": dict(self.log.most_common(3)),
        }


# The timed pass --------------------------------------------------------------------------------


def timed_pass(
    body: Body,
    url_of: Callable[[str], str],
    sessions: dict[str, Any],
    raw_client: Any,
    *,
    misses: int,
    hits: int,
    seed: int,
    capture: LogCapture,
    block: int = BLOCK,
) -> tuple[dict[str, Samples], dict[str, Any]]:
    """Misses, then repeated requests of one URL. Variants take turns in blocks of ``block``
    consecutive requests, in a new shuffled order each round, so drift on the machine spreads
    over all of them while each request runs after its own variant's previous one (a turn of
    another variant leaves server-side work behind that would otherwise land on the next)."""
    rng = random.Random(seed)
    samples = {v: Samples() for v in VARIANTS}

    def note(variant: str) -> None:
        samples[variant].log.update(capture.take())

    def rounds(total: int) -> list[range]:
        return [range(start, min(start + block, total)) for start in range(0, total, block)]

    # Misses: a new URL each time (no_cache: every request is one).
    for indexes in rounds(misses):
        order = list(SESSION_VARIANTS)
        rng.shuffle(order)
        for variant in order:
            for index in indexes:
                if samples[variant].errors >= ERROR_CAP:
                    samples[variant].skipped += 1
                    continue
                url = url_of(f"{body.path}?case={variant}&miss={index}")
                samples[variant].misses.append(get(sessions[variant], url, body.content))
                note(variant)

    # Prime one URL per cached variant (a miss, untimed), then repeat it.
    stored: dict[str, Any] = {}
    for variant in CACHED_VARIANTS:
        outcome = get(sessions[variant], url_of(f"{body.path}?case={variant}&hit=1"), body.content)
        stored[variant] = outcome
        note(variant)
    key = stored["ours_no_l1"].cache_key
    raw_key = table_key(sessions["ours_no_l1"], key) if key else None
    drop_in_key = stored["drop_in"].cache_key
    drop_in_raw_key = table_key(sessions["drop_in"], drop_in_key) if drop_in_key else None
    for indexes in rounds(hits):
        order = list(HIT_VARIANTS)
        rng.shuffle(order)
        for variant in order:
            for _ in indexes:
                if variant == "raw_get_item":
                    if raw_key is not None:
                        samples[variant].repeats.append(raw_get(raw_client, raw_key))
                    continue
                if not samples[variant].may_repeat(misses):
                    samples[variant].skipped += 1
                    continue
                url = url_of(f"{body.path}?case={variant}&hit=1")
                samples[variant].repeats.append(get(sessions[variant], url, body.content))
                note(variant)
    return samples, {
        "ours_table_key": raw_key,
        "drop_in_table_key": drop_in_raw_key,
        "primed": stored,
    }


def stored_items(
    body: Body,
    direct: Any,
    ours_key: str | None,
    rc_cache_key: str | None,
    drop_in_key: str | None = None,
) -> dict[str, Any]:
    """The items each cache stored for the body, read back with a plain client."""
    items: dict[str, Any] = {}
    for variant, table, key in (
        ("ours", OURS_TABLE, ours_key),
        ("requests_cache", RC_TABLE, rc_cache_key),
        ("drop_in", OURS_TABLE, drop_in_key),
    ):
        item = None
        if key is not None:
            item = direct.get_item(TableName=table, Key={"key": {"S": key}}).get("Item")
        if item is None:
            items[variant] = {"stored": False}
            continue
        size = item_size(item)
        items[variant] = {
            "stored": True,
            "item_bytes": size,
            "read_units_eventual": read_units(size),
            "fraction_of_body": round(size / body.size, 4),
            "body_encoding": item.get("body_encoding", {}).get("S"),
            "attributes": len(item),
        }
    return items


# The counted pass ---------------------------------------------------------------------------


def _per_request(calls: Counter[str], requests_made: int) -> dict[str, float]:
    return (
        {op: round(n / requests_made, 3) for op, n in sorted(calls.items())}
        if requests_made
        else {}
    )


def counted_pass(
    bodies: list[Body],
    url_of: Callable[[str], str],
    proxy: DynamoDbProxy,
    *,
    misses: int,
    repeats: int,
) -> dict[str, Any]:
    """DynamoDB operations per construction, per miss and per repeated request, counted by the
    proxy every variant's client is pointed at."""
    result: dict[str, Any] = {"construction": {}, "bodies": {}}
    sessions = {}
    for variant in SESSION_VARIANTS:
        proxy.reset()
        started = time.perf_counter()
        sessions[variant] = build_session(variant, proxy.endpoint)
        result["construction"][variant] = {
            "calls": dict(proxy.calls),
            "ms": round((time.perf_counter() - started) * 1000, 2),
        }
    raw = dynamodb_client(proxy.endpoint)
    for body in bodies:
        per_body: dict[str, Any] = {}
        for variant in SESSION_VARIANTS:
            session = sessions[variant]
            proxy.reset()
            for index in range(misses):
                get(session, url_of(f"{body.path}?case={variant}&count-miss={index}"), body.content)
            per_miss = _per_request(Counter(proxy.calls), misses)
            url = url_of(f"{body.path}?case={variant}&count-hit=1")
            primed = get(session, url, body.content)
            proxy.reset()
            made = []
            for _ in range(repeats):
                made.append(get(session, url, body.content))
                if not any(o.from_cache for o in made) and len(made) >= misses:
                    break  # never hits: a few repeats show what each costs
            per_body[variant] = {
                "per_miss": per_miss,
                "per_repeat": _per_request(Counter(proxy.calls), len(made)),
                "repeats": len(made),
            }
            if variant == "ours_no_l1" and primed.cache_key:
                key = table_key(session, primed.cache_key)
                proxy.reset()
                for _ in range(repeats):
                    raw.get_item(TableName=OURS_TABLE, Key={"key": {"S": key}})
                per_body["raw_get_item"] = {
                    "per_miss": {},
                    "per_repeat": _per_request(Counter(proxy.calls), repeats),
                }
        result["bodies"][body.name] = per_body
    proxy.reset()
    return result


# Throughput ------------------------------------------------------------------------------


def run_threads(operation: Callable[[], bool], threads: int, duration: float) -> dict[str, Any]:
    """``threads`` threads calling ``operation`` (True for a hit) for ``duration`` seconds."""
    done = [0] * threads
    not_hits = [0] * threads
    errors = [0] * threads
    deadline = [0.0]
    barrier = threading.Barrier(threads + 1)

    def worker(index: int) -> None:
        barrier.wait()
        while time.perf_counter() < deadline[0]:
            try:
                hit = operation()
            except Exception:
                errors[index] += 1
                continue
            done[index] += 1
            not_hits[index] += not hit

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    started = time.perf_counter()
    deadline[0] = started + duration
    barrier.wait()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - started
    return {
        "requests": sum(done),
        "seconds": round(elapsed, 3),
        "per_second": round(sum(done) / elapsed, 1),
        "not_hits": sum(not_hits),
        "errors": sum(errors),
    }


def throughput(
    body: Body,
    url_of: Callable[[str], str],
    endpoint: str,
    *,
    threads: int,
    duration: float,
    rounds: int,
) -> dict[str, Any]:
    """Hits per second with ``threads`` threads sharing one session (or one client), rounds
    alternating between the variants."""
    ours = build_session("ours_no_l1", endpoint)
    ours_l1 = build_session("ours_l1", endpoint)
    raw = dynamodb_client(endpoint)
    url = url_of(f"{body.path}?case=throughput")
    primed = get(ours, url, body.content)
    get(ours_l1, url, body.content)
    assert primed.cache_key is not None, primed.error
    key = table_key(ours, primed.cache_key)

    def ours_hit() -> bool:
        return bool(ours.get(url, timeout=30).from_cache)

    def ours_l1_hit() -> bool:
        return bool(ours_l1.get(url, timeout=30).from_cache)

    def raw_hit() -> bool:
        return "Item" in raw.get_item(TableName=OURS_TABLE, Key={"key": {"S": key}})

    operations = {"ours_no_l1": ours_hit, "raw_get_item": raw_hit, "ours_l1": ours_l1_hit}
    for operation in operations.values():  # connections opened before timing
        run_threads(operation, threads, 0.2)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in operations}
    for _ in range(rounds):
        for name, operation in operations.items():
            runs[name].append(run_threads(operation, threads, duration))
    result: dict[str, Any] = {"body": body.name, "threads": threads, "variants": {}}
    for name, measured in runs.items():
        total = sum(r["requests"] for r in measured)
        seconds = sum(r["seconds"] for r in measured)
        result["variants"][name] = {
            "per_second": round(total / seconds, 1),
            "requests": total,
            "not_hits": sum(r["not_hits"] for r in measured),
            "errors": sum(r["errors"] for r in measured),
            "rounds": [r["per_second"] for r in measured],
        }
    return result


# Profiles ------------------------------------------------------------------------------------

PACKAGES = (
    "lambda_http_cache",
    "requests_cache",
    "botocore",
    "boto3",
    "urllib3",
    "requests",
    "cattrs",
    "url_normalize",
    "dateutil",
    "attr",
)


def _group(filename: str, function: str) -> str:
    if filename == "~":
        if any(word in function for word in ("socket", "select", "poll")):
            return "socket I/O (waiting for the server)"
        if "zlib" in function:
            return "zlib"
        return "builtins"
    path = filename.replace("\\", "/")
    for package in PACKAGES:
        if f"/{package}/" in path:
            return package
    if path.endswith("http/client.py"):
        return "http.client"
    if "/bench/" in path:
        return "benchmark loop"
    return "stdlib (other)"


def _short(filename: str, line: int, function: str) -> str:
    if filename == "~":
        return function
    path = filename.replace("\\", "/")
    for marker in ("site-packages/", "/layer/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{line}({function})"


def profile(operation: Callable[[], Any], requests_made: int) -> dict[str, Any]:
    """Where the time of ``operation`` goes: wall time per call without the profiler, then a
    cProfile of the same calls grouped by package, the top functions by own time and by
    cumulative time (microseconds per call)."""
    started = time.perf_counter()
    for _ in range(requests_made):
        operation()
    plain_us = (time.perf_counter() - started) / requests_made * 1e6
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests_made):
        operation()
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    groups: Counter[str] = Counter()
    rows = []
    for (filename, line, function), (_cc, calls, own, cumulative, _callers) in stats.items():
        groups[_group(filename, function)] += own
        rows.append((filename, line, function, calls, own, cumulative))
    total = sum(groups.values())
    per = 1e6 / requests_made

    def row(r: tuple[str, int, str, int, float, float]) -> dict[str, Any]:
        return {
            "function": _short(r[0], r[1], r[2]),
            "calls": round(r[3] / requests_made, 2),
            "own_us": round(r[4] * per, 1),
            "cumulative_us": round(r[5] * per, 1),
        }

    harness = ("profile", "<lambda>", "ours_hit", "raw_hit", "operation")
    cumulative = [r for r in rows if r[2] not in harness and "/bench/" not in r[0]]
    return {
        "requests": requests_made,
        "wall_us_per_request": round(plain_us, 1),
        "profiled_us_per_request": round(total * per, 1),
        "by_package": {
            name: {"us": round(t * per, 1), "share": round(t / total, 3)}
            for name, t in groups.most_common()
        },
        "top_own": [row(r) for r in sorted(rows, key=lambda r: -r[4])[:15]],
        "top_cumulative": [row(r) for r in sorted(cumulative, key=lambda r: -r[5])[:25]],
    }


def profiles(
    bodies: list[Body], url_of: Callable[[str], str], endpoint: str, requests_made: int
) -> dict[str, Any]:
    """Profiles of one hit of each kind on the small JSON and the 100 KB JSON bodies: the
    DynamoDB hits (ours, the drop-in, the raw get_item) and the memory hits (ours, requests-cache's
    memory backend; five times as many requests, as they are that much shorter)."""
    result = {}
    raw = dynamodb_client(endpoint)
    for body in bodies:
        if body.name not in ("small_json", "json_100k"):
            continue
        ours = build_session("ours_no_l1", endpoint)
        ours_l1 = build_session("ours_l1", endpoint)
        drop_in = build_session("drop_in", endpoint)
        rc_memory = build_session("requests_cache_memory", endpoint)
        url = url_of(f"{body.path}?case=profile")
        primed = get(ours, url, body.content)
        for other in (ours_l1, drop_in, rc_memory):
            get(other, url, body.content)
        assert primed.cache_key is not None, primed.error
        key = table_key(ours, primed.cache_key)
        for _ in range(5):
            for session in (ours, ours_l1, drop_in, rc_memory):
                session.get(url)
            raw.get_item(TableName=OURS_TABLE, Key={"key": {"S": key}})
        result[f"ours_no_l1/{body.name}"] = profile(lambda s=ours, u=url: s.get(u), requests_made)
        result[f"drop_in/{body.name}"] = profile(lambda s=drop_in, u=url: s.get(u), requests_made)
        result[f"raw_get_item/{body.name}"] = profile(
            lambda k=key: raw.get_item(TableName=OURS_TABLE, Key={"key": {"S": k}}),
            requests_made,
        )
        result[f"ours_l1/{body.name}"] = profile(
            lambda s=ours_l1, u=url: s.get(u), requests_made * 5
        )
        result[f"requests_cache_memory/{body.name}"] = profile(
            lambda s=rc_memory, u=url: s.get(u), requests_made * 5
        )
    return result


def _timed_blocks(
    steps: dict[str, Callable[[], Any]], requests_made: int, seed: int, block: int = BLOCK
) -> dict[str, float]:
    """Median wall time (microseconds) of each step, steps taking turns in blocks."""
    rng = random.Random(seed)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(max(1, requests_made // block)):
        order = list(steps)
        rng.shuffle(order)
        for name in order:
            for _ in range(block):
                started = time.perf_counter()
                steps[name]()
                times[name].append(time.perf_counter() - started)
    return {name: round(statistics.median(t) * 1e6, 1) for name, t in times.items()}


def hit_breakdown(
    bodies: list[Body], url_of: Callable[[str], str], endpoint: str, requests_made: int, seed: int
) -> dict[str, Any]:
    """Wall time of the pieces of a hit, each timed on its own without a profiler: the whole
    ``session.get``, the backend lookup alone (GetItem, decode, response object), the GetItem
    through the library's own client and through a default client, decoding the item, and
    building the response object. Uses the library's internals, so a piece that moved is
    reported as missing rather than failing the run."""
    from lambda_http_cache import item as item_format

    raw = dynamodb_client(endpoint)
    result: dict[str, Any] = {}
    for body in bodies:
        if body.name == "binary_64k":
            continue
        ours = build_session("ours_no_l1", endpoint)
        ours_l1 = build_session("ours_l1", endpoint)
        drop_in = build_session("drop_in", endpoint)
        rc_memory = build_session("requests_cache_memory", endpoint)
        url = url_of(f"{body.path}?case=breakdown")
        primed = get(ours, url, body.content)
        for other in (ours_l1, drop_in, rc_memory):
            get(other, url, body.content)
        if primed.cache_key is None:
            continue
        cache_key = primed.cache_key
        key = table_key(ours, cache_key)
        ddb_key = {"key": {"S": key}}
        stored = raw.get_item(TableName=OURS_TABLE, Key=ddb_key)["Item"]
        steps: dict[str, Callable[[], Any]] = {
            "whole hit: session.get (no L1)": lambda s=ours, u=url: s.get(u, timeout=30),
            "backend.get_response (GetItem + decode + response)": (
                lambda b=ours.cache, k=cache_key: b.get_response(k)
            ),
            "GetItem, default boto3 client": lambda k=ddb_key: raw.get_item(
                TableName=OURS_TABLE, Key=k
            ),
            "whole hit: session.get (L1)": lambda s=ours_l1, u=url: s.get(u, timeout=30),
            "backend.get_response (L1)": lambda b=ours_l1.cache, k=cache_key: b.get_response(k),
            "whole hit: drop-in CachedSession.get (no L1)": (
                lambda s=drop_in, u=url: s.get(u, timeout=30)
            ),
            "whole hit: requests-cache memory backend": (
                lambda s=rc_memory, u=url: s.get(u, timeout=30)
            ),
        }
        client = getattr(getattr(ours.cache, "table", None), "client", None)
        if client is not None:
            steps["GetItem, the library's client"] = lambda c=client, k=ddb_key: c.get_item(
                TableName=OURS_TABLE, Key=k, ConsistentRead=False
            )
        decode = getattr(item_format, "decode_entry", None)
        if decode is not None:
            try:
                entry = decode(stored)
                steps["decode_entry(item)"] = lambda d=decode, i=stored: d(i)
                steps["Entry.to_response()"] = lambda e=entry, k=cache_key: e.to_response(k)
            except Exception as error:  # the item format moved on
                result.setdefault("notes", []).append(f"decode_entry: {error!r}")
        for step in steps.values():  # connections and caches warm
            step()
        measured = _timed_blocks(steps, requests_made, seed)
        whole = measured["whole hit: session.get (no L1)"]
        lookup = measured["backend.get_response (GetItem + decode + response)"]
        measured["derived: session machinery around the lookup (no L1)"] = round(whole - lookup, 1)
        measured["derived: session machinery around the lookup (L1)"] = round(
            measured["whole hit: session.get (L1)"] - measured["backend.get_response (L1)"], 1
        )
        result[body.name] = measured
    return result


# The whole warm benchmark ----------------------------------------------------------------------


def run(
    bodies: list[Body],
    url_of: Callable[[str], str],
    moto_endpoint: str,
    proxy: DynamoDbProxy,
    *,
    misses: int,
    hits: int,
    count_misses: int,
    count_repeats: int,
    threads: int,
    throughput_seconds: float,
    throughput_rounds: int,
    profile_requests: int,
    seed: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    capture = LogCapture()
    for name in ("requests_cache", "lambda_http_cache", "botocore", "urllib3"):
        logger = logging.getLogger(name)
        logger.addHandler(capture)
        logger.propagate = False
    direct = dynamodb_client(moto_endpoint)

    # requests-cache's first construction, on a table that does not exist yet, counted.
    proxy.reset()
    started = time.perf_counter()
    build_session("requests_cache", proxy.endpoint)
    first_rc = {
        "calls": dict(proxy.calls),
        "ms": round((time.perf_counter() - started) * 1000, 2),
    }
    proxy.reset()
    capture.take()

    sessions = {variant: build_session(variant, moto_endpoint) for variant in SESSION_VARIANTS}
    # Connections opened and code paths warmed before anything is timed.
    for variant, session in sessions.items():
        for index in range(3):
            get(session, url_of(f"/warmup.json?case={variant}&i={index % 2}"), b"")
    capture.take()

    latency: dict[str, Any] = {}
    for body in bodies:
        progress(f"latency: {body.name} ({body.size:,} bytes)")
        samples, info = timed_pass(
            body,
            url_of,
            sessions,
            direct,
            misses=misses,
            hits=hits,
            seed=seed,
            capture=capture,
        )
        rc_key = info["primed"]["requests_cache"].cache_key
        latency[body.name] = {
            "body_bytes": body.size,
            "description": body.description,
            "variants": {variant: samples[variant].result() for variant in VARIANTS},
            "items": stored_items(
                body, direct, info["ours_table_key"], rc_key, info["drop_in_table_key"]
            ),
        }
        # The raw client reads an item; there is no response body to compare.
        latency[body.name]["variants"]["raw_get_item"]["byte_identical"] = None
    progress("DynamoDB calls, counted through the proxy")
    calls = counted_pass(bodies, url_of, proxy, misses=count_misses, repeats=count_repeats)
    calls["construction_first_time"] = {"requests_cache": first_rc}
    capture.take()
    small = next(b for b in bodies if b.name == "small_json")
    progress(f"throughput: {threads} threads, {throughput_rounds} x {throughput_seconds} s each")
    rate = throughput(
        small,
        url_of,
        moto_endpoint,
        threads=threads,
        duration=throughput_seconds,
        rounds=throughput_rounds,
    )
    progress("profiles of the hit path")
    profiled = profiles(bodies, url_of, moto_endpoint, profile_requests)
    progress("the pieces of a hit, timed one by one")
    pieces = hit_breakdown(bodies, url_of, moto_endpoint, profile_requests, seed)
    return {
        "latency": latency,
        "calls": calls,
        "throughput": rate,
        "profiles": profiled,
        "hit_breakdown_us": pieces,
    }
