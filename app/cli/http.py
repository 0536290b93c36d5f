"""The CLI's small HTTP client for the relearn API.

JSON in, JSON out. An answer of 400 or more becomes an ``ApiError`` carrying the parsed
RFC 9457 problem; a server that cannot be reached (refused, unresolvable, timed out)
becomes ``ServerUnreachable``. Commands never see an ``httpx`` exception.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
from httpx_sse import ServerSentEvent, connect_sse

DEFAULT_URL = "http://127.0.0.1:8000"
API_KEY_VARIABLE = "RELEARN_API_KEY"
DOWNLOAD_BLOCK = 1024 * 1024
# FastAPI/pydantic prefixes a field's location with the part of the request it came from.
REQUEST_PARTS = ("body", "query", "path", "header", "cookie", "form")


def cli_version() -> str:
    try:
        return version("relearn")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class ProblemField:
    field: str
    reason: str


@dataclass(frozen=True)
class Problem:
    """An RFC 9457 problem, as far as the server sent one.

    Accepts the service's shape (``errors: [{"field", "reason"}]``), the variant with
    ``message`` instead of ``reason``, a bare ``field``, FastAPI's default
    (``detail: [{"loc", "msg"}]``) and, from something that is not relearn, plain text.
    """

    status: int
    title: str
    detail: str | None = None
    type: str = "about:blank"
    errors: tuple[ProblemField, ...] = field(default_factory=tuple)

    @classmethod
    def from_response(cls, response: httpx.Response) -> Problem:
        try:
            body = response.json()
        except ValueError:
            body = None
        phrase = response.reason_phrase or "Error"
        if not isinstance(body, dict):
            text = response.text.strip()[:500] or None
            return cls(status=response.status_code, title=phrase, detail=text)

        raw_detail = body.get("detail")
        errors = [e for e in (problem_field(item) for item in body.get("errors") or []) if e]
        if isinstance(raw_detail, list):  # FastAPI's default validation error body
            errors += [e for e in (problem_field(item) for item in raw_detail) if e]
            raw_detail = None
        if not errors and isinstance(body.get("field"), str):
            errors = [ProblemField(body["field"], str(raw_detail or "invalid"))]
        return cls(
            status=int(body.get("status") or response.status_code),
            title=str(body.get("title") or phrase),
            detail=None if raw_detail is None else str(raw_detail),
            type=str(body.get("type") or "about:blank"),
            errors=tuple(errors),
        )


def problem_field(item: object) -> ProblemField | None:
    if not isinstance(item, Mapping):
        return None
    reason = item.get("reason") or item.get("message") or item.get("msg") or "invalid"
    if "field" in item:
        return ProblemField(str(item["field"]), str(reason))
    loc = [str(part) for part in item.get("loc") or []]
    if loc and loc[0] in REQUEST_PARTS and len(loc) > 1:
        loc = loc[1:]
    return ProblemField(".".join(loc) or "body", str(reason))


class ApiError(Exception):
    """The API answered with an error status; ``retry_after`` (seconds) when it said when
    to try again (e.g. 409 while a worker exports a ``.pt2`` program, 503)."""

    def __init__(self, problem: Problem, retry_after: float | None = None) -> None:
        super().__init__(f"{problem.status} {problem.title}: {problem.detail}")
        self.problem = problem
        self.retry_after = retry_after

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        try:
            retry_after = float(response.headers["retry-after"])
        except (KeyError, ValueError):  # absent, or an HTTP date: no hint
            retry_after = None
        return cls(Problem.from_response(response), retry_after)


class ServerUnreachable(Exception):
    """No answer from the API at ``url``: refused, unknown host, or timed out."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"the relearn server is not reachable at {url}: {reason}")
        self.url = url
        self.reason = reason


class ChecksumMismatch(Exception):
    """A downloaded artifact's sha256 is not the one the server announced."""


@dataclass(frozen=True)
class Download:
    path: Path
    size: int
    sha256: str
    etag: str | None


def segment(value: str | int) -> str:
    """A user-given id as one URL path segment: ``a/b?c`` must not become a path or query."""
    return quote(str(value), safe="")


def etag_digest(etag: str | None) -> str | None:
    """``"abc…"`` or ``W/"abc…"`` → ``abc…`` (the API's ETag is the content sha256)."""
    if not etag:
        return None
    return etag.removeprefix("W/").strip('"')


class ApiClient:
    """A synchronous client of one relearn server; use it as a context manager."""

    def __init__(
        self, base_url: str = DEFAULT_URL, timeout: float = 60.0, api_key: str | None = None
    ) -> None:
        """``api_key`` (default: ``RELEARN_API_KEY``) goes with every request as a Bearer
        token."""
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": f"relearn-cli/{cli_version()}", "Accept": "application/json"}
        api_key = api_key if api_key is not None else os.environ.get(API_KEY_VARIABLE, "")
        if api_key.strip():
            headers["Authorization"] = f"Bearer {api_key.strip()}"
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers=headers,
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @contextmanager
    def _transport_errors(self) -> Iterator[None]:
        """httpx's transport failures as ``ServerUnreachable``."""
        try:
            yield
        except httpx.TimeoutException as exc:
            raise ServerUnreachable(self.base_url, f"no answer in time ({exc})") from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise ServerUnreachable(self.base_url, f"not a valid http(s) URL ({exc})") from exc
        except httpx.TransportError as exc:
            raise ServerUnreachable(self.base_url, str(exc) or type(exc).__name__) from exc

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self._transport_errors():
            response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return response

    def events(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> Generator[ServerSentEvent, None, None]:
        """The Server-Sent Events of ``path`` as they arrive, until the server closes the
        stream (close the iterator to leave earlier). An error status is an ``ApiError``."""
        with (
            self._transport_errors(),
            connect_sse(self._http, "GET", path, params=params) as source,
        ):
            if source.response.status_code >= 400:
                source.response.read()
                raise ApiError.from_response(source.response)
            yield from source.iter_sse()

    def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    def post_json(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body).json()

    def post_file(
        self,
        path: str,
        file: Path,
        *,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """POST ``file`` as the multipart field ``file``; httpx streams it from disk."""
        with file.open("rb") as handle:
            return self.request(
                "POST",
                path,
                files={"file": (file.name, handle, "application/octet-stream")},
                data=dict(form or {}),
                headers=dict(headers or {}),
            ).json()

    def download(
        self, path: str, destination: Path, params: Mapping[str, str] | None = None
    ) -> Download:
        """Stream ``path`` into ``destination``, checking its sha256 against the ETag.

        The bytes go to a temporary file beside ``destination`` that is renamed into place
        only once complete and verified: an interrupted or corrupt download never leaves a
        half-written artifact under the requested name.
        """
        destination.parent.mkdir(parents=True, exist_ok=True)
        tmp = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            digest = hashlib.sha256()
            size = 0
            with tmp.open("xb") as out:
                try:
                    with self._http.stream("GET", path, params=params) as response:
                        if response.status_code >= 400:
                            response.read()
                            raise ApiError.from_response(response)
                        etag = response.headers.get("etag")
                        for block in response.iter_bytes(DOWNLOAD_BLOCK):
                            digest.update(block)
                            size += len(block)
                            out.write(block)
                except httpx.TimeoutException as exc:
                    raise ServerUnreachable(self.base_url, f"no answer in time ({exc})") from exc
                except httpx.TransportError as exc:
                    raise ServerUnreachable(self.base_url, str(exc)) from exc
            sha256 = digest.hexdigest()
            expected = etag_digest(etag)
            if expected is not None and expected != sha256:
                raise ChecksumMismatch(
                    f"downloaded {size} bytes with sha256 {sha256}, "
                    f"but the server's ETag says {expected}"
                )
            tmp.replace(destination)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return Download(path=destination, size=size, sha256=sha256, etag=expected)
