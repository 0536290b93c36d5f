"""``Client``'s artifact methods: download a version's file, or load it as tensors or a
module. An artifact is a version's, so this part builds on ``VersionsApi``."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from relearn import artifacts
from relearn._api import ArtifactFormat, ModelRef, VersionRef, model_id
from relearn._versions_api import VersionsApi
from relearn.errors import APIError
from relearn.models import Artifact, Version
from relearn.transport import segment
from relearn.uploads import PathLike

if TYPE_CHECKING:
    import torch

DEFAULT_ARTIFACT_WAIT_S = 120.0


class ArtifactsApi(VersionsApi):
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
