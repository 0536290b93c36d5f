"""Glyphs: a small procedural image data set for the convolutional benchmark streams.

Ten classes, each a fixed random stroke pattern on a coarse grid (drawn once from
``data_seed``), rendered into an image at a random offset and contrast, with pixel noise
and a few random distractor strokes. Nothing is downloaded and no package ships it, so
the stream is the same on every machine; numpy only (the Avalanche reference imports it
from another environment). Translation, noise and distractors make it a task for
convolutions: the benchmark's CNN trained jointly reaches ~0.97 after five epochs and
~0.57 after one (chance: 0.1). With ``size`` 32, ``channels`` 3 and ``cell`` 4 the same
classes become colour 3×32×32 images for the ResNet-18 stream (``split_glyphs32``).
"""

from __future__ import annotations

import numpy as np

NUM_CLASSES = 10
GRID = 4  # the coarse pattern is GRID × GRID cells
CELL = 2  # pixels per cell
PATTERN = GRID * CELL
INK = 0.35  # fraction of a pattern's cells inked
NOISE = 0.35  # std of the pixel noise
MIN_DISTANCE = 3  # cells in which any two class patterns differ, at least


def class_patterns(data_seed: int, cell: int = CELL) -> np.ndarray:
    """(NUM_CLASSES, GRID·cell, GRID·cell) binary patterns, any two MIN_DISTANCE cells apart."""
    rng = np.random.default_rng([data_seed, 7])
    patterns: list[np.ndarray] = []
    while len(patterns) < NUM_CLASSES:
        cells = rng.random((GRID, GRID)) < INK
        if cells.sum() < 5 or any((cells != p).sum() < MIN_DISTANCE for p in patterns):
            continue
        patterns.append(cells)
    coarse = np.stack(patterns).astype(np.float32)
    return coarse.repeat(cell, axis=1).repeat(cell, axis=2)


def render(
    labels: np.ndarray,
    size: int,
    channels: int,
    data_seed: int,
    sample_seed: int,
    cell: int = CELL,
) -> np.ndarray:
    """float32 images (N, channels, size, size) in [0, 1] of the given labels."""
    patterns = class_patterns(data_seed, cell)
    pattern = GRID * cell
    if size < pattern:
        raise ValueError(f"size {size} is smaller than the {pattern}-pixel pattern")
    rng = np.random.default_rng([data_seed, sample_seed])
    n = labels.shape[0]
    images = np.zeros((n, size, size), dtype=np.float32)
    offsets = rng.integers(0, size - pattern + 1, size=(n, 2))
    contrast = rng.uniform(0.7, 1.0, size=n).astype(np.float32)
    for i in range(n):  # a few thousand small images: a plain loop is fast enough
        r, c = offsets[i]
        images[i, r : r + pattern, c : c + pattern] = contrast[i] * patterns[labels[i]]
        for _ in range(2):  # distractor strokes: short random lines (longer for larger cells)
            row, col = rng.integers(0, size, size=2)
            length = int(rng.integers(2, 6)) * max(1, cell // 2)
            if rng.random() < 0.5:
                images[i, row, col : col + length] = np.maximum(
                    images[i, row, col : col + length], rng.uniform(0.3, 0.8)
                )
            else:
                images[i, row : row + length, col] = np.maximum(
                    images[i, row : row + length, col], rng.uniform(0.3, 0.8)
                )
    images += rng.normal(0.0, NOISE, size=images.shape).astype(np.float32)
    out = np.clip(images, 0.0, 1.0)[:, None, :, :]
    if channels > 1:  # colour: each channel a random positive tint of the same glyph
        tint = rng.uniform(0.4, 1.0, size=(n, channels, 1, 1)).astype(np.float32)
        out = np.clip(out * tint + rng.normal(0, 0.1, (n, channels, size, size)), 0, 1)
    return out.astype(np.float32)


def glyphs(
    per_class_train: int,
    per_class_eval: int,
    size: int = 16,
    channels: int = 1,
    data_seed: int = 0,
    cell: int = CELL,
) -> dict[str, np.ndarray]:
    """``x``/``y`` (train) and ``x_test``/``y_test``, classes interleaved, float32/int64.
    ``channels`` > 1 tints each image's channels at random (colour); ``cell`` is the pixels
    of one grid cell, so ``size`` 32 with ``cell`` 4 draws 16×16 glyphs."""
    y = np.repeat(np.arange(NUM_CLASSES), per_class_train)
    y_test = np.repeat(np.arange(NUM_CLASSES), per_class_eval)
    order = np.random.default_rng([data_seed, 3]).permutation(y.shape[0])
    y = y[order].astype(np.int64)
    return {
        "x": render(y, size, channels, data_seed, sample_seed=1, cell=cell),
        "y": y,
        "x_test": render(y_test, size, channels, data_seed, sample_seed=2, cell=cell),
        "y_test": y_test.astype(np.int64),
    }
