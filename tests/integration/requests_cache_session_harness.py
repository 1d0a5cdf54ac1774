"""The session requests-cache's own session tests run against (its ``tests/unit/test_session.py``,
from its sdist: see requests_cache_suite.py and test_requests_cache_session_suite.py): this
project's ``CachedHttpSession``, the session its decorator builds, over this project's
``DynamoDbCache`` on the local DynamoDB server.

Everything that depends on how that session is constructed is in :func:`make_session`: when
the session's constructor changes, this is the one place to adapt. The tests build sessions
in two ways, and both come here: through their ``mock_session`` fixture (redefined by the
test module as ``make_session(allowable_methods=ALL_METHODS)``, as requests-cache's conftest
builds it) and by calling ``CachedSession(...)`` themselves (the test module binds that name
to :class:`SuiteSession`, whose calls are :func:`make_session`'s).
"""

from __future__ import annotations

import itertools
from typing import Any

import requests_mock
from lambda_http_cache import DynamoDbCache
from lambda_http_cache.session import CachedHttpSession

from tests.integration.requests_cache_suite import load_conftest

# The table the sessions' caches live in (the test module creates it on the local server,
# which AWS_ENDPOINT_URL_DYNAMODB points the caches at); each session gets a namespace of its
# own, so every test starts from an empty cache.
TABLE = "requests_cache_session_suite"
_namespaces = itertools.count()


def make_session(*args: Any, **cached_session_kwargs: Any) -> SuiteSession:
    """The session a test asks for with requests-cache's ``CachedSession(*args, **kwargs)``:
    this project's session with those keywords, over a new ``DynamoDbCache`` namespace on the
    local server unless the test names a ``backend`` itself (then that one, as it is given:
    the session decides what a backend name means). requests-mock's adapter with the URLs of
    requests-cache's conftest (``get_mock_adapter()``) is mounted, at construction, on the
    ``mock://`` schemes, as its ``mock_session`` fixture mounts it, and is the session's
    ``mock_adapter``."""
    if not hasattr(CachedHttpSession, "_adapter_reason"):
        raise RuntimeError(
            "CachedHttpSession has no _adapter_reason any more: adapt SuiteSession (the"
            " transport double) in requests_cache_session_harness.py"
        )
    if cached_session_kwargs.get("backend") is None:
        cached_session_kwargs["backend"] = DynamoDbCache(
            TABLE, namespace=f"suite-{next(_namespaces)}"
        )
    session: SuiteSession = type.__call__(SuiteSession, *args, **cached_session_kwargs)
    conftest = load_conftest()
    adapter = conftest.get_mock_adapter()
    for scheme in conftest.MOCK_PROTOCOLS:
        session.mount(scheme, adapter)
    session.mock_adapter = adapter
    session.transport_doubles = (adapter,)
    return session


class _BuiltByMakeSession(type):
    """Calling a class of this kind is calling :func:`make_session`: the tests construct
    ``CachedSession(...)`` themselves, and patch and check its class."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return make_session(*args, **kwargs)


class SuiteSession(CachedHttpSession, metaclass=_BuiltByMakeSession):
    """``CachedHttpSession`` as the suite runs it: nothing changed but requests-mock's
    adapter, which stands for the network."""

    mock_adapter: Any = None
    transport_doubles: tuple[Any, ...] = ()

    def _adapter_reason(self, url: str) -> str | None:
        """THE TEST DOUBLE FOR THE TRANSPORT, not a change of the session's rule. The session
        sends a request through any adapter but requests' own plain ``HTTPAdapter`` around the
        cache (counted "unkeyed"), since such an adapter could shape answers the key cannot
        see. requests-mock's adapter is how requests-cache's tests stand in for the network:
        here, and only for the requests-mock adapter :func:`make_session` mounted at
        construction (not one mounted or patched later), it counts as a plain transport.
        Every other adapter meets the session's own rule."""
        try:
            adapter = self.get_adapter(url)
        except Exception:
            adapter = None
        if (
            isinstance(adapter, requests_mock.Adapter)
            and any(adapter is double for double in self.transport_doubles)
            and "send" not in vars(adapter)
        ):
            return None
        return super()._adapter_reason(url)
