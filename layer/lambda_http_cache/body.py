"""Reading a response's body for the cache: never more of it than the cache may store.

A response to a ``stream=True`` request reaches the cache unread (requests leaves its
``_content`` False until someone reads it). :func:`read_within` reads at most one byte past
the bound, decoded, in small chunks: urllib3 bounds what each chunk decompresses to, so a
compression bomb costs the bound and a chunk, not what it inflates to. A ``Content-Length``
over the bound, on a body sent as is, means no read at all.

Whatever the cache read, the caller gets the body as without a cache:

- If it fits, it is the response's content, as if requests had read it (``content``,
  ``text``, ``iter_content``), and ``response.raw`` gives it again.
- If not, nothing is stored, and ``response.raw`` becomes a :class:`Replay`: the chunks the
  cache read, then the rest of the original stream, so ``iter_content``, ``content``,
  ``text`` and ``raw.read()`` all give the whole body. A replay gives the body decoded (as
  ``iter_content`` does), whatever ``decode_content`` asks: the encoded form of what was read
  is not kept. A read that fails part way gives the chunks read, then raises the same error.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from requests import Response
from urllib3.response import BaseHTTPResponse

# Decoded bytes read at a time: what one step of a compression bomb can cost beyond the bound.
CHUNK_BYTES = 64 * 1024
# Responses that never have a body, whatever their Content-Length says.
_BODILESS_STATUSES = frozenset({204, 304})


def read_within(response: Response, max_bytes: int) -> bool:
    """Make the body of ``response`` its content if it is at most ``max_bytes`` decoded
    bytes; whether it is (False: the body is larger, read no further than ``max_bytes + 1``
    bytes, and put back for the caller). A body already read (any request without
    ``stream=True``) is left as it is: True, its size is the caller's check. An error of the
    origin's stream is raised after the chunks read are put back for the caller."""
    content: Any = response._content  # False until read: requests' own marker
    if content is not False or getattr(response, "_content_consumed", False):
        return True
    raw = response.raw
    if raw is None or response.status_code == 0:
        return True
    declared = declared_length(response)
    if declared is not None and declared > max_bytes:
        return False  # not a byte read: the caller reads it all from the origin
    max_bytes = max(max_bytes, 0)
    chunks: list[bytes] = []
    size = 0
    read = decoded_reader(raw)
    try:
        while chunk := read(min(CHUNK_BYTES, max_bytes + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                response.raw = Replay(raw, chunks, read)
                return False
    except Exception as error:
        response.raw = Replay(raw, chunks, None, error)
        raise
    content = b"".join(chunks)
    response._content = content
    response._content_consumed = True  # type: ignore[attr-defined]
    response.raw = Replay(raw, [content], None)
    return True


def declared_length(response: Response) -> int | None:
    """The body's length as its ``Content-Length`` states it, when that is the length of the
    body as sent and received as is (no content or transfer coding), else None."""
    method = str(getattr(response.request, "method", "") or "").upper()
    status = response.status_code
    if method == "HEAD" or status < 200 or status in _BODILESS_STATUSES:
        return None
    headers = response.headers
    coding = str(headers.get("Content-Encoding") or "identity").strip().lower()
    if coding != "identity" or "chunked" in str(headers.get("Transfer-Encoding") or "").lower():
        return None
    length = str(headers.get("Content-Length") or "").strip()
    return int(length) if length.isdigit() and length.isascii() else None


def decoded_reader(raw: Any) -> Callable[[int], bytes]:
    """A function that reads the next bytes of the decoded body of ``raw``, at most as many
    as asked (b"" at the end). urllib3 decompresses no more than that much per call; each
    call is a whole read, so the reads can stop and go on at any point."""
    if isinstance(raw, BaseHTTPResponse):
        return lambda amount: raw.read(amount, decode_content=True)
    return lambda amount: bytes(raw.read(amount))


class Replay:
    """A response's raw stream with what the cache read of it put back (see the module's
    docstring): ``stream()`` and ``read()`` give the chunks read, then what ``rest`` reads
    (the rest of the decoded body: :func:`decoded_reader` of the original), then raise
    ``error`` if any. Every other attribute (``release_conn``, ``close``, ``closed``,
    ``headers``...) is the original response's."""

    def __init__(
        self,
        raw: Any,
        chunks: Iterable[bytes],
        rest: Callable[[int], bytes] | None,
        error: BaseException | None = None,
    ) -> None:
        self._replay_raw = raw
        self._replay_buffer: deque[bytes] = deque(chunk for chunk in chunks if chunk)
        self._replay_rest = rest
        self._replay_error = error

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_replay_"):  # not set yet (a copy being made): never the raw's
            raise AttributeError(name)
        return getattr(self._replay_raw, name)

    @property
    def original(self) -> Any:
        """The origin's own raw response."""
        return self._replay_raw

    def _take(self, amount: int) -> bytes:
        """The next chunk, at most ``amount`` bytes of it (the rest is kept for later); b""
        at the end."""
        if self._replay_buffer:
            chunk = self._replay_buffer.popleft()
            if amount < len(chunk):
                self._replay_buffer.appendleft(chunk[amount:])
                chunk = chunk[:amount]
            return chunk
        if self._replay_rest is not None:
            chunk = self._replay_rest(amount)
            if chunk:
                return chunk
            self._replay_rest = None
        if self._replay_error is not None:
            error, self._replay_error = self._replay_error, None
            raise error
        return b""

    def stream(self, amt: int | None = CHUNK_BYTES, decode_content: bool | None = None) -> Any:
        """As urllib3's: chunks of at most ``amt`` bytes, decoded."""
        if amt == 0:
            return
        amount = amt if amt is not None and amt > 0 else CHUNK_BYTES
        while chunk := self._take(amount):
            yield chunk

    def read(
        self, amt: int | None = None, decode_content: bool | None = None, **kwargs: Any
    ) -> bytes:
        """As urllib3's: ``amt`` bytes (all that is left if None), fewer only at the end."""
        parts = []
        wanted = amt if amt is not None and amt >= 0 else None
        while wanted is None or wanted > 0:
            chunk = self._take(CHUNK_BYTES if wanted is None else wanted)
            if not chunk:
                break
            parts.append(chunk)
            if wanted is not None:
                wanted -= len(chunk)
        return b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._replay_buffer.clear()
        self._replay_rest = None
        self._replay_error = None
        self._replay_raw.close()
