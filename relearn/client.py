"""``Client``: the relearn HTTP API as Python methods with typed results.

    from relearn import Client

    with Client("http://127.0.0.1:8000") as client:
        model = client.create_model("digits", architecture={
            "name": "mlp", "params": {"input_dim": 784, "hidden": [256], "num_classes": 10}})
        job = client.push_chunk(model, {"x": x, "y": y}, wait=True)
        client.download_artifact(model, path="digits.safetensors")

Wherever a method takes a model, a job or a version it takes its id (or number) or the
object itself. Errors are ``relearn.errors.RelearnError``s.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import httpx
from pydantic import BaseModel

from relearn import artifacts
from relearn.errors import APIError, JobFailed, NotFound, WaitTimeout
from relearn.models import (
    Alias,
    Architecture,
    Artifact,
    Chunk,
    ChunkAccepted,
    Job,
    Metrics,
    Model,
    Page,
    Version,
)
from relearn.transport import Transport, segment
from relearn.uploads import Arrays, PathLike, UploadFile
from relearn.watch import Deadline, JobWatcher

if TYPE_CHECKING:
    import torch

R = TypeVar("R", bound=BaseModel)

ModelRef = str | Model
JobRef = str | Job
VersionRef = int | str | Version
ArtifactFormat = Literal["safetensors", "pt2"]
SpecLike = str | Mapping[str, Any]

DEFAULT_ARTIFACT_WAIT_S = 120.0


def model_id(model: ModelRef) -> str:
    return model.id if isinstance(model, Model) else model


def job_id(job: JobRef) -> str:
    return job.id if isinstance(job, Job) else job


def version_ref(version: VersionRef) -> str:
    return str(version.number if isinstance(version, Version) else version)


def spec(value: SpecLike) -> dict[str, Any]:
    """``"er"`` → ``{"name": "er"}``; a mapping as given."""
    return {"name": value} if isinstance(value, str) else dict(value)


class Client:
    """A synchronous client of one relearn server; use it as a context manager.

    ``url`` defaults to ``RELEARN_URL`` (else ``http://127.0.0.1:8000``), ``api_key`` to
    ``RELEARN_API_KEY`` (sent as ``Authorization: Bearer KEY``), ``timeout`` (seconds per
    HTTP answer) to ``RELEARN_TIMEOUT`` or 60. ``retries``: how often a request that is
    safe to repeat is retried after a dropped connection or a 502/503/504/429.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | None = None,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = Transport(url, api_key, timeout=timeout, retries=retries, transport=transport)
        self._watcher = JobWatcher(self._http, self.get_job)

    @property
    def url(self) -> str:
        return self._http.url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    # --- plumbing ---------------------------------------------------------------------------

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

    # --- service ----------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /healthz``: the service and its backends (database, storage, workers)."""
        result: dict[str, Any] = self._json("GET", "/healthz")
        return result

    def list_architectures(self) -> list[Architecture]:
        """The architectures a model may use, with each one's params JSON Schema."""
        return list(self._iter(Architecture, "/v1/architectures"))

    # --- models -----------------------------------------------------------------------------

    def create_model(
        self,
        name: str | None = None,
        *,
        architecture: SpecLike | None = None,
        updater: SpecLike | None = None,
        training: Mapping[str, Any] | None = None,
        promotion: Mapping[str, Any] | None = None,
        spec_body: Mapping[str, Any] | None = None,
        weights: PathLike | Arrays | None = None,
    ) -> Model:
        """Register a model; version 0 holds its seeded initial weights, or ``weights``
        (a safetensors file or a state_dict) when given.

        Only what is given is sent, on top of ``spec_body`` (a full ``POST /v1/models``
        body); the server fills in every default and names any invalid field (422).
        """
        body: dict[str, Any] = dict(spec_body or {})
        if name is not None:
            body["name"] = name
        if architecture is not None:
            body["architecture"] = spec(architecture)
        if updater is not None:
            body["updater"] = spec(updater)
        if training is not None:
            body["training"] = dict(training)
        if promotion is not None:
            body["promotion"] = dict(promotion)
        if weights is None:
            return Model.model_validate(self._json("POST", "/v1/models", json=body))
        with UploadFile.of_weights(weights) as upload:
            data = self._json(
                "POST",
                "/v1/models",
                data={"spec": json.dumps(body)},
                files=self._files("weights", upload),
            )
        return Model.model_validate(data)

    def get_model(self, model: ModelRef) -> Model:
        """A model by id, or else by name."""
        try:
            return self._get(Model, f"/v1/models/{segment(model_id(model))}")
        except NotFound:
            if isinstance(model, Model):
                raise
            found = self.find_model(model)
            if found is None:
                raise
            return found

    def find_model(self, name: str) -> Model | None:
        """The model called ``name``, or None (``GET /v1/models?name=``; a server that
        ignores the filter is searched through its list)."""
        for model in self._iter(Model, "/v1/models", {"name": name}):
            if model.name == name:
                return model
        return None

    def iter_models(self, *, page_size: int | None = None) -> Iterator[Model]:
        """Every model, fetched a page at a time as the iteration proceeds."""
        return self._iter(Model, "/v1/models", page_size=page_size)

    def list_models(self, *, page_size: int | None = None) -> list[Model]:
        return list(self.iter_models(page_size=page_size))

    def wait_model(
        self, model: ModelRef, *, timeout: float | None = None, interval: float = 0.5
    ) -> Model:
        """The model once its version 0 exists (``ready``) or could not be made
        (``failed``, with ``error``): a worker materialises it after ``create_model``.
        Chunks need no wait (they queue behind it); downloading version 0 does."""
        deadline = Deadline(timeout)
        while True:
            current = self.get_model(model)
            if current.status != "initialising":
                return current
            if deadline.remaining() == 0:
                raise WaitTimeout(
                    f"model {current.id} is still initialising after {timeout:g}s", current
                )
            time.sleep(deadline.pause(interval))

    def delete_model(self, model: ModelRef) -> None:
        """Delete a model: gone from every endpoint at once, its files removed later."""
        self._http.request("DELETE", f"/v1/models/{segment(model_id(model))}")

    # --- chunks and jobs --------------------------------------------------------------------

    def push_chunk(
        self,
        model: ModelRef,
        data: PathLike | Arrays,
        *,
        updater: SpecLike | None = None,
        idempotency_key: str | None = None,
        wait: bool = False,
        timeout: float | None = None,
        on_update: Callable[[Job], None] | None = None,
        check: bool = False,
    ) -> Job:
        """Upload a chunk and return its job (queued; with ``wait``, final: see
        ``wait_job`` for ``timeout``, ``on_update`` and ``check``).

        ``data`` is a ``.npz``/``.safetensors`` file or arrays ``x``, ``y`` (and optionally
        ``x_eval``, ``y_eval``), sent as ``.npz``. ``updater`` overrides the model's for
        this job. The push carries an ``Idempotency-Key`` (a new one unless given), so a
        retry after a dropped connection never queues the chunk twice.
        """
        form = {"updater": json.dumps(spec(updater))} if updater is not None else {}
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        with UploadFile.of_chunk(data) as upload:
            accepted = ChunkAccepted.model_validate(
                self._json(
                    "POST",
                    f"/v1/models/{segment(model_id(model))}/chunks",
                    data=form,
                    headers=headers,
                    files=self._files("file", upload),
                )
            )
        if wait:
            return self.wait_job(accepted.job_id, timeout=timeout, on_update=on_update, check=check)
        return self.get_job(accepted.job_id)

    @staticmethod
    def _files(field: str, upload: UploadFile) -> Callable[[], Any]:
        @contextmanager
        def parts() -> Iterator[dict[str, Any]]:
            with upload.open() as handle:
                yield {field: upload.part(handle)}

        return parts

    def list_chunks(self, model: ModelRef, *, page_size: int | None = None) -> list[Chunk]:
        return list(
            self._iter(Chunk, f"/v1/models/{segment(model_id(model))}/chunks", page_size=page_size)
        )

    def get_job(self, job: JobRef) -> Job:
        return self._get(Job, f"/v1/jobs/{segment(job_id(job))}")

    def list_jobs(self, model: ModelRef, *, page_size: int | None = None) -> list[Job]:
        """The model's jobs in chunk submission order."""
        return list(
            self._iter(Job, f"/v1/models/{segment(model_id(model))}/jobs", page_size=page_size)
        )

    def watch_job(
        self, job: JobRef, *, timeout: float | None = None, interval: float = 1.0
    ) -> Iterator[Job]:
        """Each new state of the job until it is final, from its event stream (or by polling
        every ``interval`` s where the server has none). Raises ``WaitTimeout`` (with the
        last state) if it is not final after ``timeout`` seconds."""
        return self._watcher.watch(job_id(job), timeout=timeout, interval=interval)

    def wait_job(
        self,
        job: JobRef,
        *,
        timeout: float | None = None,
        interval: float = 1.0,
        on_update: Callable[[Job], None] | None = None,
        check: bool = False,
    ) -> Job:
        """The job once final; ``on_update`` sees each state on the way. ``check``: raise
        ``JobFailed`` unless it succeeded. ``WaitTimeout`` as in ``watch_job``."""
        last: Job | None = None
        for state in self.watch_job(job, timeout=timeout, interval=interval):
            last = state
            if on_update is not None:
                on_update(state)
        assert last is not None  # the watch yields at least the final state
        if check and not last.succeeded:
            reason = f": {last.error}" if last.error else ""
            raise JobFailed(f"job {last.id} {last.status}{reason}", last)
        return last

    def cancel_job(self, job: JobRef) -> Job:
        """Cancel a queued or running job (409 once it is final)."""
        return Job.model_validate(self._json("POST", f"/v1/jobs/{segment(job_id(job))}/cancel"))

    def retry_job(self, job: JobRef) -> Job:
        """Queue a failed job's chunk again, as a new job at the end of the model's queue."""
        return self._job_from(self._json("POST", f"/v1/jobs/{segment(job_id(job))}/retry"))

    def _job_from(self, body: Any) -> Job:
        """A job from an answer that is the job, or a ``{"job_id"}`` acceptance of one."""
        if isinstance(body, dict) and "id" not in body and "job_id" in body:
            return self.get_job(str(body["job_id"]))
        return Job.model_validate(body)

    # --- versions and aliases ---------------------------------------------------------------

    def list_versions(self, model: ModelRef, *, page_size: int | None = None) -> list[Version]:
        return list(
            self._iter(
                Version, f"/v1/models/{segment(model_id(model))}/versions", page_size=page_size
            )
        )

    def get_version(self, model: ModelRef, version: VersionRef = "latest") -> Version:
        """A version by number, ``"latest"`` or an alias."""
        return self._get(
            Version,
            f"/v1/models/{segment(model_id(model))}/versions/{segment(version_ref(version))}",
        )

    def rollback(self, model: ModelRef, version: VersionRef) -> Job:
        """Queue a job that publishes a new version holding ``version``'s weights and state."""
        number = self._number(model, version)
        return self._job_from(
            self._json(
                "POST", f"/v1/models/{segment(model_id(model))}/rollback", json={"version": number}
            )
        )

    def _number(self, model: ModelRef, version: VersionRef) -> int:
        if isinstance(version, Version):
            return version.number
        if isinstance(version, int):
            return version
        return int(version) if version.isdigit() else self.get_version(model, version).number

    def list_aliases(self, model: ModelRef) -> list[Alias]:
        return list(self._iter(Alias, f"/v1/models/{segment(model_id(model))}/aliases"))

    def get_alias(self, model: ModelRef, alias: str) -> Alias:
        return self._get(Alias, self._alias_path(model, alias))

    def set_alias(self, model: ModelRef, alias: str, version: VersionRef) -> Alias:
        """Point ``alias`` at ``version`` (``latest`` is reserved: 422)."""
        number = self._number(model, version)
        return Alias.model_validate(
            self._json("PUT", self._alias_path(model, alias), json={"version": number})
        )

    def delete_alias(self, model: ModelRef, alias: str) -> None:
        self._http.request("DELETE", self._alias_path(model, alias))

    @staticmethod
    def _alias_path(model: ModelRef, alias: str) -> str:
        return f"/v1/models/{segment(model_id(model))}/aliases/{segment(alias)}"

    # --- metrics ----------------------------------------------------------------------------

    def get_metrics(self, model: ModelRef) -> Metrics:
        """The accuracy matrix with ACC, BWT and forgetting of its last row."""
        return self._get(Metrics, f"/v1/models/{segment(model_id(model))}/metrics")

    # --- artifacts --------------------------------------------------------------------------

    def download_artifact(
        self,
        model: ModelRef,
        version: VersionRef = "latest",
        format: ArtifactFormat = "safetensors",
        path: PathLike | None = None,
        *,
        wait: float = DEFAULT_ARTIFACT_WAIT_S,
    ) -> Artifact:
        """Write a version's artifact to ``path`` (default ``MODEL-vN.FORMAT`` here).

        ``safetensors``: the state_dict, architecture JSON in its metadata; ``pt2``: a
        ``torch.export`` program. ``latest`` or an alias is resolved to a number first, so
        the file is one version even if a newer one is published meanwhile; a ``.pt2``
        still being exported is waited for up to ``wait`` seconds. The sha256 is checked
        (``ChecksumMismatch``) and the file appears only once complete.
        """
        resolved = version if isinstance(version, Version) else self.get_version(model, version)
        mid = model_id(model)
        destination = Path(path) if path is not None else Path(f"{mid}-v{resolved.number}.{format}")
        expected = resolved.artifact_sha256 if format == "safetensors" else resolved.pt2_sha256
        deadline = time.monotonic() + wait
        while True:
            try:
                done = artifacts.download(
                    self._http,
                    f"/v1/models/{segment(mid)}/versions/{resolved.number}/artifact",
                    destination,
                    params={"format": format},
                    expected_sha256=expected,
                )
                break
            except APIError as exc:
                pause = exc.retry_after
                if exc.status != 409 or pause is None or time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
        return Artifact(
            path=destination,
            model_id=mid,
            version=resolved.number,
            format=format,
            size=done.size,
            sha256=done.sha256,
        )

    def load_state_dict(
        self, model: ModelRef, version: VersionRef = "latest"
    ) -> dict[str, torch.Tensor]:
        """A version's weights as torch tensors (from its safetensors artifact).

        Imports torch (and ``safetensors.torch``) only when called: the rest of the client
        works without torch installed.
        """
        from safetensors.torch import load_file

        with tempfile.TemporaryDirectory(prefix="relearn-") as folder:
            artifact = self.download_artifact(
                model, version, "safetensors", Path(folder) / "m.safetensors"
            )
            return load_file(str(artifact.path))

    def load_module(self, model: ModelRef, version: VersionRef = "latest") -> torch.nn.Module:
        """A version as a runnable ``torch.nn.Module`` (``torch.export.load`` of its
        ``.pt2`` program: float32 input of any batch size → logits; no relearn needed).

        Imports torch only when called: the rest of the client works without it.
        """
        import torch

        with tempfile.TemporaryDirectory(prefix="relearn-") as folder:
            artifact = self.download_artifact(model, version, "pt2", Path(folder) / "m.pt2")
            program = torch.export.load(str(artifact.path))
        return program.module()
