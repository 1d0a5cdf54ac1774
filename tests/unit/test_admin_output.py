"""The admin command's words for counts: one helper, a noun that agrees with its count."""

from __future__ import annotations

import pytest
from lambda_http_cache.admin.commands import Selection
from lambda_http_cache.admin.output import describe, plural


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 responses"), (1, "1 response"), (2, "2 responses"), (12_000, "12,000 responses")],
)
def test_plural_agrees_with_the_count(count: int, expected: str) -> None:
    assert plural(count, "response") == expected


def test_plural_forms() -> None:
    assert [plural(n, "redirect alias") for n in (0, 1, 2)] == [
        "0 redirect aliases",
        "1 redirect alias",
        "2 redirect aliases",
    ]
    assert plural(
        2, "invalidation, lease or fill marker", "invalidation, lease and fill markers"
    ) == ("2 invalidation, lease and fill markers")


@pytest.mark.parametrize(
    ("count", "selection", "expected"),
    [
        (0, Selection(), "0 items (all of them)"),
        (1, Selection(), "1 item (the only one)"),
        (2, Selection(), "2 items (all of them)"),
        (1, Selection(expired=True), "1 expired item"),
        (2, Selection(expired=True, namespace="a"), "2 expired items of namespace a"),
        (1, Selection(namespace="a"), "1 item of namespace a"),
    ],
)
def test_what_a_purge_deletes_in_words(count: int, selection: Selection, expected: str) -> None:
    assert describe(count, selection) == expected
