"""``Client``'s chunk and job methods: push a chunk, then watch, wait for, cancel or retry
its job."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from relearn._api import ApiBase, JobRef, ModelRef, SpecLike, job_id, model_id, spec
from relearn.errors import JobFailed
from relearn.models import Chunk, ChunkAccepted, Job, Page
from relearn.transport import segment
from relearn.uploads import Arrays, PathLike, UploadFile
from relearn.watch import JobWatcher


class JobsApi(ApiBase):
    _watcher: JobWatcher  # made by Client.__init__ around get_job

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

    def last_job(self, model: ModelRef) -> Job | None:
        """The model's most recent job (one request: newest first, one item), or None
        before its first chunk."""
        path = f"/v1/models/{segment(model_id(model))}/jobs"
        answer = self._json("GET", path, params={"order": "newest", "limit": 1})
        page = Page[Job].model_validate(answer)
        return page.items[0] if page.items else None

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
