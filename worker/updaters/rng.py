"""Seeded, saveable randomness. Updaters never touch the global RNG directly.

Each updater owns a ``torch.Generator`` on the training device, seeded from
``training.seed`` and saved with its state, so a run interrupted between chunks continues
with exactly the draws an uninterrupted run would make.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from worker.updaters.protocol import UpdaterState


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def generator_state(generator: torch.Generator) -> torch.Tensor:
    return generator.get_state().clone()


def restore_generator(generator: torch.Generator, state: torch.Tensor, saved_on: str) -> None:
    """Restore ``state``; if it was saved on another device type (CPU vs CUDA states
    differ in format), re-seed deterministically from a digest of the saved state."""
    if saved_on == generator.device.type:
        generator.set_state(state.cpu().to(torch.uint8))
    else:
        digest = hashlib.sha256(state.cpu().numpy().tobytes()).digest()
        generator.manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))


def run_state(generator: torch.Generator, experiences_seen: int) -> UpdaterState:
    """The part of every updater's state: its generator and the experiences it has learned."""
    return UpdaterState(
        tensors={"rng": generator_state(generator)},
        meta={"experiences_seen": experiences_seen, "rng_device": generator.device.type},
    )


def restore_run_state(state: UpdaterState, generator: torch.Generator) -> int:
    """Restore what ``run_state`` saved into ``generator``; returns experiences_seen."""
    restore_generator(generator, state.tensors["rng"], state.meta["rng_device"])
    return int(state.meta["experiences_seen"])


def distinct_indices(n: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """min(k, n) distinct indices of range(n), uniformly drawn (a ``randperm`` on the
    generator's device)."""
    return torch.randperm(n, generator=generator, device=generator.device)[:k]


def draw_seed(generator: torch.Generator) -> int:
    return int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())


@contextmanager
def seeded_global_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Run a block (dropout etc. use the global RNG) with a seed drawn from the updater's
    generator, leaving the process's global RNG as it was."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
