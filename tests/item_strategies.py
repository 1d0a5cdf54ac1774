"""Hypothesis strategies for hostile table items: DynamoDB attribute values of every type
(in the low-level form boto3's client reads and writes), and mutations of a valid item (an
attribute set to any of them, or removed, at the top level or inside a map or list). Every
value is one DynamoDB accepts, so each mutated item can be written to the table as is."""

from __future__ import annotations

import copy
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

# Texts a reader might try to parse: times with and without a zone, at datetime's limits and
# past them, numbers, URLs a parser refuses, codec names, the formats' own words.
TRICKY_TEXTS = (
    "",
    "2025-03-01T12:00:00",  # no zone
    "2025-03-01T12:00:00+00:00",
    "2025-03-01T12:00:00.123456+14:00",
    "0001-01-01T00:00:00+14:00",  # in UTC, before year 1
    "9999-12-31T23:59:59.999999-14:00",  # in UTC, after year 9999
    "9999-12-31T23:59:59+00:00",
    "1969-12-31T23:59:59+00:00",
    "1970-01-01T00:00:00Z",
    "2999-01-01T00:00:00+00:00",
    "yesterday",
    "NaN",
    "-1",
    "1e999",
    "http://[::1",  # the URL parser raises
    "http://host:99999/",  # a port out of range
    "http://origin.test/final",
    "mock://origin.test/",
    "rot13",  # a codec, but not a text encoding
    "utf-8",
    "no-such-codec",
    "identity",
    "zlib",
    "gzip",
    "response",
    "redirect",
    "lease",
    "tombstone",
    "1",
    "GET",
    "s3://bucket/elsewhere",
    "\x00\r\n\x1b[2J",
    "é" * 30,
)
TRICKY_NUMBERS = (
    "0",
    "-0",
    "1",
    "-1",
    "1.5",
    "0.000001",
    "99",
    "100",
    "200",
    "301",
    "999",
    "1000",
    "2147483648",  # 2**31
    "8640000000000",
    "1e125",  # DynamoDB's largest magnitude
    "-1e125",
    "1e-130",
    "9" * 38,  # 38 digits, DynamoDB's precision
    "-" + "9" * 38,
)
# A compression bomb: a few KB that inflate to 10 MB.
BOMB = zlib.compress(bytes(10 * 1024 * 1024), 9)

texts = st.one_of(st.sampled_from(TRICKY_TEXTS), st.text(max_size=60))
numbers = st.one_of(
    st.sampled_from(TRICKY_NUMBERS),
    st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1).map(str),
    # DynamoDB's magnitudes: none below 1e-130 but zero.
    st.floats(min_value=-1e120, max_value=1e120)
    .filter(lambda value: value == 0 or abs(value) > 1e-120)
    .map(repr),
)
binaries = st.one_of(st.just(b"").map(lambda _: BOMB), st.binary(max_size=64))  # repr: short
scalars = st.one_of(
    texts.map(lambda value: {"S": value}),
    numbers.map(lambda value: {"N": value}),
    binaries.map(lambda value: {"B": value}),
    st.booleans().map(lambda value: {"BOOL": value}),
    st.just({"NULL": True}),
)
attribute_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda value: {"L": value}),
        st.dictionaries(st.text(min_size=1, max_size=12), children, max_size=4).map(
            lambda value: {"M": value}
        ),
    ),
    max_leaves=8,
)

# Names that items of this format have, or that a reader looks for.
ATTRIBUTES = (
    "v",
    "kind",
    "namespace",
    "method",
    "url",
    "status",
    "reason",
    "headers",
    "created",
    "expires",
    "ttl",
    "elapsed",
    "age",
    "encoding",
    "body",
    "body_size",
    "body_encoding",
    "body_location",
    "request",
    "history",
    "next",
    "target",
    "hop",
    "holder",
    "since",
    "until",
)
REMOVE = None  # a mutation that removes the attribute


@dataclass(frozen=True)
class Mutation:
    """Set (or remove, if ``value`` is None) the attribute at ``path`` of the item named
    ``target``: a top-level name, then names in maps and indexes in lists."""

    target: str
    path: tuple[str | int, ...]
    value: dict[str, Any] | None

    def apply(self, item: dict[str, Any]) -> None:
        """Change ``item`` in place. A path through something that is not a map or a list (an
        earlier mutation replaced it) stops there: what it reached is set or removed."""
        node: Any = item
        steps = list(self.path)
        while len(steps) > 1:
            child = _child(node, steps[0])
            inner = child.get("M", child.get("L")) if isinstance(child, dict) else None
            if not isinstance(inner, dict | list) or (isinstance(inner, list) and not inner):
                break
            node = inner
            steps.pop(0)
        step = steps[0]
        if isinstance(node, list):
            index = (step if isinstance(step, int) else 0) % len(node)
            if self.value is REMOVE:
                node.pop(index)
            else:
                node[index] = self.value
        elif self.value is REMOVE:
            node.pop(str(step), None)
        else:
            node[str(step)] = self.value


def _child(node: Any, step: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(str(step))
    if isinstance(node, list) and node:
        return node[(step if isinstance(step, int) else 0) % len(node)]
    return None


def _paths(value: Any, path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    """Every attribute path inside ``value`` (a low-level attribute value), with its type."""
    ((kind, inner),) = value.items()
    found = [(path, kind)]
    if kind == "M":
        for name, child in inner.items():
            found += _paths(child, (*path, name))
    elif kind == "L":
        for index, child in enumerate(inner):
            found += _paths(child, (*path, index))
    return found


def _values(kind: str) -> st.SearchStrategy[dict[str, Any] | None]:
    """A replacement for an attribute of type ``kind``: mostly one of the same type that a
    reader must still refuse or bound, else anything, or nothing."""
    same: dict[str, st.SearchStrategy[dict[str, Any]]] = {
        "S": texts.map(lambda value: {"S": value}),
        "N": numbers.map(lambda value: {"N": value}),
        "B": binaries.map(lambda value: {"B": value}),
    }
    typed = same.get(kind, attribute_values)
    return st.one_of(typed, typed, attribute_values, st.none())


def mutations(items: dict[str, dict[str, Any]]) -> st.SearchStrategy[Mutation]:
    """Mutations of ``items`` (by name): of an attribute they have, anywhere in them, or of one
    of the format's names they lack."""
    known: list[tuple[str, tuple[str | int, ...], str]] = []
    for target, item in items.items():
        for name, value in item.items():
            if name != "key":
                known += [(target, path, kind) for path, kind in _paths(value, (name,))]
        known += [(target, (name,), "S") for name in ATTRIBUTES if name not in item]
    return st.sampled_from(known).flatmap(
        lambda found: st.builds(
            Mutation, target=st.just(found[0]), path=st.just(found[1]), value=_values(found[2])
        )
    )


def mutated(items: dict[str, dict[str, Any]], changes: Sequence[Mutation]) -> dict[str, Any]:
    """Copies of ``items`` (by name) with ``changes`` applied; "key" is never changed."""
    result = copy.deepcopy(items)
    for change in changes:
        if change.path[0] != "key":
            change.apply(result[change.target])
    return result
