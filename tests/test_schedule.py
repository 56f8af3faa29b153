"""The learning-rate schedule: a warmup over the first steps, then torch's ReduceLROnPlateau cuts, exactly."""

import pytest
import torch

from hourglass.training.adam import FusedAdam
from hourglass.training.schedule import WARMUP_STEPS, Schedule
from hourglass.training.state import History, Progress, TrainConfig


def optimizer(lr: float) -> FusedAdam:
    return FusedAdam([torch.nn.Parameter(torch.zeros(2))], lr=lr)


@pytest.mark.parametrize("lr_patience", [1, 2, 4])
def test_plateau_cuts_are_reduce_lr_on_plateaus_to_the_bit(lr_patience):
    """Scores that stall, improve a little, improve by less than min_delta and stall again: the rates after
    each epoch equal torch's scheduler's, down to where it stops cutting."""
    cfg = TrainConfig(lr=1e-2, lr_patience=lr_patience)
    ours, theirs = optimizer(cfg.lr), torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=cfg.lr)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(
        theirs, factor=cfg.lr_factor, patience=lr_patience - 1, threshold=cfg.min_delta
    )
    schedule = Schedule(ours, cfg, train_rows=0, first_epoch=1)
    progress = Progress(History(), {})
    scores = [1.0, 0.9, 0.9, 0.9, 0.89995, 0.8, *[0.8] * 60]
    rates = []
    for score in scores:
        progress.record(torch.nn.Linear(1, 1), score, cfg.min_delta)
        schedule.end_epoch(progress.stale)
        reference.step(score)
        assert ours.param_groups[0]["lr"] == theirs.param_groups[0]["lr"]
        rates.append(ours.param_groups[0]["lr"])
    assert rates[-1] < 1e-7 and len(set(rates)) > 3  # cut many times, then no further


def test_warmup_ramps_over_the_first_steps_of_a_fresh_run_only():
    cfg = TrainConfig(lr=0.01, batch_size=10)
    fresh, resumed = optimizer(cfg.lr), optimizer(cfg.lr)
    seen = []
    schedule, after_resume = Schedule(fresh, cfg, 200, first_epoch=0), Schedule(resumed, cfg, 200, first_epoch=3)
    for _ in range(WARMUP_STEPS + 3):
        schedule.step()
        after_resume.step()
        seen.append(fresh.param_groups[0]["lr"])
        assert resumed.param_groups[0]["lr"] == cfg.lr
    assert seen == [cfg.lr * (i + 1) / WARMUP_STEPS for i in range(WARMUP_STEPS)] + [seen[WARMUP_STEPS - 1]] * 3
    short = optimizer(cfg.lr)  # an epoch of two whole batches: the ramp fits inside it
    two = Schedule(short, cfg, 25, first_epoch=0)
    two.step()
    assert short.param_groups[0]["lr"] == cfg.lr / 2
