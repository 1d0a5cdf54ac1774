"""`python -m scripts.local_servers` (`make local`): a local DynamoDB server with the cache table,
running until Ctrl-C or SIGTERM, and the environment lines that point the library and the admin
command at it."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from scripts.local_servers import free_port

ROOT = Path(__file__).resolve().parents[2]
READY = "Running until Ctrl-C"


class Command:
    """The command in a child process, its stdout read line by line as it comes."""

    def __init__(self, *argv: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scripts.local_servers", *argv],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT / "layer")},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def read_until(self, marker: str, timeout: float = 60) -> list[str]:
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while True:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            if line is None:
                raise AssertionError(f"exited before {marker!r}: {seen}")
            seen.append(line)
            if line.startswith(marker):
                return seen

    def rest(self) -> list[str]:
        lines = []
        while (line := self.lines.get(timeout=10)) is not None:
            lines.append(line)
        return lines


@pytest.fixture
def command() -> Iterator[list[Command]]:
    started: list[Command] = []
    yield started
    for each in started:
        if each.process.poll() is None:
            each.process.kill()
            each.process.wait()


def exports(lines: list[str]) -> dict[str, str]:
    """The ``export NAME=value`` lines, as a mapping."""
    found = {}
    for line in lines:
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            found[name] = value
    return found


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_it_serves_the_table_until_stopped(
    stop_signal: signal.Signals, command: list[Command]
) -> None:
    port = free_port()
    local = Command("--port", str(port), "--table", "my_cache")
    command.append(local)
    printed = local.read_until(READY)
    settings = exports(printed)
    assert settings["AWS_ENDPOINT_URL_DYNAMODB"] == f"http://127.0.0.1:{port}"
    assert settings["HTTP_CACHE_TABLE"] == "my_cache"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"} <= set(settings)
    assert any('make admin ARGS="stats"' in line for line in printed)

    # The table, as the printed environment reaches it: the cache's schema, TTL on
    client = boto3.client(
        "dynamodb",
        endpoint_url=settings["AWS_ENDPOINT_URL_DYNAMODB"],
        region_name=settings["AWS_REGION"],
        aws_access_key_id=settings["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=settings["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=settings.get("AWS_SESSION_TOKEN"),
    )
    table = client.describe_table(TableName="my_cache")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "key", "KeyType": "HASH"}]
    ttl = client.describe_time_to_live(TableName="my_cache")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}

    if stop_signal == signal.SIGTERM:
        # The admin command with nothing but the printed environment
        admin_env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AWS_", "HTTP_CACHE_"))
        }
        result = subprocess.run(
            [sys.executable, "-m", "lambda_http_cache", "stats", "--quiet"],
            capture_output=True,
            text=True,
            env={**admin_env, **settings, "PYTHONPATH": str(ROOT / "layer")},
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("table         my_cache\n")

    local.process.send_signal(stop_signal)
    assert local.process.wait(timeout=30) == 0
    assert local.rest() == ["Local DynamoDB server stopped."]
    assert not listening(port)


def test_a_port_in_use_is_a_clear_error(command: list[Command]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        local = Command("--port", str(port))
        command.append(local)
        assert local.process.wait(timeout=30) == 1
        assert local.process.stderr is not None
        assert local.process.stderr.read() == (
            f"port {port} is in use: choose another with --port\n"
        )
