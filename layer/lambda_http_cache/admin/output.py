"""How the admin commands' reports look: text for a person, JSON for a script; progress lines
and the confirmation prompt on stderr; sizes and durations for a person to read; and every
control character in shown text escaped."""

from __future__ import annotations

import io
import json
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from .commands import (
    PROGRESS_INTERVAL,
    DeleteReport,
    EntryReport,
    PurgeReport,
    Report,
    Selection,
    StatsReport,
)


def show(report: Report, out: TextIO, *, as_json: bool) -> None:
    """Print ``report`` to ``out``."""
    if as_json:
        # The single-line documents of the deleting commands are for scripts that read lines.
        indent = 2 if isinstance(report, StatsReport | EntryReport) else None
        print(json.dumps(report.document(), indent=indent), file=out)
    elif isinstance(report, StatsReport):
        _print_stats(report, out)
    elif isinstance(report, EntryReport):
        _print_entry(report.entry, out)
    elif isinstance(report, DeleteReport):
        _print_delete(report, out)
    else:
        _print_purge(report, out)


def _print_stats(report: StatsReport, out: TextIO) -> None:
    stats, now = report.stats, report.now
    rows = [
        ("table", report.table + (f" (namespace {report.namespace})" if report.namespace else "")),
        (
            "items",
            f"{stats.items:,}: {stats.responses:,} responses, "
            f"{stats.redirects:,} redirect aliases, {stats.unreadable:,} unreadable"
            + (f", {stats.markers:,} invalidation and lease markers" if stats.markers else ""),
        ),
        (
            "size",
            f"{human_bytes(stats.size)} ({stats.size:,} bytes), "
            f"largest item {human_bytes(stats.largest)}",
        ),
        (
            "expired",
            f"{stats.expired:,} of {stats.readable:,} readable ({stats.expired_share:.1%}), "
            "still stored until DynamoDB's TTL deletes them",
        ),
        ("never expire", f"{stats.never_expire:,} responses"),
        ("oldest", when(stats.oldest, now)),
        ("newest", when(stats.newest, now)),
    ]
    for label, value in rows:
        print(f"{label:<14}{value}", file=out)
    if stats.namespaces:
        width = max(len(name) for name in stats.namespaces) + 2
        print(f"{'namespace':<{width}}{'items':>10}  size", file=out)
        for name, count in sorted(stats.namespaces.items()):
            size = human_bytes(stats.namespace_sizes[name])
            print(f"{name:<{width}}{count:>10,}  {size}", file=out)
    for key, error in stats.unreadable_examples:
        print(f"unreadable    {key}: {error}", file=out)


def _print_entry(document: dict[str, Any], out: TextIO) -> None:
    def row(label: str, value: Any) -> None:
        print(f"{label:<16}{value}", file=out)

    row("request", document["request"])
    row("key", document["key"])
    if "alias_of" in document:
        row("alias of", document["alias_of"])
    if not document["found"] or "status" not in document:
        if "attributes" in document:
            attributes = ", ".join(f"{n} ({t})" for n, t in sorted(document["attributes"].items()))
            row("attributes", attributes)
        row("error", document["error"])
        return
    now = datetime.now(UTC)
    row("status", f"{document['status']} {document['reason']}")
    row("url", f"{document['method']} {document['url']}")
    row("created", when(_parse(document["created"]), now))
    expires = _parse(document["expires"])
    state = "fresh" if document["fresh"] else "expired"
    row("expires", f"{when(expires, now)}, {state}" if expires else f"never, {state}")
    if document["ttl"] is not None:
        ttl = datetime.fromtimestamp(document["ttl"], UTC).isoformat()
        row("ttl", f"{document['ttl']} ({ttl})")
    row(
        "body size",
        f"{document['body_size']:,} bytes raw, {document['body_stored_size']:,} bytes stored "
        f"({document['body_encoding']}); item {human_bytes(document['item_size'])}",
    )
    if document["encoding"]:
        row("encoding", document["encoding"])
    for hop in document["history"]:
        row("redirected", f"{hop['status']} {hop['url']}")
    print("headers", file=out)
    for name, value in document["headers"].items():
        print(f"  {name}: {value}", file=out)
    if document["request_headers"]:
        print("request headers", file=out)
        for name, value in document["request_headers"].items():
            print(f"  {name}: {value}", file=out)
    if document["body_size"] == 0:
        print("body: empty", file=out)
    elif document["body"] is None:
        more = " ..." if document["body_truncated"] else ""
        print(f"body: binary, {document['body_size']:,} bytes; first bytes (hex):", file=out)
        print(document["body_hex_prefix"] + more, file=out)
    else:
        cut = " (truncated, see --max-body)" if document["body_truncated"] else ""
        print(f"body: text{cut}", file=out)
        print(document["body"], file=out)


def _print_delete(report: DeleteReport, out: TextIO) -> None:
    if report.deleted:
        print(f"deleted {report.key} ({report.request})", file=out)
    else:
        print(f"nothing cached under {report.key} ({report.request})", file=out)


def _print_purge(report: PurgeReport, out: TextIO) -> None:
    what = describe(report.selection)
    print(f"deleted {report.deleted:,} {what} from table {report.table}", file=out)
    if report.unreadable_left:
        print(
            f"left {report.unreadable_left:,} unreadable items (not this library's format); "
            "`clear` or `purge --namespace` removes them",
            file=out,
        )


def describe(selection: Selection) -> str:
    """The items a purge or clear deletes, in words."""
    if selection.expired:
        return "expired items" + (
            f" of namespace {selection.namespace}" if selection.namespace else ""
        )
    if selection.namespace:
        return f"items of namespace {selection.namespace}"
    return "items (all of them)"


# Interaction on a terminal ------------------------------------------------------------------


class ProgressLines:
    """Items read so far, to stderr: every ``every`` items and at least every few seconds."""

    def __init__(self, label: str, stream: TextIO, *, enabled: bool, every: int) -> None:
        self.label = label
        self.stream = stream
        self.enabled = enabled
        self.every = max(every, 1)
        self.count = 0
        self.shown = False
        self.started = self.last = time.monotonic()

    def tick(self) -> None:
        self.count += 1
        if not self.enabled:
            return
        if self.count % self.every == 0 or time.monotonic() - self.last >= PROGRESS_INTERVAL:
            self._show(final=False)

    def done(self) -> None:
        if self.enabled and self.shown:  # a short scan stays silent
            self._show(final=True)

    def _show(self, *, final: bool) -> None:
        self.last = time.monotonic()
        elapsed = self.last - self.started
        state = "done" if final else "so far"
        line = f"{self.label}: {self.count:,} items read {state} ({elapsed:.1f} s)"
        if self.stream.isatty():
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self.shown = True


class Terminal:
    """Progress lines and the confirmation prompt on ``err``, answers read from stdin."""

    def __init__(self, err: TextIO, *, quiet: bool, progress_every: int) -> None:
        self.err = err
        self.quiet = quiet
        self.progress_every = progress_every

    def progress(self, label: str) -> ProgressLines:
        return ProgressLines(label, self.err, enabled=not self.quiet, every=self.progress_every)

    def can_confirm(self) -> bool:
        return sys.stdin.isatty()

    def confirm(self, count: int, selection: Selection, table: str) -> bool:
        self.err.write(f"Delete {count:,} {describe(selection)} from table {table}? [y/N] ")
        self.err.flush()
        try:
            answer = input()
        except (EOFError, KeyboardInterrupt):
            answer = ""
            self.err.write("\n")
        return answer.strip().lower() in ("y", "yes")


# Text -------------------------------------------------------------------------------------

# Control characters (all but tab and newline), and the invisible and bidirectional
# formatting characters that can make shown text read other than it is.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with every unprintable character shown as its escape (ESC as ``\\x1b``)."""
    return _UNPRINTABLE.sub(lambda match: match.group().encode("unicode_escape").decode(), text)


class Printable(io.TextIOBase):
    """A text stream that writes :func:`printable` text to ``stream``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(printable(text))

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def human_bytes(size: int) -> str:
    amount = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GB"


def when(value: datetime | None, now: datetime) -> str:
    """``value`` in ISO 8601 and how long ago (or from now) it is."""
    if value is None:
        return "-"
    delta = (value - now).total_seconds()
    relative = f"in {duration(delta)}" if delta > 0 else f"{duration(delta)} ago"
    return f"{value.isoformat()} ({relative})"


def duration(seconds: float) -> str:
    """The two largest units of ``seconds``: ``1m 2s``, ``3d 4h``, ``0s``."""
    rest = int(abs(seconds))
    parts = []
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, length)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts[:2]) or "0s"
