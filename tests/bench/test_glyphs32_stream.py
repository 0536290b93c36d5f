"""The 3×32×32 glyph stream for ``resnet18``: colour images, deterministic, five
two-class experiences, and a smoke run of the continual benchmark on a tiny copy of it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from bench import continual
from bench.glyphs import class_patterns, glyphs
from bench.runner import fresh_model
from bench.streams import NUM_EXPERIENCES, STREAMS, Stream, split_glyphs32_stream


def test_colour_glyphs_are_deterministic_32x32_images_with_distinct_channels() -> None:
    # when
    first = glyphs(per_class_train=10, per_class_eval=2, size=32, channels=3, cell=4)
    second = glyphs(per_class_train=10, per_class_eval=2, size=32, channels=3, cell=4)
    other = glyphs(per_class_train=10, per_class_eval=2, size=32, channels=3, cell=4, data_seed=1)

    # then
    assert first["x"].shape == (100, 3, 32, 32) and first["x"].dtype == np.float32
    assert first["x_test"].shape == (20, 3, 32, 32)
    assert first["x"].min() >= 0 and first["x"].max() <= 1
    np.testing.assert_array_equal(first["x"], second["x"])
    assert not np.array_equal(first["x"], other["x"])
    assert not np.allclose(first["x"][:, 0], first["x"][:, 1])  # tinted per channel


def test_a_larger_cell_draws_the_same_patterns_at_a_larger_scale() -> None:
    # when
    small, large = class_patterns(0, cell=2), class_patterns(0, cell=4)

    # then
    assert small.shape == (10, 8, 8) and large.shape == (10, 16, 16)
    np.testing.assert_array_equal(large[:, ::4, ::4], small[:, ::2, ::2])


def test_a_pattern_larger_than_the_image_is_refused() -> None:
    with pytest.raises(ValueError, match="smaller than the 16-pixel pattern"):
        glyphs(per_class_train=1, per_class_eval=1, size=12, cell=4)


def test_the_stream_has_five_two_class_experiences_for_a_width_20_resnet18() -> None:
    # when
    stream = split_glyphs32_stream(per_class_train=8)

    # then
    assert STREAMS["split_glyphs32"] is split_glyphs32_stream
    assert stream.kind == "class-incremental" and len(stream.experiences) == NUM_EXPERIENCES
    assert [e.classes for e in stream.experiences] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    for experience in stream.experiences:
        assert experience.x_train.shape == (16, 3, 32, 32)
        assert set(experience.y_eval.tolist()) == set(experience.classes)
    assert stream.architecture == {
        "name": "resnet18",
        "params": {"input_shape": [3, 32, 32], "num_classes": 10, "width": 20},
    }
    model = fresh_model(stream.architecture, 0, torch.device("cpu")).eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(stream.experiences[0].x_eval))
    assert logits.shape == (len(stream.experiences[0].y_eval), 10)


def test_a_smoke_run_trains_the_resnet_with_replay_and_scores_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: the stream cut to 16 training samples an experience
    def tiny() -> Stream:
        return replace(split_glyphs32_stream(per_class_train=8), name="tiny_glyphs32")

    monkeypatch.setattr(continual, "STREAMS", {"tiny_glyphs32": tiny})

    # when
    report = continual.main(
        ["--quick", "--streams", "tiny_glyphs32", "--methods", "naive", "derpp"]
    )

    # then: one run per method on the first two experiences, accuracies in [0, 1]
    runs = report["runs"]
    assert [(r["stream"], r["label"]) for r in runs] == [
        ("tiny_glyphs32", "naive"),
        ("tiny_glyphs32", "der++"),
    ]
    for run in runs:
        assert [len(row) for row in run["accuracy_matrix"]] == [1, 2]
        assert 0.0 <= run["acc"] <= 1.0
