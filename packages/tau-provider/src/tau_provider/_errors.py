"""Translate httpx errors and error responses into tau-core's ``ProviderError`` tree.

Providers call these at the boundary so nothing above them ever catches an httpx exception::

    try:
        response = await client.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise translate_exception("openai", exc) from exc
    if response.status_code >= 400:
        raise await atranslate_response("openai", response, credential_name="openai")

The SSE parser's errors live here too: :class:`StreamCutError` (a stream ended mid-event) and
:class:`EventTooLargeError` (an SSE line or event over the configured size). The breaker's
``CircuitOpenError`` and the rate limiter's ``RateLimitWaitError`` live in their modules.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import httpx

from tau_core.errors import (
    ProviderAuthenticationError,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderRateLimitError,
)

__all__ = [
    "EventTooLargeError",
    "StreamCutError",
    "atranslate_response",
    "body_excerpt",
    "check_content_type",
    "parse_retry_after",
    "translate_exception",
    "translate_response",
]

_E = TypeVar("_E", bound=ProviderError)

EXCERPT_CHARS = 500
"""How much of an error body goes into a message and into ``ProviderHTTPError.body``."""

_READ_LIMIT = 64 * 1024  # bytes of an error body read from a stream; the rest is never needed
_KEY_PATTERNS = (
    (re.compile(r"\b(?:sk-|sk_)[A-Za-z0-9_\-]{8,}|\bAIza[0-9A-Za-z_\-]{20,}"), "[REDACTED]"),
    (re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._\-~+/=]{8,}"), r"\1[REDACTED]"),
    (
        re.compile(
            r"(?i)(\b(?:api[_-]?key|x-api-key|access[_-]?token|token|secret|password)"
            r"[\"']?\s*[:=]\s*[\"']?)[^\s\"',&}]{4,}"
        ),
        r"\1[REDACTED]",
    ),
)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


class StreamCutError(ProviderConnectionError):
    """The response stream ended in the middle of an event: the answer is incomplete.

    Raised instead of returning a partial answer. Retryable, unless output already reached
    the caller (see :func:`tau_provider._retry.with_retries`).
    """


class EventTooLargeError(ProviderError):
    """One SSE line or event exceeded the parser's ``max_event_size``; the stream is refused."""


def body_excerpt(text: str, secrets: Iterable[str] = (), limit: int = EXCERPT_CHARS) -> str:
    """Return a short, single-line, redacted excerpt of a response body.

    Known secret values and anything shaped like an API key or bearer token become
    ``[REDACTED]``; whitespace runs collapse to one space; the result is cut at *limit*
    characters with an ellipsis.

    Args:
        text: The body text.
        secrets: Exact values to redact (the credential the request carried).
        limit: Maximum characters kept.

    Returns:
        The excerpt.
    """
    for value in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(value, "[REDACTED]")
    for pattern, replacement in _KEY_PATTERNS:
        text = pattern.sub(replacement, text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_retry_after(
    headers: httpx.Headers, *, now: Callable[[], float] = time.time
) -> float | None:
    """Return the wait a response asks for, in seconds, or None when it names none.

    Understands ``retry-after-ms`` (OpenAI), ``Retry-After`` as delay seconds (integer or
    decimal) and ``Retry-After`` as an HTTP date. A date in the past gives ``0.0``; an
    unparseable value gives None.

    Args:
        headers: The response headers.
        now: The wall clock, for HTTP dates (injectable for tests).

    Returns:
        Seconds to wait, or None.
    """
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000.0
        except ValueError:
            value = -1.0
        if 0 <= value < math.inf:
            return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        return seconds if 0 <= seconds < math.inf else None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now())


_TIMEOUTS: dict[type[BaseException], str] = {
    httpx.ConnectTimeout: "timed out connecting",
    httpx.ReadTimeout: "sent no data within the read timeout",
    httpx.WriteTimeout: "timed out while the request was being sent",
    httpx.PoolTimeout: "waited too long for a free connection in the pool",
}


def _final(error: _E) -> _E:
    """Mark *error* as not worth retrying (its failure would only repeat)."""
    error.retryable = False
    return error


def _safe_url(url: httpx.URL) -> str:
    # Gemini carries its key in the query string: never show a query.
    return str(url.copy_with(query=None, fragment=None))


def _error_detail(data: Any) -> str:
    """The human message inside a provider's JSON error body, or ``""``."""
    if isinstance(data, list) and data:
        data = data[0]  # Gemini streams errors as a one-element array
    if not isinstance(data, dict):
        return ""
    error = data.get("error", data)
    if isinstance(error, str):
        return error
    if not isinstance(error, dict):
        return ""
    message = error.get("message") or error.get("detail") or ""
    kind = error.get("type") or error.get("status") or error.get("code")
    text = str(message)
    if kind and str(kind) not in text:
        text = f"{kind}: {text}" if text else str(kind)
    return text


def _looks_like_html(content_type: str, text: str) -> bool:
    head = text.lstrip()[:100].lower()
    return "html" in content_type or head.startswith(("<!doctype html", "<html"))


def _describe_body(provider: str, status: int, content_type: str, text: str) -> str:
    if _looks_like_html(content_type, text):
        title = _TITLE.search(text)
        shown = " ".join(_TAGS.sub(" ", title.group(1) if title else "").split())
        where = f" ({shown!r})" if shown else ""
        return (
            f"{provider} answered HTTP {status} with an HTML page{where} instead of an API "
            f"response: a proxy, gateway or wrong base_url is in the way"
        )
    try:
        detail = _error_detail(json.loads(text)) if text else ""
    except ValueError:
        detail = ""
    return f"{provider} answered HTTP {status}" + (f": {detail}" if detail else "")


def translate_response(
    provider: str,
    response: httpx.Response,
    credential_name: str | None = None,
    *,
    env_var: str | None = None,
    secrets: Iterable[str] = (),
    now: Callable[[], float] = time.time,
) -> ProviderHTTPError:
    """Build the Tau error for an HTTP error response (the caller raises it).

    The body must already be read (see :func:`atranslate_response` for streamed responses);
    an unread body counts as empty.

    Args:
        provider: The provider's name, e.g. ``"openai"``.
        response: The error response (status 400 or above).
        credential_name: The credential-store name the provider's key lives under; named in
            401/403 messages. Defaults to *provider*.
        env_var: The environment variable that can hold the key; defaults to
            ``NAME_API_KEY`` from the credential name.
        secrets: Values to redact from the body excerpt (the key the request used).
        now: The wall clock, for ``Retry-After`` dates.

    Returns:
        A :class:`ProviderAuthenticationError` (401/403), :class:`ProviderRateLimitError`
        (429) or :class:`ProviderHTTPError`, with a redacted ``body`` excerpt and
        ``retry_after``.
    """
    status = response.status_code
    try:
        raw = response.text
    except httpx.ResponseNotRead:
        raw = ""
    secrets = tuple(secrets)
    content_type = response.headers.get("content-type", "").lower()
    excerpt = body_excerpt(raw, secrets)
    message = body_excerpt(_describe_body(provider, status, content_type, raw), secrets)
    retry_after = parse_retry_after(response.headers, now=now)
    where = f" ({response.request.method} {_safe_url(response.request.url)})"
    if status in (401, 403):
        name = credential_name or provider
        var = env_var or f"{re.sub(r'[^A-Za-z0-9]', '_', name).upper()}_API_KEY"
        verb = "rejected" if status == 401 else "refused access with"
        return ProviderAuthenticationError(
            f"{provider} {verb} the credential {name!r} (HTTP {status}): {message}{where}. "
            f"Set a valid key with `tau keys set {name}` or the {var} environment variable, "
            f"and check the key has access to this model.",
            status=status,
            body=excerpt,
            retry_after=retry_after,
        )
    if status == 429:
        wait = f" It asked to wait {retry_after:g} s." if retry_after is not None else ""
        return ProviderRateLimitError(
            f"{message}{where}: rate limited.{wait}",
            status=status,
            body=excerpt,
            retry_after=retry_after,
        )
    return ProviderHTTPError(
        f"{message}{where}", status=status, body=excerpt, retry_after=retry_after
    )


async def atranslate_response(
    provider: str,
    response: httpx.Response,
    credential_name: str | None = None,
    *,
    env_var: str | None = None,
    secrets: Iterable[str] = (),
) -> ProviderHTTPError:
    """Read (at most 64 KiB of) a streamed error response, close it, and translate it.

    Args:
        provider: As for :func:`translate_response`, like every other argument except:
        response: A response opened with ``stream=True``.

    Returns:
        The error to raise.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
            size += len(chunk)
            if size >= _READ_LIMIT:
                break
    except httpx.HTTPError:
        pass  # an error body cut short still says more than none
    finally:
        await response.aclose()
    partial = httpx.Response(
        response.status_code,
        headers=[(k, v) for k, v in response.headers.items() if k != "content-encoding"],
        content=b"".join(chunks)[:_READ_LIMIT],
        request=response.request,
    )
    return translate_response(provider, partial, credential_name, env_var=env_var, secrets=secrets)


def check_content_type(provider: str, response: httpx.Response, expected: Iterable[str]) -> None:
    """Raise a clear error when a successful response has the wrong content type.

    An HTML page (a captive portal, a proxy's login page) or plain text where JSON or an
    event stream was expected would otherwise surface as a baffling parse error.

    Args:
        provider: The provider's name.
        response: The response (its body is not read).
        expected: Acceptable media types, e.g. ``("application/json",)``.

    Raises:
        ProviderHTTPError: Not retryable; names what arrived and what was expected.
    """
    wanted = tuple(expected)
    media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media in wanted:
        return
    hint = (
        "an HTML page: a proxy, captive portal or wrong base_url is in the way"
        if "html" in media
        else f"content type {media or 'none'!r}"
    )
    raise _final(
        ProviderHTTPError(
            f"{provider} answered HTTP {response.status_code} with {hint}, expected "
            f"{' or '.join(wanted)} ({response.request.method} {_safe_url(response.request.url)})",
            status=response.status_code,
        )
    )


def translate_exception(provider: str, exc: BaseException) -> ProviderError:
    """Build the Tau error for an httpx exception (the caller raises it ``from exc``).

    Args:
        provider: The provider's name.
        exc: What httpx raised.

    Returns:
        :class:`ProviderConnectionError` for transport failures and timeouts,
        :class:`StreamCutError` when the server closed a response early, the translated
        response for ``HTTPStatusError``, and a non-retryable :class:`ProviderError` for a
        bad URL or scheme (configuration, not the network).
    """
    if isinstance(exc, httpx.HTTPStatusError):
        return translate_response(provider, exc.response)
    where = ""
    try:
        request = exc.request if isinstance(exc, httpx.RequestError) else None
    except RuntimeError:  # httpx raises when the exception carries no request
        request = None
    if request is not None:
        where = f" ({request.method} {_safe_url(request.url)})"
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    for kind, text in _TIMEOUTS.items():
        if isinstance(exc, kind):
            return ProviderConnectionError(f"{provider} {text}{where}; try again or raise timeouts")
    if isinstance(exc, httpx.TimeoutException):
        return ProviderConnectionError(f"{provider} timed out{where}: {detail}")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return _final(
            ProviderError(
                f"{provider}: the request URL is unusable{where}: {detail}; check base_url in "
                f"the provider's config or its *_BASE_URL environment variable"
            )
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return StreamCutError(
            f"{provider} closed the connection before the response was complete{where}: {detail}"
        )
    if isinstance(exc, httpx.ConnectError):
        return ProviderConnectionError(
            f"{provider} could not be reached{where}: {detail}; check the network and base_url"
        )
    if isinstance(exc, httpx.TransportError | httpx.StreamError):
        return ProviderConnectionError(f"{provider} connection failed{where}: {detail}")
    return _final(ProviderError(f"{provider} request failed{where}: {detail}"))
