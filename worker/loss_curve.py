"""The loss so far of a running job, as written with each progress report: a bounded list
of ``{"progress", "loss"}`` points.

Past ``MAX_POINTS`` every second point is dropped and the spacing between points doubles,
so the curve keeps covering the whole run evenly, however long it trains; its last point
is always the latest reading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MAX_POINTS = 200


@dataclass
class LossCurve:
    max_points: int = MAX_POINTS
    points: list[dict[str, float]] = field(default_factory=list)
    spacing: float = 0.0
    """The least progress between two kept points (grows as the curve is thinned)."""

    def add(self, progress: float, loss: float) -> None:
        """Add the latest reading (a non-finite loss is left out). The latest always ends
        the curve; it replaces the one before if that was closer than ``spacing`` to its
        predecessor."""
        if not math.isfinite(loss):
            return
        point = {"progress": progress, "loss": loss}
        if len(self.points) >= 2 and progress - self.points[-2]["progress"] < self.spacing:
            self.points[-1] = point
            return
        self.points.append(point)
        if len(self.points) > self.max_points:
            kept = self.points[::2]
            if kept[-1] is not point:
                kept.append(point)
            self.points = kept
            self.spacing = (kept[-1]["progress"] - kept[0]["progress"]) / (len(kept) - 1)
