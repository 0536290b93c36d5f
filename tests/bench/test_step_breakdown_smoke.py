"""``bench/step_breakdown.py`` on the small MLP: the ops it reports per step are the
updater's own, and the bookkeeping shows as ops on the flat P-vector (no timing asserts)."""

from __future__ import annotations

import torch

from bench import step_breakdown
from bench.gpu_step import BATCH, LR, MODELS, PAST
from bench.methods import settings_for
from bench.runner import fresh_model
from bench.step_subjects import PlainSteps, RelearnSteps, make_stream


def test_rwalk_steps_show_passes_over_the_flat_parameter_vector_the_plain_step_lacks() -> None:
    # given: RWalk's fifth experience and the plain step on the MLP 784-256-256-10
    architecture, steps, device = MODELS["mlp_784_256"], 6, torch.device("cpu")
    stream = make_stream(architecture, 16, steps * BATCH, PAST + 1)
    setting = settings_for(["rwalk"], [50])[0]
    numel = sum(p.numel() for p in fresh_model(architecture, 0, device).parameters())

    # when
    ours = step_breakdown.per_step_ops(
        RelearnSteps(setting, architecture, stream, LR, device), steps
    )
    plain = step_breakdown.per_step_ops(PlainSteps(architecture, BATCH, steps, LR, device), steps)

    # then: RWalk's Fisher update (Eq. 6) is an in-place addcmul over all P parameters,
    # which the plain step never issues; both run the same forward matmuls
    flat = f"[[{numel}], [{numel}], [{numel}], []]"
    assert ours.get(("aten::addcmul_", flat), 0.0) > 0.0
    assert ("aten::addcmul_", flat) not in plain
    shared = {key for key in plain if key[0] in ("aten::addmm", "aten::mm")}
    assert shared and shared <= set(ours)
