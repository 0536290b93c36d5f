"""ACC, BWT and forgetting on small matrices computed by hand."""

from __future__ import annotations

import pytest

from app.continual_metrics import average_accuracy, backward_transfer, forgetting


def test_no_rows_means_no_summaries() -> None:
    assert average_accuracy([]) is None
    assert backward_transfer([]) is None
    assert forgetting([]) is None


def test_one_row_has_an_accuracy_but_no_transfer_or_forgetting() -> None:
    # given
    matrix = [[0.8]]

    # then
    assert average_accuracy(matrix) == pytest.approx(0.8)
    assert backward_transfer(matrix) is None
    assert forgetting(matrix) is None


def test_three_chunks() -> None:
    # given: chunk 1's accuracy rose after chunk 2 (0.6 → 0.9), then fell to 0.7
    matrix = [
        [0.6],
        [0.9, 0.8],
        [0.7, 0.5, 0.9],
    ]

    # then: ACC = mean of the last row
    assert average_accuracy(matrix) == pytest.approx((0.7 + 0.5 + 0.9) / 3)
    # BWT compares with the accuracy right after learning each chunk (the diagonal)
    assert backward_transfer(matrix) == pytest.approx(((0.7 - 0.6) + (0.5 - 0.8)) / 2)
    # forgetting compares with the best earlier accuracy (0.9 for chunk 1, not 0.6)
    assert forgetting(matrix) == pytest.approx(((0.9 - 0.7) + (0.8 - 0.5)) / 2)


def test_chunks_without_eval_splits_are_skipped() -> None:
    # given: chunk 1 brought no eval split
    matrix = [
        [None],
        [None, 0.8],
        [None, 0.6, 0.9],
    ]

    # then
    assert average_accuracy(matrix) == pytest.approx((0.6 + 0.9) / 2)
    assert backward_transfer(matrix) == pytest.approx(0.6 - 0.8)
    assert forgetting(matrix) == pytest.approx(0.8 - 0.6)


def test_undefined_when_nothing_is_known() -> None:
    # given: two chunks, neither with an eval split
    matrix: list[list[float | None]] = [[None], [None, None]]

    # then
    assert average_accuracy(matrix) is None
    assert backward_transfer(matrix) is None
    assert forgetting(matrix) is None


def test_positive_backward_transfer_is_negative_forgetting() -> None:
    # given: learning chunk 2 improved chunk 1
    matrix = [[0.5], [0.7, 0.9]]

    # then
    assert backward_transfer(matrix) == pytest.approx(0.2)
    assert forgetting(matrix) == pytest.approx(-0.2)
