"""Avalanche's figures for the same stream and setup, and why ours may fall short.

Kept apart from the rendering so that a new reference run changes data, not code.
"""

from __future__ import annotations

# Avalanche 0.6.0 on this stream and setup, 5 epochs, seed 0: average accuracy.
# Keyed by (label, memory shown in the table).
AVALANCHE_ACC: dict[tuple[str, str], float] = {
    ("naive", "—"): 0.16,
    ("joint", "—"): 0.62,
    ("er", "500"): 0.50,
    ("der++", "500"): 0.57,
    ("gem", "500 (100/exp)"): 0.45,
    ("rwalk", "0"): 0.17,
    ("rwalk+replay", "500"): 0.50,
}
REFERENCE_EPOCHS = 5

# Shown beside a figure that is clearly below Avalanche's (by more than GAP_TOLERANCE):
# the known differences between our updater and Avalanche's that plausibly explain it.
GAP_TOLERANCE = 0.02
LIKELY_REASON: dict[str, str] = {
    "er": (
        "the reservoir takes each chunk's samples during its last epoch, so that epoch's "
        "memory batches are partly the experience being learned; Avalanche's "
        "experience-balanced buffer is filled after each experience and replays only past "
        "ones (inserting after the fit instead scored 0.496 ± 0.004 in a trial copy)"
    ),
    "rwalk+replay": "as er: the same reservoir memory",
    "der++": (
        "Avalanche's DER keeps a class-balanced buffer filled after each experience; ours is "
        "a reservoir filled in the last epoch"
    ),
}


def reference_cells(label: str, memory: str, epochs: int, acc: float) -> tuple[str, str]:
    """Avalanche's figure (reference-epoch lines only) and, where ours is lower, a reason."""
    reference = AVALANCHE_ACC.get((label, memory)) if epochs == REFERENCE_EPOCHS else None
    if reference is None:
        return "", ""
    if acc >= reference - GAP_TOLERANCE:
        return f"{reference:.2f}", ""
    return f"{reference:.2f}", LIKELY_REASON.get(label, "not investigated")
