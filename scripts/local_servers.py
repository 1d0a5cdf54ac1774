"""Local servers for the demo, the tests and the benchmark: nothing here touches the internet.

- :class:`MotoServer`: a real DynamoDB-compatible HTTP server (moto's server mode) on loopback,
  in its own process, spoken to by an unmodified boto3. ``python -m scripts.local_servers``
  (``make local``) starts one with the cache table and keeps it running until Ctrl-C, to try
  a function of your own and the admin command against it: :func:`main`.
- :class:`DynamoDbProxy`: an HTTP proxy in front of it that counts DynamoDB operations and can
  inject faults (error answers, a listener that never answers).
- :class:`OriginServer`: an HTTP origin with a configurable delay and per-path bodies.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TABLE_NAME = "http_cache"
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_listening(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing answered on 127.0.0.1:{port} within {timeout} s")


class MotoServer:
    """moto's server mode on a free loopback port (or ``port``), in a child process; with
    ``own_session``, in a session of its own, so that a Ctrl-C at the terminal reaches only
    the parent, which stops it."""

    def __init__(self, port: int | None = None, *, own_session: bool = False) -> None:
        self.port = port or free_port()
        self.own_session = own_session
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=self.own_session,
        )
        try:
            wait_until_listening(self.port)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_process(process: subprocess.Popen[Any]) -> None:
    """Terminate a child process, killing it if it has not ended within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def local_environment(endpoint: str | None = None) -> None:
    """Local credentials and region for a benchmark process; loopback is never proxied; nothing
    from the shell points anywhere real or changes the defaults under test. With ``endpoint``,
    the library's DynamoDB endpoint."""
    for name in list(os.environ):
        if name.startswith("HTTP_CACHE_") or name in (
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_DYNAMODB",
            "AWS_LAMBDA_FUNCTION_NAME",
            "POWERTOOLS_SERVICE_NAME",
        ):
            del os.environ[name]
    os.environ.update(LOCAL_CREDENTIALS)
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    if endpoint:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint


def dynamodb_client(endpoint: str) -> Any:
    """A plain boto3 client for ``endpoint`` with local credentials."""
    import boto3

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=LOCAL_CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
    )


def create_cache_table(client: Any, table_name: str = TABLE_NAME) -> None:
    """The table as the CDK construct declares it (partition key ``key`` (S), TTL on ``ttl``),
    created the way the library does when asked to."""
    from lambda_http_cache.table import CacheTable

    CacheTable(client, table_name, ttl=True).ensure_exists()


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# A fault decides, from the DynamoDB operation name, what the proxy does instead of forwarding:
# None forwards; (status, error type) answers with that error; "hang" never answers;
# bytes are answered as the body of a 200 (a malformed answer).
Fault = Callable[[str], "tuple[int, str] | str | bytes | None"]


class DynamoDbProxy:
    """Forwards DynamoDB's HTTP protocol to ``upstream``, counting operations by name."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.calls: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.connections = 0
        self.fault: Fault | None = None
        self._release = threading.Event()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = -1  # one write per answer: headers and body in one segment

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy.connections += 1

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
                with proxy._lock:
                    proxy.calls[operation] += 1
                    proxy.requests.append((operation, json.loads(body or b"{}")))
                fault = proxy.fault(operation) if proxy.fault else None
                if fault == "hang":
                    proxy._release.wait()
                    return
                if isinstance(fault, bytes):
                    self._answer(200, {"Content-Type": "application/x-amz-json-1.0"}, fault)
                    return
                if isinstance(fault, tuple):
                    status, error_type = fault
                    payload = json.dumps(
                        {
                            "__type": f"com.amazonaws.dynamodb.v20120810#{error_type}",
                            "message": "injected",
                        }
                    ).encode()
                    self._answer(status, {"Content-Type": "application/x-amz-json-1.0"}, payload)
                    return
                connection = http.client.HTTPConnection(proxy.upstream, timeout=30)
                try:
                    connection.request("POST", self.path, body=body, headers=dict(self.headers))
                    answer = connection.getresponse()
                    payload = answer.read()
                    headers = {
                        k: v for k, v in answer.getheaders() if k.lower() != "transfer-encoding"
                    }
                    self._answer(answer.status, headers, payload)
                except OSError:
                    self._answer(502, {"Content-Type": "text/plain"}, b"upstream unreachable")
                finally:
                    connection.close()

            def _answer(self, status: int, headers: Mapping[str, str], payload: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "connection", "server", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DynamoDbProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.requests.clear()
        self.fault = None

    def count(self, *operations: str) -> int:
        with self._lock:
            if not operations:
                return sum(self.calls.values())
            return sum(self.calls[op] for op in operations)

    def __enter__(self) -> DynamoDbProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Route:
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    status: int = 200
    # Sent as is (a body already compressed stays so: give its Content-Encoding in headers),
    # in chunks of this many bytes with Transfer-Encoding: chunked and no Content-Length.
    chunked: int | None = None


@dataclass(frozen=True)
class SeenRequest:
    """A request as the origin received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


# A dynamic route: the answer is computed from the request.
Responder = Callable[[SeenRequest], Route]


# Why not pytest-httpserver (measured with 1.2.0, Werkzeug 3.1): `make demo` and the benchmarks
# run this origin outside pytest, and one implementation serves all three. And the tests need
# what Werkzeug's server does not do: it answers every response with "Connection: close" (the
# hot-path tests count reused connections), sends its own Date beside a route's (the clock
# tests need the route's to replace it), and the plugin's fixture serves one request at a time
# (4 concurrent requests to a 0.2 s route took 0.82 s; the coalescing tests need them parallel).
class OriginServer:
    """An HTTP origin on loopback: each path answers its registered route (fixed, or computed
    from the request) after ``delay`` seconds; unknown paths answer 404. Counts requests per
    path and connections, and keeps the requests it saw."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.routes: dict[str, Route | Responder] = {}
        self.hits: Counter[str] = Counter()
        self.seen: list[SeenRequest] = []
        self.connections = 0
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = -1  # one write per answer: headers and body in one segment

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                origin.connections += 1

            def _serve(self, send_body: bool = True) -> None:
                path = self.path
                length = int(self.headers.get("Content-Length") or 0)
                seen = SeenRequest(
                    self.command, path, dict(self.headers.items()), self.rfile.read(length)
                )
                origin.hits[path] += 1
                origin.seen.append(seen)
                if origin.delay:
                    time.sleep(origin.delay)
                found = origin.routes.get(path) or origin.routes.get(path.split("?")[0])
                route = found(seen) if callable(found) else found
                if route is None:
                    route = Route(b'{"error": "not found"}', status=404)
                # A route's own Date replaces the server's (to test clocks that disagree).
                self.send_response_only(route.status)
                self.send_header("Server", self.version_string())
                if not any(name.lower() == "date" for name in route.headers):
                    self.send_header("Date", self.date_time_string())
                for name, value in route.headers.items():
                    self.send_header(name, value)
                if route.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                if send_body and route.chunked:
                    for start in range(0, len(route.body), route.chunked):
                        chunk = route.body[start : start + route.chunked]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.write(b"0\r\n\r\n")
                elif send_body:
                    self.wfile.write(route.body)

            def do_HEAD(self) -> None:
                self._serve(send_body=False)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(
        self, path: str, body: bytes | str, headers: dict[str, str] | None = None, status: int = 200
    ) -> str:
        """Serve ``body`` at ``path``; returns the full URL."""
        raw = body.encode() if isinstance(body, str) else body
        self.routes[path] = Route(
            raw, headers if headers is not None else {"Content-Type": "application/json"}, status
        )
        return self.url(path)

    def respond(self, path: str, responder: Responder) -> str:
        """Answer requests for ``path`` with what ``responder`` makes of each; the full URL."""
        self.routes[path] = responder
        return self.url(path)

    def start(self) -> OriginServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> OriginServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# A raw origin: answers each connection with canned bytes (or a function of the socket), for
# what OriginServer cannot send (slow drips, broken framing).

RawAnswer = Callable[[socket.socket], None]


class RawOrigin:
    """An origin on a raw socket, for what OriginServer cannot send (a body dripped slowly,
    broken framing): each path's answer writes to the connection itself."""

    def __init__(self) -> None:
        self.answers: dict[str, RawAnswer] = {}
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(32)
        self.port = self.listener.getsockname()[1]
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            path = data.split(b" ", 2)[1].decode()
            answer = self.answers.get(path)
            if answer is not None:
                answer(conn)

    def close(self) -> None:
        self.closed.set()
        self.listener.close()


def canned(data: bytes) -> RawAnswer:
    return lambda conn: conn.sendall(data)


def dripped(chunks: int = 20, interval: float = 0.3) -> RawAnswer:
    """Headers at once, then a chunked body of ``chunks`` bytes ``x``, one every ``interval``
    seconds (a feed, a log tail, server-sent events)."""

    def answer(conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: max-age=600\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for _ in range(chunks):
            conn.sendall(b"1\r\nx\r\n")
            time.sleep(interval)
        conn.sendall(b"0\r\n\r\n")

    return answer


# python -m scripts.local_servers ------------------------------------------------------------

DEFAULT_PORT = 8000  # DynamoDB Local's


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def usage_lines(endpoint: str, table: str) -> list[str]:
    """What to paste into another shell to use the server: the environment, then the admin
    command."""
    settings = {
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "HTTP_CACHE_TABLE": table,
        **LOCAL_CREDENTIALS,
    }
    return [
        "To use it, in another shell (the library and the admin command read these; the",
        "credentials are dummies the local server accepts):",
        "",
        *(f"export {name}={value}" for name, value in settings.items()),
        "",
        "Then run your function's code, or the admin command, in that shell:",
        '  make admin ARGS="stats"',
        '  make admin ARGS="get https://api.example.com/items --namespace my-function"',
        "  .venv/bin/python -m lambda_http_cache stats",
        f"(or give the admin command --endpoint-url {endpoint} --table {table}).",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Start a local DynamoDB server with the cache table, print how to use it, and keep it
    running until Ctrl-C or SIGTERM; then stop it. Exit status 0, or 1 if it could not start
    or stopped by itself."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.local_servers",
        description="A local DynamoDB server (moto) with the cache table, running until Ctrl-C: "
        "to try your own function and the admin command without AWS.",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--table", default=TABLE_NAME, help=f"the cache table to create (default {TABLE_NAME})"
    )
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"argument --port: {args.port} is not a port number")
    if not port_is_free(args.port):
        print(f"port {args.port} is in use: choose another with --port", file=sys.stderr)
        return 1

    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_stop)

    server = MotoServer(args.port, own_session=True)
    try:
        try:
            server.start()
        except TimeoutError as error:
            print(f"the local DynamoDB server did not start: {error}", file=sys.stderr)
            return 1
        create_cache_table(dynamodb_client(server.endpoint), args.table)
        print(f"Local DynamoDB server (moto) at {server.endpoint}, table {args.table!r} created.")
        print(*usage_lines(server.endpoint, args.table), sep="\n")
        print("\nRunning until Ctrl-C; what it holds is lost when it stops.", flush=True)
        while not stop.wait(0.5):
            if server.process is not None and server.process.poll() is not None:
                print("the local DynamoDB server stopped by itself", file=sys.stderr)
                return 1
    finally:
        server.stop()
    print("Local DynamoDB server stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
