"""The promotion gate: move the serving alias to a new version only if it did not forget.

A model's ``promotion`` policy names an alias and bounds on the figures of the accuracy
matrix after the update (ACC, forgetting, and the largest drop of accuracy on any earlier
chunk's eval split). The worker evaluates it in the transaction that publishes the
version, so the alias and the version can never disagree. A bound whose figure is
undefined (forgetting after the first chunk, or without eval splits) passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.continual_metrics import AccuracyMatrix, average_accuracy, forgetting


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reasons: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"promoted": self.promoted, "reasons": self.reasons}


def largest_drop(matrix: AccuracyMatrix) -> float | None:
    """max_{j<T} (max_{l<T} R_{l,j} - R_{T,j}): the worst forgetting of any one chunk."""
    if len(matrix) < 2:
        return None
    last = matrix[-1]
    drops = []
    for j in range(len(matrix) - 1):
        final = last[j] if j < len(last) else None
        earlier = [a for row in matrix[j:-1] if j < len(row) and (a := row[j]) is not None]
        if final is not None and earlier:
            drops.append(max(earlier) - final)
    return max(drops) if drops else None


def decide(policy: dict[str, Any], matrix: AccuracyMatrix) -> Decision:
    """Whether the version behind the matrix's last row passes every bound, and why (or
    why not): one reason per bound, each naming the figure and the bound."""
    checks: list[tuple[str, float | None, float | None, bool]] = [
        ("average_accuracy", average_accuracy(matrix), policy.get("min_average_accuracy"), True),
        ("forgetting", forgetting(matrix), policy.get("max_forgetting"), False),
        ("max_accuracy_drop", largest_drop(matrix), policy.get("max_accuracy_drop"), False),
    ]
    reasons: list[str] = []
    promoted = True
    for name, value, bound, at_least in checks:
        if bound is None:
            continue
        if value is None:
            reasons.append(f"{name} is undefined here; the bound passes")
            continue
        ok = value >= bound if at_least else value <= bound
        sign = ">=" if at_least else "<="
        verdict = "passes" if ok else "fails"
        reasons.append(f"{name} {value:.4f} {verdict} {sign} {bound}")
        promoted = promoted and ok
    return Decision(promoted, reasons)
