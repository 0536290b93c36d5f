"""What ``Client``'s resource methods share: the references they take and the requests
they make (``ApiBase``, the base of every ``relearn/_*_api.py`` part of ``Client``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from relearn.models import Job, Model, Page, Version
from relearn.transport import Transport
from relearn.uploads import UploadFile

R = TypeVar("R", bound=BaseModel)

ModelRef = str | Model
JobRef = str | Job
VersionRef = int | str | Version
ArtifactFormat = Literal["safetensors", "pt2"]
SpecLike = str | Mapping[str, Any]


def model_id(model: ModelRef) -> str:
    return model.id if isinstance(model, Model) else model


def job_id(job: JobRef) -> str:
    return job.id if isinstance(job, Job) else job


def version_ref(version: VersionRef) -> str:
    return str(version.number if isinstance(version, Version) else version)


def spec(value: SpecLike) -> dict[str, Any]:
    """``"er"`` → ``{"name": "er"}``; a mapping as given."""
    return {"name": value} if isinstance(value, str) else dict(value)


class ApiBase:
    """Requests over ``_http`` (set by ``Client.__init__``) with typed answers."""

    _http: Transport

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._http.request(method, path, **kwargs).json()

    def _get(self, cls: type[R], path: str, **kwargs: Any) -> R:
        return cls.model_validate(self._json("GET", path, **kwargs))

    def _iter(
        self,
        cls: type[R],
        path: str,
        params: dict[str, Any] | None = None,
        page_size: int | None = None,
    ) -> Iterator[R]:
        """Every item of a list, page after page while the server gives a ``next_cursor``
        (a server without pagination answers one page of ``{"items"}``)."""
        query = dict(params or {})
        if page_size is not None:
            query["limit"] = page_size
        seen: set[str] = set()
        while True:
            page = Page[cls].model_validate(self._json("GET", path, params=query))  # type: ignore[valid-type]
            yield from page.items
            cursor = page.next_cursor
            if not cursor or cursor in seen:  # a repeated cursor would loop for ever
                return
            seen.add(cursor)
            query["cursor"] = cursor

    @staticmethod
    def _files(field: str, upload: UploadFile) -> Callable[[], Any]:
        @contextmanager
        def parts() -> Iterator[dict[str, Any]]:
            with upload.open() as handle:
                yield {field: upload.part(handle)}

        return parts
