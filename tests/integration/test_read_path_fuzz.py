"""Every read path decodes inside the never-raise rule, whatever the table holds.

Items the library wrote (a response with redirect hops, its alias, a redirect response kept
unfollowed, a stale response whose lease another container holds, a tombstone) are mutated
at random (any attribute, at any depth, set to any DynamoDB value of any type, or removed),
written to the table as they are, and read by every path: a request (a hit, through an
alias, past a tombstone, waiting on another's lease), peek, the storages' lookups, iteration
and filter, and the admin command. No exception may escape, and a request answers what the
origin answers, or what the table really holds."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from lambda_http_cache import DynamoDbCache, coordination
from lambda_http_cache.admin import main as admin
from lambda_http_cache.item import LEASE_SUFFIX, ItemError, decode_entry, iso_time
from lambda_http_cache.session import _newer
from requests import Request
from requests_cache import CachedSession
from requests_cache.models.response import CachedResponse

from scripts.local_servers import (
    MotoServer,
    OriginServer,
    Route,
    create_cache_table,
    dynamodb_client,
)
from tests.helpers import PATIENT, cached_session, scan_all
from tests.item_strategies import Mutation, mutated, mutations

TABLE = "http_cache_read_path_fuzz"
# The items of the world, by what they are (World.name).
KINDS = (
    "response /final",  # with the redirect hop that led there
    "redirect",  # the alias under the key of the request to /start
    "response /unfollowed",  # a redirect not followed, with its next request
    "response /stale",
    "lease",  # of /stale, held by another container
    "tombstone",  # over /gone (only the first one found: GET's or HEAD's)
)
CACHEABLE = {"Content-Type": "text/plain", "Cache-Control": "max-age=600"}
# What the origin answers, by path: status and body.
ANSWERS = {
    "/start": (301, b"moving"),
    "/final": (200, b"the final page"),
    "/unfollowed": (302, b"found elsewhere"),
    "/stale": (200, b"the stale page"),
    "/gone": (200, b"the gone page"),
}


class World:
    """The table and origin every example shares, and the items the library wrote there:
    requests-cache's own session on the drop-in backend stores the final response of a
    redirect chain with its hop, and an alias under the first request's key; the project's
    session stores a redirect kept unfollowed (with its next request), a response that a
    lease then guards, and a tombstone."""

    def __init__(self, table: str, origin: OriginServer, ddb: Any) -> None:
        self.table, self.origin, self.ddb = table, origin, ddb
        for path, (status, body) in ANSWERS.items():
            headers = dict(CACHEABLE)
            if path in ("/start", "/unfollowed"):
                headers["Location"] = "/final"
            if path == "/final":
                headers["Vary"] = "Accept"  # its request's Accept is stored, and checked
            origin.routes[path] = Route(body, headers, status)
        self.dropin().get(self.url("/start"))
        writer = self.session()
        writer.get(self.url("/unfollowed"), allow_redirects=False)
        writer.get(self.url("/stale"))
        writer.get(self.url("/gone"))
        writer.post(self.url("/gone"))  # tombstones over it
        prefix = writer.cache.responses.prefix
        # By name; of two responses of one URL (a hop's own, the chain's), the chain's.
        stored = sorted(scan_all(ddb, table), key=lambda item: len(item.get("history", {})))
        found = {self.name(item): item for item in stored}
        stale = found["response /stale"]["key"]["S"].removeprefix(prefix)
        other = self.session()  # another container holds the stale key's lease
        # As long as a lease may plausibly run (storage.MAX_LEASE): longer would be bogus.
        assert other.cache.responses.acquire_lease(stale, 60) is True
        lease = {"key": {"S": prefix + stale + "~lease"}}
        found["lease"] = ddb.get_item(TableName=table, Key=lease, ConsistentRead=True)["Item"]
        self.items = {name: found[name] for name in KINDS}
        assert len(self.items["response /final"]["history"]["L"]) == 1
        assert self.items["response /final"]["request"]["M"]["headers"]["M"]
        assert "next" in self.items["response /unfollowed"]
        # Stale: its lease holder is refreshing it, so a reader waits for that write.
        self.items["response /stale"]["expires"] = {
            "S": iso_time(datetime.now(UTC) - timedelta(hours=1))
        }
        self.keys = [
            item["key"]["S"].removeprefix(prefix)
            for name, item in self.items.items()
            if name != "lease"
        ]

    def name(self, item: dict[str, Any]) -> str:
        """What an item is: its kind, and for a response the path of its URL."""
        kind = item["kind"]["S"]
        if kind != "response":
            return kind
        return f"{kind} {item['url']['S'].removeprefix(self.url(''))}"

    def url(self, path: str) -> str:
        return self.origin.url(path)

    def session(self) -> Any:
        """A new container, its own memory tier; stale entries are refreshed before they are
        served (no stale-while-revalidate), so a stale read meets the lease."""
        return cached_session(self.table, stale_while_revalidate=False, cache_control=True)

    def dropin(self) -> CachedSession:
        """requests-cache's own session on a new container's drop-in backend."""
        backend = DynamoDbCache(self.table, create_table=False, config=PATIENT)
        return CachedSession(backend=backend, expire_after=300)

    def write(self, items: dict[str, dict[str, Any]]) -> None:
        for item in items.values():
            try:
                self.ddb.put_item(TableName=self.table, Item=item)
            except ClientError as error:  # a value DynamoDB itself refuses: never read back
                if "ValidationException" not in str(error):
                    raise
                reject()


@pytest.fixture(scope="module")
def world(moto_server: MotoServer) -> Iterator[World]:
    """One table, origin and set of items for the whole module: each test writes the items
    it reads afresh."""
    with pytest.MonkeyPatch.context() as patch, OriginServer() as origin:
        patch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_server.endpoint)
        # Waits of a fraction of a second: the paths are the same, the examples many.
        patch.setattr(coordination, "WAIT_SLACK_SECONDS", 0.02)
        patch.setattr(coordination, "LEASE_MIN_SECONDS", 0.05)
        patch.setattr(coordination, "LEASE_MAX_SECONDS", 0.1)
        patch.setattr(coordination, "POLL_MIN_SECONDS", 0.02)
        ddb = dynamodb_client(moto_server.endpoint)
        create_cache_table(ddb, TABLE)
        yield World(TABLE, origin, ddb)


def contents(items: dict[str, dict[str, Any]]) -> set[bytes]:
    """The bodies the (mutated) items really hold: what a hit may serve."""
    found = set()
    for item in items.values():
        with contextlib.suppress(ItemError):
            found.add(decode_entry(item).content)
    return found


def answered(response: Any, path: str, held: set[bytes]) -> None:
    """``response`` is the origin's answer for ``path``, or a hit on what the table holds;
    and a caller can use it as any response (its text, decoded stream, history, times)."""
    if getattr(response, "from_cache", False):
        assert response.content in held | {ANSWERS[path][1]}
    else:
        assert (response.status_code, response.content) == ANSWERS[path]
    response.text  # noqa: B018
    list(response.iter_content(64, decode_unicode=True))
    for hop in [*response.history, response]:
        (hop.status_code, hop.reason, hop.url, hop.elapsed.total_seconds(), dict(hop.headers))
        if getattr(hop, "from_cache", False):
            (hop.is_expired, hop.expires_delta, hop.created_at < datetime.now(UTC))
    response.next  # noqa: B018


def run_admin(*argv: str) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return admin(list(argv))


def read_everything(world: World, items: dict[str, dict[str, Any]]) -> None:
    """Every read path; none may raise (but a mapping's KeyError for a miss)."""
    held = contents(items)
    session = world.session()
    cache = session.cache
    # Peek (the lease wait's read) and the storages' own lookups.
    for key in world.keys:
        cache.peek(key)
        with contextlib.suppress(KeyError):
            cache.responses[key]
        with contextlib.suppress(KeyError):
            cache.redirects[key]
    # Iteration and filter.
    list(cache.responses)
    list(cache.redirects)
    len(cache.responses)
    len(cache.redirects)
    list(cache.responses.values())
    list(cache.filter(valid=True, expired=True, invalid=True))
    list(cache.filter(valid=False, expired=False, older_than=timedelta(seconds=1)))
    # The admin command reads what it can and reports the rest.
    table = ["--table", world.table, "-q"]
    assert run_admin(*table, "stats") == 0
    for number, path in enumerate(("/unfollowed", "/stale", "/gone")):
        output = ["--json"] if number % 2 else []
        assert run_admin(*table, *output, "get", world.url(path)) in (0, 1)
    # Requests, last (what they store from the origin replaces the mutated items). Through
    # requests-cache's own session: its key holds the alias; the chain's final response.
    dropin = world.dropin()
    answered(dropin.get(world.url("/start")), "/final", held)
    answered(dropin.get(world.url("/final")), "/final", held)
    answered(session.get(world.url("/unfollowed"), allow_redirects=False), "/unfollowed", held)
    answered(session.get(world.url("/gone")), "/gone", held)
    answered(session.get(world.url("/stale")), "/stale", held)  # waits on the lease


def test_every_read_path_is_exercised_by_the_unmutated_items(world: World) -> None:
    world.write(world.items)
    dropin, session = world.dropin(), world.session()
    assert dropin.get(world.url("/start")).from_cache  # through the alias
    assert dropin.cache.stats["memory_hits"] == 0  # from the table, not memory
    assert session.get(world.url("/unfollowed"), allow_redirects=False).from_cache
    assert not session.get(world.url("/gone")).from_cache  # the tombstone
    stale = session.get(world.url("/stale"))
    assert not stale.from_cache and session.cache.stats["leases_lost"] == 1  # waited, then
    for cache in (dropin.cache, session.cache):
        assert cache.stats["unreadable"] == cache.stats["errors"] == 0
    world.write(world.items)
    read_everything(world, world.items)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_item_makes_a_read_path_raise(world: World, data: st.DataObject) -> None:
    changes: list[Mutation] = data.draw(
        st.lists(mutations(world.items), min_size=1, max_size=4), label="changes"
    )
    items = mutated(world.items, changes)
    world.write(items)
    read_everything(world, items)


# Known hostile values, each where a reader once met (or could meet) it.
HOSTILE = [
    Mutation("response /unfollowed", ("next", "url"), {"S": "http://[::1"}),  # not a URL
    Mutation("response /unfollowed", ("next", "url"), {"S": ""}),
    Mutation("response /final", ("request", "url"), {"S": "http://host:99999/"}),  # for Vary
    Mutation("response /final", ("history", 0, "url"), {"S": "\x00\x1b[2J"}),
    Mutation("response /final", ("encoding",), {"S": "rot13"}),  # not a text encoding
    Mutation("response /final", ("created",), {"S": "9999-12-31T23:59:59.999999-14:00"}),
    Mutation("response /final", ("expires",), {"S": "0001-01-01T00:00:00+14:00"}),
    Mutation("response /final", ("elapsed",), {"N": "1e125"}),  # past any timedelta
    Mutation("response /final", ("age",), {"N": "-1e125"}),
    Mutation("response /final", ("status",), {"N": "1e125"}),
    Mutation("response /final", ("history", 0, "status"), {"N": "301.5"}),
    Mutation("response /stale", ("elapsed",), {"N": "1e125"}),  # met in the lease wait
    Mutation("response /stale", ("created",), {"S": "8999-01-01T00:00:00+00:00"}),
    Mutation("response /stale", ("headers",), {"L": [{"S": "Cache-Control"}]}),
    Mutation("redirect", ("expires",), {"S": "0001-01-01T00:00:00+14:00"}),
    Mutation("redirect", ("hop",), {"N": "-1"}),
    Mutation("redirect", ("target",), {"M": {}}),
    Mutation("lease", ("until",), {"S": "later"}),
    Mutation("tombstone", ("created",), {"N": "1"}),
]


@pytest.mark.parametrize("change", HOSTILE, ids=lambda change: f"{change.target}{change.path}")
def test_known_hostile_values_make_no_read_path_raise(world: World, change: Mutation) -> None:
    items = mutated(world.items, [change])
    world.write(items)
    read_everything(world, items)


# The lease wait, whatever it reads ------------------------------------------------------


class Landed:
    """A response as peek might hand it over, with any ``created_at``."""

    def __init__(self, created_at: Any) -> None:
        self.created_at = created_at


@pytest.mark.parametrize(
    "created",
    [
        datetime(2030, 1, 1),  # no time zone, against one with
        "2030-01-01T00:00:00+00:00",  # not a time
        12345,
    ],
)
def test_times_that_cannot_be_compared_are_not_newer(created: Any) -> None:
    before = CachedResponse(status_code=200)
    assert before.created_at.tzinfo is not None
    assert _newer(Landed(created), before) is False
    assert _newer(Landed(None), before) is True  # unknown: as before
    assert _newer(Landed(created), None) is True  # nothing was stored


@pytest.mark.parametrize(
    "landed",
    [Landed(datetime(2099, 1, 1)), RuntimeError("the table failed")],
    ids=["naive-time", "peek-raises"],
)
def test_whatever_the_lease_wait_meets_the_request_gets_the_origin_answer(
    world: World, monkeypatch: pytest.MonkeyPatch, landed: Any
) -> None:
    world.write(world.items)
    session = world.session()

    def peek(key: str) -> Any:
        if isinstance(landed, Exception):
            raise landed
        return landed

    monkeypatch.setattr(session.cache, "peek", peek)
    response = session.get(world.url("/stale"))
    assert (response.status_code, response.content) == ANSWERS["/stale"]
    assert session.cache.stats["leases_lost"] == 1


# A corrupt item cannot block its key ---------------------------------------------------------


@pytest.mark.parametrize(
    "created",
    [{"N": "1"}, {"B": b"x"}, {"BOOL": True}, {"S": "9999-12-31T23:59:59+00:00"}],
    ids=["number", "bytes", "boolean", "far-future"],
)
def test_a_response_item_with_a_bogus_created_is_overwritten(
    table_name: str, origin: OriginServer, ddb: Any, created: dict[str, Any]
) -> None:
    """The write condition (no newer response) treats a `created` that is not a time, or
    one later than any clock could say, as no time at all: the next response replaces it."""
    origin.route("/blocked", b"fresh", CACHEABLE)
    url = origin.url("/blocked")
    session = cached_session(table_name, memory_cache_bytes=0)
    session.get(url)
    (item,) = scan_all(ddb, table_name)
    ddb.put_item(TableName=table_name, Item={**item, "created": created})
    assert not cached_session(table_name).get(url).from_cache  # unreadable: a miss
    assert cached_session(table_name).get(url).from_cache  # ...and replaced


@pytest.mark.parametrize(
    "until",
    [{"S": "later"}, {"N": "99999999999"}, {"B": b"\x00"}],
    ids=["text", "far-future", "bytes"],
)
def test_a_lease_item_with_a_bogus_end_does_not_hold_its_key(
    table_name: str, origin: OriginServer, ddb: Any, until: dict[str, Any]
) -> None:
    origin.route(
        "/leased", b"stale soon", {"Content-Type": "text/plain", "Cache-Control": "max-age=1"}
    )
    url = origin.url("/leased")
    writer = cached_session(table_name, memory_cache_bytes=0)
    writer.get(url)
    key = writer.cache.create_key(writer.prepare_request(Request("GET", url)))
    table_key = writer.cache.responses.table_key(key)
    ddb.put_item(
        TableName=table_name,
        Item={
            "key": {"S": table_key + LEASE_SUFFIX},
            "v": {"N": "1"},
            "kind": {"S": "lease"},
            "namespace": {"S": "default"},
            "holder": {"S": "someone-else"},
            "since": {"N": str(datetime.now(UTC).timestamp())},
            "until": until,
        },
    )
    stale = cached_session(table_name, memory_cache_bytes=0)
    response = stale.cache.responses.lookup(key)
    assert response is not None
    assert stale.cache.acquire_lease(key, 2.0, response.created) is True
