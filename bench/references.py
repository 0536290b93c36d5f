"""Avalanche 0.6.0's counterpart of each table line, and the bars the defaults must clear.

``avalanche_reference.py`` runs these strategies on the same streams and protocol and
labels its runs with our labels, so the report joins the two by (stream, label, memory,
epochs). Kept apart from the rendering so that a new reference changes data, not code.
"""

from __future__ import annotations

AVALANCHE_COUNTERPART: dict[str, str] = {
    "naive": "Naive",
    "joint": "JointTraining",
    "er": "Naive + ReplayPlugin (experience-balanced buffer, its default)",
    "der": "DER (beta 0)",
    "der++": "DER (alpha 0.3, beta 1.0)",
    "er_ace": "ER_ACE",
    "gem": "GEM",
    "agem": "AGEM",
    "rwalk": "Naive + RWalkPlugin",
    "rwalk+replay": "Naive + RWalkPlugin + ReplayPlugin",
}

# Issue 9: DER++ and ER-ACE must reach Avalanche's DER (++ configuration) and Replay.
MUST_REACH: dict[str, tuple[str, ...]] = {"der++": ("der++", "er"), "er_ace": ("der++", "er")}


def base_label(label: str) -> str:
    """A variant's method label without its ``[...]`` suffix."""
    return label.split(" [", 1)[0]
