"""The cache on every Lambda execution model, under AWS's runtime interface client.

Each test runs a function module in its own process under ``awslambdaric`` (4.2.2, as the
Python runtimes ship it) against a local stand-in for Lambda's Runtime and Extensions APIs
(tests/runtime_api.py), the local origin and the local DynamoDB server:

- on demand: a refresh queued by an invocation starts only once the runtime has posted that
  invocation's response, and ends before the invocation does;
- Lambda Managed Instances: the runtime's worker processes each build their own session and
  share entries through the table; refreshes run on threads, no extension registers and
  nothing is warned;
- SnapStart: after the restore, new connections, new random numbers, a new lease owner;
- tenant isolation: the tenant partitions the cache, unless ``share_across_tenants``.

Order and counts are pinned, never timings.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from lambda_http_cache import after_response
from lambda_http_cache.after_response import AfterResponse

from scripts.local_servers import LOCAL_CREDENTIALS, DynamoDbProxy, OriginServer, Route, SeenRequest
from tests.runtime_api import FunctionProcess, RuntimeApi, Timeline, runtime_folder

JSON = "application/json"
# How long an invocation's outer wrapper holds the response back, at most, for a refresh
# started too early to reach the origin first (it never does: the wait runs out).
HOLD_SECONDS = 1.0


@pytest.fixture(scope="module")
def runtime() -> Path:
    try:
        return runtime_folder()
    except Exception as error:  # the registry unreachable, no wheel for this Python...
        pytest.skip(f"the runtime interface client could not be installed: {error!r}")


@pytest.fixture
def timeline() -> Timeline:
    return Timeline()


@pytest.fixture
def environ(table_name: str, proxy: DynamoDbProxy, tmp_path: Path) -> dict[str, str]:
    """What Lambda gives a function's process, pointed at the local servers; nothing of this
    shell's environment."""
    home = tmp_path / "home"
    home.mkdir()
    return {
        **LOCAL_CREDENTIALS,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "AWS_LAMBDA_FUNCTION_NAME": "execution-models",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_ENDPOINT_URL_DYNAMODB": proxy.endpoint,
        "HTTP_CACHE_TABLE": table_name,
        # Generous bounds: a loaded machine's slow answer must not turn a hit into a miss.
        "HTTP_CACHE_CONNECT_TIMEOUT": "10",
        "HTTP_CACHE_READ_TIMEOUT": "10",
        "HTTP_CACHE_METRICS": "false",
    }


def function(tmp_path: Path, source: str) -> Path:
    """A function's folder holding ``source`` as ``app.py``."""
    folder = tmp_path / "function"
    folder.mkdir()
    (folder / "app.py").write_text(textwrap.dedent(source))
    return folder


def counted(
    origin: OriginServer,
    timeline: Timeline,
    path: str,
    cache_control: str | Callable[[int], str],
    then: Callable[[int], None] | None = None,
) -> str:
    """A route answering ``{"answer": n}`` for its n-th request (with ``cache_control``, or
    what it gives for n), marking each request's arrival on the timeline (then calling
    ``then(n)``); its URL."""
    answers = itertools.count(1)

    def respond(request: SeenRequest) -> Route:
        timeline.mark("origin", path)
        answer = next(answers)
        if then is not None:
            then(answer)
        body = json.dumps({"answer": answer}).encode()
        control = cache_control if isinstance(cache_control, str) else cache_control(answer)
        return Route(body, {"Content-Type": JSON, "Cache-Control": control})

    return origin.respond(path, respond)


def wait_until(condition: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


ON_DEMAND = f"""
import os
import time

from lambda_http_cache import cached_http

URL = os.environ["TEST_URL"]
GATE = os.environ["TEST_GATE"]


@cached_http
def cached(event, context, session):
    response = session.get(URL, timeout=10)
    return {{"from_cache": response.from_cache, "answer": response.json()["answer"]}}


def handler(event, context):
    # An outer wrapper, as a logger's or a tracer's: what it does once the cached handler
    # has returned still comes before the runtime posts the response. When asked, it waits
    # for a refresh to reach the origin (which must not happen before the response).
    answer = cached(event, context)
    deadline = time.monotonic() + {HOLD_SECONDS}
    while event.get("hold") and not os.path.exists(GATE) and time.monotonic() < deadline:
        time.sleep(0.01)
    return answer
"""


def test_on_demand_a_refresh_starts_after_the_response_is_posted(
    runtime: Path,
    environ: dict[str, str],
    origin: OriginServer,
    timeline: Timeline,
    tmp_path: Path,
) -> None:
    """The handler's outer wrapper holds the stale invocation's response back until a refresh
    reaches the origin (at most HOLD_SECONDS): a refresh started when the cached handler
    returns reaches it first, every time; one started once the response is posted cannot."""
    gate = tmp_path / "refresh-reached-the-origin"
    url = counted(
        origin,
        timeline,
        "/swr",
        # The refreshed answer stays fresh: the next invocation refreshes nothing.
        lambda answer: "max-age=1, stale-while-revalidate=60" if answer == 1 else "max-age=600",
        then=lambda answer: gate.touch() if answer >= 2 else None,
    )
    folder = function(tmp_path, ON_DEMAND)
    environ = {**environ, "TEST_URL": url, "TEST_GATE": str(gate)}
    with RuntimeApi(timeline) as api:
        environ["AWS_LAMBDA_RUNTIME_API"] = api.address
        with FunctionProcess(folder, "app.handler", environ, runtime) as process:
            assert process.result(api.invoke({})) == {"from_cache": False, "answer": 1}
            time.sleep(1.1)  # the entry goes stale
            stale = api.invoke({"hold": True})
            assert process.result(stale) == {"from_cache": True, "answer": 1}
            fresh = api.invoke({})
            assert process.result(fresh) == {"from_cache": True, "answer": 2}
    assert api.registrations == [{"name": "lambda-http-cache", "events": ["INVOKE"]}]
    assert origin.hits["/swr"] == 2
    posted = timeline.first("response", stale.request_id)
    refreshed = timeline.positions("origin", "/swr")[1]
    # The caller's response was posted before the refresh's request left...
    assert posted < refreshed, timeline.events
    # ...and the refresh reached the origin before the invocation ended (the extension asked
    # for its next event after it), so before the next invocation.
    assert refreshed < timeline.first("end", stale.request_id), timeline.events
    assert refreshed < timeline.first("dispatch", fresh.request_id)


MANAGED_INSTANCES = """
import os

from lambda_http_cache import cached_http


@cached_http
def handler(event, context, session):
    response = session.get(event["url"], timeout=10)
    return {
        "pid": os.getpid(),
        "from_cache": response.from_cache,
        "answer": response.json()["answer"],
        "deferred": session.after_response.deferred,
    }
"""
WORKERS = 3


def test_managed_instances_workers_share_the_table_and_refresh_on_threads(
    runtime: Path,
    environ: dict[str, str],
    origin: OriginServer,
    timeline: Timeline,
    tmp_path: Path,
) -> None:
    """As Lambda Managed Instances run Python: the runtime client forks one worker process
    per concurrent request (AWS_LAMBDA_MAX_CONCURRENCY), each importing the module."""
    fresh_url = counted(origin, timeline, "/fresh", "max-age=600")
    stale_url = counted(origin, timeline, "/stale", "max-age=1, stale-while-revalidate=60")
    folder = function(tmp_path, MANAGED_INSTANCES)
    environ = {
        **environ,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances",
        "AWS_LAMBDA_MAX_CONCURRENCY": str(WORKERS),
    }
    with RuntimeApi(timeline, concurrent=True) as api:
        environ["AWS_LAMBDA_RUNTIME_API"] = api.address
        with FunctionProcess(folder, "app.handler", environ, runtime) as process:
            assert api.wait_for_workers(WORKERS), process.output()[-4000:]
            # Each invocation goes to the worker that has waited longest: every worker once.
            answers = [process.result(api.invoke({"url": fresh_url})) for _ in range(WORKERS)]
            first_fill = process.result(api.invoke({"url": stale_url}))
            time.sleep(1.1)  # the entry goes stale
            stale = process.result(api.invoke({"url": stale_url}))
            # Served stale, refreshed by a thread of that worker, with no invocation running.
            refreshed = wait_until(lambda: origin.hits["/stale"] == 2)
            output = process.output()
    assert len({answer["pid"] for answer in answers}) == WORKERS, answers
    assert [(a["from_cache"], a["answer"]) for a in answers] == [(False, 1), (True, 1), (True, 1)]
    assert origin.hits["/fresh"] == 1  # one origin call for all workers, through the table
    assert (first_fill["from_cache"], stale["from_cache"], stale["answer"]) == (False, True, 1)
    assert refreshed, output[-4000:]
    assert not any(answer["deferred"] for answer in [*answers, first_fill, stale])
    assert api.registrations == []  # no extension: Lambda would refuse one
    assert "WARNING" not in output, output[-4000:]


SNAPSTART = """
import os
import random
import sys

from snapshot_restore_py import register_before_snapshot

from lambda_http_cache import cached_http, get_session

PORTS = {
    int(os.environ["TEST_DYNAMODB_PORT"]): "dynamodb",
    int(os.environ["TEST_ORIGIN_PORT"]): "origin",
}
connects = {"dynamodb": 0, "origin": 0}


def count(event, args):
    if event == "socket.connect" and isinstance(args[1], tuple) and len(args[1]) >= 2:
        name = PORTS.get(args[1][1])
        if name is not None:
            connects[name] += 1


sys.addaudithook(count)


@cached_http
def handler(event, context, session):
    drawn = random.random()
    before = dict(connects)
    response = session.get(event["url"], timeout=10)
    snapshot = random.Random()
    snapshot.setstate(SNAPSHOT[0])
    return {
        "from_cache": response.from_cache,
        "connects": {name: connects[name] - before[name] for name in connects},
        "random_as_in_the_snapshot": drawn in [snapshot.random() for _ in range(1000)],
    }


# What a function may do during init for its snapshot: warm the cache (which opens
# connections to the table and the origin, and takes a lease).
get_session().get(os.environ["TEST_WARM_URL"], timeout=10)
SNAPSHOT = []
# Registered last, so run first: the random numbers' state as the snapshot holds it.
register_before_snapshot(lambda: SNAPSHOT.append(random.getstate()))
"""


def test_snapstart_a_restored_environment_makes_its_own_connections_numbers_and_lease_owner(
    runtime: Path,
    environ: dict[str, str],
    origin: OriginServer,
    timeline: Timeline,
    tmp_path: Path,
    proxy: DynamoDbProxy,
) -> None:
    warm_url = counted(origin, timeline, "/warm", "max-age=600")
    url = counted(origin, timeline, "/after-restore", "max-age=600")
    folder = function(tmp_path, SNAPSTART)
    environ = {
        **environ,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start",
        "TEST_WARM_URL": warm_url,
        "TEST_DYNAMODB_PORT": str(proxy.port),
        "TEST_ORIGIN_PORT": str(origin.port),
    }
    with RuntimeApi(timeline) as api:
        environ["AWS_LAMBDA_RUNTIME_API"] = api.address
        with FunctionProcess(folder, "app.handler", environ, runtime) as process:
            invocation = api.invoke({"url": url})
            answer = process.result(invocation)
    # Init (the warm-up), then the snapshot and the restore, then the invocation.
    assert timeline.first("origin", "/warm") < timeline.first("restore")
    assert timeline.first("restore") < timeline.first("dispatch", invocation.request_id)
    assert answer["from_cache"] is False
    # The pooled connections of init were dropped: the invocation opened its own.
    assert answer["connects"]["dynamodb"] >= 1, answer
    assert answer["connects"]["origin"] >= 1, answer
    assert answer["random_as_in_the_snapshot"] is False
    # Who took each lease (a first fill's claim or a refresh's), as written to the table.
    holders = [
        body["Item"]["holder"]["S"]
        for operation, body in proxy.requests
        if operation == "PutItem" and "holder" in body.get("Item", {})
    ]
    assert len(holders) == 2, holders  # init's, then the restored environment's
    assert holders[0] != holders[1]


TENANTS = """
from lambda_http_cache import cached_http


@cached_http
def handler(event, context, session):
    response = session.get(event["url"], timeout=10)
    return {
        "tenant": context.tenant_id,
        "from_cache": response.from_cache,
        "answer": response.json()["answer"],
    }
"""


@pytest.mark.parametrize("shared", [False, True], ids=["by-tenant", "shared-across-tenants"])
def test_tenant_isolation_partitions_the_cache_unless_shared_on_purpose(
    runtime: Path,
    environ: dict[str, str],
    origin: OriginServer,
    timeline: Timeline,
    tmp_path: Path,
    shared: bool,
) -> None:
    """The runtime client reads the tenant from the Runtime API's Lambda-Runtime-Aws-Tenant-Id
    header into context.tenant_id. Lambda gives each tenant its own environments; the table
    (and here, one process's memory tier) is what they share."""
    url = counted(origin, timeline, "/tenant-file", "max-age=600")
    folder = function(tmp_path, TENANTS)
    if shared:
        environ = {**environ, "HTTP_CACHE_SHARE_ACROSS_TENANTS": "true"}
    with RuntimeApi(timeline) as api:
        environ["AWS_LAMBDA_RUNTIME_API"] = api.address
        with FunctionProcess(folder, "app.handler", environ, runtime) as process:
            blue = process.result(api.invoke({"url": url}, tenant_id="blue"))
            green = process.result(api.invoke({"url": url}, tenant_id="green"))
            again = process.result(api.invoke({"url": url}, tenant_id="blue"))
    assert blue == {"tenant": "blue", "from_cache": False, "answer": 1}
    if shared:
        assert green == {"tenant": "green", "from_cache": True, "answer": 1}
        assert origin.hits["/tenant-file"] == 1
    else:
        assert green == {"tenant": "green", "from_cache": False, "answer": 2}
        assert origin.hits["/tenant-file"] == 2
    assert again == {"tenant": "blue", "from_cache": True, "answer": 1}


def test_a_runtime_call_that_does_not_return_costs_one_bounded_wait(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """If the runtime's call of the handler is still under way long after the handler
    returned (a runtime built otherwise), the refreshes run after a bounded wait, and the
    runner stops waiting for later invocations, saying so once."""
    monkeypatch.setattr(after_response, "RESPONSE_WAIT_SECONDS", 0.05)
    runner = AfterResponse()
    runner.extension = object()  # type: ignore[assignment]  # as when registered
    frames: list[FrameType] = []
    inside, leave = threading.Event(), threading.Event()

    def runtime_call() -> None:
        frames.append(sys._getframe())
        inside.set()
        leave.wait(30)

    thread = threading.Thread(target=runtime_call, daemon=True)
    thread.start()
    assert inside.wait(30)
    assert thread.ident is not None
    caller = (thread.ident, id(frames[0]), id(frames[0].f_code))
    assert not after_response.returned(caller)
    ran: list[str] = []
    for request_id in ("request-1", "request-2"):
        runner.submit(functools.partial(ran.append, request_id))
        runner.invocation_finished(request_id, caller)
        assert runner.drain(request_id, timeout=30) == 1
    assert ran == ["request-1", "request-2"]
    assert not runner.watch_runtime
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    leave.set()
    thread.join(30)
    assert after_response.returned(caller)


@pytest.mark.parametrize(
    ("environ", "managed"),
    [
        ({"AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances"}, True),  # extensions
        ({"AWS_LAMBDA_MAX_CONCURRENCY": "16"}, True),  # the runtime, which forks its workers
        ({"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}, False),
        ({"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}, False),
        ({}, False),
    ],
)
def test_managed_instances_are_known_by_what_lambda_sets(
    environ: dict[str, str], managed: bool
) -> None:
    assert after_response.on_managed_instances(environ) is managed
