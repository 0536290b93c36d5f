"""The Split-MNIST-1D stream builder and the summaries the continual benchmark reports: no
training, seconds only.

A small data set (1,000 samples instead of the benchmark's 20,000) keeps generation fast;
the split logic is the same.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.continual_metrics import average_accuracy, backward_transfer, forgetting
from bench.split_mnist1d import INPUT_DIM, generate_mnist1d, split_by_classes

NUM_SAMPLES = 1_000


def test_stream_has_five_disjoint_two_class_experiences_with_an_80_20_split() -> None:
    # given: a generated MNIST-1D data set
    data = generate_mnist1d(num_samples=NUM_SAMPLES, data_seed=0)

    # when: it is split into the class-incremental stream
    stream = split_by_classes(data, classes_per_experience=2)

    # then: five experiences {0,1}, {2,3}, ..., {8,9}, classes never shared between them
    assert [e.classes for e in stream] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    seen: set[int] = set()
    for experience in stream:
        train_classes = set(np.unique(experience.y_train).tolist())
        eval_classes = set(np.unique(experience.y_eval).tolist())
        assert train_classes == eval_classes == set(experience.classes)
        assert not train_classes & seen
        seen |= train_classes
        assert experience.x_train.shape == (len(experience.y_train), INPUT_DIM)
        assert experience.x_eval.shape == (len(experience.y_eval), INPUT_DIM)
        assert experience.x_train.dtype == np.float32
        assert experience.y_train.dtype == np.int64
    # and every sample lands in exactly one experience, 80% of them for training
    n_train = sum(len(e.y_train) for e in stream)
    n_eval = sum(len(e.y_eval) for e in stream)
    assert n_train + n_eval == NUM_SAMPLES
    assert n_train == int(NUM_SAMPLES * 0.8)


def test_stream_is_deterministic_and_leaves_the_global_numpy_rng_alone() -> None:
    # given: the global numpy RNG in some state
    np.random.seed(123)
    expected_next = np.random.RandomState(123).random_sample()

    # when: the data set is generated twice with the same seed
    first = generate_mnist1d(num_samples=NUM_SAMPLES, data_seed=0)
    second = generate_mnist1d(num_samples=NUM_SAMPLES, data_seed=0)

    # then: the same samples both times, and the caller's RNG stream is untouched
    np.testing.assert_array_equal(first["x"], second["x"])
    np.testing.assert_array_equal(first["y_test"], second["y_test"])
    assert np.random.random_sample() == expected_next


def test_summaries_follow_the_last_row_and_the_best_earlier_accuracy() -> None:
    # given: an accuracy matrix where experience 0 peaks *after* its own row
    matrix = [
        [0.8],
        [0.9, 0.7],
        [0.5, 0.4, 0.6],
    ]

    # when: the three summaries are computed
    acc = average_accuracy(matrix)
    bwt = backward_transfer(matrix)
    forgot = forgetting(matrix)

    # then: ACC is the last row's mean, BWT compares with the diagonal (GEM) and
    # forgetting with the best earlier accuracy (Chaudhry et al. 2018)
    assert acc == pytest.approx((0.5 + 0.4 + 0.6) / 3)
    assert bwt == pytest.approx(((0.5 - 0.8) + (0.4 - 0.7)) / 2)
    assert forgot == pytest.approx(((0.9 - 0.5) + (0.7 - 0.4)) / 2)
    assert backward_transfer(matrix[:1]) is None
