"""`make demo`: the example function run locally the way Lambda runs it.

Starts a local DynamoDB server and a local catalogue API (with a realistic delay), creates
the `http_cache` table with the schema the CDK stack declares, imports the handler once
(the cold start), invokes it several times, then starts a second "container" to show that
entries are shared through the table. Stops everything it started.
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
        origin_calls = sum(origin.hits.values())
    uncached_ms = totals["calls"] * ORIGIN_DELAY * 1000
    print(
        f"\nsummary: {totals['calls']} API calls made by the function, {totals['hits']} served "
        f"from the cache, {totals['misses']} from the API; the API saw {origin_calls} requests "
        f"(without the cache: {totals['calls']}, at least {uncached_ms:.0f} ms of waiting)."
    )
    if totals["hits"] == 0 or origin_calls != totals["misses"]:
        raise SystemExit("demo failed: the cache did not serve what it stored")


if __name__ == "__main__":
    main()
