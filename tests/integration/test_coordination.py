"""One origin call per key per expiry: threads of a container share one call, containers share
one through a lease in the table; a dead lease holder blocks nobody beyond its lease, and a
lease that cannot be written is a fall-through, never a failed request."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from lambda_http_cache.item import LEASE_SUFFIX, encode_lease

from scripts.local_servers import DynamoDbProxy, OriginServer, Route, SeenRequest
from tests.helpers import cached_session


def counted(origin: OriginServer, path: str, delay: float = 0.0) -> str:
    """A route whose body counts the origin's answers, each after ``delay`` seconds."""
    answers = itertools.count(1)

    def respond(seen: SeenRequest) -> Route:
        time.sleep(delay)
        body = json.dumps({"answer": next(answers)}).encode()
        return Route(body, {"Content-Type": "application/json"})

    return origin.respond(path, respond)


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released at the same moment; their results in order."""
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        start.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def answer(response: requests.Response) -> int:
    return int(response.json()["answer"])


def test_threads_of_a_container_make_one_origin_call(table_name: str, origin: OriginServer) -> None:
    url = counted(origin, "/hot", delay=0.3)
    session = cached_session(table_name)
    responses = together([lambda: session.get(url) for _ in range(8)])
    assert [answer(r) for r in responses] == [1] * 8
    assert origin.hits["/hot"] == 1
    # Threads that start once the leader has stored its answer are plain memory hits.
    assert 1 <= session.cache.stats["coalesced"] <= 7


def test_without_coalescing_nor_leases_each_thread_calls_the_origin(
    table_name: str, origin: OriginServer
) -> None:
    url = counted(origin, "/each", delay=0.3)
    session = cached_session(table_name, coalesce=False, leases=False)
    together([lambda: session.get(url) for _ in range(4)])
    assert origin.hits["/each"] == 4


def test_without_coalescing_the_lease_still_makes_one_first_fill(
    table_name: str, origin: OriginServer
) -> None:
    """Threads of a container are coordinated by the key's lease as other containers are:
    the first asks for it, the others wait for its write."""
    url = counted(origin, "/lease-only", delay=0.3)
    session = cached_session(table_name, coalesce=False)
    responses = together([lambda: session.get(url) for _ in range(4)])
    assert [answer(r) for r in responses] == [1] * 4
    assert origin.hits["/lease-only"] == 1


def _expired(table_name: str, url: str) -> None:
    """Store ``url`` with a one-second expiry and let it expire."""
    cached_session(table_name, expire_after=1).get(url)
    time.sleep(1.1)


def test_two_containers_on_an_expired_key_make_one_origin_call(
    table_name: str, origin: OriginServer
) -> None:
    url = counted(origin, "/expiring", delay=0.4)
    _expired(table_name, url)
    containers = [cached_session(table_name, expire_after=60) for _ in range(2)]
    responses = together([lambda s=s: s.get(url) for s in containers])  # type: ignore[misc]
    assert [answer(r) for r in responses] == [2, 2]  # the loser got the winner's write
    assert origin.hits["/expiring"] == 2  # the first fill and one refresh
    stats = [s.cache.stats for s in containers]
    assert sorted(s["leases_won"] for s in stats) == [0, 1]
    # The other container lost the lease and waited for the write (unless it started so late
    # that the write had already landed: then it was a plain hit).
    assert sum(s["leases_lost"] for s in stats) == sum(s["coalesced"] for s in stats) <= 1


def _dead_holders_lease(ddb: Any, table: str, session: Any, url: str, seconds: float) -> datetime:
    """A lease on ``url``'s key, taken now for ``seconds`` by a container that then died;
    when it runs out."""
    key = session.cache.responses.table_key(
        session.cache.create_key(requests.Request("GET", url).prepare())
    )
    now = datetime.now(UTC)
    until = now + timedelta(seconds=seconds)
    ddb.put_item(TableName=table, Item=encode_lease(key + LEASE_SUFFIX, "default", now, until))
    return until


def test_a_lease_whose_holder_died_blocks_nobody_beyond_it(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    url = counted(origin, "/orphan")
    _expired(table_name, url)
    session = cached_session(table_name, expire_after=1, memory_cache_bytes=0)
    until = _dead_holders_lease(ddb, table_name, session, url, seconds=1.5)
    # The holder never writes: this container waits its bounded time, then calls the origin.
    assert answer(session.get(url)) == 2
    assert session.cache.stats["leases_lost"] == 1
    assert session.cache.stats["coalesced"] == 0
    # Once the lease and answer 2 have run out, the next refresher takes the lease over; its
    # holder had never written, which is counted (answer 2 came from the lease's loser).
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 1.1)
    later = cached_session(table_name, expire_after=60)
    assert answer(later.get(url)) == 3
    assert later.cache.stats["leases_won"] == 1


def test_a_lease_that_cannot_be_written_is_a_fall_through(
    table_name: str, origin: OriginServer, proxy: DynamoDbProxy
) -> None:
    url = counted(origin, "/unleased")
    _expired(table_name, url)
    proxy.fault = lambda operation: (500, "InternalServerError") if operation == "PutItem" else None
    session = cached_session(table_name, expire_after=60)
    response = session.get(url)
    assert (response.status_code, answer(response)) == (200, 2)
    assert session.cache.stats["leases_won"] + session.cache.stats["leases_lost"] == 0
    assert session.cache.stats["errors"] >= 1


def test_without_leases_each_container_refreshes(table_name: str, origin: OriginServer) -> None:
    url = counted(origin, "/free", delay=0.4)
    _expired(table_name, url)
    containers = [cached_session(table_name, expire_after=60, leases=False) for _ in range(2)]
    together([lambda s=s: s.get(url) for s in containers])  # type: ignore[misc]
    assert origin.hits["/free"] == 3


def test_a_run_out_lease_never_followed_by_a_write_is_counted(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    url = counted(origin, "/taken-over")
    _expired(table_name, url)
    session = cached_session(table_name, expire_after=60)
    _dead_holders_lease(ddb, table_name, session, url, seconds=0.3)
    time.sleep(0.4)
    assert answer(session.get(url)) == 2
    assert session.cache.stats["leases_won"] == 1
    assert session.cache.stats["leases_expired"] == 1


def test_the_admin_command_counts_markers_apart(
    table_name: str, origin: OriginServer, capsys: Any
) -> None:
    from lambda_http_cache.admin import main

    url = counted(origin, "/marked")
    _expired(table_name, url)
    cached_session(table_name).get(url)  # a refresh: one lease
    cached_session(table_name).post(url)  # an invalidation: tombstones
    capsys.readouterr()
    assert main(["--table", table_name, "--json", "--quiet", "stats"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["unreadable"] == 0
    assert stats["markers"] == 1 + 2  # the lease; tombstones for GET and HEAD


def test_threads_wait_for_their_leader_past_a_dead_holders_lease(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    """With another container's lease held by a dead holder, this container's leader waits
    its bound and then calls the origin; its other threads wait for that call instead of
    each making their own."""
    url = counted(origin, "/dead-and-followed", delay=0.4)
    _expired(table_name, url)
    session = cached_session(table_name, expire_after=60)
    _dead_holders_lease(ddb, table_name, session, url, seconds=5)
    responses = together([lambda: session.get(url) for _ in range(4)])
    assert [answer(r) for r in responses] == [2] * 4
    assert origin.hits["/dead-and-followed"] == 2  # the first fill, and one refresh


def test_a_container_that_refreshed_a_key_asks_for_its_next_lease_at_once(
    table_name: str, origin: OriginServer
) -> None:
    """The once-per-lease-period memo ends with the container's own refresh: an entry that
    expires again within that period is refreshed, not waited for."""
    url = counted(origin, "/short-lived", delay=0.5)  # a lease lasts 2 s, the entry 1 s
    session = cached_session(table_name, expire_after=1, memory_cache_bytes=0)
    session.get(url)
    for expected in (2, 3):
        time.sleep(1.1)
        assert answer(session.get(url)) == expected
    assert session.cache.stats["leases_won"] == 3  # the first fill's claim, two refreshes
    assert session.cache.stats["leases_lost"] == 0
