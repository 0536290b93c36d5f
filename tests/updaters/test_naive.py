"""Naive fine-tuning: learns each experience, reports its work, and (being the lower bound)
forgets earlier classes in the class-incremental setting."""

from __future__ import annotations

from collections.abc import Callable

import torch

from app.schemas.updaters import NaiveParams, TrainingConfig
from worker.updaters.naive import Naive
from worker.updaters.protocol import Experience, LossSoFar

CPU = torch.device("cpu")


def test_fit_learns_the_experience_and_reports_steps_samples_and_progress(
    make_model: Callable[..., torch.nn.Module],
    make_experience: Callable[..., Experience],
    evaluate: Callable[[torch.nn.Module, Experience], float],
) -> None:
    # given: 30 samples in batches of 8 (the last batch of each epoch is short)
    experience = make_experience([0, 1], per_class=15, seed=0)
    naive = Naive(make_model(), NaiveParams(), TrainingConfig(batch_size=8, epochs=4, lr=0.1), CPU)
    before = evaluate(naive.model, experience)
    progress: list[float] = []
    running_loss: list[float] = []

    def reporter(fraction: float, loss: LossSoFar) -> None:
        progress.append(fraction)
        running_loss.append(loss())

    # when
    report = naive.fit(experience, reporter)

    # then
    assert report.steps == 4 * 4 and report.samples == 4 * 30
    assert len(report.loss_curve) == 4 and report.loss_curve[-1] < report.loss_curve[0]
    assert progress == [step / 16 for step in range(1, 17)]
    # the running loss at each epoch's last step is that epoch's mean loss
    assert running_loss[3::4] == report.loss_curve
    assert evaluate(naive.model, experience) > max(before, 0.9)
    assert naive.experiences_seen == 1


def test_fine_tuning_on_new_classes_forgets_the_old_ones(
    make_model: Callable[..., torch.nn.Module],
    make_stream: Callable[..., list[Experience]],
    evaluate: Callable[[torch.nn.Module, Experience], float],
) -> None:
    # given: the first experience learned well
    train, test = make_stream(per_class=50, seed=0), make_stream(per_class=100, seed=7)
    naive = Naive(make_model(), NaiveParams(), TrainingConfig(batch_size=10, epochs=5, lr=0.1), CPU)
    naive.fit(train[0])
    learned = evaluate(naive.model, test[0])

    # when: the later experiences bring only new classes
    for experience in train[1:]:
        naive.fit(experience)

    # then
    assert learned > 0.9
    assert evaluate(naive.model, test[0]) < learned - 0.4
