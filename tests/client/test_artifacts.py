"""Artifacts through the client: files verified against their sha256, state_dicts and
runnable modules."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from relearn import ChecksumMismatch, Client, Model, NotFound
from tests.client.data import NUM_CLASSES, chunks, spec


@pytest.fixture
def trained(client: Client, name: str) -> Model:
    """A model with version 1 published."""
    model = client.create_model(spec_body=spec(name))
    assert client.push_chunk(model, chunks(1)[0], wait=True, timeout=180).succeeded
    return client.get_model(model)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_latest_is_downloaded_as_a_numbered_verified_file(
    client: Client, trained: Model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the working directory is empty
    monkeypatch.chdir(tmp_path)
    version = client.get_version(trained, "latest")
    # when
    artifact = client.download_artifact(trained)
    # then: MODEL-v1.safetensors, with the version's digest and size
    assert artifact.path == Path(f"{trained.id}-v1.safetensors") and artifact.version == 1
    assert sha256(artifact.path) == artifact.sha256 == version.artifact_sha256
    assert artifact.size == version.artifact_size == artifact.path.stat().st_size
    assert sorted(p.name for p in tmp_path.iterdir()) == [artifact.path.name]


def test_the_module_and_the_state_dict_are_the_same_version(
    client: Client, trained: Model, tmp_path: Path
) -> None:
    # when
    program = client.download_artifact(trained, 1, "pt2", tmp_path / "m.pt2")
    weights = client.load_state_dict(trained, 1)
    module = client.load_module(trained, "latest")

    # then: the .pt2 is the recorded one, and runs a batch of any size to logits
    assert program.sha256 == client.get_version(trained, 1).pt2_sha256
    x = torch.from_numpy(chunks(1)[0]["x_eval"])
    for n in (1, 5, len(x)):
        assert module(x[:n]).shape == (n, NUM_CLASSES)
    # and: its parameters are the state_dict's
    parameters = module.state_dict()
    assert set(weights) <= set(parameters)
    for key, tensor in weights.items():
        assert torch.equal(parameters[key], tensor), key


def test_version_0_program_is_waited_for_while_it_is_exported(
    client: Client, name: str, tmp_path: Path
) -> None:
    model = client.wait_model(client.create_model(spec_body=spec(name)), timeout=120)
    artifact = client.download_artifact(model, 0, "pt2", tmp_path / "v0.pt2", wait=120)
    assert artifact.version == 0 and artifact.size > 0
    assert artifact.sha256 == client.get_version(model, 0).pt2_sha256


def test_a_corrupt_object_is_refused_and_leaves_no_file(
    client: Client, trained: Model, home: Path, tmp_path: Path
) -> None:
    # given: the stored weights of version 1 changed behind the service's back
    (stored,) = (home / "objects" / "models" / trained.id / "versions").glob(
        "000001-*/model.safetensors"
    )
    content = stored.read_bytes()
    stored.write_bytes(content[:-1] + bytes([content[-1] ^ 0xFF]))
    destination = tmp_path / "out" / "model.safetensors"
    # when / then
    with pytest.raises(ChecksumMismatch, match="sha256"):
        client.download_artifact(trained, 1, path=destination)
    assert list(destination.parent.iterdir()) == []


def test_an_unknown_version_is_not_found(client: Client, trained: Model, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        client.download_artifact(trained, 99, path=tmp_path / "x")
    with pytest.raises(NotFound):
        client.get_version(trained, 99)
    assert not (tmp_path / "x").exists()


def test_versions_and_metrics_are_typed(client: Client, trained: Model) -> None:
    versions = client.list_versions(trained)
    assert [v.number for v in versions] == [0, 1]
    assert versions[1].chunk_id == client.list_chunks(trained)[0].id
    metrics = client.get_metrics(trained)
    assert metrics.chunk_ids == [versions[1].chunk_id]
    (row,) = metrics.accuracy_matrix
    (accuracy,) = row
    assert accuracy is not None and 0.0 <= accuracy <= 1.0
    assert metrics.average_accuracy == pytest.approx(accuracy)
