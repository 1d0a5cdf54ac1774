"""The DynamoDB item format: a cached response <-> one item of plain, typed attributes.

Items are written and read in DynamoDB's low-level attribute-value form (``{"S": ...}``,
``{"B": ...}``), so no JSON or ``Decimal`` conversion ever touches a body: the body is one
binary attribute holding the origin's bytes (zlib-compressed when that saves space), and the
metadata stays readable in the console. See "Item layout" in the README.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from requests.structures import CaseInsensitiveDict
from requests_cache.models.request import CachedRequest
from requests_cache.models.response import CachedResponse

FORMAT_VERSION = 1
KIND_RESPONSE = "response"
KIND_REDIRECT = "redirect"

# Compress bodies at least this long, and keep the compressed form only when it saves at
# least an eighth: below 1 KB an item already costs the minimum write unit.
COMPRESS_MIN_BYTES = 1024
COMPRESS_MIN_SAVING = 0.125
BODY_IDENTITY = "identity"
BODY_ZLIB = "zlib"

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]


class ItemError(ValueError):
    """An item that is not a readable cache entry of this format (corrupt, foreign, newer)."""


# Encoding -------------------------------------------------------------------------------


def _s(value: str) -> AttributeValue:
    return {"S": value}


def _n(value: int | float) -> AttributeValue:
    return {"N": str(value)}


def _headers(headers: Mapping[str, str]) -> AttributeValue:
    return {"M": {str(name): _s(str(value)) for name, value in headers.items()}}


def encode_body(content: bytes) -> tuple[bytes, str]:
    """The bytes to store for a body, and how they are encoded."""
    if len(content) >= COMPRESS_MIN_BYTES:
        compressed = zlib.compress(content, 6)
        if len(compressed) <= len(content) * (1 - COMPRESS_MIN_SAVING):
            return compressed, BODY_ZLIB
    return content, BODY_IDENTITY


def encode_response(
    key: str, namespace: str, response: CachedResponse, *, ttl: bool = True
) -> Item:
    """The item that stores ``response`` under the table key ``key``."""
    content = response._content or b""
    stored, body_encoding = encode_body(content)
    request = response.request
    item: Item = {
        "key": _s(key),
        "v": _n(FORMAT_VERSION),
        "kind": _s(KIND_RESPONSE),
        "namespace": _s(namespace),
        "method": _s(request.method or "GET"),
        "url": _s(response.url or request.url or ""),
        "status": _n(int(response.status_code)),
        "reason": _s(response.reason or ""),
        "headers": _headers(response.headers),
        "created": _s(response.created_at.isoformat()),
        "elapsed": _n(round(response.elapsed.total_seconds(), 6)),
        "body_size": _n(len(content)),
        "body_encoding": _s(body_encoding),
        "request": {
            "M": {
                "method": _s(request.method or "GET"),
                "url": _s(request.url or ""),
                "headers": _headers(request.headers),
            }
        },
    }
    if stored:
        item["body"] = {"B": stored}
    if response.encoding:
        item["encoding"] = _s(response.encoding)
    if response.expires is not None:
        item["expires"] = _s(response.expires.isoformat())
        if ttl:
            item["ttl"] = _n(expires_epoch(response.expires))
    if response.history:
        item["history"] = {"L": [_encode_redirect_response(r) for r in response.history]}
    return item


def _encode_redirect_response(response: CachedResponse) -> AttributeValue:
    # Redirect hops keep their metadata; their bodies are not worth paying for.
    return {
        "M": {
            "method": _s(response.request.method or "GET"),
            "url": _s(response.url or ""),
            "status": _n(int(response.status_code)),
            "reason": _s(response.reason or ""),
            "headers": _headers(response.headers),
        }
    }


def encode_redirect(key: str, namespace: str, target: str, expires: datetime | None) -> Item:
    """An alias item: the request stored under ``key`` was redirected to entry ``target``."""
    item: Item = {
        "key": _s(key),
        "v": _n(FORMAT_VERSION),
        "kind": _s(KIND_REDIRECT),
        "namespace": _s(namespace),
        "target": _s(target),
    }
    if expires is not None:
        item["ttl"] = _n(expires_epoch(expires))
    return item


def expires_epoch(expires: datetime) -> int:
    return int(expires.timestamp())


def item_size(item: Item) -> int:
    """DynamoDB's size of an item: attribute names plus values, in bytes (close upper bound)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: AttributeValue) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "B":
        return len(data)
    if kind == "N":
        return len(data) // 2 + 2
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _value_size(v) for k, v in data.items())
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in data)
    return 1


# Decoding -------------------------------------------------------------------------------


def _get(item: Mapping[str, Any], name: str, kind: str, required: bool = True) -> Any:
    value = item.get(name)
    if value is None:
        if required:
            raise ItemError(f"attribute {name!r} is missing")
        return None
    if not isinstance(value, dict) or kind not in value:
        raise ItemError(f"attribute {name!r} is not of type {kind}")
    return value[kind]


def _decode_headers(value: Any, name: str) -> CaseInsensitiveDict[str]:
    if not isinstance(value, dict):
        raise ItemError(f"attribute {name!r} is not a map")
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    for header in value:
        headers[header] = _get(value, header, "S")
    return headers


def _decode_datetime(raw: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(raw)
    except (TypeError, ValueError):
        raise ItemError(f"attribute {name!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise ItemError(f"attribute {name!r} has no time zone")
    return parsed


def _decode_number(raw: str, name: str) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise ItemError(f"attribute {name!r} is not a number") from None


def item_kind(item: Mapping[str, Any]) -> str:
    """The kind of a cache item, after checking its format version."""
    version = _get(item, "v", "N")
    if version != str(FORMAT_VERSION):
        raise ItemError(f"item format {version!r} is not {FORMAT_VERSION}")
    kind = _get(item, "kind", "S")
    if kind not in (KIND_RESPONSE, KIND_REDIRECT):
        raise ItemError(f"unknown item kind {kind!r}")
    return str(kind)


def redirect_target(item: Mapping[str, Any]) -> str:
    return str(_get(item, "target", "S"))


def decode_body(stored: bytes, body_encoding: str, size: int) -> bytes:
    if body_encoding == BODY_IDENTITY:
        content = stored
    elif body_encoding == BODY_ZLIB:
        try:
            content = zlib.decompress(stored)
        except zlib.error as error:
            raise ItemError(f"compressed body is unreadable: {error}") from None
    else:
        raise ItemError(f"unknown body encoding {body_encoding!r}")
    if len(content) != size:
        raise ItemError(f"body is {len(content)} bytes, item says {size}")
    return content


def decode_response(item: Mapping[str, Any]) -> CachedResponse:
    """The response stored in ``item``; raises :class:`ItemError` if it is not one."""
    if item_kind(item) != KIND_RESPONSE:
        raise ItemError("item is a redirect alias, not a response")
    body = _get(item, "body", "B", required=False)
    content = decode_body(
        bytes(body) if body is not None else b"",
        _get(item, "body_encoding", "S"),
        int(_decode_number(_get(item, "body_size", "N"), "body_size")),
    )
    request_map = _get(item, "request", "M")
    request = CachedRequest(
        method=_get(request_map, "method", "S"),
        url=_get(request_map, "url", "S"),
        headers=_decode_headers(_get(request_map, "headers", "M"), "request.headers"),
    )
    expires = _get(item, "expires", "S", required=False)
    history = [_decode_redirect_response(h) for h in _get(item, "history", "L", False) or []]
    return CachedResponse(
        content=content,
        created_at=_decode_datetime(_get(item, "created", "S"), "created"),
        elapsed=timedelta(seconds=_decode_number(_get(item, "elapsed", "N"), "elapsed")),
        encoding=_get(item, "encoding", "S", required=False),
        expires=_decode_datetime(expires, "expires") if expires is not None else None,
        headers=_decode_headers(_get(item, "headers", "M"), "headers"),
        history=history,
        reason=_get(item, "reason", "S"),
        request=request,
        status_code=int(_decode_number(_get(item, "status", "N"), "status")),
        url=_get(item, "url", "S"),
    )


def _decode_redirect_response(value: Any) -> CachedResponse:
    if not isinstance(value, dict) or "M" not in value:
        raise ItemError("history entry is not a map")
    hop = value["M"]
    url = _get(hop, "url", "S")
    return CachedResponse(
        content=b"",
        headers=_decode_headers(_get(hop, "headers", "M"), "history.headers"),
        reason=_get(hop, "reason", "S"),
        request=CachedRequest(method=_get(hop, "method", "S"), url=url),
        status_code=int(_decode_number(_get(hop, "status", "N"), "history.status")),
        url=url,
    )
