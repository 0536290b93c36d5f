"""``Client``: the relearn HTTP API as Python methods with typed results.

    from relearn import Client

    with Client("http://127.0.0.1:8000") as client:
        model = client.create_model("digits", architecture={
            "name": "mlp", "params": {"input_dim": 784, "hidden": [256], "num_classes": 10}})
        job = client.push_chunk(model, {"x": x, "y": y}, wait=True)
        client.download_artifact(model, path="digits.safetensors")

Wherever a method takes a model, a job or a version it takes its id (or number) or the
object itself. Errors are ``relearn.errors.RelearnError``s.

The methods live by resource in ``relearn/_models_api.py``, ``_jobs_api.py`` (chunks and
jobs), ``_versions_api.py`` (versions and aliases) and ``_artifacts_api.py``; this module
holds the session they share and the service-wide calls.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from relearn._artifacts_api import ArtifactsApi
from relearn._models_api import ModelsApi
from relearn.models import Architecture
from relearn.transport import Transport
from relearn.watch import JobWatcher


class Client(ModelsApi, ArtifactsApi):
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

    @property
    def transport(self) -> Transport:
        """The HTTP session underneath, for requests no method covers (the CLI's)."""
        return self._http

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

    # --- service ----------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /healthz``: the service and its backends (database, storage, workers)."""
        result: dict[str, Any] = self._json("GET", "/healthz")
        return result

    def list_architectures(self) -> list[Architecture]:
        """The architectures a model may use, with each one's params JSON Schema."""
        return list(self._iter(Architecture, "/v1/architectures"))
