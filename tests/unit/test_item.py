"""The item format: entries, aliases, tombstones and leases <-> DynamoDB items."""

from __future__ import annotations

from lambda_http_cache.item import item_size


def test_item_size_follows_dynamodbs_rules() -> None:
    assert item_size({"key": {"S": "ab:c"}}) == 3 + 4
    assert item_size({"b": {"B": b"\x00" * 10}}) == 1 + 10
    assert item_size({"n": {"N": "-123.4500"}}) == 1 + 4  # 12345: 3 bytes, plus 1
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert item_size({"l": {"L": [{"N": "1"}, {"BOOL": True}]}}) == 1 + 3 + (1 + 2) + (1 + 1)
