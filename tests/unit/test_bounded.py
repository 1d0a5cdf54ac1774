"""The one accounting rule (footprint) and the memo built on it: what a per-container structure
holds is what it counts, whatever is put in it."""

from __future__ import annotations

import sys
import threading
import time
import tracemalloc
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lambda_http_cache.bounded import OBJECT_OVERHEAD, BoundedMemo, footprint

# Plain data as memos hold it: text of any script, bytes, numbers, nested containers.
leaves = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    st.integers(min_value=-(2**4000), max_value=2**4000),
    st.floats(allow_nan=True),
    st.none(),
    st.booleans(),
)
values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=8),
        st.lists(children, max_size=8).map(tuple),
        st.dictionaries(st.text(max_size=20), children, max_size=8),
        st.frozensets(st.text(max_size=20), max_size=8),
    ),
    max_leaves=60,
)


def text_bytes(value: Any, seen: set[int] | None = None) -> int:
    """The bytes of every string and bytes value in ``value`` (each container once): the most
    of CPython's own size and the UTF-8 length, for every occurrence."""
    seen = set() if seen is None else seen
    if isinstance(value, str):
        return max(sys.getsizeof(value), len(value.encode("utf-8", "surrogatepass")))
    if isinstance(value, bytes):
        return sys.getsizeof(value)
    if isinstance(value, dict | list | tuple | frozenset):
        if id(value) in seen:
            return 0
        seen.add(id(value))
        parts = [*value.keys(), *value.values()] if isinstance(value, dict) else list(value)
        return sum(text_bytes(part, seen) for part in parts)
    return 0


@settings(max_examples=300, deadline=None)
@given(values)
def test_footprint_is_at_least_the_bytes_of_every_string_in_a_value(value: Any) -> None:
    assert footprint(value) >= text_bytes(value)
    assert footprint(value) >= sys.getsizeof(value)


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=500))
def test_a_text_counts_its_storage_and_its_utf8_copy(text: str) -> None:
    """Whatever the script: CPython may keep a UTF-8 copy beside a text that is not ASCII."""
    utf8 = text.encode("utf-8", "surrogatepass")
    assert footprint(text) >= sys.getsizeof(text) + (0 if text.isascii() else len(utf8) + 1)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), values, values),
        st.tuples(st.just("pop"), values, st.none()),
        st.tuples(st.just("get"), values, st.none()),
        st.tuples(st.just("clear"), st.none(), st.none()),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=20_000), operations)
def test_a_bounded_memo_never_holds_more_than_its_bound_whatever_is_put(
    max_bytes: int, steps: list[tuple[str, Any, Any]]
) -> None:
    memo: BoundedMemo[Any, Any] = BoundedMemo(max_bytes)
    for operation, key, value in steps:
        try:
            hash(key)
        except TypeError:
            continue  # a memo's keys are hashable, as a dict's
        if operation == "put":
            memo.put(key, value)
        elif operation == "pop":
            memo.pop(key)
        elif operation == "get":
            memo.get(key)
        else:
            memo.clear()
        held = list(memo._entries.items())
        # By the rule, recomputed now: what it holds is what it counts.
        recounted = sum(footprint(k) + footprint(v) for k, (v, _) in held)
        assert memo.size == recounted == sum(size for _, (_, size) in held)
        assert memo.size <= max_bytes
        assert all(size <= max_bytes // 4 for _, (_, size) in held)


def test_footprint_counts_at_least_what_python_allocates_for_a_hostile_vary() -> None:
    """The 42,000-name Vary that once kept 48 MB in a memo that counted 19 KB: the rule
    counts at least what building it allocated."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        names = tuple((f"X-Vary-Name-{n:06d}", f"value-{n}") for n in range(42_000))
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert footprint(names) >= after - before


def test_footprint_terminates_on_cycles_and_deep_nesting() -> None:
    cycle: list[Any] = ["x"]
    cycle.append(cycle)
    # The list once (its two references, and the text), however often it is reached.
    assert footprint(cycle) == 3 * OBJECT_OVERHEAD + sys.getsizeof(cycle) + 1
    deep: Any = "leaf"
    for _ in range(100_000):
        deep = (deep,)
    # No recursion limit: every level counted.
    assert (
        footprint(deep) == 100_000 * (OBJECT_OVERHEAD + sys.getsizeof((0,))) + OBJECT_OVERHEAD + 4
    )


def test_a_view_counts_the_whole_buffer_it_keeps_alive() -> None:
    buffer = bytes(1_000_000)
    assert footprint(memoryview(buffer)[:10]) >= len(buffer)


def test_a_memo_keeps_nothing_over_a_quarter_of_its_bound_and_evicts_the_oldest() -> None:
    memo: BoundedMemo[str, str] = BoundedMemo(4_000)
    memo.put("huge", "x" * 1_000)  # 1,000 bytes of text and 2 objects: over 1,000
    assert "huge" not in memo and memo.size == 0
    for number in range(20):
        memo.put(f"k{number}", "v" * 200)
    assert memo.get("k0") is None  # the oldest went first
    assert memo.get("k19") == "v" * 200
    assert memo.size <= 4_000
    assert memo.pop("k19") == "v" * 200 and "k19" not in memo
    memo.clear()
    assert (len(memo), memo.size) == (0, 0)


def test_a_memo_stays_within_its_bound_under_concurrent_puts() -> None:
    memo: BoundedMemo[str, bytes] = BoundedMemo(50_000)

    def put(thread: int) -> None:
        for number in range(2_000):
            memo.put(f"{thread}-{number % 300}", bytes(number % 500))

    threads = [threading.Thread(target=put, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert memo.size == sum(size for _, size in memo._entries.values()) <= 50_000


# Every per-container structure, counted by the rule ------------------------------------------


def test_the_proxy_memo_stays_within_its_bound_whatever_the_hosts() -> None:
    from lambda_http_cache.session import PROXY_MEMO_BYTES, CachedHttpSession
    from requests_cache.backends.base import BaseCache

    session = CachedHttpSession(backend=BaseCache())
    for number in range(3_000):
        url = f"https://{'x' * 200}{number}.example/"
        session.merge_environment_settings(url, {"no_proxy": "y" * 1_000}, None, None, None)
        assert session._proxy_memo.size <= PROXY_MEMO_BYTES
    assert len(session._proxy_memo) > 0


def test_the_leases_asked_stay_within_their_bound_whatever_the_keys() -> None:
    from lambda_http_cache.session import LEASES_ASKED_BYTES, CachedHttpSession
    from requests_cache.backends.base import BaseCache
    from requests_cache.models.response import CachedResponse

    class Leasing(BaseCache):
        def acquire_lease(self, key: str, seconds: float, stored_at: Any = None) -> bool:
            return True

    session = CachedHttpSession(backend=Leasing())
    stale = CachedResponse(status_code=200)
    for number in range(5_000):
        assert session._lease(f"{number}-{'k' * 500}", stale) is True
        assert session._taken_on.size <= LEASES_ASKED_BYTES
    assert session._lease(f"4999-{'k' * 500}", stale) is False  # the latest ask is remembered


def test_finished_invocations_cost_the_same_few_bytes_whatever_their_ids() -> None:
    from lambda_http_cache.after_response import FINISHED_MEMO_BYTES, AfterResponse

    runner = AfterResponse()
    for number in range(2_000):
        runner.invocation_finished(f"{number}-{'r' * 10_000}")
        assert runner._finished.size <= FINISHED_MEMO_BYTES
    started = time.monotonic()
    assert runner.drain(f"1999-{'r' * 10_000}", timeout=5) == 0
    assert time.monotonic() - started < 1  # at once: its end is remembered
