"""What the decorator's path loads: only what it uses. requests-cache (and its serializers,
cattrs, attrs models, SQLite backend, url-normalize, platformdirs) costs most of a cold start
and the decorator's session uses none of it; the requests-cache backend loads it on first use.
Counted in a new interpreter, since this one has loaded everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys

# What the decorator's path must never load.
HEAVY = ("requests_cache", "cattrs", "attrs", "attr", "sqlite3", "platformdirs", "url_normalize")

BUILD_SESSION = """
import json, sys
from lambda_http_cache import CacheConfig, cached_http
from lambda_http_cache.session import build_session

@cached_http(expire_after=60)
def handler(event, context, session):
    return session

session = build_session(CacheConfig.from_environment({"HTTP_CACHE_TABLE": "http_cache"}))
session.cache.contains(url="http://127.0.0.1:9/")  # a read: a miss, loading what reads load
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def _modules(script: str) -> set[str]:
    environment = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    # No network here: contains() of an unreachable table is a counted miss, never an error.
    environment["AWS_ENDPOINT_URL_DYNAMODB"] = "http://127.0.0.1:9"
    environment.setdefault("AWS_ACCESS_KEY_ID", "testing")
    environment.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    output = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
        timeout=120,
    ).stdout
    return set(json.loads(output.strip().splitlines()[-1]))


def test_the_decorators_path_loads_no_requests_cache_and_no_serializers() -> None:
    loaded = _modules(BUILD_SESSION)
    assert "lambda_http_cache" in loaded and "requests" in loaded
    assert not loaded & set(HEAVY)


def test_the_requests_cache_backend_loads_it_when_used() -> None:
    loaded = _modules(
        "import json, sys\n"
        "from lambda_http_cache import DynamoDbCache\n"
        "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules})))\n"
    )
    assert "requests_cache" in loaded


def test_the_core_imports_no_http_client_and_no_aws_sdk() -> None:
    """The rules are pure: the core runs without requests, boto3 or botocore (so another
    client, httpx, can use it), and reads no clock (every time is an argument)."""
    loaded = _modules(
        "import json, sys\n"
        "import lambda_http_cache.core.rules, lambda_http_cache.core.sharing\n"
        "import lambda_http_cache.core.freshness, lambda_http_cache.core.fields\n"
        "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules})))\n"
    )
    assert not loaded & {"requests", "boto3", "botocore", "urllib3", "requests_cache"}
