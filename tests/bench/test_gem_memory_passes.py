"""``bench/gem_memory_passes.py`` compares like with like: the batched ``vmap`` gives the
same t memory gradients as one backward pass per memory."""

from __future__ import annotations

import torch

from bench.gem_memory_passes import main, memory_gradients
from bench.gpu_step import MODELS
from bench.runner import fresh_model


def test_vmap_and_one_pass_per_memory_give_the_same_gradients() -> None:
    # given: three memories of 8 samples on the MLP 784-256-256-10
    model = fresh_model(MODELS["mlp_784_256"], 0, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(3, 8, 784, generator=g), torch.randint(0, 10, (3, 8), generator=g)

    # when
    one_pass_each, batched = memory_gradients(model, x, y)
    looped, vmapped = one_pass_each(), batched()

    # then: per memory and parameter, equal; and the memories' gradients differ
    assert len(looped) == len(vmapped) == 3
    for ours, theirs in zip(looped, vmapped, strict=True):
        for a, b in zip(ours, theirs, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(looped[0][0], looped[1][0])


def test_the_script_reports_a_time_for_each_way() -> None:
    # when
    medians = main(["--model", "mlp_784_256", "--past", "2", "--patterns", "4", "--repeats", "1"])

    # then
    assert set(medians) == {"one pass each", "vmap"} and all(v > 0 for v in medians.values())
