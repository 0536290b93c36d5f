"""Accuracy of a model on an eval split, computed on the device with one host sync."""

from __future__ import annotations

import torch
from torch import nn

from app.schemas.updaters import TrainingConfig
from worker.updaters.training_loop import autocast


@torch.no_grad()
def accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    training: TrainingConfig,
) -> float:
    """Top-1 accuracy; the model's train/eval mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        correct = torch.zeros((), dtype=torch.int64, device=x.device)
        for xb, yb in zip(
            x.split(training.eval_batch_size), y.split(training.eval_batch_size), strict=True
        ):
            with autocast(x.device, training):
                logits = model(xb)
            correct += (logits.argmax(dim=1) == yb).sum()
        return float(correct.item()) / max(1, int(y.shape[0]))
    finally:
        model.train(was_training)
