"""`make demo`: the example function run locally the way Lambda runs it.

Starts a local DynamoDB server and a local catalogue API (with a realistic delay), creates
the `http_cache` table with the schema the CDK stack declares, imports the handler once
(the cold start), invokes it several times, then starts a second "container" to show that
entries are shared through the table, and last shows a stale entry served at once and
refreshed after the response (stale-while-revalidate). Stops everything it started.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import statistics
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


def metrics_line(printed: str) -> str:
    """The invocation's embedded-metric-format document, in short."""
    for line in printed.splitlines():
        if line.startswith("{") and "_aws" in line:
            document = json.loads(line)
            names = [m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
            shown = []
            for name in names:
                values = document[name] if isinstance(document[name], list) else [document[name]]
                if name.endswith("Latency"):
                    shown.append(f"{name} {len(values)}x~{statistics.median(values):.1f}ms")
                elif sum(values):
                    shown.append(f"{name}={sum(values):g}")
            return ", ".join(shown)
    return "(none)"


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
                started = time.perf_counter()
                module = load_handler(f"catalog_handler_{container}")
                init_ms = (time.perf_counter() - started) * 1000
                what = "import + session" if container == "A" else "session; modules already loaded"
                print(f"\ncontainer {container}: init ({what}) {init_ms:.0f} ms")
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
                        f"  invocation {invocation}: {calls} calls, {cache['hits']} hits, "
                        f"{cache['misses']} misses, {result['elapsed_ms']:7.1f} ms, "
                        f"total {result['total']}"
                    )
                    print(f"      metrics: {metrics_line(printed.getvalue())}")
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
            f"  invocation {invocation} ({step}): {cache['hits']} hits, {cache['misses']} misses, "
            f"{result['elapsed_ms']:7.1f} ms"
        )
        print(f"      metrics: {metrics_line(printed.getvalue())}")
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
