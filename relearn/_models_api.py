"""``Client``'s model methods: register, find, wait for, delete models; their metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

from relearn._api import ApiBase, ModelRef, SpecLike, model_id, spec
from relearn.errors import NotFound, WaitTimeout
from relearn.models import Metrics, Model
from relearn.transport import segment
from relearn.uploads import Arrays, PathLike, UploadFile
from relearn.watch import Deadline


class ModelsApi(ApiBase):
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

    def get_metrics(self, model: ModelRef) -> Metrics:
        """The accuracy matrix with ACC, BWT and forgetting of its last row."""
        return self._get(Metrics, f"/v1/models/{segment(model_id(model))}/metrics")
