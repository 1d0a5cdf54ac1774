"""The admin command (`python -m lambda_http_cache`) against the local DynamoDB server: stats,
get, delete, purge and clear, every scan page, confirmation, unreadable items, usage errors,
progress lines and counts in words."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from lambda_http_cache import DynamoDbCache
from lambda_http_cache.admin import build_parser, main
from requests_cache import CachedSession
from requests_cache.models.request import CachedRequest
from requests_cache.models.response import CachedResponse

from scripts.local_servers import DynamoDbProxy, OriginServer
from tests.helpers import cached_session, encode_response, scan_all

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def table_key(table_name: str, url: str, namespace: str = "default") -> str:
    """The table key the library derives for GET ``url`` (never derived by hand here)."""
    backend = DynamoDbCache(table_name, create_table=False, namespace=namespace)
    return backend.responses.table_key(backend.create_key(requests.Request("GET", url).prepare()))


def put_response(
    ddb: Any,
    table_name: str,
    key: str,
    body: bytes = b"{}",
    *,
    namespace: str = "default",
    expires_in: float | None = 300,
    url: str = "https://api.example.com/x",
) -> None:
    now = datetime.now(UTC)
    response = CachedResponse(
        content=body,
        created_at=now - timedelta(seconds=5),
        expires=now + timedelta(seconds=expires_in) if expires_in is not None else None,
        headers={"Content-Type": "application/octet-stream"},
        request=CachedRequest(method="GET", url=url, headers={}),
        status_code=200,
        reason="OK",
        url=url,
    )
    ddb.put_item(TableName=table_name, Item=encode_response(key, namespace, response))


def keys(ddb: Any, table_name: str) -> set[str]:
    return {item["key"]["S"] for item in scan_all(ddb, table_name)}


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def api() -> Iterator[OriginServer]:
    """One origin for the module: its routes never change, and stopping one takes a while."""
    with OriginServer() as server:
        yield server


@pytest.fixture
def filled(table_name: str, api: OriginServer) -> dict[str, str]:
    """Entries written through real cached requests: two namespaces, a chain of redirects
    (each stored as the response it is)."""
    origin = api
    urls = {
        "json": origin.route("/items", '{"items": [1, 2, 3], "name": "Zoë"}'),
        "text": origin.route("/note", "hello from the origin", {"Content-Type": "text/plain"}),
        "other": origin.route("/other", "[]"),
        "final": origin.route("/final", '{"price": 9.99}'),
        "hop": origin.route(
            "/hop", b"", {"Location": "/final", "Cache-Control": "max-age=600"}, status=302
        ),
        "start": origin.route("/start", b"", {"Location": "/hop"}, status=301),
    }
    alpha = cached_session(table_name, namespace="alpha")
    for name in ("json", "text", "start"):
        alpha.get(urls[name])
    cached_session(table_name, namespace="beta").get(urls["other"])
    return urls


def test_stats_counts_kinds_namespaces_and_times(
    filled: dict[str, str], capsys: pytest.CaptureFixture[str], proxy: DynamoDbProxy
) -> None:
    code, out, _ = run(capsys, "stats", "--json")
    assert code == 0
    stats = json.loads(out)
    # alpha: /items, /note, /start (301), /hop (302) and /final; beta: /other
    assert stats["items"] == 6
    assert (stats["responses"], stats["redirects"], stats["unreadable"]) == (6, 0, 0)
    assert stats["namespaces"]["alpha"]["items"] == 5
    assert stats["namespaces"]["beta"]["items"] == 1
    assert stats["expired"] == 0 and stats["expired_share"] == 0
    assert stats["size_bytes"] > 0
    assert stats["oldest_created"] <= stats["newest_created"]

    code, out, _ = run(capsys, "stats", "--namespace", "beta")
    assert code == 0
    assert "1: 1 response, 0 redirect aliases, 0 unreadable" in out
    assert "alpha" not in out
    assert proxy.count("DescribeTable", "CreateTable", "UpdateTimeToLive") == 0


def test_get_shows_metadata_and_body(
    filled: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "get", filled["json"], "--namespace", "alpha")
    assert code == 0
    assert '{"items": [1, 2, 3], "name": "Zoë"}' in out
    assert "200 OK" in out
    assert "Content-Type: application/json" in out
    assert "fresh" in out and "identity" in out
    assert "alpha:" in out

    code, out, _ = run(capsys, "get", filled["text"], "--namespace", "alpha", "--max-body", "5")
    assert code == 0
    assert "hello\n" in out and "hello from" not in out and "truncated" in out

    code, out, _ = run(capsys, "--json", "get", filled["json"], "--namespace", "alpha")
    entry = json.loads(out)
    assert entry["found"] and entry["fresh"] and entry["status"] == 200
    assert entry["body"] == '{"items": [1, 2, 3], "name": "Zoë"}'
    assert entry["body_size"] == len('{"items": [1, 2, 3], "name": "Zoë"}'.encode())
    assert entry["body_encoding"] == "identity"


def test_get_and_delete_take_request_headers(
    table_name: str, api: OriginServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = api.route("/private", '{"mine": true}')
    auth = {"Authorization": "Bearer abc"}
    cached_session(table_name, namespace="alpha").get(url, headers=auth)
    code, out, _ = run(
        capsys, "get", url, "--namespace", "alpha", "-H", "Authorization: Bearer abc"
    )
    assert code == 0 and '{"mine": true}' in out
    # the stored request keeps no credentials
    assert "Bearer abc" not in out
    argv = ["delete", url, "--namespace", "alpha", "--header", "Authorization: Bearer abc"]
    assert run(capsys, *argv)[0] == 0


def test_get_uses_the_functions_key_secret(
    table_name: str,
    api: OriginServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = api.route("/secret", '{"mine": true}')
    secret = "s3cret-of-16-chars-or-more"  # as the library requires of HTTP_CACHE_KEY_SECRET
    cached_session(table_name, key_secret=secret).get(url, headers={"X-API-KEY": "k1"})
    argv = ["get", url, "-H", "X-API-KEY: k1"]
    assert run(capsys, *argv)[0] == 1  # credentials are in the key, hashed with the secret
    monkeypatch.setenv("HTTP_CACHE_KEY_SECRET", secret)
    code, out, _ = run(capsys, *argv)
    assert code == 0 and '{"mine": true}' in out


def test_get_finds_the_functions_namespace_as_the_library_does(
    filled: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(capsys, "get", filled["json"])[0] == 1  # not in the namespace "default"
    monkeypatch.setenv("HTTP_CACHE_NAMESPACE", "alpha")
    assert run(capsys, "get", filled["json"])[0] == 0
    monkeypatch.delenv("HTTP_CACHE_NAMESPACE")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "alpha")  # a function's default namespace
    assert run(capsys, "get", filled["json"])[0] == 0
    assert run(capsys, "get", filled["json"], "--namespace", "beta")[0] == 1


def test_a_setting_the_library_refuses_is_a_usage_error(
    table_name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_CACHE_KEY_SECRET", "short")
    with pytest.raises(SystemExit) as exit:
        main(["get", "https://api.example.com/x"])
    assert exit.value.code == 2
    assert "HTTP_CACHE_KEY_SECRET" in capsys.readouterr().err


def test_get_shows_a_stored_redirect(
    filled: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "get", filled["hop"], "--namespace", "alpha", "--json")
    entry = json.loads(out)
    assert code == 0
    assert entry["status"] == 302 and entry["headers"]["Location"] == "/final"
    assert "alias_of" not in entry or not entry["alias_of"]


def test_get_follows_a_redirect_alias(
    filled: dict[str, str], table_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """requests-cache's own session stores a followed chain's end under the first request's
    key and aliases the later requests to it; --followed looks those up."""
    backend = DynamoDbCache(table_name, create_table=False, namespace="alpha")
    CachedSession(backend=backend, expire_after=300).get(filled["start"])
    code, out, _ = run(capsys, "get", filled["hop"], "--namespace", "alpha", "--followed", "--json")
    entry = json.loads(out)
    assert code == 0
    assert entry["body"] == '{"price": 9.99}'
    assert entry["alias_of"]
    # The chain as /start saw it
    assert [hop["status"] for hop in entry["history"]] == [301, 302]
    code, out, _ = run(capsys, "get", filled["hop"], "--namespace", "alpha", "--followed")
    assert "alias of        alpha:" in out and "redirected      301 " in out


def test_get_binary_compressed_and_missing(
    table_name: str, ddb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    binary_url = "https://api.example.com/blob"
    put_response(ddb, table_name, table_key(table_name, binary_url), bytes(range(256)) * 8)
    code, out, _ = run(capsys, "get", binary_url)
    assert code == 0
    assert "binary, 2,048 bytes" in out and "00 01 02 03" in out and "zlib" in out

    code, out, _ = run(capsys, "get", "https://api.example.com/never")
    assert code == 1
    assert "nothing cached" in out
    code, out, _ = run(capsys, "get", binary_url, "--namespace", "elsewhere")
    assert code == 1

    corrupt_url = "https://api.example.com/corrupt"
    corrupt = {"v": {"N": "1"}, "kind": {"S": "response"}, "status": {"N": "200"}}
    ddb.put_item(
        TableName=table_name, Item={"key": {"S": table_key(table_name, corrupt_url)}, **corrupt}
    )
    code, out, _ = run(capsys, "get", corrupt_url)
    assert code == 1
    assert "unreadable item" in out and "status (N)" in out


def test_delete_reports_whether_the_entry_existed(
    filled: dict[str, str], capsys: pytest.CaptureFixture[str], ddb: Any, table_name: str
) -> None:
    code, out, _ = run(capsys, "delete", filled["json"], "--namespace", "alpha")
    assert code == 0 and out.startswith("deleted alpha:")
    assert table_key(table_name, filled["json"], "alpha") not in keys(ddb, table_name)
    code, out, _ = run(capsys, "delete", filled["json"], "--namespace", "alpha")
    assert code == 1 and out.startswith("nothing cached")
    assert len(keys(ddb, table_name)) == 5


def test_purge_expired_removes_only_expired_items(
    table_name: str, ddb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    put_response(ddb, table_name, "default:fresh", expires_in=300)
    put_response(ddb, table_name, "default:forever", expires_in=None)
    put_response(ddb, table_name, "default:stale", expires_in=-10)
    put_response(ddb, table_name, "other:stale", namespace="other", expires_in=-10)
    past = int((datetime.now(UTC) - timedelta(seconds=10)).timestamp())
    alias = {"v": {"N": "1"}, "kind": {"S": "redirect"}, "target": {"S": "stale"}}
    expired = (datetime.now(UTC) - timedelta(seconds=10)).isoformat()
    ddb.put_item(
        TableName=table_name,
        Item={
            "key": {"S": "default:alias"},
            **alias,
            "expires": {"S": expired},
            "ttl": {"N": str(past)},
        },
    )
    # not this library's format: left alone by purge --expired
    ddb.put_item(TableName=table_name, Item={"key": {"S": "default:foreign"}})

    code, out, _ = run(capsys, "stats", "--json")
    stats = json.loads(out)
    assert (stats["expired"], stats["unreadable"], stats["never_expire"]) == (3, 1, 1)

    code, out, _ = run(capsys, "purge", "--expired", "--namespace", "other", "--yes")
    assert code == 0
    assert "other:stale" not in keys(ddb, table_name)
    code, out, _ = run(capsys, "purge", "--expired", "--yes")
    assert code == 0
    assert "deleted 2 expired items" in out and "left 1 unreadable" in out
    assert keys(ddb, table_name) == {"default:fresh", "default:forever", "default:foreign"}


def test_purge_namespace_leaves_other_namespaces(
    filled: dict[str, str], ddb: Any, table_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ddb.put_item(TableName=table_name, Item={"key": {"S": "alpha:corrupt"}, "v": {"N": "1"}})
    code, out, _ = run(capsys, "purge", "--namespace", "alpha", "--yes", "--json")
    assert code == 0
    assert json.loads(out)["deleted"] == 6
    assert keys(ddb, table_name) == {table_key(table_name, filled["other"], "beta")}
    assert run(capsys, "purge", "--yes")[0] == 2  # neither --expired nor --namespace


def test_destructive_commands_refuse_without_yes(
    filled: dict[str, str],
    ddb: Any,
    table_name: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = keys(ddb, table_name)
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # not a terminal
    for argv in (["clear"], ["purge", "--namespace", "alpha"], ["purge", "--expired"]):
        code, _, err = run(capsys, *argv)
        assert code == 1
        assert "refused" in err and "--yes" in err
    assert keys(ddb, table_name) == before

    # On a terminal: asks, and only "y" deletes
    monkeypatch.setattr(sys, "stdin", Tty())
    monkeypatch.setattr("builtins.input", lambda: "n")
    code, _, err = run(capsys, "clear")
    assert code == 1 and "Delete 6 items" in err and "not confirmed" in err
    assert keys(ddb, table_name) == before
    monkeypatch.setattr("builtins.input", lambda: "y")
    assert run(capsys, "clear")[0] == 0
    assert keys(ddb, table_name) == set()


def test_scans_and_deletes_read_every_page(
    table_name: str, ddb: Any, proxy: DynamoDbProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    for index in range(14):  # 14 x 100 KB of incompressible bytes: more than one 1 MB page
        put_response(ddb, table_name, f"default:big{index}", os.urandom(100_000))
    ddb.put_item(TableName=table_name, Item={"key": {"S": "foreign"}, "data": {"S": "x"}})
    assert "LastEvaluatedKey" in ddb.scan(TableName=table_name)

    proxy.reset()
    code, out, err = run(capsys, "stats", "--json", "--progress-every", "5")
    stats = json.loads(out)
    assert stats["items"] == 15 and stats["responses"] == 14 and stats["unreadable"] == 1
    assert stats["size_bytes"] > 1_400_000
    assert proxy.count("Scan") >= 2
    assert "stats: 5 items read so far" in err and "stats: 15 items read in" in err
    assert run(capsys, "stats", "--quiet", "--progress-every", "5")[2] == ""

    code, out, _ = run(capsys, "clear", "--yes", "--quiet")
    assert code == 0 and "deleted 15 items" in out
    assert scan_all(ddb, table_name) == []
    assert proxy.count("BatchWriteItem") == 1
    assert proxy.count("DescribeTable", "CreateTable") == 0


def test_missing_table_is_a_clear_error(
    table_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "stats", "--table", "no_such_table")
    assert code == 1
    assert "table no_such_table not found" in err


def test_entry_point_runs_as_a_module(filled: dict[str, str], table_name: str) -> None:
    # The environment (table, endpoint, credentials) comes from the fixtures.
    result = subprocess.run(
        [sys.executable, "-m", "lambda_http_cache", "stats"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "layer")},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"table         {table_name}" in result.stdout
    assert "6: 6 responses, 0 redirect aliases, 0 unreadable" in result.stdout


def test_deletes_dynamodb_leaves_unprocessed_are_sent_again(
    table_name: str, ddb: Any, proxy: DynamoDbProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    for index in range(30):
        put_response(ddb, table_name, f"default:k{index}")
    left: list[int] = []

    def leave_the_first_batch_unprocessed(operation: str) -> bytes | None:
        if operation != "BatchWriteItem" or left:
            return None
        request = proxy.requests[-1][1]["RequestItems"]
        left.append(len(request[table_name]))
        return json.dumps({"UnprocessedItems": request}).encode()

    proxy.fault = leave_the_first_batch_unprocessed
    code, out, _ = run(capsys, "clear", "--yes", "--quiet")
    assert code == 0 and "deleted 30 items" in out
    assert left == [25]
    assert scan_all(ddb, table_name) == []
    # 25 left unprocessed, sent again, then the last 5
    assert proxy.count("BatchWriteItem") == 3


# Usage errors ------------------------------------------------------------------------------


def commands_taking_a_url() -> list[str]:
    """Every subcommand with a ``url`` argument, read from the parser itself."""
    parser = build_parser()
    choices = next(
        action.choices
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    return sorted(
        name
        for name, command in choices.items()
        if any(action.dest == "url" for action in command._actions)
    )


def test_the_commands_taking_a_url_are_known() -> None:
    assert commands_taking_a_url() == ["delete", "get"]


@pytest.mark.parametrize("command", commands_taking_a_url())
@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            "example.com/x",
            "'example.com/x' has no scheme: give the URL as the function "
            "requests it, e.g. https://example.com/x",
        ),
        ("localhost:8080/x", "'localhost:8080/x' has no scheme"),
        ("ftp://example.com/x", "'ftp://example.com/x': expected an http:// or https:// URL"),
        ("https://", "No host supplied"),
        ("https://exa mple.com/", "contains invalid character"),
    ],
)
def test_a_url_the_function_could_not_request_is_a_usage_error(
    command: str, url: str, problem: str, table_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        main([command, url])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith(f"python -m lambda_http_cache {command}: error: ")
    assert "error: argument url: " in err.splitlines()[-1]
    assert problem in err.splitlines()[-1]
    assert "Traceback" not in err


def test_a_header_requests_refuses_is_a_usage_error(
    table_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["get", "https://api.example.com/x", "-H", "X-Note: one\ntwo"])
    assert exit.value.code == 2
    assert "argument -H/--header: Invalid leading whitespace" in capsys.readouterr().err


def test_a_url_without_a_scheme_exits_2_without_a_traceback(table_name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lambda_http_cache", "get", "example.com/x"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "layer")},
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "python -m lambda_http_cache get: error: argument url: 'example.com/x' has no scheme: "
        "give the URL as the function requests it, e.g. https://example.com/x"
    )


# Progress ----------------------------------------------------------------------------------


def test_a_scan_says_at_once_that_it_is_scanning(
    table_name: str,
    ddb: Any,
    proxy: DynamoDbProxy,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    put_response(ddb, table_name, "default:one")
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    before_first_scan: list[str] = []

    def note_stderr(operation: str) -> None:
        if operation == "Scan" and not before_first_scan:
            before_first_scan.append(err.getvalue())

    proxy.fault = note_stderr
    assert main(["stats"]) == 0
    assert before_first_scan == [f"stats: scanning table {table_name}\n"]
    # Then the total, however short the scan
    assert err.getvalue().splitlines()[1].startswith("stats: 1 item read in ")

    err.seek(0)
    err.truncate()
    before_first_scan.clear()
    assert main(["purge", "--namespace", "alpha", "--yes"]) == 0
    assert before_first_scan == [f"purge: scanning table {table_name} for namespace alpha\n"]
    capsys.readouterr()


def test_deleting_shows_progress_on_stderr_and_the_summary_on_stdout(
    table_name: str, ddb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    for index in range(60):
        put_response(ddb, table_name, f"default:k{index}")
    code, out, err = run(capsys, "clear", "--yes", "--progress-every", "25")
    assert code == 0
    assert out == f"deleted 60 items (all of them) from table {table_name}\n"
    lines = err.splitlines()
    assert lines[0] == f"clear: scanning table {table_name}"
    deleting = [line for line in lines if "deleted" in line]
    assert [line.partition(" (")[0] for line in deleting[:2]] == [
        "clear: 25 items deleted so far",
        "clear: 50 items deleted so far",
    ]
    assert deleting[-1].startswith("clear: 60 items deleted in ")
    assert scan_all(ddb, table_name) == []


def test_progress_lines_come_by_time_unless_asked_by_count(
    table_name: str,
    ddb: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for index in range(30):
        put_response(ddb, table_name, f"default:k{index}")
    # Every batch of 25 deletes is later than the interval: one line after each
    monkeypatch.setattr("lambda_http_cache.admin.output.PROGRESS_INTERVAL", 0.0)
    code, out, err = run(capsys, "clear", "--yes")
    assert code == 0 and out == f"deleted 30 items (all of them) from table {table_name}\n"
    deleting = [line.partition(" (")[0] for line in err.splitlines() if "deleted" in line]
    assert deleting[:2] == ["clear: 25 items deleted so far", "clear: 30 items deleted so far"]
    assert deleting[2].startswith("clear: 30 items deleted in ")


def test_a_short_delete_shows_no_delete_progress(
    table_name: str,
    ddb: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("lambda_http_cache.admin.output.PROGRESS_INTERVAL", 3600.0)
    for index in range(3):
        put_response(ddb, table_name, f"default:k{index}")
    code, out, err = run(capsys, "purge", "--namespace", "default", "--yes")
    assert code == 0 and out == f"deleted 3 items of namespace default from table {table_name}\n"
    assert "deleted" not in err  # only the scan's lines
    assert run(capsys, "clear", "--yes", "--quiet")[2] == ""


def test_progress_on_a_terminal_is_one_line_ended_before_an_error(
    table_name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    err = Tty()
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["stats", "--table", "no_such_table"]) == 1
    scanning = "stats: scanning table no_such_table"
    assert err.getvalue() == f"\r{scanning}\npython -m lambda_http_cache: table no_such_table " + (
        f"not found (region us-east-1, endpoint {os.environ['AWS_ENDPOINT_URL_DYNAMODB']})\n"
    )
    capsys.readouterr()


# Counts in words ---------------------------------------------------------------------------


def put_alias(ddb: Any, table_name: str, key: str, target: str) -> None:
    expires = (datetime.now(UTC) + timedelta(seconds=300)).isoformat()
    alias = {"v": {"N": "1"}, "kind": {"S": "redirect"}, "target": {"S": target}}
    ddb.put_item(TableName=table_name, Item={"key": {"S": key}, **alias, "expires": {"S": expires}})


@pytest.mark.parametrize(
    ("count", "responses", "aliases", "items"),
    [
        (0, "0 responses", "0 redirect aliases", "0 items (all of them)"),
        (1, "1 response", "1 redirect alias", "2 items (all of them)"),
        (2, "2 responses", "2 redirect aliases", "4 items (all of them)"),
    ],
)
def test_every_count_agrees_with_its_noun(
    count: int,
    responses: str,
    aliases: str,
    items: str,
    table_name: str,
    ddb: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for index in range(count):
        put_response(ddb, table_name, f"default:r{index}", expires_in=None)
        put_alias(ddb, table_name, f"default:a{index}", f"r{index}")
    code, out, _ = run(capsys, "stats")
    assert code == 0
    assert f"items         {count * 2}: {responses}, {aliases}, 0 unreadable\n" in out
    assert f"never expire  {responses}\n" in out
    code, out, _ = run(capsys, "clear", "--yes")
    assert out == f"deleted {items} from table {table_name}\n"


def test_one_of_each_is_singular(
    table_name: str, ddb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    put_response(ddb, table_name, "default:stale", b"x", expires_in=-10)
    ddb.put_item(TableName=table_name, Item={"key": {"S": "default:foreign"}})
    url = "https://api.example.com/one-byte"
    put_response(ddb, table_name, table_key(table_name, url), b"\xff")
    code, out, _ = run(capsys, "get", url)
    assert code == 0 and "1 byte raw, " in out and "binary, 1 byte;" in out
    assert run(capsys, "delete", url)[0] == 0
    code, out, err = run(capsys, "purge", "--expired", "--yes", "--progress-every", "1")
    assert code == 0
    assert out == (
        f"deleted 1 expired item from table {table_name}\n"
        "left 1 unreadable item (not this library's format); `clear` or `purge --namespace` "
        "removes it\n"
    )
    assert "purge: 1 item read so far" in err and "purge: 1 item deleted in " in err
    assert (
        run(capsys, "clear", "--yes")[1]
        == f"deleted 1 item (the only one) from table {table_name}\n"
    )
