"""The class-balanced memory: water-filled quotas, uniform inclusion within each class across
batches and reloads (chi-square, as the reservoir's test), derived fields for admitted rows
only, and saved state that refuses another policy or capacity."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from scipy.stats import chi2

from worker.updaters import class_balanced
from worker.updaters.class_balanced import ClassBalancedBuffer, balanced_quotas
from worker.updaters.protocol import StateMismatch, UpdaterState
from worker.updaters.reservoir import ReservoirBuffer
from worker.updaters.rng import generator_state, make_generator, restore_generator

CPU = torch.device("cpu")

# The uniformity experiment: items of three classes streamed in uneven batches into 7
# slots; class 2 appears only in the third batch, so the quotas of classes 0 and 1 shrink
# after they have filled the memory (evictions within a class), and the state goes through
# safetensors + JSON after the 2nd and 4th batch.
LABELS = torch.tensor([0, 1, 0, 0, 1, 1, 0, 1, 2, 0, 2, 2, 1, 0, 2, 0, 2, 1, 0, 0, 2, 1])
BATCH_SIZES = (3, 4, 5, 1, 6, 3)
CAPACITY = 7
ROUND_TRIPS_AFTER = (1, 3)
REPETITIONS = 1000
SIGNIFICANCE = 1e-3


def round_trip(
    memory: ClassBalancedBuffer, generator: torch.Generator
) -> tuple[ClassBalancedBuffer, torch.Generator]:
    """Memory and generator saved as bytes in the service's formats, rebuilt from them."""
    state = memory.state_dict()
    tensors = save_tensors({**state.tensors, "rng": generator_state(generator)})
    meta = json.dumps(state.meta)
    loaded = load_tensors(tensors)
    rebuilt = ClassBalancedBuffer(memory.capacity, CPU)
    rebuilt.load_state_dict(UpdaterState(tensors=loaded, meta=json.loads(meta)))
    fresh_generator = make_generator(seed=987654321, device=CPU)  # overwritten just below
    restore_generator(fresh_generator, loaded["rng"], "cpu")
    return rebuilt, fresh_generator


def inclusion_counts(seed: int) -> tuple[torch.Tensor, list[dict[int, int]]]:
    """How often each item ends up in the memory, and each run's class counts."""
    counts = torch.zeros(LABELS.shape[0], dtype=torch.int64)
    shares: list[dict[int, int]] = []
    generator = make_generator(seed, CPU)
    items = torch.arange(LABELS.shape[0])
    for _ in range(REPETITIONS):
        memory = ClassBalancedBuffer(CAPACITY, CPU)
        for b, (item, y) in enumerate(
            zip(items.split(list(BATCH_SIZES)), LABELS.split(list(BATCH_SIZES)), strict=True)
        ):
            memory.add(generator, item=item, y=y)
            if b in ROUND_TRIPS_AFTER:
                memory, generator = round_trip(memory, generator)
        counts += torch.bincount(memory.fields["item"], minlength=LABELS.shape[0])
        labels, per_class = torch.unique(memory.fields["y"], return_counts=True)
        shares.append(dict(zip(labels.tolist(), per_class.tolist(), strict=True)))
    return counts, shares


def uniformity_p_value(counts: torch.Tensor, quotas: dict[int, int]) -> float:
    """Chi-square test that each item of class c is kept with probability q_c / n_c.

    Within a class each repetition keeps a uniformly random q_c-subset of its n_c items, so
    (as in the reservoir's test) the class's statistic is chi-square with n_c − 1 degrees
    of freedom; classes are independent given the quotas, so the sum has Σ (n_c − 1)."""
    statistic, dof = 0.0, 0
    for c, q in quotas.items():
        members = counts[c == LABELS].double()
        n = members.shape[0]
        p = q / n
        variance = REPETITIONS * p * (1 - p) * n / (n - 1)
        statistic += float(((members - REPETITIONS * p) ** 2).sum() / variance)
        dof += n - 1
    return float(chi2.sf(statistic, df=dof))


def final_quotas() -> dict[int, int]:
    seen = {c: int((c == LABELS).sum()) for c in range(3)}  # 9, 7, 6 items
    return balanced_quotas(seen, {}, CAPACITY)


@pytest.fixture
def recency_biased(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The real memory with priorities that grow with arrival (newest always kept)."""
    offered = {"n": 0}

    def increasing(count: int, generator: torch.Generator) -> torch.Tensor:
        torch.rand(count, dtype=torch.float64, generator=generator)  # same draws, ignored
        first = offered["n"]
        offered["n"] += count
        return torch.arange(first, first + count, dtype=torch.float64)

    monkeypatch.setattr(class_balanced, "draw_priorities", increasing)
    yield


def test_quotas_fill_the_memory_equally_and_give_small_classes_all_they_have() -> None:
    # when
    fits = balanced_quotas({0: 3, 1: 2}, {}, capacity=10)
    water = balanced_quotas({0: 2, 1: 10, 2: 10, 3: 10}, {}, capacity=11)
    spare = balanced_quotas({0: 10, 1: 10, 2: 10}, {2: 5, 0: 4, 1: 4}, capacity=13)

    # then: everything while it fits; else min(n_c, L) with the spare room to who holds most
    assert fits == {0: 3, 1: 2}
    assert water == {0: 2, 1: 3, 2: 3, 3: 3}
    assert spare == {0: 4, 1: 4, 2: 5}
    assert sum(water.values()) == 11 and sum(spare.values()) == 13


def test_each_class_keeps_its_share_and_every_item_of_a_class_equally_often() -> None:
    # when
    counts, shares = inclusion_counts(seed=0)

    # then: the same balanced shares in every run, and uniform inclusion within each class
    quotas = final_quotas()
    assert quotas == {0: 3, 1: 2, 2: 2}
    assert all(share == quotas for share in shares)
    assert int(counts.sum()) == REPETITIONS * CAPACITY
    assert uniformity_p_value(counts, quotas) > SIGNIFICANCE


@pytest.mark.usefixtures("recency_biased")
def test_the_uniformity_test_rejects_a_memory_that_keeps_the_newest() -> None:
    # given: priorities that rank newer items higher (fixture)

    # when
    counts, _ = inclusion_counts(seed=0)

    # then
    assert uniformity_p_value(counts, final_quotas()) < SIGNIFICANCE


def test_a_run_split_by_a_reload_equals_an_uninterrupted_one() -> None:
    # given: the same stream into two memories with twin generators
    x = torch.randn(LABELS.shape[0], 3, generator=torch.Generator().manual_seed(4))
    whole, whole_generator = ClassBalancedBuffer(5, CPU), make_generator(8, CPU)
    split, split_generator = ClassBalancedBuffer(5, CPU), make_generator(8, CPU)

    # when: one goes through a save/load in the middle
    whole.add(whole_generator, x=x[:10], y=LABELS[:10])
    whole.add(whole_generator, x=x[10:], y=LABELS[10:])
    split.add(split_generator, x=x[:10], y=LABELS[:10])
    split, split_generator = round_trip(split, split_generator)
    split.add(split_generator, x=x[10:], y=LABELS[10:])

    # then
    assert split.state_dict().meta == whole.state_dict().meta
    for key, tensor in whole.state_dict().tensors.items():
        assert torch.equal(split.state_dict().tensors[key], tensor), key


def test_derived_fields_are_computed_for_the_admitted_rows_only() -> None:
    # given: a full memory of class 0, then a batch where only some rows get in
    memory, generator = ClassBalancedBuffer(4, CPU), make_generator(1, CPU)
    seen_rows: list[int] = []

    def derive(rows: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        seen_rows.append(rows["x"].shape[0])
        return {"z": rows["x"] * 10}

    memory.add(generator, derive=derive, x=torch.arange(4.0), y=torch.zeros(4, dtype=torch.long))
    batch_x = torch.arange(4.0, 14.0)
    batch_y = torch.tensor([1] * 10)

    # when
    memory.add(generator, derive=derive, x=batch_x, y=batch_y)

    # then: two of the ten class-1 rows are admitted (shares 2 + 2), and only they derived
    assert seen_rows == [4, 2]
    assert sorted(memory.fields["y"].tolist()) == [0, 0, 1, 1]
    assert torch.equal(memory.fields["z"], memory.fields["x"] * 10)


def test_sampling_draws_distinct_stored_items() -> None:
    # given
    memory, generator = ClassBalancedBuffer(10, CPU), make_generator(3, CPU)
    memory.add(generator, item=torch.arange(6), y=torch.arange(6) % 2)

    # when
    drawn = memory.sample(4, generator)
    everything = memory.sample(50, generator)

    # then
    assert drawn["item"].unique().numel() == 4
    assert torch.equal(drawn["y"], drawn["item"] % 2)
    assert sorted(everything["item"].tolist()) == list(range(6))


def test_a_reservoir_state_or_another_capacity_is_a_state_mismatch() -> None:
    # given
    reservoir = ReservoirBuffer(8, CPU)
    reservoir.add(make_generator(0, CPU), x=torch.zeros(3, 2), y=torch.zeros(3, dtype=torch.long))
    balanced = ClassBalancedBuffer(8, CPU)
    balanced.add(make_generator(0, CPU), x=torch.zeros(3, 2), y=torch.zeros(3, dtype=torch.long))

    # when / then: each policy refuses the other's state, and a resized memory
    with pytest.raises(StateMismatch, match="memory_policy"):
        ClassBalancedBuffer(8, CPU).load_state_dict(reservoir.state_dict())
    with pytest.raises(StateMismatch, match="memory_policy"):
        ReservoirBuffer(8, CPU).load_state_dict(balanced.state_dict())
    with pytest.raises(StateMismatch, match="memory_size"):
        ClassBalancedBuffer(16, CPU).load_state_dict(balanced.state_dict())
