"""The CLI's access to the relearn API: the Python client's HTTP layer with the CLI's
error shapes.

There is one HTTP implementation, the Python client's (``relearn/transport.py``: the
session, the API key, timeouts, errors; ``relearn/uploads.py``: the files sent;
``relearn/artifacts.py``: verified downloads). ``ApiClient`` puts it behind the JSON-in,
JSON-out calls the commands make, over a ``relearn.Client`` (``self.client``, for the
typed methods) without retries (a command reports what happened; the
user reruns it). An answer of 400 or more becomes an ``ApiError`` carrying the parsed
RFC 9457 problem; a server that cannot be reached becomes ``ServerUnreachable``. Commands
never see an ``httpx`` exception.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent

from relearn.artifacts import download as download_verified
from relearn.artifacts import etag_digest
from relearn.client import Client
from relearn.errors import APIError, ChecksumMismatch, ServerUnreachable, error_from_response
from relearn.transport import DEFAULT_URL, client_version, segment
from relearn.uploads import UploadFile

__all__ = [
    "API_KEY_VARIABLE",
    "DEFAULT_URL",
    "ApiClient",
    "ApiError",
    "ChecksumMismatch",
    "Download",
    "Problem",
    "ProblemField",
    "ServerUnreachable",
    "cli_version",
    "etag_digest",
    "segment",
]

API_KEY_VARIABLE = "RELEARN_API_KEY"


def cli_version() -> str:
    return client_version()


@dataclass(frozen=True)
class ProblemField:
    field: str
    reason: str


@dataclass(frozen=True)
class Problem:
    """An RFC 9457 problem, as far as the server sent one (read by
    ``relearn.errors.error_from_response``, which also takes FastAPI's default shape and,
    from something that is not relearn, plain text)."""

    status: int
    title: str
    detail: str | None = None
    type: str = "about:blank"
    errors: tuple[ProblemField, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, error: APIError) -> Problem:
        return cls(
            status=error.status,
            title=error.title,
            detail=error.detail,
            type=error.type,
            errors=tuple(ProblemField(e.field, e.reason) for e in error.errors),
        )

    @classmethod
    def from_response(cls, response: httpx.Response) -> Problem:
        return cls.of(error_from_response(response))


class ApiError(Exception):
    """The API answered with an error status; ``retry_after`` (seconds) when it said when
    to try again (e.g. 409 while a worker exports a ``.pt2`` program, 503)."""

    def __init__(self, problem: Problem, retry_after: float | None = None) -> None:
        super().__init__(f"{problem.status} {problem.title}: {problem.detail}")
        self.problem = problem
        self.retry_after = retry_after

    @classmethod
    def of(cls, error: APIError) -> ApiError:
        return cls(Problem.of(error), error.retry_after)


@dataclass(frozen=True)
class Download:
    path: Path
    size: int
    sha256: str


@contextmanager
def problems() -> Iterator[None]:
    """The client's ``APIError`` as the CLI's ``ApiError``."""
    try:
        yield
    except APIError as exc:
        raise ApiError.of(exc) from exc


class ApiClient:
    """A synchronous client of one relearn server; use it as a context manager."""

    def __init__(
        self, base_url: str = DEFAULT_URL, timeout: float = 60.0, api_key: str | None = None
    ) -> None:
        """``api_key`` (default: ``RELEARN_API_KEY``) goes with every request as a Bearer
        token."""
        key = api_key if api_key is not None else os.environ.get(API_KEY_VARIABLE, "")
        self.client = Client(base_url, key.strip(), timeout=timeout, retries=0)
        self._transport = self.client.transport
        self._http = self._transport.http
        self._http.headers["User-Agent"] = f"relearn-cli/{cli_version()}"
        self.base_url = self._transport.url

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
        self.client.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with problems():
            return self._transport.request(method, path, **kwargs)

    def events(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> Generator[ServerSentEvent, None, None]:
        """The Server-Sent Events of ``path`` as they arrive, until the server closes the
        stream (close the iterator to leave earlier). An error status is an ``ApiError``."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        with problems(), self._transport.stream("GET", path, params=params, headers=headers) as r:
            yield from EventSource(r).iter_sse()

    def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    def post_json(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body).json()

    def post_file(
        self,
        path: str,
        file: Path,
        *,
        field: str = "file",
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """POST ``file`` as the multipart field ``field``; httpx streams it from disk."""
        upload = UploadFile(file.name, path=file)

        @contextmanager
        def parts() -> Iterator[dict[str, Any]]:
            with upload.open() as handle:
                yield {field: upload.part(handle)}

        return self.request(
            "POST", path, files=parts, data=dict(form or {}), headers=dict(headers or {})
        ).json()

    def download(
        self, path: str, destination: Path, params: Mapping[str, str] | None = None
    ) -> Download:
        """Stream ``path`` into ``destination``, checking its sha256 against the ETag; the
        file appears only once complete and verified (``relearn.artifacts.download``)."""
        with problems():
            done = download_verified(self._transport, path, destination, params=dict(params or {}))
        return Download(path=destination, size=done.size, sha256=done.sha256)
