"""Nothing of one invocation survives into the next: the container's session is shared by
every invocation, and each starts from the session as it was at the end of init. What a
handler, or an origin it called, changed (cookies above all) is gone at the next invocation;
work after the response (refreshes) uses a cookie jar of its own."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import DefaultCookiePolicy
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from lambda_http_cache import cached_http, decorator, get_session, snapstart
from lambda_http_cache.after_response import AfterResponse
from lambda_http_cache.core.settings import CacheSettings
from lambda_http_cache.session import CachedHttpSession
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth, HTTPDigestAuth
from requests.cookies import RequestsCookieJar

from scripts.local_servers import OriginServer, Route, SeenRequest
from tests.helpers import echo, invoke, login_and_account, next_request_id

# No metrics documents; generous bounds on table calls (these tests pin behaviour, not time).
PATIENT: dict[str, Any] = {"metrics": False, "connect_timeout": 10, "read_timeout": 10}
_paths = itertools.count(1)


@pytest.fixture(autouse=True)
def fresh_container(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is a new container: no session built yet."""
    monkeypatch.setattr(decorator, "_container_session", None)


def test_a_login_cookie_does_not_go_with_the_next_callers_requests(
    table_name: str, origin: OriginServer
) -> None:
    login, account = login_and_account(origin)

    @cached_http(**PATIENT)
    def handler(event: Any, context: Any, session: requests.Session) -> Any:
        if event.get("password"):
            session.post(login, data={"user": event["user"], "password": event["password"]})
        return session.get(account).json()

    assert invoke(handler, {"user": "alice", "password": "pw"}) == {"user": "alice"}
    assert invoke(handler, {"user": "bob"}) == {"user": None}
    assert "Cookie" not in origin.seen[-1].headers
    assert origin.hits["/account"] == 2  # never stored: only the cookie jar could leak it


def test_a_cookie_set_on_a_redirect_hop_ends_with_the_invocation(
    table_name: str, origin: OriginServer
) -> None:
    landing = echo(origin, "/landing")
    hop = origin.respond(
        "/hop",
        lambda seen: Route(
            b"",
            {"Location": "/landing", "Set-Cookie": "hop=1; Path=/", "Cache-Control": "no-store"},
            302,
        ),
    )

    @cached_http(**PATIENT)
    def handler(event: Any, context: Any, session: requests.Session) -> Any:
        return session.get(event["url"]).json()["headers"].get("Cookie")

    assert invoke(handler, {"url": hop}) == "hop=1"  # the redirect carries it...
    assert invoke(handler, {"url": landing}) is None  # ...the next invocation does not


def swr_setting_a_cookie(origin: OriginServer, gate: threading.Event | None = None) -> str:
    """A stale-while-revalidate route whose refreshes (every answer after the first) set a
    cookie; with ``gate``, a refresh answers only once the gate is open."""
    answers = itertools.count(1)

    def respond(seen: SeenRequest) -> Route:
        number = next(answers)
        headers = {
            "Content-Type": "application/json",
            "Cache-Control": "max-age=1, stale-while-revalidate=60",
        }
        if number > 1:
            if gate is not None:
                gate.wait(10)
            headers["Set-Cookie"] = f"refreshed={number}; Path=/"
        return Route(json.dumps({"answer": number}).encode(), headers)

    return origin.respond("/swr", respond)


def test_a_refresh_after_the_response_leaves_its_cookie_to_nobody(
    table_name: str, origin: OriginServer
) -> None:
    """As in Lambda: the refresh runs after the handler has returned, on the extension's
    thread, before the next invocation."""
    url = swr_setting_a_cookie(origin)
    whoami = echo(origin)

    @cached_http(**PATIENT)
    def handler(event: Any, context: Any, session: requests.Session) -> Any:
        from_cache = session.get(url).from_cache if event.get("stale") else None
        return from_cache, session.get(whoami).json()["headers"].get("Cookie")

    session = get_session()
    session.after_response.extension = object()  # type: ignore[assignment]  # as registered

    def invoke_in_lambda(event: dict[str, Any]) -> Any:
        request_id = next_request_id()
        answer = handler(event, SimpleNamespace(aws_request_id=request_id))
        extension = threading.Thread(target=session.after_response.drain, args=(request_id, 10))
        extension.start()
        extension.join()
        return answer

    assert invoke_in_lambda({"stale": True}) == (False, None)
    time.sleep(1.1)
    assert invoke_in_lambda({"stale": True}) == (True, None)  # refreshed after the response
    assert origin.hits["/swr"] == 2
    assert len(session.cookies) == 0  # the refresh left nothing behind...
    assert invoke_in_lambda({}) == (None, None)  # ...for the next invocation


def test_a_refresh_on_a_thread_during_the_next_invocation_leaves_it_no_cookie(
    table_name: str, origin: OriginServer
) -> None:
    """Outside Lambda the refresh runs on a thread at once: here it lands while the next
    invocation runs, after that invocation's start reset the jar."""
    gate = threading.Event()
    url = swr_setting_a_cookie(origin, gate)
    whoami = echo(origin)

    @cached_http(**PATIENT)
    def handler(event: Any, context: Any, session: CachedHttpSession) -> Any:
        if event.get("open_gate"):
            gate.set()  # the refresh, under way since the previous invocation, answers now
            deadline = time.monotonic() + 10
            while session.stats["refreshes"] == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert session.stats["refreshes"] == 1
        else:
            session.get(url)
        return dict(session.cookies), session.get(whoami).json()["headers"].get("Cookie")

    assert not get_session().after_response.deferred
    assert invoke(handler) == ({}, None)
    time.sleep(1.1)
    assert invoke(handler) == ({}, None)  # served stale; the refresh waits at the origin
    assert invoke(handler, {"open_gate": True}) == ({}, None)
    assert origin.hits["/swr"] == 2


class Refusing(HTTPAdapter):
    """An adapter that fails every request."""

    def send(self, request: Any, **kwargs: Any) -> Any:
        raise requests.ConnectionError("refused by a handler's adapter")


# Responses the hooks a handler adds have seen.
HOOKED: list[str] = []


def hook(response: Any, **kwargs: Any) -> None:
    HOOKED.append(response.url)


def sent(session: CachedHttpSession, origin: OriginServer) -> dict[str, Any]:
    """The request to /echo as the origin received it."""
    answer: dict[str, Any] = session.get(origin.url("/echo")).json()
    return answer


# What one invocation's handler changes, and what the next checks is undone: the change
# (session, origin), and the check (session, origin, init), where init holds the objects the
# session had at the end of init.
Change = Callable[[CachedHttpSession, OriginServer], Any]
Check = Callable[[CachedHttpSession, OriginServer, dict[str, Any]], None]


def without(header: str) -> Check:
    def check(session: CachedHttpSession, origin: OriginServer, init: dict[str, Any]) -> None:
        assert header not in sent(session, origin)["headers"]

    return check


def check_headers(session: CachedHttpSession, origin: OriginServer, init: dict[str, Any]) -> None:
    headers = sent(session, origin)["headers"]
    assert "X-Caller" not in headers
    assert headers["User-Agent"].startswith("python-requests/")
    assert session.headers is init["headers"]


def check_plain(session: CachedHttpSession, origin: OriginServer, init: dict[str, Any]) -> None:
    """The request goes straight to the origin, as sent."""
    assert sent(session, origin)["path"] == "/echo"
    assert not HOOKED


def check_value(name: str, value: Any) -> Check:
    def check(session: CachedHttpSession, origin: OriginServer, init: dict[str, Any]) -> None:
        assert getattr(session, name) == value
        check_plain(session, origin, init)

    return check


def check_adapters(session: CachedHttpSession, origin: OriginServer, init: dict[str, Any]) -> None:
    check_plain(session, origin, init)
    assert session.adapters is init["adapters"]
    assert list(session.adapters.items()) == init["mounted"]  # the same objects: warm pools


def check_cookies(session: CachedHttpSession, origin: OriginServer, init: dict[str, Any]) -> None:
    """Each invocation has a new jar, a copy of init's: the jar held from init is not it."""
    assert "Cookie" not in sent(session, origin)["headers"]
    assert session.cookies is not init["cookies"]
    assert isinstance(session.cookies, RequestsCookieJar)
    assert len(session.cookies) == 0


def check_settings(session: CachedHttpSession, origin: OriginServer, init: dict[str, Any]) -> None:
    url = origin.route(f"/cacheable/{next(_paths)}", "{}", {"Cache-Control": "max-age=300"})
    assert [session.get(url).from_cache for _ in range(2)] == [False, True]
    assert session.settings is init["settings"]
    assert session.settings.urls_expire_after == init["urls_expire_after"]
    assert tuple(session.settings.allowable_codes) == init["allowable_codes"]


def change_settings(session: CachedHttpSession, origin: OriginServer) -> None:
    session.settings.disabled = True
    session.settings.allowable_codes = (200, 404)


def change_a_setting_in_place(session: CachedHttpSession, origin: OriginServer) -> None:
    session.settings.urls_expire_after["*"] = 0  # nothing is stored


def replace_the_jar(session: CachedHttpSession, origin: OriginServer) -> None:
    jar = RequestsCookieJar()
    jar.set("sid", "alice-sid")
    session.cookies = jar


CHANGES: dict[str, tuple[Change, Check]] = {
    "a header": (lambda s, o: s.headers.update({"X-Caller": "alice"}), check_headers),
    "the headers replaced": (
        lambda s, o: setattr(s, "headers", {"X-Caller": "alice"}),
        check_headers,
    ),
    "auth": (lambda s, o: setattr(s, "auth", ("alice", "pw")), without("Authorization")),
    "params": (lambda s, o: s.params.update({"caller": "alice"}), check_plain),
    "a proxy": (lambda s, o: s.proxies.update({"http": "http://127.0.0.1:9"}), check_plain),
    "verify": (lambda s, o: setattr(s, "verify", False), check_value("verify", True)),
    "cert": (lambda s, o: setattr(s, "cert", "alice.pem"), check_value("cert", None)),
    "stream": (lambda s, o: setattr(s, "stream", True), check_value("stream", False)),
    "trust_env": (lambda s, o: setattr(s, "trust_env", False), check_value("trust_env", True)),
    "max_redirects": (
        lambda s, o: setattr(s, "max_redirects", 0),
        check_value("max_redirects", requests.models.DEFAULT_REDIRECT_LIMIT),
    ),
    "a hook": (lambda s, o: s.hooks["response"].append(hook), check_plain),
    "the hooks replaced": (lambda s, o: setattr(s, "hooks", {"response": [hook]}), check_plain),
    "an adapter mounted": (lambda s, o: s.mount(o.url("/"), Refusing()), check_adapters),
    "the http adapter replaced": (lambda s, o: s.mount("http://", Refusing()), check_adapters),
    "cache settings": (change_settings, check_settings),
    "a cache setting changed in place": (change_a_setting_in_place, check_settings),
    "the cache settings replaced": (
        lambda s, o: setattr(s, "settings", CacheSettings(disabled=True)),
        check_settings,
    ),
    "a cookie": (lambda s, o: s.cookies.set("sid", "alice-sid"), check_cookies),
    "the cookie jar replaced": (replace_the_jar, check_cookies),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_what_a_handler_changes_is_gone_at_the_next_invocation(
    table_name: str, origin: OriginServer, change: str
) -> None:
    echo(origin)
    make_change, check = CHANGES[change]
    HOOKED.clear()

    @cached_http(**PATIENT, urls_expire_after={"*.invalid": 60})
    def handler(event: Any, context: Any, session: CachedHttpSession) -> Any:
        if event.get("change"):
            make_change(session, origin)
        else:
            check(session, origin, init)

    session = get_session()
    init = {
        "headers": session.headers,
        "cookies": session.cookies,
        "adapters": session.adapters,
        "mounted": list(session.adapters.items()),
        "settings": session.settings,
        "urls_expire_after": dict(session.settings.urls_expire_after),
        "allowable_codes": tuple(session.settings.allowable_codes),
    }
    for _ in range(2):  # twice: the state put back is not changed by the next change
        invoke(handler, {"change": True})
        invoke(handler)


def test_setup_done_after_the_decorator_is_in_every_invocation(
    table_name: str, origin: OriginServer
) -> None:
    url = echo(origin)

    @cached_http(**PATIENT)
    def handler(event: Any, context: Any, session: requests.Session) -> Any:
        headers = session.get(url).json()["headers"]
        # A handler that spoils all of it, every time.
        del session.headers["User-Agent"]
        session.auth = None
        session.cookies.clear()
        return headers

    # Module-level code after the decorator (the init phase).
    session = get_session()
    session.headers["User-Agent"] = "catalog/1.0"
    session.auth = ("catalog", "catalog-password")
    session.cookies.set("region", "eu")
    for _ in range(3):
        headers = invoke(handler)
        assert headers["User-Agent"] == "catalog/1.0"
        assert headers["Authorization"].startswith("Basic ")
        assert headers["Cookie"] == "region=eu"


def test_a_cookie_session_works_within_one_invocation_and_its_threads(
    table_name: str, origin: OriginServer
) -> None:
    login, account = login_and_account(origin)

    @cached_http(**PATIENT)
    def handler(event: Any, context: Any, session: requests.Session) -> Any:
        if event.get("password"):
            session.post(login, data={"password": event["password"]})
        with ThreadPoolExecutor(max_workers=2) as pool:
            in_threads = list(pool.map(lambda _: session.get(account).json()["user"], range(2)))
        return session.get(account).json()["user"], in_threads

    assert invoke(handler, {"password": "pw"}) == ("alice", ["alice", "alice"])
    assert invoke(handler) == (None, [None, None])
    assert invoke(handler, {"password": "pw"}) == ("alice", ["alice", "alice"])


def test_an_auth_object_changed_in_place_is_undone_at_the_next_invocation(
    table_name: str, origin: OriginServer
) -> None:
    """Init sets an auth object; one invocation changes its credentials in place (acting for
    one caller). The next sends init's credentials: each invocation has its own copy."""
    url = echo(origin)

    @cached_http(**PATIENT)
    def handler(event: Any, context: Any, session: CachedHttpSession) -> Any:
        if event.get("as"):
            session.auth.username = event["as"]  # type: ignore[union-attr]
            session.auth.password = "alice-password"  # type: ignore[union-attr]
        return session.get(url).json()["headers"].get("Authorization")

    session = get_session()
    session.auth = HTTPBasicAuth("catalog", "catalog-password")
    init = invoke(handler)
    assert init is not None
    for _ in range(2):
        assert invoke(handler, {"as": "alice"}) != init
        assert invoke(handler) == init, "the previous caller's credentials went with this one"


def test_an_auth_object_that_cannot_be_copied_is_kept_as_it_is(
    table_name: str, origin: OriginServer
) -> None:
    """requests' HTTPDigestAuth holds a threading.local, which cannot be copied: it is put
    back by reference (docs/using.md), and invocations work as usual."""
    url = echo(origin)
    auth = HTTPDigestAuth("catalog", "catalog-password")

    @cached_http(**PATIENT)
    def handler(event: Any, context: Any, session: CachedHttpSession) -> Any:
        assert session.auth is auth
        if event.get("replace"):
            session.auth = HTTPBasicAuth("alice", "alice-password")
        return session.get(url).status_code

    get_session().auth = auth
    assert invoke(handler, {"replace": True}) == 200
    assert invoke(handler) == 200


def test_a_cookie_policy_set_or_changed_by_a_handler_is_undone_at_the_next_invocation(
    table_name: str, origin: OriginServer
) -> None:
    """A policy set on the invocation's jar, or init's policy changed in place, is gone at
    the next invocation, whose jar has a copy of init's policy."""
    login, account = login_and_account(origin)
    elsewhere = "blocked.example"

    @cached_http(**PATIENT)
    def handler(event: Any, context: Any, session: CachedHttpSession) -> Any:
        policy = session.cookies.get_policy()
        assert isinstance(policy, DefaultCookiePolicy)
        assert policy.blocked_domains() == (elsewhere,)
        if event.get("block"):
            session.cookies.set_policy(DefaultCookiePolicy(blocked_domains=["127.0.0.1"]))
            return None
        if event.get("unblock"):
            policy.set_blocked_domains([])
            return None
        session.post(login)
        return session.get(account).json()["user"]

    get_session().cookies.set_policy(DefaultCookiePolicy(blocked_domains=[elsewhere]))
    assert invoke(handler) == "alice"
    invoke(handler, {"block": True})
    assert invoke(handler) == "alice", "the previous invocation's cookie policy is in force"
    invoke(handler, {"unblock": True})
    assert invoke(handler) == "alice"


def test_a_handler_thread_that_lands_in_the_next_invocation_leaves_it_no_cookie(
    table_name: str, origin: OriginServer
) -> None:
    """A handler starts a thread that logs in (a slow origin) and returns without waiting.
    The login's answer lands during the next invocation: its cookie goes into the jar of the
    invocation that sent it, never into the next one's."""
    gate = threading.Event()
    origin.respond(
        "/slow-login",
        lambda seen: (
            gate.wait(10),
            Route(b"{}", {"Set-Cookie": "sid=alice-sid; Path=/", "Cache-Control": "no-store"}),
        )[1],
    )
    _, account = login_and_account(origin)
    threads: list[threading.Thread] = []
    jars: list[Any] = []

    @cached_http(**PATIENT)
    def handler(event: Any, context: Any, session: CachedHttpSession) -> Any:
        jars.append(session.cookies)
        if event.get("alice"):
            thread = threading.Thread(target=session.post, args=(origin.url("/slow-login"),))
            thread.start()
            threads.append(thread)
            deadline = time.monotonic() + 10
            while not origin.hits.get("/slow-login") and time.monotonic() < deadline:
                time.sleep(0.01)  # the login is under way
            return None
        gate.set()
        threads[0].join(10)
        return session.get(account).json()["user"], dict(session.cookies)

    invoke(handler, {"alice": True})
    assert invoke(handler) == (None, {}), "bob's request went with alice's session cookie"
    assert jars[0] is not jars[1]
    assert dict(jars[0]) == {"sid": "alice-sid"}  # alice's own, discarded, jar


def test_a_jar_held_from_init_is_not_an_invocations_jar(
    table_name: str, origin: OriginServer
) -> None:
    """``session.cookies`` is the invocation's jar, a new one each invocation: module-level
    code that kept init's jar and sets a cookie in it during an invocation changes nothing
    the session sends."""
    url = echo(origin)

    @cached_http(**PATIENT)
    def handler(event: Any, context: Any, session: CachedHttpSession) -> Any:
        held.set("sid", "alice-sid")
        return session.get(url).json()["headers"].get("Cookie")

    held = get_session().cookies
    held.set("region", "eu")
    assert invoke(handler) == "region=eu"
    assert invoke(handler) == "region=eu"


def test_two_decorated_handlers_reset_the_session_get_session_returns(
    table_name: str, origin: OriginServer
) -> None:
    """A module decorates two handlers; the configured one's code uses ``get_session()``
    (the first decorator's session). A login through it is gone at the next invocation."""
    login, account = login_and_account(origin)

    @cached_http(**PATIENT)
    def first(event: Any, context: Any, session: CachedHttpSession) -> Any:
        return None

    @cached_http(**PATIENT)
    def second(event: Any, context: Any, session: CachedHttpSession) -> Any:
        assert session is not get_session()
        helper = get_session()
        if event.get("password"):
            helper.post(login)
        return helper.get(account).json()["user"]

    assert invoke(second, {"password": "pw"}) == "alice"
    assert invoke(second) is None, "the previous invocation's login cookie went with this one"


def test_two_decorated_handlers_do_not_hold_each_invocation_to_its_timeout(
    table_name: str, origin: OriginServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One after-response extension per container, the container session's (in Lambda it
    waits, on every INVOKE event, for that invocation's handler to return): whichever
    decorated handler Lambda invokes, the container session's runner learns it returned."""
    started: list[AfterResponse] = []
    monkeypatch.setattr(AfterResponse, "start_extension", lambda self: started.append(self))
    url = echo(origin)
    settings = {**PATIENT, "stale_while_revalidate": True}

    @cached_http(**settings)
    def first(event: Any, context: Any, session: CachedHttpSession) -> Any:
        return None

    seen: list[CachedHttpSession] = []

    @cached_http(**settings)
    def second(event: Any, context: Any, session: CachedHttpSession) -> Any:
        seen.append(session)
        return session.get(url).status_code

    container_runner = get_session().after_response
    assert started == [container_runner]
    request_id = "request-of-the-second-handler"
    assert second({}, SimpleNamespace(aws_request_id=request_id)) == 200
    assert seen[0].after_response is not container_runner
    began = time.monotonic()
    container_runner.drain(request_id, 3.0)  # what the container's extension does
    waited = time.monotonic() - began
    assert waited < 0.5, f"the container's runner held the invocation {waited:.1f} s"


class ClosingFails(HTTPAdapter):
    def close(self) -> None:
        raise RuntimeError("close failed")


class Unreadable:
    """Adapters that are not a mapping."""


def test_the_snapstart_hooks_never_fail_whatever_init_mounted(
    table_name: str, origin: OriginServer, caplog: pytest.LogCaptureFixture
) -> None:
    """An adapter whose close() raises, a cache hook that raises, adapters that are not a
    mapping: the SnapStart hooks log a warning, close what they can, and never fail."""

    @cached_http(**PATIENT)
    def handler(event: Any, context: Any, session: CachedHttpSession) -> Any:
        return None

    session = get_session()
    closed: list[str] = []
    plain = HTTPAdapter()
    plain.close = lambda: closed.append("plain")  # type: ignore[method-assign]
    session.mount("https://pinned.example/", ClosingFails())
    session.mount("https://other.example/", plain)
    with caplog.at_level("WARNING", logger="lambda_http_cache.snapstart"):
        snapstart.before_snapshot(session)
        snapstart.after_restore(session)
    assert closed == ["plain", "plain"]
    assert "close failed" in caplog.text
    session.adapters = Unreadable()  # type: ignore[assignment]
    session.cache.after_restore = lambda: 1 / 0  # type: ignore[attr-defined]
    snapstart.before_snapshot(session)
    snapstart.after_restore(session)
