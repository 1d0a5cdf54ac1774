"""`make demo`: the example function run locally the way Lambda runs it.

Starts a local DynamoDB server and a local catalogue API (with a realistic delay), creates
the `http_cache` table with the schema the CDK stack declares, imports the handler once
(the cold start), invokes it several times, then starts a second "container" to show that
entries are shared through the table, and last shows a stale entry served at once and
refreshed after the response (stale-while-revalidate). Stops everything it started.

Both "containers" run in this process, which has imported the library already: the init time
shown for each is measured in a new Python process importing the handler module, as Lambda's
init phase does.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from scripts.local_servers import (
    LOCAL_CREDENTIALS,
    TABLE_NAME,
    MotoServer,
    OriginServer,
    create_cache_table,
    dynamodb_client,
    environment,
)

HANDLER = Path(__file__).resolve().parent.parent / "functions" / "catalog" / "handler.py"
ORIGIN_DELAY = 0.12  # seconds per API call: a typical third-party API round trip
PRODUCTS = {
    i: {"id": i, "name": name, "price": price, "stock": stock, "rating": rating}
    for i, (name, price, stock, rating) in enumerate(
        [
            ("Espresso beans 1 kg", 24.5, 130, 4.7),
            ("Oat milk 1 l", 2.49, 800, 4.2),
            ("Ceramic mug", 12.0, 54, 4.9),
            ("Pour-over kettle", 59.95, 12, 4.6),
            ("Paper filters x100", 4.75, 1000, 4.4),
            ("Burr grinder", 139.0, 7, 4.8),
        ],
        start=1,
    )
}
BASKETS = [[1, 2, 3], [1, 2, 4], [3, 5, 6], [1, 2, 3], [6, 5, 4, 3, 2, 1]]
# A product whose price the API marks fresh for 1 s, then usable stale for 60 s while the
# cache refreshes it (stale-while-revalidate).
FEATURED = 7
FEATURED_HEADERS = {
    "Content-Type": "application/json",
    "Cache-Control": "max-age=1, stale-while-revalidate=60",
}


# Run by a new Python process: the time to import the handler module from scratch (the library,
# requests, boto3, and the session the decorator builds), as Lambda's init phase does.
FRESH_INIT = """
import importlib.util, sys, time
assert "lambda_http_cache" not in sys.modules
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print((time.perf_counter() - started) * 1000)
"""


def fresh_init_ms() -> float:
    """Milliseconds a new Python process takes to import the handler module (with this
    process's environment: the local table and API)."""
    result = subprocess.run(
        [sys.executable, "-c", FRESH_INIT, str(HANDLER)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def plural(count: int, singular: str, plural: str | None = None) -> str:
    """``1 hit``, ``2 hits``, ``0 misses``."""
    if count == 1:
        return f"1 {singular}"
    return f"{count} {plural or singular + 's'}"


def calls_in_words(cache: dict[str, int]) -> str:
    """An invocation's cache hits and misses, in words."""
    return f"{plural(cache['hits'], 'hit')}, {plural(cache['misses'], 'miss', 'misses')}"


def load_handler(name: str) -> ModuleType:
    """Import the handler module as Lambda does at a container's init phase."""
    spec = importlib.util.spec_from_file_location(name, HANDLER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lambda_context(request_id: str) -> Any:
    return SimpleNamespace(
        function_name="catalog",
        aws_request_id=request_id,
        memory_limit_in_mb=128,
        get_remaining_time_in_millis=lambda: 30_000,
    )


def metrics_document(printed: str) -> dict[str, Any] | None:
    """The invocation's embedded-metric-format document, if it printed one."""
    for line in printed.splitlines():
        if line.startswith("{") and "_aws" in line:
            return json.loads(line)  # type: ignore[no-any-return]
    return None


def metric_total(printed: str, name: str) -> float:
    document = metrics_document(printed) or {}
    values = document.get(name, [])
    return float(sum(values if isinstance(values, list) else [values]))


def metrics_line(printed: str) -> str:
    """The invocation's embedded-metric-format document, in short."""
    document = metrics_document(printed)
    if document is None:
        return "(none)"
    names = [m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    shown = []
    for name in names:
        values = document[name] if isinstance(document[name], list) else [document[name]]
        if name.endswith("Latency"):
            shown.append(f"{name} {len(values)}x~{statistics.median(values):.1f}ms")
        elif sum(values):
            shown.append(f"{name}={sum(values):g}")
    return ", ".join(shown)


def show_metrics(printed: str, refresh_queued_by: int | None) -> None:
    """The invocation's metrics; and, when they count a refresh, where it comes from."""
    print(f"      metrics: {metrics_line(printed)}")
    if metric_total(printed, "CacheRefreshes") and refresh_queued_by is not None:
        print(
            f"      (CacheRefreshes and its OriginLatency: invocation {refresh_queued_by}'s "
            "refresh, which ran after its response, so it is counted in the next invocation's "
            "metrics)"
        )


def main() -> None:
    totals = {"calls": 0, "hits": 0, "misses": 0}
    with MotoServer() as dynamodb, OriginServer(delay=ORIGIN_DELAY) as origin:
        for product_id, product in PRODUCTS.items():
            origin.route(f"/products/{product_id}", json.dumps(product))
        featured = {"id": FEATURED, "name": "Featured blend 250 g", "price": 9.5}
        origin.route(f"/products/{FEATURED}", json.dumps(featured), FEATURED_HEADERS)
        create_cache_table(dynamodb_client(dynamodb.endpoint), TABLE_NAME)
        print(f"local DynamoDB at {dynamodb.endpoint}, table {TABLE_NAME!r}")
        print(f"local catalogue API at {origin.url('')} ({ORIGIN_DELAY * 1000:.0f} ms a call)")
        env = {
            **LOCAL_CREDENTIALS,
            "AWS_ENDPOINT_URL_DYNAMODB": dynamodb.endpoint,
            "AWS_LAMBDA_FUNCTION_NAME": "catalog",
            "HTTP_CACHE_TABLE": TABLE_NAME,
            "CATALOG_API_URL": origin.url(""),
        }
        with environment(env):
            invocation = 0
            module = None
            for container, baskets in (("A", BASKETS), ("B", BASKETS[:2])):
                init_ms = fresh_init_ms()
                module = load_handler(f"catalog_handler_{container}")
                print(
                    f"\ncontainer {container}: init {init_ms:.0f} ms (the handler module "
                    "imported by a new Python process, as Lambda's init does)"
                )
                for basket in baskets:
                    invocation += 1
                    printed = io.StringIO()
                    with contextlib.redirect_stdout(printed):  # Lambda sends stdout to logs
                        result = module.handler(
                            {"product_ids": basket}, lambda_context(f"req-{invocation}")
                        )
                    cache = result["cache"]
                    calls = cache["hits"] + cache["misses"]
                    totals["calls"] += calls
                    totals["hits"] += cache["hits"]
                    totals["misses"] += cache["misses"]
                    print(
                        f"  invocation {invocation}: {plural(calls, 'API call')}, "
                        f"{calls_in_words(cache)}, {result['elapsed_ms']:7.1f} ms; "
                        f"basket total: ${result['total']:.2f}"
                    )
                    show_metrics(printed.getvalue(), refresh_queued_by=None)
            assert module is not None
            refreshes = stale_while_revalidate(module, origin, totals, invocation)
        origin_calls = sum(origin.hits.values())
    uncached_ms = totals["calls"] * ORIGIN_DELAY * 1000
    print(
        f"\nsummary: {totals['calls']} API calls made by the function, {totals['hits']} served "
        f"from the cache, {totals['misses']} from the API; the API saw {origin_calls} requests "
        f"(without the cache: {totals['calls']}, at least {uncached_ms:.0f} ms of waiting); "
        f"{refreshes} more refreshed a stale entry after the response."
    )
    if totals["hits"] == 0 or origin_calls != totals["misses"] + refreshes:
        raise SystemExit("demo failed: the cache did not serve what it stored")
    if refreshes != 1:
        raise SystemExit("demo failed: the stale entry was not refreshed after the response")


def stale_while_revalidate(
    module: ModuleType, origin: OriginServer, totals: dict[str, int], invocation: int
) -> int:
    """Container B asks three times for the featured product: a miss; once its second of
    freshness has run out, the stale entry, served at once while the refresh runs after the
    response; then the refreshed entry. Returns how many refreshes reached the API."""
    path = f"/products/{FEATURED}"
    print(f"\nstale-while-revalidate (the API marks product {FEATURED} fresh for 1 s):")
    misses = 0
    stale_served_by: int | None = None
    for step in ("first call", "1 s later", "right after"):
        if step == "1 s later":
            time.sleep(1.1)
        before = origin.hits[path]
        invocation += 1
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            result = module.handler(
                {"product_ids": [FEATURED]}, lambda_context(f"req-{invocation}")
            )
        cache = result["cache"]
        misses += cache["misses"]
        totals["calls"] += 1
        totals["hits"] += cache["hits"]
        totals["misses"] += cache["misses"]
        print(
            f"  invocation {invocation} ({step}): {calls_in_words(cache)}, "
            f"{result['elapsed_ms']:7.1f} ms"
        )
        show_metrics(printed.getvalue(), refresh_queued_by=stale_served_by)
        if metric_total(printed.getvalue(), "CacheStaleServed"):
            stale_served_by = invocation
        if step == "1 s later":
            # Outside Lambda the refresh runs on a thread (in Lambda, in the cache's internal
            # extension, before the invocation ends): wait until the API has answered it.
            deadline = time.monotonic() + 5
            while origin.hits[path] == before and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(ORIGIN_DELAY + 0.2)
            print("      the stale price was served at once; the API was called after the response")
    return origin.hits[path] - misses


if __name__ == "__main__":
    main()
