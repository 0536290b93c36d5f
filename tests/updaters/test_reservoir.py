"""The reservoir buffer: uniform inclusion (Algorithm R, j drawn from [0, n] inclusive),
the last of several items aimed at one slot wins, sampling, and saved state."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from scipy.stats import chi2

from worker.updaters import reservoir
from worker.updaters.protocol import UpdaterState
from worker.updaters.reservoir import DROPPED, ReservoirBuffer
from worker.updaters.rng import generator_state, make_generator, restore_generator

CPU = torch.device("cpu")

# The uniformity experiment: N items streamed into M slots in uneven batches (one crosses
# the moment the buffer fills, later ones make several items land on one slot), with the
# buffer and its generator saved and rebuilt after the 2nd and 4th batch.
STREAM_ITEMS = 12
CAPACITY = 4
BATCH_SIZES = (3, 2, 4, 1, 2)
ROUND_TRIPS_AFTER = (1, 3)  # batch indices after which the state goes through safetensors
REPETITIONS = 1000
SIGNIFICANCE = 1e-3
# With these numbers the [0, n) variant keeps each of the first M items with probability
# (M-1)/(N-1) = 0.27 and each later one with M/(N-1) = 0.36 instead of M/N = 0.33: the
# expected statistic is ~100 against a critical value of ~31 (11 degrees of freedom).


def off_by_one_slots(
    first: int, count: int, capacity: int, generator: torch.Generator
) -> torch.Tensor:
    """The WRONG variant (as in Renate): j drawn from [0, n), excluding n itself."""
    position = torch.arange(first, first + count)
    uniform = torch.rand(count, dtype=torch.float64, generator=generator)
    drawn = torch.floor(uniform * position.clamp_min(1).to(torch.float64)).to(torch.int64)
    slot = torch.where(position < capacity, position, drawn)
    return torch.where(slot < capacity, slot, DROPPED)


def round_trip(
    buffer: ReservoirBuffer, generator: torch.Generator
) -> tuple[ReservoirBuffer, torch.Generator]:
    """Save buffer and generator as bytes in the service's formats (safetensors + JSON),
    then rebuild both from those bytes alone."""
    state = buffer.state_dict()
    tensors = save_tensors({**state.tensors, "rng": generator_state(generator)})
    meta = json.dumps(state.meta)
    loaded = load_tensors(tensors)
    rebuilt = ReservoirBuffer(buffer.capacity, CPU)
    rebuilt.load_state_dict(UpdaterState(tensors=loaded, meta=json.loads(meta)))
    fresh_generator = make_generator(seed=987654321, device=CPU)  # overwritten just below
    restore_generator(fresh_generator, loaded["rng"], "cpu")
    return rebuilt, fresh_generator


def inclusion_counts(seed: int) -> torch.Tensor:
    """How often each of the N items ends up in the buffer, over the repetitions."""
    counts = torch.zeros(STREAM_ITEMS, dtype=torch.int64)
    generator = make_generator(seed, CPU)
    for _ in range(REPETITIONS):
        buffer = ReservoirBuffer(CAPACITY, CPU)
        items = torch.arange(STREAM_ITEMS).split(list(BATCH_SIZES))
        for b, batch in enumerate(items):
            buffer.add(generator, item=batch)
            if b in ROUND_TRIPS_AFTER:
                buffer, generator = round_trip(buffer, generator)
        counts += torch.bincount(buffer.fields["item"], minlength=STREAM_ITEMS)
    return counts


def uniformity_p_value(counts: torch.Tensor) -> float:
    """Chi-square test that every item is kept with probability M/N.

    Each repetition keeps a uniformly random M-subset, so an item's count is
    Binomial(R, p) and counts are negatively correlated with covariance factor N/(N-1);
    the statistic below is then chi-square with N-1 degrees of freedom.
    """
    p = CAPACITY / STREAM_ITEMS
    expected = REPETITIONS * p
    variance = REPETITIONS * p * (1 - p) * STREAM_ITEMS / (STREAM_ITEMS - 1)
    statistic = float(((counts.double() - expected) ** 2).sum() / variance)
    return float(chi2.sf(statistic, df=STREAM_ITEMS - 1))


@pytest.fixture
def off_by_one_reservoir(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The real buffer with Renate's [0, n) draw swapped in for Algorithm R's [0, n]."""
    monkeypatch.setattr(reservoir, "reservoir_slots", off_by_one_slots)
    yield


def test_every_item_is_kept_with_equal_probability_across_batches_and_reloads() -> None:
    # when
    counts = inclusion_counts(seed=0)

    # then
    assert int(counts.sum()) == REPETITIONS * CAPACITY
    assert uniformity_p_value(counts) > SIGNIFICANCE


@pytest.mark.usefixtures("off_by_one_reservoir")
def test_the_uniformity_test_rejects_the_off_by_one_variant() -> None:
    # given: the buffer now draws j from [0, n) (fixture)

    # when
    counts = inclusion_counts(seed=0)

    # then: rejected, and the first M items are the ones kept too rarely
    assert uniformity_p_value(counts) < SIGNIFICANCE
    assert counts[:CAPACITY].float().mean() < counts[CAPACITY:].float().mean()


def sequential_algorithm_r(
    stored: list[int], first: int, items: list[int], uniforms: list[float], capacity: int
) -> tuple[list[int], int]:
    """Algorithm R one item at a time; returns the slots and how many writes hit a slot
    already written in this batch."""
    stored = list(stored)
    written: set[int] = set()
    collisions = 0
    for offset, (item, u) in enumerate(zip(items, uniforms, strict=True)):
        n = first + offset
        j = n if n < capacity else int(u * (n + 1))
        if j < capacity:
            collisions += j in written
            written.add(j)
            stored[j] = item
    return stored, collisions


def test_the_last_item_aimed_at_a_slot_wins_as_in_a_sequential_loop() -> None:
    # given: a full buffer of 4, then a batch of 60 items (several land on one slot)
    capacity, generator = 4, make_generator(7, CPU)
    buffer = ReservoirBuffer(capacity, CPU)
    buffer.add(generator, item=torch.arange(3), x=torch.arange(3.0)[:, None].repeat(1, 5))
    buffer.add(generator, item=torch.arange(3, 4), x=torch.full((1, 5), 3.0))
    twin = make_generator(0, CPU)
    twin.set_state(generator.get_state())
    batch = torch.arange(4, 64)

    # when
    buffer.add(generator, item=batch, x=batch[:, None].double().repeat(1, 5))

    # then: the same as item by item with the same uniforms (one float64 per item)
    uniforms = torch.rand(batch.shape[0], dtype=torch.float64, generator=twin).tolist()
    expected, collisions = sequential_algorithm_r([0, 1, 2, 3], 4, batch.tolist(), uniforms, 4)
    assert collisions > 0
    assert buffer.fields["item"].tolist() == expected
    assert torch.equal(buffer.fields["x"], buffer.fields["item"][:, None].float().repeat(1, 5))
    assert buffer.fields["x"].dtype == torch.float32  # stored in the first batch's dtype
    assert buffer.seen == 64 and len(buffer) == 4


def test_sample_draws_distinct_stored_items_and_at_most_the_filled_size() -> None:
    # given
    generator = make_generator(3, CPU)
    buffer = ReservoirBuffer(10, CPU)
    buffer.add(generator, item=torch.arange(6), y=torch.arange(6) * 10)

    # when
    small = buffer.sample(4, generator)
    too_many = buffer.sample(50, generator)

    # then
    assert small["item"].unique().numel() == 4 and set(small["item"].tolist()) <= set(range(6))
    assert torch.equal(small["y"], small["item"] * 10)  # fields stay aligned
    assert sorted(too_many["item"].tolist()) == list(range(6))


def test_sampling_an_empty_buffer_is_an_error() -> None:
    # given
    buffer = ReservoirBuffer(5, CPU)

    # when / then
    with pytest.raises(ValueError, match="empty"):
        buffer.sample(3, make_generator(0, CPU))


def test_state_keeps_the_filled_rows_and_counters_and_continues_identically() -> None:
    # given: two buffers fed the same stream with twin generators
    generator = make_generator(11, CPU)
    buffer = ReservoirBuffer(8, CPU)
    buffer.add(generator, x=torch.randn(5, 3, generator=torch.Generator().manual_seed(1)))

    # when: one is rebuilt from its saved state (5 of 8 rows filled) and both go on
    state = buffer.state_dict()
    rebuilt, rebuilt_generator = round_trip(buffer, generator)
    more = torch.randn(30, 3, generator=torch.Generator().manual_seed(2))
    buffer.add(generator, x=more)
    rebuilt.add(rebuilt_generator, x=more)

    # then
    assert state.tensors["buffer.x"].shape == (5, 3)
    assert state.meta == {"buffer": {"capacity": 8, "seen": 5}}
    assert rebuilt.seen == buffer.seen == 35
    assert torch.equal(rebuilt.fields["x"], buffer.fields["x"])


def test_loading_a_state_of_another_capacity_is_refused() -> None:
    # given
    buffer = ReservoirBuffer(8, CPU)
    buffer.add(make_generator(0, CPU), x=torch.zeros(3, 2))

    # when / then
    with pytest.raises(ValueError, match="memory_size"):
        ReservoirBuffer(16, CPU).load_state_dict(buffer.state_dict())
