"""The cache admin command, ``python -m lambda_http_cache``: what is in the table, one entry as
the console would show it, and deleting entries (one, the expired ones, a namespace, all).

It runs on a workstation, installed with the package; the Lambda layer leaves it out. It speaks
only DynamoDB's data plane (GetItem, DeleteItem, Scan, BatchWriteItem) and works the same
against a real table and a local server: the endpoint and region are boto3's own
(``AWS_ENDPOINT_URL_DYNAMODB``, ``AWS_REGION``) unless given. Scans read every page. Request
keys are computed by the library's backend (``DynamoDbCache.create_key``), never here, so the
command follows the library's key derivation. Items this library cannot read (foreign or
corrupt) are counted as unreadable, never fatal: ``purge --expired`` leaves them, ``clear``
and ``purge --namespace`` remove them.

:mod:`.commands` parses the arguments and does what each command does, returning a report;
:mod:`.output` shows reports, progress and prompts.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from botocore.exceptions import BotoCoreError, ClientError

from ..table import error_code
from .commands import PROG, Command, Refused, UsageError, build_parser, parse_args, where
from .output import Printable, Terminal, printable, show

__all__ = ["Printable", "build_parser", "main", "parse_args", "printable"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the admin command; returns the exit status (0 done, 1 not found, refused or
    failed, 2 usage error)."""
    args = parse_args(argv)
    # What the table holds was written by origins and by anyone who can write the table:
    # shown, never executed by the terminal.
    out: TextIO = Printable(sys.stdout)  # type: ignore[assignment]
    err = sys.stderr
    run: Command = args.run
    ui = Terminal(err, quiet=args.quiet, progress_every=args.progress_every)
    ended = False
    try:
        try:
            report = run(args, ui)
        finally:
            ended = ui.end_line()  # a progress line left open, before what follows
        show(report, out, as_json=args.json)
        return report.status
    except UsageError as error:
        err.write(f"{PROG} {args.command}: {error}\n")
        return 2
    except Refused as refusal:
        err.write(f"{PROG} {args.command}: refused, nothing deleted: {refusal}\n")
    except ClientError as error:
        code = error_code(error)
        if code == "ResourceNotFoundException":
            err.write(f"{PROG}: table {args.table} not found ({where(args)})\n")
        else:
            message = error.response.get("Error", {}).get("Message", "")
            err.write(f"{PROG}: DynamoDB error {code}: {message} ({where(args)})\n")
    except BotoCoreError as error:
        err.write(f"{PROG}: {error}\n")
    except KeyboardInterrupt:
        err.write(("" if ended else "\n") + f"{PROG}: interrupted\n")
        return 130
    return 1
