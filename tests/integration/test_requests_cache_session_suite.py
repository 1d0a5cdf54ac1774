"""requests-cache's own session tests (``tests/unit/test_session.py`` of requests-cache 1.3.3,
from its sdist: see requests_cache_suite.py beside this file) run against this project's
session, ``CachedHttpSession`` (the session its decorator builds), over this project's
``DynamoDbCache`` on the local DynamoDB server. Their requests go to requests-mock's adapter,
as in requests-cache's own runs. How the session is built, and the one thing the harness
changes (requests-mock's adapter counts as a plain transport): the harness module,
requests_cache_session_harness.py. What fails, and why: ``EXPECTED_FAILURES`` below.

Their 13 tests that travel in time need time-machine (not in the test extra): without it they
are skipped, with the reason."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from scripts.local_servers import MotoServer, create_cache_table, dynamodb_client
from tests.integration.requests_cache_suite import SuiteUnavailable, load_session_tests

# requests-cache's conftest and tests import it, and it stands for the network here.
pytest.importorskip(
    "requests_mock", reason="requests-mock (in the test extra of pyproject.toml) is not installed"
)

try:
    suite = load_session_tests()
except SuiteUnavailable as error:
    pytest.skip(f"requests-cache's test suite is unavailable: {error}", allow_module_level=True)

from tests.integration.requests_cache_session_harness import (
    TABLE,
    SuiteSession,
    make_session,
)

# The tests' own CachedSession(...) calls build this project's session (through make_session).
suite.CachedSession = SuiteSession  # type: ignore[attr-defined]
# The tests, collected here as this module's.
globals().update({name: value for name, value in vars(suite).items() if name.startswith("test_")})


@pytest.fixture(scope="module", autouse=True)
def local_dynamodb(moto_server: MotoServer) -> Iterator[None]:
    """The caches reach the local DynamoDB server through boto3's own endpoint setting; their
    table is made once (each session has a namespace of its own in it)."""
    client = dynamodb_client(moto_server.endpoint)
    if TABLE not in client.list_tables()["TableNames"]:
        create_cache_table(client, TABLE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_server.endpoint)
        yield


@pytest.fixture
def mock_session() -> Iterator[Any]:
    """requests-cache's ``mock_session`` (its conftest's ``tempfile_session`` with requests-mock's
    adapter mounted), as this project's session: see make_session."""
    session = make_session(allowable_methods=suite.ALL_METHODS)
    yield session
    session.close()


# requests-cache's tests that travel in time do it with time-machine, an optional dependency
# of theirs: without it their conftest's time_travel does nothing, and those tests could not
# mean what they say.
TIME_TRAVEL = suite.time_travel is not contextlib.nullcontext
TRAVELLING = frozenset(
    name
    for name, value in vars(suite).items()
    if name.startswith("test_") and "time_travel" in value.__code__.co_names
)


# Reasons shared by several tests.
_ONLY_DYNAMODB = (
    "deviation: the session's one backend is the DynamoDB cache; a backend given by name is"
    " the table of that name, so there is no registry of requests-cache's backends to reject"
    " a name or to import a backend's dependency, and no filesystem cache_dir"
)
_WIRE_KEYS = (
    "deviation: a key covers the request as it goes on the wire (keys.py): query parameters in"
    " their order and the body's bytes, since an origin may answer them differently;"
    " requests-cache normalises both"
)
_IGNORED_ARE_CREDENTIALS = (
    "deviation: ignored_parameters are credentials to this cache (sharing.py): their values"
    " partition the key through its keyed hash, so requests that differ only in them are not"
    " served each other's responses"
)
_NOTHING_REDACTED = (
    "deviation: a cached response carries the caller's own request and URL, as sent (never a"
    " stored copy), and nothing of a credential is stored, so there is no 'REDACTED'"
    " placeholder"
)
_STALE_ON_5XX = (
    "deviation: stale_if_error serves the stored response for an exception or a 5xx answer of"
    " the origin only (RFC 5861, 4); a 404 outside allowable_codes is the origin's answer and"
    " is returned as such (requests-cache serves its stale copy, or past the window raises"
    " HTTPError)"
)
_CACHE_NEVER_FAILS = (
    "deviation: the cache never fails a request: a failing write returns the origin's answer"
    " uncached (counted, logged) instead of raising"
)
_NO_SERIALIZER = (
    "deviation: patches requests-cache internals the cache does not have: items are in this"
    " project's own format, with no cache.responses.serializer (an unreadable item is a miss,"
    " docs/concepts/failure-modes.md, 'Every read decodes inside the never-raise rule')"
)

# The suite's tests this session fails, by test name (every parameter) or node name (one), with
# why: "deviation: ..." for what this project does differently on purpose (see
# docs/concepts/shared-cache.md), "defect: ..." for a bug of the library still to be fixed.
# Strict: a test that starts passing fails the run, so the list stays true.
EXPECTED_FAILURES = {
    # Construction
    "test_init_unregistered_backend": _ONLY_DYNAMODB,
    "test_init_cache_path_expansion": _ONLY_DYNAMODB,
    "test_init_missing_backend_dependency": _ONLY_DYNAMODB,
    # Keys
    "test_response_defaults": (
        "deviation: keys are this project's (keys.py: the request on the wire, its transport,"
        " a keyed hash of its credentials and body), not requests-cache's hash, which the test"
        " compares with (requests-cache's own session misses it too with this requests, whose"
        " default headers its hash covers); its other checks pass"
    ),
    "test_verify": (
        "deviation: a CA bundle is part of the transport the key accounts for (keys.py), so"
        " verify='/path/to/cert' is not verify=True"
    ),
    "test_normalize_params": _WIRE_KEYS,
    "test_normalize_params__serialized_body": _WIRE_KEYS,
    "test_normalize_params__url": _WIRE_KEYS,
    "test_all_methods__ignored_parameters__not_matched": _IGNORED_ARE_CREDENTIALS,
    "test_all_methods__ignored_parameters__redacted": _NOTHING_REDACTED,
    "test_default_ignored_parameters": _NOTHING_REDACTED,
    # Redirects, hooks
    "test_response_history": (
        "deviation: a redirect is stored as a response of its own, under its URL's key, and no"
        " redirect alias is written (cache.redirects stays empty); its other checks pass"
    ),
    "test_hooks": (
        "deviation: a request with response hooks of its own is sent around the cache (counted"
        " 'unkeyed'): requests runs them on the origin's answer before it is stored, so they"
        " could shape what another caller is served"
    ),
    # Freshness and errors
    "test_stale_if_error__max_stale": _STALE_ON_5XX,
    "test_stale_if_error__error_code": _STALE_ON_5XX,
    "test_expired_request_error": _CACHE_NEVER_FAILS,
    "test_stale_if_error__exception": _CACHE_NEVER_FAILS,
    "test_304_not_modified[304-True-True-True]": (
        "deviation: only a 304 to the cache's own validators confirms a stored response (RFC"
        " 9111, 4.3.4); this one has none, so the 304 is the origin's answer to an"
        " unconditional request and is returned (requests-cache serves its stale copy)"
    ),
    "test_invalid_expiration": (
        "deviation: an expire_after that is no expiration (a string that is no HTTP date, any"
        " other object) is read as RFC 9111 reads an invalid Expires, already stale, instead"
        " of raising: nothing of the cache's decisions raises into a request"
        " (core/expiration.py)"
    ),
    # requests-cache's internals
    "test_cache_error": _NO_SERIALIZER,
    "test_unpickle_errors": _NO_SERIALIZER,
    "test_stale_while_revalidate": (
        "deviation: patches requests-cache internals the session does not have"
        " (CachedSession._resend_async; a stale response is refreshed after the response"
        " through the session's after_response queue)"
    ),
    "test_send_and_cache__already_cached": (
        "deviation: calls requests-cache internals: _send_and_cache() with requests-cache's"
        " CacheActions, where this session's takes its core's Plan"
    ),
}


@pytest.fixture(autouse=True)
def expected_failure(request: pytest.FixtureRequest) -> None:
    node = request.node
    if node.originalname in TRAVELLING and not TIME_TRAVEL:
        pytest.skip("travels in time with time-machine, which is not installed")
    reason = EXPECTED_FAILURES.get(node.name) or EXPECTED_FAILURES.get(node.originalname)
    if reason is not None:
        node.add_marker(pytest.mark.xfail(strict=True, reason=reason))
