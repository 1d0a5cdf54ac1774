"""The cache admin command, ``python -m lambda_http_cache``: what is in the table, one entry as
the console would show it, and deleting entries (one, the expired ones, a namespace, all).

It speaks only DynamoDB's data plane (GetItem, DeleteItem, Scan, BatchWriteItem) and works the
same against a real table and a local server: the endpoint and region are boto3's own
(``AWS_ENDPOINT_URL_DYNAMODB``, ``AWS_REGION``) unless given. Scans read every page. Request
keys are computed by the library's backend (``DynamoDbCache.create_key``), never here, so the
command follows the library's key derivation. Items this library cannot read (foreign or
corrupt) are counted as unreadable, never fatal: ``purge --expired`` leaves them, ``clear``
and ``purge --namespace`` remove them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .backend import DynamoDbCache
from .config import DEFAULT_NAMESPACE, DEFAULT_TABLE, ConfigError, validate_namespace
from .item import (
    KIND_LEASE,
    KIND_REDIRECT,
    KIND_TOMBSTONE,
    decode_alias,
    decode_entry,
    item_kind,
    item_size,
)
from .item import Entry as ItemEntry
from .large_objects import LargeObjectStore
from .table import CacheTable, attribute, error_code

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PROG = "python -m lambda_http_cache"
UNREADABLE = "unreadable"
DEFAULT_MAX_BODY = 4096
DEFAULT_PROGRESS_EVERY = 1000
PROGRESS_INTERVAL = 2.0  # seconds between progress lines, whatever the item count
HEX_PREVIEW = 64
UNREADABLE_EXAMPLES = 5


class Refused(Exception):
    """A destructive command was not confirmed."""


# Reading items ----------------------------------------------------------------------------


@dataclass
class Entry:
    """What the library makes of one item."""

    key: str
    kind: str  # "response", "redirect" or "unreadable"
    namespace: str
    size: int
    expired: bool = False
    created: datetime | None = None
    expires: datetime | None = None
    error: str = ""


def classify(item: dict[str, Any], now: datetime) -> Entry:
    """Judge ``item`` as the library's read path would; never raises."""
    key = str(attribute(item, "key") or "")
    namespace = attribute(item, "namespace")
    if not isinstance(namespace, str):
        namespace = key.partition(":")[0] if ":" in key else "(none)"
    size = _size(item)
    try:
        kind = item_kind(item)
        if kind in (KIND_TOMBSTONE, KIND_LEASE):
            # Invalidation and lease markers: expired once DynamoDB's TTL may remove them.
            ttl = _ttl(item)
            expired = ttl is not None and now.timestamp() >= ttl
            return Entry(key, kind, namespace, size, expired=expired)
        if kind == KIND_REDIRECT:
            alias = decode_alias(item)
            return Entry(
                key, kind, namespace, size, expired=alias.is_expired(now), expires=alias.expires
            )
        # Metadata only: a scan need not decompress (or fetch from S3) every body.
        metadata = decode_entry(item, with_body=False)
        expired = metadata.expires is not None and now >= metadata.expires
        return Entry(
            key,
            kind,
            namespace,
            size,
            expired=expired,
            created=metadata.created,
            expires=metadata.expires,
        )
    except Exception as error:  # foreign or corrupt data must not stop a scan
        return Entry(key, UNREADABLE, namespace, size, error=str(error) or type(error).__name__)


def _size(item: dict[str, Any]) -> int:
    try:
        return item_size(item)
    except Exception:
        return 0


def _ttl(item: dict[str, Any]) -> int | None:
    try:
        return int(item["ttl"]["N"])
    except (KeyError, TypeError, ValueError):
        return None


class Progress:
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


def scan(
    table: CacheTable,
    progress: Progress,
    *,
    prefix: str | None = None,
    projection: Iterable[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every item of the table (or of keys starting with ``prefix``), every page."""
    for item in table.scan(prefix=prefix, projection=projection):
        progress.tick()
        yield item
    progress.done()


# Statistics -------------------------------------------------------------------------------


@dataclass
class Stats:
    items: int = 0
    responses: int = 0
    redirects: int = 0
    markers: int = 0  # tombstones and leases
    unreadable: int = 0
    size: int = 0
    largest: int = 0
    expired: int = 0
    never_expire: int = 0
    oldest: datetime | None = None
    newest: datetime | None = None
    namespaces: Counter[str] = field(default_factory=Counter)
    namespace_sizes: Counter[str] = field(default_factory=Counter)
    unreadable_examples: list[tuple[str, str]] = field(default_factory=list)

    def add(self, entry: Entry) -> None:
        self.items += 1
        self.size += entry.size
        self.largest = max(self.largest, entry.size)
        self.namespaces[entry.namespace] += 1
        self.namespace_sizes[entry.namespace] += entry.size
        if entry.kind == UNREADABLE:
            self.unreadable += 1
            if len(self.unreadable_examples) < UNREADABLE_EXAMPLES:
                self.unreadable_examples.append((entry.key, entry.error))
            return
        if entry.kind in (KIND_TOMBSTONE, KIND_LEASE):
            self.markers += 1
            return
        if entry.kind == KIND_REDIRECT:
            self.redirects += 1
        else:
            self.responses += 1
            if entry.expires is None:
                self.never_expire += 1
        self.expired += entry.expired
        if entry.created is not None:
            self.oldest = min(self.oldest or entry.created, entry.created)
            self.newest = max(self.newest or entry.created, entry.created)

    @property
    def readable(self) -> int:
        return self.responses + self.redirects

    @property
    def expired_share(self) -> float:
        return self.expired / self.readable if self.readable else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "responses": self.responses,
            "redirects": self.redirects,
            "markers": self.markers,
            "unreadable": self.unreadable,
            "size_bytes": self.size,
            "largest_item_bytes": self.largest,
            "expired": self.expired,
            "expired_share": round(self.expired_share, 4),
            "never_expire": self.never_expire,
            "oldest_created": _iso(self.oldest),
            "newest_created": _iso(self.newest),
            "namespaces": {
                name: {"items": count, "size_bytes": self.namespace_sizes[name]}
                for name, count in sorted(self.namespaces.items())
            },
            "unreadable_examples": [
                {"key": key, "error": error} for key, error in self.unreadable_examples
            ],
        }


def cmd_stats(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    table = _table(args)
    now = datetime.now(UTC)
    stats = Stats()
    prefix = f"{args.namespace}:" if args.namespace else None
    for item in scan(table, _progress(args, err, "stats"), prefix=prefix):
        stats.add(classify(item, now))
    if args.json:
        document = {"table": table.table_name, "namespace": args.namespace, **stats.as_dict()}
        print(json.dumps(document, indent=2), file=out)
        return 0
    rows = [
        ("table", table.table_name + (f" (namespace {args.namespace})" if args.namespace else "")),
        (
            "items",
            f"{stats.items:,}: {stats.responses:,} responses, "
            f"{stats.redirects:,} redirect aliases, {stats.unreadable:,} unreadable"
            + (f", {stats.markers:,} invalidation and lease markers" if stats.markers else ""),
        ),
        (
            "size",
            f"{_bytes(stats.size)} ({stats.size:,} bytes), largest item {_bytes(stats.largest)}",
        ),
        (
            "expired",
            f"{stats.expired:,} of {stats.readable:,} readable ({stats.expired_share:.1%}), "
            "still stored until DynamoDB's TTL deletes them",
        ),
        ("never expire", f"{stats.never_expire:,} responses"),
        ("oldest", _when(stats.oldest, now)),
        ("newest", _when(stats.newest, now)),
    ]
    for label, value in rows:
        print(f"{label:<14}{value}", file=out)
    if stats.namespaces:
        width = max(len(name) for name in stats.namespaces) + 2
        print(f"{'namespace':<{width}}{'items':>10}  size", file=out)
        for name, count in sorted(stats.namespaces.items()):
            size = _bytes(stats.namespace_sizes[name])
            print(f"{name:<{width}}{count:>10,}  {size}", file=out)
    for key, error in stats.unreadable_examples:
        print(f"unreadable    {key}: {error}", file=out)
    return 0


# One entry --------------------------------------------------------------------------------


def _lookup(args: argparse.Namespace) -> tuple[DynamoDbCache, str]:
    """The backend for the entry's namespace and the requests-cache key of its request."""
    # Credentials in a request add a keyed hash to its key: the secret is the function's own
    # HTTP_CACHE_KEY_SECRET (never an option, so it stays out of shell history).
    # Bodies too large for an item are in the function's bucket, if it has one.
    bucket = os.environ.get("HTTP_CACHE_S3_BUCKET")
    large_objects = (
        LargeObjectStore(
            boto3.client("s3", region_name=args.region),
            bucket,
            os.environ.get("HTTP_CACHE_S3_PREFIX") or "lambda-http-cache/",
        )
        if bucket
        else None
    )
    backend = DynamoDbCache(
        args.table,
        create_table=False,
        namespace=args.namespace,
        connection=_client(args),
        key_secret=os.environ.get("HTTP_CACHE_KEY_SECRET") or None,
        large_objects=large_objects,
    )
    request = requests.Request(args.method, args.url, headers=dict(args.header)).prepare()
    return backend, backend.create_key(request)


def cmd_get(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    backend, key = _lookup(args)
    table_key = backend.responses.table_key(key)
    document: dict[str, Any] = {
        "table": args.table,
        "namespace": args.namespace,
        "request": f"{args.method} {args.url}",
        "key": table_key,
    }
    item = backend.table.get(table_key)
    if item is not None and _kind(item) == KIND_REDIRECT:
        try:
            alias = decode_alias(item)
        except Exception as error:
            document["found"] = False
            document["error"] = f"unreadable redirect alias: {error}"
            return _show_entry(args, document, out)
        document["alias_of"] = backend.responses.table_key(alias.target)
        item = backend.table.get(document["alias_of"])
        if item is None:
            document["error"] = "redirect alias whose target is no longer stored"
        elif alias.is_expired(datetime.now(UTC)):
            document["error"] = "expired redirect alias (the library does not follow it)"
    if item is None:
        document["found"] = False
        document.setdefault("error", "nothing cached for this request")
    else:
        document["found"] = True
        document.update(_describe(item, args.max_body, backend.responses.load_entry))
    return _show_entry(args, document, out)


def _show_entry(args: argparse.Namespace, document: dict[str, Any], out: TextIO) -> int:
    if args.json:
        print(json.dumps(document, indent=2), file=out)
    else:
        _print_entry(document, out)
    return 0 if document["found"] and "error" not in document else 1


def _kind(item: dict[str, Any]) -> str:
    try:
        return item_kind(item)
    except Exception:
        return UNREADABLE


def _describe(
    item: dict[str, Any], max_body: int, load: Callable[[dict[str, Any]], ItemEntry]
) -> dict[str, Any]:
    """An item's metadata and body as plain values; the body decoded by the library."""
    stored = item.get("body", {}).get("B", b"") if isinstance(item.get("body"), dict) else b""
    facts: dict[str, Any] = {
        "item_size": _size(item),
        "body_stored_size": len(stored),
        "body_encoding": attribute(item, "body_encoding"),
    }
    if attribute(item, "body_location"):
        facts["body_location"] = attribute(item, "body_location")
    try:
        response = load(item).to_response()
    except Exception as error:
        facts["error"] = f"unreadable item: {error}"
        facts["attributes"] = {name: next(iter(value), "?") for name, value in item.items()}
        return facts
    content = response.content or b""
    facts.update(
        {
            "method": response.request.method,
            "url": response.url,
            "status": response.status_code,
            "reason": response.reason,
            "created": _iso(response.created_at),
            "expires": _iso(response.expires),
            "fresh": not response.is_expired,
            "ttl": _ttl(item),
            "headers": dict(response.headers),
            "request_headers": dict(response.request.headers),
            "history": [{"status": h.status_code, "url": h.url} for h in response.history],
            "body_size": len(content),
            "encoding": response.encoding,
        }
    )
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        facts["body"] = None
        facts["body_hex_prefix"] = content[:HEX_PREVIEW].hex(" ")
        facts["body_truncated"] = len(content) > HEX_PREVIEW
    else:
        limit = max_body if max_body > 0 else len(text)
        facts["body"] = text[:limit]
        facts["body_truncated"] = len(text) > limit
    return facts


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
    row("created", _when(_parse(document["created"]), now))
    expires = _parse(document["expires"])
    state = "fresh" if document["fresh"] else "expired"
    row("expires", f"{_when(expires, now)}, {state}" if expires else f"never, {state}")
    if document["ttl"] is not None:
        ttl = datetime.fromtimestamp(document["ttl"], UTC).isoformat()
        row("ttl", f"{document['ttl']} ({ttl})")
    row(
        "body size",
        f"{document['body_size']:,} bytes raw, {document['body_stored_size']:,} bytes stored "
        f"({document['body_encoding']}); item {_bytes(document['item_size'])}",
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


def cmd_delete(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    backend, key = _lookup(args)
    table_key = backend.responses.table_key(key)
    existed = backend.table.delete(table_key)
    if args.json:
        print(json.dumps({"key": table_key, "deleted": existed}), file=out)
    elif existed:
        print(f"deleted {table_key} ({args.method} {args.url})", file=out)
    else:
        print(f"nothing cached under {table_key} ({args.method} {args.url})", file=out)
    return 0 if existed else 1


# Deleting many ----------------------------------------------------------------------------


def cmd_purge(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if not args.expired and not args.namespace:
        err.write(f"{PROG} purge: give --expired, --namespace NAME, or both\n")
        return 2
    _require_confirmation_possible(args)
    table = _table(args)
    prefix = f"{args.namespace}:" if args.namespace else None
    progress = _progress(args, err, "purge")
    keys: list[str] = []
    left_unreadable = 0
    if args.expired:
        now = datetime.now(UTC)
        for item in scan(table, progress, prefix=prefix):
            entry = classify(item, now)
            if entry.kind == UNREADABLE:
                left_unreadable += 1
            elif entry.expired:
                keys.append(entry.key)
        what = "expired items" + (f" of namespace {args.namespace}" if args.namespace else "")
    else:
        keys = [
            str(attribute(i, "key"))
            for i in scan(table, progress, prefix=prefix, projection=["key"])
        ]
        what = f"items of namespace {args.namespace}"
    return _delete_all(args, table, keys, what, out, err, unreadable_left=left_unreadable)


def cmd_clear(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _require_confirmation_possible(args)
    table = _table(args)
    progress = _progress(args, err, "clear")
    keys = [str(attribute(i, "key")) for i in scan(table, progress, projection=["key"])]
    return _delete_all(args, table, keys, "items (all of them)", out, err)


def _require_confirmation_possible(args: argparse.Namespace) -> None:
    if not args.yes and not sys.stdin.isatty():
        raise Refused("stdin is not a terminal to confirm on; pass --yes to delete")


def _delete_all(
    args: argparse.Namespace,
    table: CacheTable,
    keys: list[str],
    what: str,
    out: TextIO,
    err: TextIO,
    *,
    unreadable_left: int = 0,
) -> int:
    if keys and not args.yes:
        err.write(f"Delete {len(keys):,} {what} from table {table.table_name}? [y/N] ")
        err.flush()
        try:
            answer = input()
        except (EOFError, KeyboardInterrupt):
            answer = ""
            err.write("\n")
        if answer.strip().lower() not in ("y", "yes"):
            raise Refused("not confirmed")
    table.delete_many(keys)
    if args.json:
        document = {"table": table.table_name, "deleted": len(keys)}
        if args.command == "purge" and args.expired:
            document["unreadable_left"] = unreadable_left
        print(json.dumps(document), file=out)
    else:
        print(f"deleted {len(keys):,} {what} from table {table.table_name}", file=out)
        if unreadable_left:
            print(
                f"left {unreadable_left:,} unreadable items (not this library's format); "
                "`clear` or `purge --namespace` removes them",
                file=out,
            )
    return 0


# Command line -----------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> DynamoDBClient:
    # Admin scans and batch deletes may meet throttling on a provisioned table: retry patiently.
    config = Config(retries={"mode": "adaptive", "max_attempts": 10})
    return boto3.client(
        "dynamodb", region_name=args.region, endpoint_url=args.endpoint_url, config=config
    )


def _table(args: argparse.Namespace) -> CacheTable:
    return CacheTable(_client(args), args.table, create_table=False)


def _progress(args: argparse.Namespace, err: TextIO, label: str) -> Progress:
    return Progress(label, err, enabled=not args.quiet, every=args.progress_every)


def _namespace(value: str) -> str:
    try:
        validate_namespace(value)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def _header(value: str) -> tuple[str, str]:
    name, colon, content = value.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError("expected 'Name: value'")
    return name.strip(), content.strip()


def _positive(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def build_parser() -> argparse.ArgumentParser:
    # Common options are accepted before or after the command; SUPPRESS keeps a subcommand's
    # unset option from hiding the same option given before it. Defaults are filled in later.
    common = argparse.ArgumentParser(add_help=False)
    options = common.add_argument_group("common options")
    options.add_argument(
        "--table",
        default=argparse.SUPPRESS,
        help=f"table name (default: $HTTP_CACHE_TABLE, else {DEFAULT_TABLE})",
    )
    options.add_argument(
        "--region", default=argparse.SUPPRESS, help="AWS region (default: boto3's own)"
    )
    options.add_argument(
        "--endpoint-url",
        default=argparse.SUPPRESS,
        help="DynamoDB endpoint (default: boto3's own, e.g. $AWS_ENDPOINT_URL_DYNAMODB)",
    )
    options.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON"
    )
    options.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress lines on stderr",
    )
    options.add_argument(
        "--progress-every",
        type=_positive,
        metavar="N",
        default=argparse.SUPPRESS,
        help=f"progress line every N items read (default {DEFAULT_PROGRESS_EVERY}, "
        f"and every {PROGRESS_INTERVAL:g} s)",
    )

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Inspect and clean the lambda-http-cache DynamoDB table.",
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    stats = commands.add_parser(
        "stats",
        parents=[common],
        help="counts, size, expired share, oldest and newest entry, namespaces",
    )
    stats.add_argument("--namespace", type=_namespace, help="only this namespace")
    stats.set_defaults(run=cmd_stats)

    entry_namespace = os.environ.get("HTTP_CACHE_NAMESPACE") or DEFAULT_NAMESPACE
    for name, run, summary in (
        ("get", cmd_get, "show the entry cached for a request: metadata and body"),
        ("delete", cmd_delete, "delete the entry cached for a request"),
    ):
        command = commands.add_parser(name, parents=[common], help=summary)
        command.add_argument("url", help="the request's URL, as the function requests it")
        command.add_argument(
            "--namespace",
            type=_namespace,
            default=entry_namespace,
            help="the function's namespace: its HTTP_CACHE_NAMESPACE, by default its "
            f"function name (default here: $HTTP_CACHE_NAMESPACE, else {DEFAULT_NAMESPACE})",
        )
        command.add_argument(
            "--method", default="GET", type=str.upper, help="request method (default GET)"
        )
        command.add_argument(
            "-H",
            "--header",
            type=_header,
            action="append",
            default=[],
            metavar="'NAME: VALUE'",
            help="a request header, for caches whose key depends on headers (repeatable)",
        )
        if name == "get":
            command.add_argument(
                "--max-body",
                type=_positive,
                default=DEFAULT_MAX_BODY,
                metavar="N",
                help=f"show at most N characters of a text body (default {DEFAULT_MAX_BODY}, "
                "0 for all)",
            )
        command.set_defaults(run=run)

    purge = commands.add_parser(
        "purge", parents=[common], help="delete expired items, or a namespace's items"
    )
    purge.add_argument(
        "--expired",
        action="store_true",
        help="items whose expiry is past (DynamoDB's TTL deletes them only later)",
    )
    purge.add_argument(
        "--namespace",
        type=_namespace,
        help="every item of this namespace (with --expired: only its expired items)",
    )
    purge.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    purge.set_defaults(run=cmd_purge)

    clear = commands.add_parser("clear", parents=[common], help="delete every item of the table")
    clear.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    clear.set_defaults(run=cmd_clear)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    defaults: dict[str, Any] = {
        "table": os.environ.get("HTTP_CACHE_TABLE") or DEFAULT_TABLE,
        "region": None,
        "endpoint_url": None,
        "json": False,
        "quiet": False,
        "progress_every": DEFAULT_PROGRESS_EVERY,
    }
    for name, value in defaults.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the admin command; returns the exit status (0 done, 1 not found, refused or
    failed, 2 usage error)."""
    args = parse_args(argv)
    # What the table holds was written by origins and by anyone who can write the table:
    # shown, never executed by the terminal.
    out: TextIO = Printable(sys.stdout)  # type: ignore[assignment]
    err = sys.stderr
    run: Callable[[argparse.Namespace, TextIO, TextIO], int] = args.run
    try:
        return run(args, out, err)
    except Refused as refusal:
        err.write(f"{PROG} {args.command}: refused, nothing deleted: {refusal}\n")
    except ClientError as error:
        code = error_code(error)
        if code == "ResourceNotFoundException":
            err.write(f"{PROG}: table {args.table} not found ({_where(args)})\n")
        else:
            message = error.response.get("Error", {}).get("Message", "")
            err.write(f"{PROG}: DynamoDB error {code}: {message} ({_where(args)})\n")
    except BotoCoreError as error:
        err.write(f"{PROG}: {error}\n")
    except KeyboardInterrupt:
        err.write(f"\n{PROG}: interrupted\n")
        return 130
    return 1


# Formatting -------------------------------------------------------------------------------

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


def _where(args: argparse.Namespace) -> str:
    session = boto3.session.Session()
    region = args.region or session.region_name or "no region"
    endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or "AWS"
    return f"region {region}, endpoint {endpoint}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _bytes(size: int) -> str:
    amount = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GB"


def _when(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "-"
    delta = (value - now).total_seconds()
    relative = f"in {_duration(delta)}" if delta > 0 else f"{_duration(delta)} ago"
    return f"{value.isoformat()} ({relative})"


def _duration(seconds: float) -> str:
    rest = int(abs(seconds))
    parts = []
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, length)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts[:2]) or "0s"
