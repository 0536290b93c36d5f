"""Continual-learning summaries of an accuracy matrix. Pure functions, no I/O.

``R[i][j]`` is the accuracy on chunk j's eval split after training on chunk i (0-based
here; the papers count from 1). Row i has i + 1 entries; an entry is ``None`` where chunk j
brought no eval split. ``T`` is the number of rows. Every summary skips ``None`` entries
and is ``None`` where it is undefined (no rows; a single row for BWT and forgetting; no
usable entry).
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean

AccuracyMatrix = Sequence[Sequence[float | None]]


def average_accuracy(matrix: AccuracyMatrix) -> float | None:
    """ACC = (1/T) sum_j R_{T,j} (Lopez-Paz & Ranzato 2017, GEM, the ACC metric)."""
    if not matrix:
        return None
    known = [a for a in matrix[-1] if a is not None]
    return fmean(known) if known else None


def backward_transfer(matrix: AccuracyMatrix) -> float | None:
    """BWT = 1/(T-1) sum_{j<T} (R_{T,j} - R_{j,j}) (GEM paper, the BWT metric).

    Negative values mean forgetting: learning later chunks lowered earlier accuracies.
    """
    if len(matrix) < 2:
        return None
    last = matrix[-1]
    pairs = [(last[j], matrix[j][j]) for j in range(len(matrix) - 1)]
    terms = [
        final - learned  # R_{T,j} - R_{j,j}
        for final, learned in pairs
        if final is not None and learned is not None
    ]
    return fmean(terms) if terms else None


def forgetting(matrix: AccuracyMatrix) -> float | None:
    """Average forgetting (Chaudhry et al. 2018, RWalk): f_j = max_{l<T} R_{l,j} - R_{T,j},
    F = 1/(T-1) sum_{j<T} f_j. The max runs over rows l >= j, where R_{l,j} exists."""
    if len(matrix) < 2:
        return None
    last = matrix[-1]
    terms: list[float] = []
    for j in range(len(matrix) - 1):
        earlier = [r for row in range(j, len(matrix) - 1) if (r := matrix[row][j]) is not None]
        final = last[j]
        if earlier and final is not None:
            terms.append(max(earlier) - final)  # f_j = max_l R_{l,j} - R_{T,j}
    return fmean(terms) if terms else None
