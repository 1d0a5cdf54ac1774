"""One origin call per key per fill, fleet-wide, from the first fill on:

- a key's first wave of misses makes one origin call: the first container claims the fill
  under the key itself, the others wait for its answer;
- a key whose answer could not be stored is marked for a short while (Varnish's
  hit-for-miss): its callers then go to the origin without a claim and without waiting on
  one another;
- a container refreshes a stale entry only if it is still the one it saw: one that another
  container replaced meanwhile is served instead.

Every test pins calls (origin answers, DynamoDB operations), never time."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lambda_http_cache.item import KIND_PENDING, KIND_UNCACHEABLE

from scripts.local_servers import DynamoDbProxy, OriginServer, Route, SeenRequest
from tests.helpers import cached_session, scan_all
from tests.integration.test_coordination import answer, counted, together


def kinds(ddb: Any, table_name: str) -> list[str]:
    return sorted(item["kind"]["S"] for item in scan_all(ddb, table_name))


def test_the_first_wave_of_misses_makes_one_origin_call(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    url = counted(origin, "/first", delay=0.4)
    containers = [cached_session(table_name) for _ in range(6)]
    responses = together([lambda s=s: s.get(url) for s in containers])
    assert [answer(r) for r in responses] == [1] * 6
    assert origin.hits["/first"] == 1
    # The claim was replaced by the answer: nothing else is left in the table.
    assert kinds(ddb, table_name) == ["response"]


def test_a_first_fill_whose_holder_died_blocks_nobody_beyond_its_claim(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    url = counted(origin, "/orphan")
    holder = cached_session(table_name)
    key = holder.cache.create_key(
        holder.prepare_request(__import__("requests").Request("GET", url))
    )
    assert holder.cache.claim_fill(key, 0.2) is True  # then the holder "dies"
    assert kinds(ddb, table_name) == [KIND_PENDING]
    waiter = cached_session(table_name)
    assert answer(waiter.get(url)) == 1  # waited at most the claim's life, then fetched
    assert origin.hits["/orphan"] == 1
    assert kinds(ddb, table_name) == ["response"]


def uncacheable(origin: OriginServer, path: str, headers: dict[str, str]) -> str:
    def respond(seen: SeenRequest) -> Route:
        return Route(json.dumps({"n": 1}).encode(), {"Content-Type": "application/json", **headers})

    return origin.respond(path, respond)


@pytest.mark.parametrize(
    "headers",
    [
        {"Cache-Control": "no-store"},
        {"Cache-Control": "private"},
        {"Cache-Control": "max-age=60", "Set-Cookie": "sid=1"},
        {"Cache-Control": "max-age=60", "Vary": "*"},
    ],
)
def test_an_uncacheable_answer_marks_the_key_and_its_callers_do_not_queue(
    table_name: str, origin: OriginServer, proxy: DynamoDbProxy, ddb: Any, headers: dict[str, str]
) -> None:
    url = uncacheable(origin, "/nope", headers)
    first = cached_session(table_name)
    first.get(url)
    # the read, the claim, the mark that replaces it
    assert proxy.calls == {"GetItem": 1, "PutItem": 2}
    assert kinds(ddb, table_name) == [KIND_UNCACHEABLE]
    proxy.reset()
    others = [cached_session(table_name) for _ in range(3)]
    for other in others:
        assert not other.get(url).from_cache
    # each: the read finds the mark, then straight to the origin: no claim, no wait, no poll
    assert proxy.calls == {"GetItem": 3}
    assert origin.hits["/nope"] == 4


def test_a_status_the_cache_does_not_store_marks_the_key(
    table_name: str, origin: OriginServer, proxy: DynamoDbProxy, ddb: Any
) -> None:
    url = origin.route("/gone", "{}", status=404)
    cached_session(table_name).get(url)
    assert kinds(ddb, table_name) == [KIND_UNCACHEABLE]
    proxy.reset()
    cached_session(table_name).get(url)
    assert proxy.calls == {"GetItem": 1}


def test_a_cacheable_answer_replaces_the_mark(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    state = {"cacheable": False}

    def respond(seen: SeenRequest) -> Route:
        control = "max-age=60" if state["cacheable"] else "no-store"
        return Route(b"{}", {"Content-Type": "application/json", "Cache-Control": control})

    url = origin.respond("/turns", respond)
    cached_session(table_name, cache_control=True).get(url)
    assert kinds(ddb, table_name) == [KIND_UNCACHEABLE]
    state["cacheable"] = True
    cached_session(table_name, cache_control=True).get(url)
    assert kinds(ddb, table_name) == ["response"]
    assert cached_session(table_name, cache_control=True).get(url).from_cache


def test_a_refresh_of_an_entry_another_container_replaced_serves_the_new_one(
    table_name: str, origin: OriginServer
) -> None:
    """The container saw the entry stale; between its read and its lease, another container
    refreshed it. Winning the lease, it reads the table again (strongly consistent) and
    serves the new entry instead of calling the origin."""
    import time

    url = counted(origin, "/replaced")
    cached_session(table_name, expire_after=1).get(url)  # answer 1, stale after 1 s
    time.sleep(1.1)
    other = cached_session(table_name, expire_after=60, leases=False)
    late = cached_session(table_name, expire_after=60)
    acquire = late.cache.acquire_lease

    def acquire_after_the_other_refreshed(*args: Any, **kwargs: Any) -> Any:
        assert answer(other.get(url)) == 2  # the other container's refresh lands first
        return acquire(*args, **kwargs)

    late.cache.acquire_lease = acquire_after_the_other_refreshed  # type: ignore[method-assign]
    served = late.get(url)
    assert answer(served) == 2 and served.from_cache
    assert origin.hits["/replaced"] == 2  # the first fill and the other's refresh only
