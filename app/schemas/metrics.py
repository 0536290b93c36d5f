"""Shapes of the figures relearn reports: ``GET /v1/models/{id}/metrics`` (the accuracy
matrix with ACC, BWT and forgetting) and the ``metrics`` of a job and of a version (what
one update measured: its row of the matrix, the training report, the promotion decision).

A job's and a version's metrics are what the worker recorded, so every field is optional:
null where the record has none (version 0 has ``initialisation`` only, an update the
rest) or the worker could not compute it (no eval split; a loss that was not finite).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ModelMetrics(BaseModel):
    chunk_ids: list[str] = Field(description="Chunk of each version 1..latest (the columns).")
    accuracy_matrix: list[list[float | None]] = Field(
        description="[i][j]: accuracy on chunk j's eval split after the update on chunk i; "
        "row i has i+1 entries; null where chunk j brought no eval split."
    )
    average_accuracy: float | None = Field(description="ACC of the last row (GEM).")
    forgetting: float | None = Field(description="Average forgetting (Chaudhry et al. 2018).")
    backward_transfer: float | None = Field(description="BWT of the last row (GEM).")


def optional(description: str) -> Any:
    """An optional figure: null when the record has none."""
    return Field(None, description=description)


class Recorded(BaseModel):
    """A record the worker wrote: fields added later (by a newer worker) pass through."""

    model_config = ConfigDict(extra="allow")


class TrainReport(Recorded):
    steps: int | None = optional("Optimizer steps.")
    samples: int | None = optional("New samples processed (epochs × chunk size).")
    seconds: float | None = optional("Time in fit.")
    samples_per_second: float | None = optional("New samples per second of fit.")
    loss_curve: list[float | None] | None = optional(
        "Mean training loss of each epoch (null where it was not finite)."
    )
    memory_filled: float | None = optional("Samples in the replay memory after the update.")
    projected_fraction: float | None = optional(
        "GEM / A-GEM: the fraction of steps whose gradient was projected."
    )


class Timings(Recorded):
    """Seconds spent in each phase of the job."""

    build_s: float | None = optional("Building the model (version 0).")
    load_s: float | None = optional("Loading the base version and the chunk.")
    fit_s: float | None = optional("Training on the chunk.")
    eval_s: float | None = optional("Evaluating on every eval split so far.")
    write_s: float | None = optional("Writing the version's artifacts.")


class Initialisation(BaseModel):
    weights: Literal["seeded", "uploaded"] = Field(
        description="seeded (training.seed) or the uploaded pretrained weights."
    )
    seed: int


class PromotionDecision(BaseModel):
    promoted: bool = Field(description="Whether the gate moved its alias to this version.")
    reasons: list[str] = Field(description="One line per bound: the figure, the bound, pass/fail.")


class RollbackSource(BaseModel):
    source_version: int = Field(description="The version whose weights were republished.")


class UpdateMetrics(Recorded):
    """What the job that made a version measured (a rollback repeats its source's row)."""

    accuracy: list[float | None] | None = optional(
        "This version's row of the accuracy matrix: accuracy on each chunk's eval split so "
        "far, in chunk order (null where a chunk brought none)."
    )
    chunk_ids: list[str] | None = optional("The chunks of the row's columns.")
    average_accuracy: float | None = optional("ACC: the mean of the row's known entries.")
    train: TrainReport | None = optional("What fit did.")
    state_reset: bool | None = optional(
        "True when the base version's updater state could not be reused (another updater "
        "or other hyperparameters) and the updater started fresh."
    )
    device: str | None = optional("Where it trained, e.g. cuda:0 or cpu.")
    timings: Timings | None = optional("Seconds per phase.")
    promotion: PromotionDecision | None = optional("The promotion gate's decision, if any.")
    initialisation: Initialisation | None = optional("How version 0 was made.")
    rollback: RollbackSource | None = optional("What a rollback restored.")
