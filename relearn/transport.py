"""The client's HTTP session: base URL, API key, timeouts, retries, errors.

One ``httpx.Client`` per ``Client``. Safe requests (GET, PUT, DELETE, and a POST that
carries an ``Idempotency-Key``) are retried a few times when the connection drops or the
server answers 502/503/504/429 (honouring ``Retry-After``): the server sees each of them
at most once in effect. Timeouts are not retried: a slow server stays slow.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import quote

import httpx

from relearn.errors import ServerUnreachable, error_from_response

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 60.0
RETRY_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
MAX_RETRY_PAUSE_S = 30.0

# What a request's multipart files are made from, once per attempt (a retry re-reads them).
FilesFactory = Callable[[], AbstractContextManager[Mapping[str, Any]]]


def client_version() -> str:
    try:
        return version("relearn")
    except PackageNotFoundError:
        return "0+unknown"


def segment(value: str | int) -> str:
    """A user-given id as one URL path segment: ``a/b?c`` must not become a path or query."""
    return quote(str(value), safe="")


class Transport:
    """Requests against one relearn server; raises ``RelearnError``s, never ``httpx``'s."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | None = None,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = (url or os.environ.get("RELEARN_URL") or DEFAULT_URL).rstrip("/")
        key = api_key if api_key is not None else os.environ.get("RELEARN_API_KEY")
        if timeout is None:
            timeout = float(os.environ.get("RELEARN_TIMEOUT") or DEFAULT_TIMEOUT)
        self.timeout = timeout
        self.retries = retries
        headers = {"User-Agent": f"relearn-python/{client_version()}", "Accept": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.http = httpx.Client(
            base_url=self.url,
            timeout=self.timeouts(timeout),
            headers=headers,
            transport=transport,
        )

    @staticmethod
    def timeouts(read: float) -> httpx.Timeout:
        return httpx.Timeout(read, connect=min(read, 10.0))

    def close(self) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        files: FilesFactory | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send the request (retrying when that is safe); an error answer raises its
        ``APIError``, no answer raises ``ServerUnreachable``."""
        headers = kwargs.get("headers") or {}
        retryable = method in IDEMPOTENT_METHODS or "Idempotency-Key" in headers
        attempts = 1 + (self.retries if retryable else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                with files() if files else nullcontext(None) as parts:
                    response = self.http.request(method, path, files=parts, **kwargs)
            except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError) as exc:
                if last:
                    raise self.unreachable(exc) from exc
                time.sleep(self.backoff(attempt))
                continue
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise self.unreachable(exc) from exc
            if response.status_code < 400:
                return response
            error = error_from_response(response)
            if last or response.status_code not in RETRY_STATUSES:
                raise error
            pause = error.retry_after if error.retry_after is not None else self.backoff(attempt)
            if pause > MAX_RETRY_PAUSE_S:
                raise error
            time.sleep(pause)
        raise AssertionError("unreachable")  # the loop returns or raises

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """The response with its body unread, for large or endless bodies (artifacts,
        Server-Sent Events); error answers raise as in ``request``."""
        try:
            with self.http.stream(method, path, **kwargs) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response)
                yield response
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise self.unreachable(exc) from exc

    def unreachable(self, exc: httpx.HTTPError | httpx.InvalidURL) -> ServerUnreachable:
        if isinstance(exc, httpx.TimeoutException):
            return ServerUnreachable(self.url, f"no answer in time ({exc or type(exc).__name__})")
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return ServerUnreachable(self.url, f"not a valid http(s) URL ({exc})")
        return ServerUnreachable(self.url, str(exc) or type(exc).__name__)

    @staticmethod
    def backoff(attempt: int) -> float:
        return float(0.5 * 2**attempt)
