"""What a shared cache may keep of a response, and which responses it must not keep (RFC 9111,
section 3): the rules of sharing, pure (no I/O, no HTTP client).

One rule decides what a credential is, everywhere (cache keys, stored URLs, stored headers,
redirect hops): :func:`is_credential_name`. The keys that partition the cache by credentials
are derived by keys.py and sharing.py with this rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from ..bounded import BoundedMemo
from .fields import cache_control
from .rules import UNDERSTOOD_STATUSES, forbids_storing, hop_by_hop

# What a credential is, decided on the lower-case name (header names are case-insensitive, so
# the rule must be: a name and its upper-case form are judged alike). The name is split into
# words at every non-alphanumeric character; it is a credential when one of its words is,
# begins with or ends with a credential word ("X-Api-Key", "usersig", "mysid", "xsrfvalue",
# "otpcode"), when its letters contain a credential stem (which also catches unseparated
# spellings such as XAPIKEY or accesstoken), or when the user lists it in ignored_parameters.
# A false positive ("monkey", "author") costs little: the value still partitions the key, and
# is only left out of the stored URL or headers.
CREDENTIAL_WORDS = frozenset(
    {"auth", "key", "sig", "sid", "pwd", "pass", "otp", "jwt", "hmac", "bearer", "csrf", "xsrf"}
)
CREDENTIAL_WORDS_TUPLE = tuple(sorted(CREDENTIAL_WORDS))
CREDENTIAL_STEMS = (
    "token",
    "secret",
    "passw",
    "credential",
    "signature",
    "apikey",
    "authoriz",
    "authent",
    "cookie",
    "session",
)
_WORDS = re.compile(r"[a-z0-9]+")
# Names judged so far: a hostile origin chooses its response headers' names, so the memo is
# bounded in bytes like every per-container structure (bounded.py).
_judged: BoundedMemo[str, bool] = BoundedMemo(256 * 1024)
# Response headers whose names match the rule but that are standard and carry no secret: CORS
# headers (Access-Control-Allow-Credentials) and authentication challenges.
_PUBLIC_RESPONSE_HEADERS = frozenset(
    {
        "www-authenticate",
        "proxy-authenticate",
        "public-key-pins",
        "public-key-pins-report-only",
    }
)
_PUBLIC_RESPONSE_PREFIXES = ("access-control-",)
# Response headers whose values are URLs, which may carry credentials in their query.
_URL_HEADERS = frozenset({"location", "content-location"})
# Response headers not stored: Age is computed afresh on every hit from the entry's age.
_UNSTORED_RESPONSE_HEADERS = frozenset({"age"})
_LINK_TARGET = re.compile(r"<([^>]*)>")
# Response fields that set a cookie (Set-Cookie2 is obsolete, RFC 6265, but still sent).
SET_COOKIE_FIELDS = frozenset({"set-cookie", "set-cookie2"})
# Cache-Control directives by which an origin marks a response as meant for a shared cache.
_SHAREABLE = ("public", "s-maxage")
# The reason :func:`refusal` gives for a response that sets a cookie.
SETS_COOKIE = "sets a cookie"


def _named_like_credential(lower: str) -> bool:
    known = _judged.get(lower)
    if known is None:
        known = any(
            word.startswith(CREDENTIAL_WORDS_TUPLE) or word.endswith(CREDENTIAL_WORDS_TUPLE)
            for word in _WORDS.findall(lower)
        ) or any(stem in lower for stem in CREDENTIAL_STEMS)
        _judged.put(lower, known)
    return known


def is_credential_name(name: str, extra: frozenset[str] = frozenset()) -> bool:
    """Whether a header or parameter ``name`` carries a credential, by the documented rule
    (case-insensitive), or is one of ``extra`` (lower-case names)."""
    lower = name.lower()
    return lower in extra or _named_like_credential(lower)


IsCredential = Callable[[str], bool]


def url_without_credentials(url: str, is_credential: IsCredential = is_credential_name) -> str:
    """``url`` without userinfo and without credential query (or fragment) parameters, the
    rest exactly as it was."""
    if "@" not in url and "?" not in url and "#" not in url:
        return url  # the common case, without parsing
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    query = _clean_params(parts.query, is_credential)
    fragment = _clean_params(parts.fragment, is_credential)
    if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def _clean_params(params: str, is_credential: IsCredential) -> str:
    """Keep the raw text of every non-credential parameter, so the rest of the URL reads
    exactly as it was sent."""
    if not params or "=" not in params:
        return params
    kept = [
        segment
        for segment in params.split("&")
        if not is_credential(unquote_plus(segment.partition("=")[0]))
    ]
    return "&".join(kept)


def refusal(
    status: int,
    headers: Mapping[str, Any],
    request_headers: Mapping[str, Any],
    *,
    store_private: bool = False,
    share_set_cookie: bool = False,
    is_credential: IsCredential = is_credential_name,
) -> str | None:
    """Why a shared cache must not store a response (its ``status`` and ``headers``, to a
    request with ``request_headers``), or None if it may."""
    directives = cache_control(headers)
    if forbids_storing(status, directives) or "no-store" in cache_control(request_headers):
        return "no-store"
    if "private" in directives and not store_private:
        return "private"
    if "*" in vary_names(headers):
        return "Vary: *"  # never matches a later request (RFC 9111, 4.1)
    if "must-understand" in directives and status not in UNDERSTOOD_STATUSES:
        return "must-understand"  # a status this cache does not understand (RFC 9111, 3)
    if (
        not share_set_cookie
        and sets_cookie(headers)
        and not any(directive in directives for directive in _SHAREABLE)
    ):
        # A response that sets a cookie is likely made for the session it starts or changes
        # (a CSRF token, a greeting), as Varnish's and Fastly's built-in policies assume: not
        # stored for others unless the origin says it is meant for them. Stored, it never
        # keeps its Set-Cookie (stored_headers).
        return SETS_COOKIE
    for name in _URL_HEADERS:
        value = headers.get(name)
        if value and url_without_credentials(str(value), is_credential) != str(value):
            # Stored without its credentials, the URL would no longer work (a presigned
            # download's signature); stored with them, they would rest in the table.
            return f"credentials in {name}"
    return None


def stored_headers(
    headers: Mapping[str, Any], is_credential: IsCredential = is_credential_name
) -> tuple[tuple[str, str], ...]:
    """Response headers as they may rest in the table: no hop-by-hop or ``Age`` field, no
    credential-named header (cookies included), and no credential in a URL-valued header."""
    kept = []
    unstored = _UNSTORED_RESPONSE_HEADERS | hop_by_hop(headers)
    for name, value in headers.items():
        lower = str(name).lower()
        if lower in unstored:
            continue
        if is_credential(lower) and not (
            lower in _PUBLIC_RESPONSE_HEADERS or lower.startswith(_PUBLIC_RESPONSE_PREFIXES)
        ):
            continue
        text = str(value)
        if lower in _URL_HEADERS:
            text = url_without_credentials(text, is_credential)
        elif lower == "link":
            text = _LINK_TARGET.sub(
                lambda m: f"<{url_without_credentials(m.group(1), is_credential)}>", text
            )
        kept.append((str(name), text))
    return tuple(kept)


def sets_cookie(headers: Mapping[str, Any]) -> bool:
    """Whether response ``headers`` set a cookie: a ``Set-Cookie`` or ``Set-Cookie2`` field,
    in any letter case, whatever its value."""
    return any(str(name).lower() in SET_COOKIE_FIELDS for name in headers)


def vary_names(headers: Mapping[str, Any]) -> set[str]:
    """The lower-case field names a response's ``Vary`` lists (all its lines)."""
    value = headers.get("Vary") or ""
    return {part.strip().lower() for part in str(value).split(",") if part.strip()}
