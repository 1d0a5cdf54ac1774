"""The admin commands: their arguments, and what each one reads or deletes, as data.

Nothing here prints. A command gets its parsed arguments and an :class:`Interaction` (progress
lines and the confirmation of a delete, which :mod:`.output` implements on a terminal) and
returns a report; :mod:`.output` shows it as text or JSON, and its :attr:`~Report.status` is
the exit status.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import boto3
import requests
from botocore.config import Config
from requests.utils import check_header_validity

from ..cache import SharedCache
from ..config import DEFAULT_NAMESPACE, DEFAULT_TABLE, CacheConfig, ConfigError, validate_namespace
from ..item import (
    KIND_REDIRECT,
    MARKER_KINDS,
    decode_alias,
    decode_entry,
    item_kind,
    item_size,
)
from ..item import Entry as ItemEntry
from ..table import BATCH_WRITE_LIMIT, CacheTable, attribute

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PROG = "python -m lambda_http_cache"
UNREADABLE = "unreadable"
DEFAULT_MAX_BODY = 4096
# Progress lines on stderr: one a second while items are read or deleted (and, with
# --progress-every N, one every N items too), then the total.
PROGRESS_INTERVAL = 1.0
HEX_PREVIEW = 64
UNREADABLE_EXAMPLES = 5


class Refused(Exception):
    """A destructive command was not confirmed."""


class UsageError(Exception):
    """The arguments, though parsed, ask for nothing the command can do."""


# What a command needs from whoever runs it --------------------------------------------------


class Progress(Protocol):
    """Counts items read or deleted; may show the count."""

    def tick(self, count: int = 1) -> None: ...

    def done(self) -> None: ...


@dataclass(frozen=True)
class Selection:
    """What a ``purge`` or ``clear`` deletes: the expired items, a namespace's items, both
    (the expired items of a namespace), or neither (every item of the table)."""

    expired: bool = False
    namespace: str | None = None


class Interaction(Protocol):
    """Progress lines while reading and deleting, and the confirmation before deleting."""

    def progress(self, label: str, action: str = "read", *, start: str | None = None) -> Progress:
        """Counts of items ``action`` ("read", "deleted") under ``label`` (the command), after
        ``start``, a line saying at once what begins."""
        ...

    def can_confirm(self) -> bool: ...

    def confirm(self, count: int, selection: Selection, table: str) -> bool: ...


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
        if kind in MARKER_KINDS:
            # Invalidation, lease, fill and hit-for-miss markers: expired once DynamoDB's TTL
            # may remove them.
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
    """The item's ``ttl`` (epoch seconds), or None if it has none that is a time."""
    try:
        ttl = int(item["ttl"]["N"])
        datetime.fromtimestamp(ttl, UTC)  # within the years a time can show
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return None
    return ttl


def scan(
    table: CacheTable,
    ui: Interaction,
    label: str,
    *,
    namespace: str | None = None,
    projection: Iterable[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every item of the table (or of ``namespace``'s keys), every page; says at once that it
    is scanning (a large table's first page takes a while), then counts the items read."""
    of = f" for namespace {namespace}" if namespace else ""
    progress = ui.progress(label, start=f"scanning table {table.table_name}{of}")
    prefix = f"{namespace}:" if namespace else None
    for item in table.scan(prefix=prefix, projection=projection):
        progress.tick()
        yield item
    progress.done()


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


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
        if entry.kind in MARKER_KINDS:
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
            "oldest_created": iso(self.oldest),
            "newest_created": iso(self.newest),
            "namespaces": {
                name: {"items": count, "size_bytes": self.namespace_sizes[name]}
                for name, count in sorted(self.namespaces.items())
            },
            "unreadable_examples": [
                {"key": key, "error": error} for key, error in self.unreadable_examples
            ],
        }


@dataclass
class StatsReport:
    table: str
    namespace: str | None
    stats: Stats
    now: datetime  # when the scan began: what "expired" and "ago" are judged against
    status: int = 0

    def document(self) -> dict[str, Any]:
        return {"table": self.table, "namespace": self.namespace, **self.stats.as_dict()}


def cmd_stats(args: argparse.Namespace, ui: Interaction) -> StatsReport:
    table = _table(args)
    now = datetime.now(UTC)
    stats = Stats()
    for item in scan(table, ui, "stats", namespace=args.namespace):
        stats.add(classify(item, now))
    return StatsReport(table.table_name, args.namespace, stats, now)


# One entry --------------------------------------------------------------------------------


@dataclass
class EntryReport:
    """The entry cached for a request, as plain values (the JSON document ``get`` prints)."""

    entry: dict[str, Any]

    @property
    def status(self) -> int:
        return 0 if self.entry["found"] and "error" not in self.entry else 1

    def document(self) -> dict[str, Any]:
        return self.entry


def _lookup(args: argparse.Namespace) -> tuple[SharedCache, str]:
    """The backend for the entry's namespace and the requests-cache key of its request."""
    # The function's own configuration: credentials in a request add a keyed hash to its key,
    # with the function's key secret (HTTP_CACHE_KEY_SECRET: never an option, so it stays out
    # of shell history); bodies too large for an item are in the function's bucket, if any.
    config: CacheConfig = args.config
    s3 = boto3.client("s3", region_name=args.region) if config.large_object_bucket else None
    backend = SharedCache.from_config(config, connection=_client(args), s3_client=s3)
    request = requests.Request(args.method, args.url, headers=dict(args.header)).prepare()
    return backend, backend.create_key(request, follow_redirects=args.followed)


def cmd_get(args: argparse.Namespace, ui: Interaction) -> EntryReport:
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
            return EntryReport(document)
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
    return EntryReport(document)


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
            "created": iso(response.created_at),
            "expires": iso(response.expires),
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


@dataclass
class DeleteReport:
    key: str  # the table key
    request: str  # "METHOD URL"
    deleted: bool

    @property
    def status(self) -> int:
        return 0 if self.deleted else 1

    def document(self) -> dict[str, Any]:
        return {"key": self.key, "deleted": self.deleted}


def cmd_delete(args: argparse.Namespace, ui: Interaction) -> DeleteReport:
    backend, key = _lookup(args)
    table_key = backend.responses.table_key(key)
    existed = backend.table.delete(table_key)
    return DeleteReport(table_key, f"{args.method} {args.url}", existed)


# Deleting many ----------------------------------------------------------------------------


@dataclass
class PurgeReport:
    table: str
    selection: Selection
    deleted: int
    unreadable_left: int = 0  # counted only when deleting the expired items
    status: int = 0

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"table": self.table, "deleted": self.deleted}
        if self.selection.expired:
            document["unreadable_left"] = self.unreadable_left
        return document


def cmd_purge(args: argparse.Namespace, ui: Interaction) -> PurgeReport:
    if not args.expired and not args.namespace:
        raise UsageError("give --expired, --namespace NAME, or both")
    _require_confirmation_possible(args, ui)
    table = _table(args)
    selection = Selection(expired=args.expired, namespace=args.namespace)
    keys: list[str] = []
    left_unreadable = 0
    if args.expired:
        now = datetime.now(UTC)
        for item in scan(table, ui, "purge", namespace=args.namespace):
            entry = classify(item, now)
            if entry.kind == UNREADABLE:
                left_unreadable += 1
            elif entry.expired:
                keys.append(entry.key)
    else:
        items = scan(table, ui, "purge", namespace=args.namespace, projection=["key"])
        keys = [str(attribute(item, "key")) for item in items]
    return _delete_all(args, ui, "purge", table, keys, selection, unreadable_left=left_unreadable)


def cmd_clear(args: argparse.Namespace, ui: Interaction) -> PurgeReport:
    _require_confirmation_possible(args, ui)
    table = _table(args)
    keys = [str(attribute(item, "key")) for item in scan(table, ui, "clear", projection=["key"])]
    return _delete_all(args, ui, "clear", table, keys, Selection())


def _require_confirmation_possible(args: argparse.Namespace, ui: Interaction) -> None:
    if not args.yes and not ui.can_confirm():
        raise Refused("stdin is not a terminal to confirm on; pass --yes to delete")


def _delete_all(
    args: argparse.Namespace,
    ui: Interaction,
    label: str,
    table: CacheTable,
    keys: list[str],
    selection: Selection,
    *,
    unreadable_left: int = 0,
) -> PurgeReport:
    keys = list(dict.fromkeys(keys))  # a scan's keys are unique already; counted once anyway
    if keys and not args.yes and not ui.confirm(len(keys), selection, table.table_name):
        raise Refused("not confirmed")
    # One batch at a time, to count: a real table takes minutes for many thousands.
    progress = ui.progress(label, "deleted")
    for start in range(0, len(keys), BATCH_WRITE_LIMIT):
        batch = keys[start : start + BATCH_WRITE_LIMIT]
        table.delete_many(batch)
        progress.tick(len(batch))
    progress.done()
    return PurgeReport(table.table_name, selection, len(keys), unreadable_left)


# Command line -----------------------------------------------------------------------------


Report = StatsReport | EntryReport | DeleteReport | PurgeReport
Command = Callable[[argparse.Namespace, Interaction], Report]


def _client(args: argparse.Namespace) -> DynamoDBClient:
    # Admin scans and batch deletes may meet throttling on a provisioned table: retry patiently.
    config = Config(retries={"mode": "adaptive", "max_attempts": 10})
    return boto3.client(
        "dynamodb", region_name=args.region, endpoint_url=args.endpoint_url, config=config
    )


def _table(args: argparse.Namespace) -> CacheTable:
    return CacheTable(_client(args), args.table, create_table=False)


def where(args: argparse.Namespace) -> str:
    """The region and endpoint the command spoke to, for error messages."""
    session = boto3.session.Session()
    region = args.region or session.region_name or "no region"
    endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or "AWS"
    return f"region {region}, endpoint {endpoint}"


def _namespace(value: str) -> str:
    try:
        validate_namespace(value)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def _url(value: str) -> str:
    """A request URL as the function would request it: http or https, and one requests can
    send (parsed as the key derivation will parse it). Every command taking a URL takes it
    through here, so that a wrong one is a usage error, never a traceback."""
    scheme, separator, _ = value.partition("://")
    if not separator:
        raise argparse.ArgumentTypeError(
            f"{value!r} has no scheme: give the URL as the function requests it, "
            f"e.g. https://{value}"
        )
    if scheme.lower() not in ("http", "https"):
        raise argparse.ArgumentTypeError(f"{value!r}: expected an http:// or https:// URL")
    try:
        requests.PreparedRequest().prepare_url(value, None)
    except requests.RequestException as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def _header(value: str) -> tuple[str, str]:
    name, colon, content = value.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError("expected 'Name: value'")
    header = name.strip(), content.strip()
    try:
        check_header_validity(header)
    except requests.RequestException as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return header


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
        help="a progress line every N items read or deleted, besides the one every "
        f"{PROGRESS_INTERVAL:g} s",
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

    entry_commands: tuple[tuple[str, Command, str], ...] = (
        ("get", cmd_get, "show the entry cached for a request: metadata and body"),
        ("delete", cmd_delete, "delete the entry cached for a request"),
    )
    for name, run, summary in entry_commands:
        command = commands.add_parser(name, parents=[common], help=summary)
        command.add_argument(
            "url", type=_url, help="the request's URL, as the function requests it"
        )
        command.add_argument(
            "--namespace",
            type=_namespace,
            help="the function's namespace: its HTTP_CACHE_NAMESPACE, by default its "
            "function name (default here, as the library reads it: $HTTP_CACHE_NAMESPACE, "
            f"else $AWS_LAMBDA_FUNCTION_NAME, else {DEFAULT_NAMESPACE})",
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
        command.add_argument(
            "--followed",
            action="store_true",
            help="the entry of requests-cache's own session for a request that follows "
            "redirects (the end of the chain, by an alias); the decorator's session stores "
            "each URL's own response, a redirect included",
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
    """The arguments, and ``config``: the library's configuration as a function with this
    environment reads it (``HTTP_CACHE_*``), with ``--table`` (and, for ``get`` and
    ``delete``, ``--namespace``) over it; a setting the library refuses is a usage error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    defaults: dict[str, Any] = {
        "table": None,
        "region": None,
        "endpoint_url": None,
        "json": False,
        "quiet": False,
        "progress_every": None,
    }
    for name, value in defaults.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    entry = args.command in ("get", "delete")  # elsewhere --namespace only filters
    overrides: dict[str, Any] = {"create_table": False}  # never create or change the table
    if args.table is not None:
        overrides["table_name"] = args.table
    if entry and args.namespace is not None:
        overrides["namespace"] = args.namespace
    try:
        config = CacheConfig.from_environment(**overrides)
    except ConfigError as error:
        parser.error(str(error))
    args.config = config
    args.table = config.table_name
    if entry:
        args.namespace = config.namespace
    return args
