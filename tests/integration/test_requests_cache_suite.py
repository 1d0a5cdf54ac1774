"""requests-cache's own backend test suite (``BaseCacheTest`` of requests-cache 1.3.3, from
its sdist: see requests_cache_suite.py beside this file) run against this project's
``DynamoDbCache`` on the local DynamoDB server, the way requests-cache runs it against its
own ``DynamoDbCache`` (its tests/integration/test_dynamodb.py). Its HTTP requests go to a
local httpbin and to requests-mock adapters. What fails, and why: ``EXPECTED_FAILURES``
below, and docs/reference/drop-in.md.

``REQUESTS_CACHE_SUITE_REFERENCE=1`` adds the same suite against requests-cache's own
``DynamoDbCache``, for comparison (not run by ``make test``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import ClassVar

import pytest
from lambda_http_cache import DynamoDbCache

from scripts.local_servers import MotoServer, create_cache_table, dynamodb_client
from tests.integration.requests_cache_suite import (
    SuiteUnavailable,
    load_base_cache_test,
    local_httpbin,
)

try:
    suite = load_base_cache_test()
except SuiteUnavailable as error:
    pytest.skip(f"requests-cache's test suite is unavailable: {error}", allow_module_level=True)


@pytest.fixture(scope="module", autouse=True)
def local_servers(moto_server: MotoServer) -> Iterator[None]:
    """The backends reach the local DynamoDB server through boto3's own endpoint setting, and
    the suite's ``httpbin()`` URLs the local httpbin (both also in forked workers)."""
    with local_httpbin() as httpbin_url, pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_server.endpoint)
        patch.setenv("HTTPBIN_URL", httpbin_url)
        yield


@pytest.fixture(scope="class", autouse=True)
def cache_table(moto_server: MotoServer) -> None:
    """A new table per class, named as the suite names it (``pytest_cache``); within a class
    the suite's own ``init_session(clear=True)`` empties it before each test."""
    client = dynamodb_client(moto_server.endpoint)
    name = suite.CACHE_NAME
    if name in client.list_tables()["TableNames"]:
        client.delete_table(TableName=name)
    create_cache_table(client, name)


# The suite's tests this backend fails, by test name (every parameter) or node name (one), with
# why: "deviation: ..." for what this project does differently on purpose (see
# docs/concepts/shared-cache.md), "defect: ..." for a bug of the library still to be fixed.
# Strict: a test that starts passing fails the run, so the list stays true.
EXPECTED_FAILURES = {
    "test_response_no_duplicate_read": (
        "deviation: a read goes through the backend's own lookup (memory tier, then one"
        " GetItem), not through the storage's __getitem__, whose calls the test counts"
    ),
    "test_delete__expired": (
        "deviation: a redirected response is stored under the key of the URL the chain ended"
        " at (here the same as the direct request's), and delete() leaves redirect aliases,"
        " which expire with their target, instead of pruning them"
    ),
    **{
        f"test_conditional_request[cached_response_headers{case}-True]": (
            "deviation: save_response() of a response fetched outside the session keys it as"
            " its URL's own response (its request followed no redirect); requests-cache's"
            " session keys a request that follows redirects apart, so it does not find it"
            " (see 'A redirect is a response' in docs/concepts/shared-cache.md)"
        )
        for case in (1, 2, 3)
    },
    "test_filter_request_headers": (
        "deviation: credentials are not stored at all rather than replaced by 'REDACTED'; of"
        " the request's headers only those named by Vary are stored"
    ),
    "test_filter_request_query_parameters": (
        "deviation: credential parameters are removed from stored URLs rather than replaced"
        " by 'REDACTED'"
    ),
    "test_filter_request_post_data": (
        "deviation: request bodies are not stored (they only partition the key, hashed)"
    ),
}


class TestDynamoDbCache(suite.BaseCacheTest):
    backend_class = DynamoDbCache
    # requests-cache passes its endpoint and credentials as keywords; here the endpoint comes
    # from AWS_ENDPOINT_URL_DYNAMODB (above), the credentials and region from the test session.
    init_kwargs: ClassVar[dict[str, object]] = {}

    @pytest.fixture(autouse=True)
    def expected_failure(self, request: pytest.FixtureRequest) -> None:
        node = request.node
        reason = EXPECTED_FAILURES.get(node.name) or EXPECTED_FAILURES.get(node.originalname)
        if reason is not None:
            node.add_marker(pytest.mark.xfail(strict=True, reason=reason))


if os.environ.get("REQUESTS_CACHE_SUITE_REFERENCE") == "1":
    from requests_cache.backends import DynamoDbCache as RequestsCacheDynamoDbCache

    class TestRequestsCacheDynamoDbCache(suite.BaseCacheTest):
        backend_class = RequestsCacheDynamoDbCache
        init_kwargs: ClassVar[dict[str, object]] = {}
