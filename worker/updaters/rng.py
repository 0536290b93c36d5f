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
