"""The learning rate over a fit: a short linear warmup, then a cut by ``lr_factor`` on every plateau.

Warmup: Adam's first updates move every weight by about ``lr`` whatever its gradient, which at the default
rate can saturate a sigmoid output for good in the first few steps; a few steps of ramp prevent it, while a
long ramp slows a fit's escape from an early plateau (docs/benchmarks.md, "Learning-rate warmup").
Plateau: cutting the rate once the score has stalled for ``lr_patience`` epochs settles into a lower minimum
in fewer epochs than a fixed rate. The cuts are ``torch.optim.lr_scheduler.ReduceLROnPlateau``'s (relative
threshold ``min_delta``, no cooldown, no floor), counted from the run's own ``Progress.stale``, so the schedule
holds no state a checkpoint must save: the rate itself is in the optimiser's state.
"""

from __future__ import annotations

from hourglass.training.adam import FusedAdam
from hourglass.training.state import TrainConfig

WARMUP_STEPS = 5
SMALLEST_CUT = 1e-8  # a cut that would change the rate by less is skipped (ReduceLROnPlateau's eps)


class Schedule:
    """Sets the optimiser's learning rate: ``step`` before each optimiser step, ``end_epoch`` after each epoch."""

    def __init__(self, optimizer: FusedAdam, cfg: TrainConfig, train_rows: int, first_epoch: int) -> None:
        self.optimizer, self.cfg = optimizer, cfg
        # Within the first epoch (at most its whole-batch count), so a checkpoint never falls mid-warmup;
        # a resumed run is past it.
        self.warmup = min(WARMUP_STEPS, max(1, train_rows // cfg.batch_size)) if first_epoch == 0 else 0
        self.steps = 0

    def step(self) -> None:
        """Ramp the rate up from ``lr / warmup`` to ``lr`` over the first ``warmup`` steps."""
        if self.steps < self.warmup:
            self._set(self.cfg.lr * (self.steps + 1) / self.warmup)
        self.steps += 1

    def end_epoch(self, stale: int) -> None:
        """Cut the rate when ``stale`` epochs without progress make another ``lr_patience`` of them."""
        patience = self.cfg.lr_patience
        if patience and stale and stale % patience == 0:
            old = self.optimizer.param_groups[0]["lr"]
            new = old * self.cfg.lr_factor
            if old - new > SMALLEST_CUT:
                self._set(new)

    def _set(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
