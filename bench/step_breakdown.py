"""Where an updater's training step spends its time, op by op, beside the plain step.

Profiles the timed fit of ``gpu_step.py`` (the fifth experience, from the state after
four) with ``torch.profiler`` and prints, per step, the self time of each ATen op and
input shape, for the updater and for the plain step of the new batch. The ops on
P-sized flat vectors are the bookkeeping's passes over memory: their count and cost say
how far a step is from the plain one on a memory-bound CPU.

    python bench/step_breakdown.py --model mlp_784_1024 --method rwalk
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, schedule

if __package__ in (None, ""):  # run as `python bench/step_breakdown.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gpu_step import BATCH, DEFAULT_STEPS, LR, MODELS, PAST, STEP_METHODS
from bench.methods import settings_for
from bench.step_subjects import PlainSteps, RelearnSteps, make_stream

Subject = RelearnSteps | PlainSteps


def per_step_ops(subject: Subject, steps: int) -> dict[tuple[str, str], float]:
    """Self CPU milliseconds per step of each (op, input shapes), over the steps of one
    fit after two (so neither the fit's prelude nor its postlude is counted)."""
    subject.prepare()
    active = steps - 3
    totals: dict[tuple[str, str], float] = defaultdict(float)

    def ready(prof: profile) -> None:
        for event in prof.key_averages(group_by_input_shape=True):
            if event.key.startswith("aten::"):
                key = (event.key, str(event.input_shapes))
                totals[key] += event.self_cpu_time_total / 1e3 / active

    with profile(
        activities=[ProfilerActivity.CPU],
        record_shapes=True,
        schedule=schedule(wait=1, warmup=1, active=active, repeat=1),
        on_trace_ready=ready,
    ) as prof:
        subject.run(lambda *_, **__: prof.step())
    return dict(totals)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", choices=list(MODELS), default="mlp_784_1024")
    parser.add_argument("--method", choices=STEP_METHODS, default="rwalk")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    device = torch.device("cpu")
    architecture = MODELS[args.model]
    steps = DEFAULT_STEPS[args.model]
    stream = make_stream(architecture, 200, steps * BATCH, PAST + 1)
    setting = settings_for([args.method], [500])[0]
    ours = per_step_ops(RelearnSteps(setting, architecture, stream, LR, device), steps)
    plain = per_step_ops(PlainSteps(architecture, BATCH, steps, LR, device), steps)
    print(f"{args.model}, {setting.label}: self CPU ms per step, steps 3-{steps - 1} of a fit")
    print("| op | input shapes | relearn | plain step |")
    print("|---|---|---:|---:|")
    for key in sorted(ours, key=lambda k: -ours[k])[: args.top]:
        print(f"| {key[0]} | {key[1]} | {ours[key]:.3f} | {plain.get(key, 0.0):.3f} |")
    print(f"| all ops | | {sum(ours.values()):.3f} | {sum(plain.values()):.3f} |")


if __name__ == "__main__":
    main()
