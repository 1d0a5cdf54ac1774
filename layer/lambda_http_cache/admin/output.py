"""How the admin commands' reports look: text for a person, JSON for a script; progress lines
and the confirmation prompt on stderr; counts, sizes and durations for a person to read (a
count and its noun agree: :func:`plural`); and every control character in shown text
escaped."""

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
    Progress,
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
            f"{stats.items:,}: {plural(stats.responses, 'response')}, "
            f"{plural(stats.redirects, 'redirect alias')}, {stats.unreadable:,} unreadable"
            + (
                ", "
                + plural(
                    stats.markers,
                    "invalidation, lease or fill marker",
                    "invalidation, lease and fill markers",
                )
                if stats.markers
                else ""
            ),
        ),
        (
            "size",
            f"{human_bytes(stats.size)} ({plural(stats.size, 'byte')}), "
            f"largest item {human_bytes(stats.largest)}",
        ),
        (
            "expired",
            f"{stats.expired:,} of {stats.readable:,} readable ({stats.expired_share:.1%}), "
            "still stored until DynamoDB's TTL deletes them",
        ),
        ("never expire", plural(stats.never_expire, "response")),
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
        f"{plural(document['body_size'], 'byte')} raw, "
        f"{plural(document['body_stored_size'], 'byte')} stored "
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
        size = plural(document["body_size"], "byte")
        print(f"body: binary, {size}; first bytes (hex):", file=out)
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
    what = describe(report.deleted, report.selection)
    print(f"deleted {what} from table {report.table}", file=out)
    if report.unreadable_left:
        left = plural(report.unreadable_left, "unreadable item")
        print(
            f"left {left} (not this library's format); `clear` or `purge --namespace` removes "
            f"{'it' if report.unreadable_left == 1 else 'them'}",
            file=out,
        )


def describe(count: int, selection: Selection) -> str:
    """``count`` items of those a purge or clear deletes, in words: ``2 expired items``."""
    if selection.expired:
        return plural(count, "expired item") + (
            f" of namespace {selection.namespace}" if selection.namespace else ""
        )
    if selection.namespace:
        return plural(count, "item") + f" of namespace {selection.namespace}"
    return plural(count, "item") + (" (the only one)" if count == 1 else " (all of them)")


# Interaction on a terminal ------------------------------------------------------------------


class ProgressLines:
    """Items read or deleted so far, to stderr: the ``start`` line at once (if any), then a
    count every :data:`PROGRESS_INTERVAL` seconds (and every ``every`` items, if given), and
    the total at the end if anything was shown (a short delete stays silent)."""

    def __init__(
        self,
        label: str,
        terminal: Terminal,
        *,
        action: str,
        every: int | None,
        start: str | None = None,
    ) -> None:
        self.label = label
        self.terminal = terminal
        self.action = action
        self.every = max(every, 1) if every is not None else None
        self.count = 0
        self.shown = False
        self.started = self.last = time.monotonic()
        if start is not None:
            self._line(start)

    def tick(self, count: int = 1) -> None:
        before, self.count = self.count, self.count + count
        if not self.terminal.enabled:
            return
        crossed = self.every is not None and self.count // self.every > before // self.every
        if crossed or time.monotonic() - self.last >= PROGRESS_INTERVAL:
            self._line(f"{plural(self.count, 'item')} {self.action} so far ({self._elapsed()})")

    def done(self) -> None:
        if self.shown:
            total = f"{plural(self.count, 'item')} {self.action} in {self._elapsed()}"
            self._line(total, final=True)

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self.started:.1f} s"

    def _line(self, text: str, *, final: bool = False) -> None:
        if self.terminal.enabled:
            self.terminal.status(f"{self.label}: {text}", final=final)
            self.shown = True
        self.last = time.monotonic()


class Terminal:
    """Progress lines and the confirmation prompt on ``err``, answers read from stdin. On a
    terminal, progress lines overwrite each other; elsewhere each is a line of its own."""

    def __init__(self, err: TextIO, *, quiet: bool, progress_every: int | None) -> None:
        self.err = err
        self.enabled = not quiet
        self.progress_every = progress_every
        self.open_width = 0  # the width of a progress line not yet ended, on a terminal

    def progress(self, label: str, action: str = "read", *, start: str | None = None) -> Progress:
        return ProgressLines(label, self, action=action, every=self.progress_every, start=start)

    def status(self, line: str, *, final: bool = False) -> None:
        """Show a progress line: on a terminal, over the one before."""
        if self.err.isatty():
            self.err.write("\r" + line.ljust(self.open_width) + ("\n" if final else ""))
            self.open_width = 0 if final else max(self.open_width, len(line))
        else:
            self.err.write(line + "\n")
        self.err.flush()

    def end_line(self) -> bool:
        """End a progress line left open on a terminal (before an error message); whether
        there was one."""
        if not self.open_width:
            return False
        self.err.write("\n")
        self.err.flush()
        self.open_width = 0
        return True

    def can_confirm(self) -> bool:
        return sys.stdin.isatty()

    def confirm(self, count: int, selection: Selection, table: str) -> bool:
        self.end_line()
        self.err.write(f"Delete {describe(count, selection)} from table {table}? [y/N] ")
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


def plural(count: int, singular: str, plural: str | None = None) -> str:
    """``count`` and the noun that agrees with it: ``0 responses``, ``1 response``,
    ``2,000 responses``; ``plural`` when adding "s" (or "es" after s, x, z, ch, sh) is not
    the noun's plural."""
    if count == 1:
        return f"1 {singular}"
    if plural is None:
        ending = "es" if singular.endswith(("s", "x", "z", "ch", "sh")) else "s"
        plural = singular + ending
    return f"{count:,} {plural}"


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
