"""The response bodies every variant is measured on, generated from fixed seeds (the same
bytes on every run)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

WORDS = [
    *("espresso", "oat", "mug", "kettle", "filter", "grinder", "roast", "bean", "arabica"),
    *("robusta", "decaf", "blend", "origin", "single", "crema", "milk", "foam", "cup", "lid"),
    *("sleeve", "scale", "timer", "tamper", "portafilter", "basket", "dripper", "carafe"),
    *("press", "cold", "brew", "syrup", "vanilla", "caramel", "hazelnut", "cocoa"),
]


@dataclass(frozen=True)
class Body:
    name: str
    path: str
    content: bytes
    content_type: str
    description: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.content)


def _product(rng: random.Random, index: int) -> dict[str, object]:
    """One catalogue record, as a typical JSON API returns it: ids, prices, counts, text."""
    return {
        "id": index,
        "sku": f"SKU-{rng.randrange(10**6):06d}",
        "name": " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 4))).title(),
        "price": round(rng.uniform(1, 500), 2),
        "currency": "EUR",
        "stock": rng.randint(0, 5000),
        "rating": round(rng.uniform(1, 5), 1),
        "reviews": rng.randint(0, 20000),
        "weight_kg": round(rng.uniform(0.05, 25), 3),
        "tags": rng.sample(WORDS, 3),
        "available": rng.random() > 0.2,
        "updated": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z",
    }


def _json_list(seed: int, target_bytes: int) -> bytes:
    """A JSON array of records (``json.dumps`` layout) of about ``target_bytes``."""
    rng = random.Random(seed)
    records: list[dict[str, object]] = []
    size = 2
    while size < target_bytes:
        record = _product(rng, len(records) + 1)
        records.append(record)
        size += len(json.dumps(record)) + 2
    return json.dumps(records).encode()


def _json_report(seed: int, target_bytes: int) -> bytes:
    """A larger, more repetitive JSON document (a paginated listing with nested records):
    about ``target_bytes``, highly compressible like most big API answers."""
    rng = random.Random(seed)
    items = []
    size = 0
    while size < target_bytes:
        index = len(items) + 1
        item = {
            "id": index,
            "type": "product",
            "attributes": {
                "status": "active" if index % 7 else "archived",
                "category": WORDS[index % 12],
                "price": {"amount": round(rng.uniform(1, 100), 2), "currency": "EUR"},
                "stock": index % 50,
            },
            "links": {"self": f"https://api.example.com/v1/products/{index}"},
        }
        items.append(item)
        size += len(json.dumps(item)) + 2
    return json.dumps({"data": items, "meta": {"count": len(items), "page": 1}}).encode()


def make_bodies() -> list[Body]:
    small = _product(random.Random(1), 1)
    small["description"] = " ".join(random.Random(2).choice(WORDS) for _ in range(90))
    small["variants"] = [_product(random.Random(3 + i), 100 + i) for i in range(1)]
    return [
        Body(
            "small_json",
            "/small.json",
            json.dumps(small).encode(),
            "application/json",
            "small JSON (one product record, numbers included)",
        ),
        Body(
            "json_100k",
            "/list-100k.json",
            _json_list(seed=10, target_bytes=100 * 1024),
            "application/json",
            "100 KB JSON (a list of product records with numbers)",
        ),
        Body(
            "json_1m",
            "/report-1m.json",
            _json_report(seed=20, target_bytes=1024 * 1024),
            "application/json",
            "1 MB compressible JSON (a paginated listing)",
        ),
        Body(
            "binary_64k",
            "/blob.bin",
            random.Random(30).randbytes(64 * 1024),
            "application/octet-stream",
            "64 KB random binary",
        ),
    ]
