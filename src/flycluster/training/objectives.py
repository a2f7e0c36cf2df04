"""flyvis's training objectives: flow losses, the learning-rate schedule, the activity penalty.

- :func:`l2norm` (flyvis's flow loss): mean over samples of the root of the summed squared
  error over frames, channels and hexals.
- :func:`epe`: mean end-point error (flyvis's other flow objective; reported, not optimised).
- :func:`stepwise_schedule`: ``scheduler.lr_net/lr_dec/lr_pen`` (5e-5 -> 5e-6 in 10 steps).
- :class:`ActivityPenalty`: ``penalizer.activity_penalty``: SGD on ``nodes_bias`` towards a
  temporal-mean activity of 5 for every cell type's central cell, until iteration 150,000.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["l2norm", "epe", "stepwise_schedule", "ActivityPenalty"]


def l2norm(y_est: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """flyvis's ``l2norm``: ``mean_s sqrt(sum_{frame, channel, hexal} (y_est - y)^2)``.

    Shapes (samples, frames, 2, n_hexals).
    """
    if y_est.shape != y.shape:
        raise ValueError(f"estimate {tuple(y_est.shape)} and target {tuple(y.shape)} differ")
    return ((y_est - y) ** 2).sum(dim=(1, 2, 3)).sqrt().mean()


def epe(y_est: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean end-point error: mean over samples, frames, hexals of the (u, v) error norm."""
    if y_est.shape != y.shape:
        raise ValueError(f"estimate {tuple(y_est.shape)} and target {tuple(y.shape)} differ")
    return ((y_est - y) ** 2).sum(dim=2).sqrt().mean()


def stepwise_schedule(n_iterations: int, start: float = 5e-5, stop: float = 5e-6,
                      steps: int = 10) -> np.ndarray:
    """flyvis's ``HyperParamScheduler.stepwise``: value at every iteration, (n_iterations + 1,).

    ``steps`` values from ``linspace(start, stop, steps)``, each held for
    ``int(n_iterations / steps)`` iterations, then ``stop`` to the end.
    """
    if n_iterations < 0 or steps < 1:
        raise ValueError(f"need n_iterations >= 0 and steps >= 1, got {n_iterations}, {steps}")
    f = np.repeat(np.linspace(start, stop, steps), int(n_iterations / steps))
    return np.pad(f, (0, n_iterations - len(f) + 1), constant_values=stop)


class ActivityPenalty:
    """flyvis's activity penalty on the resting potentials (``penalizer.yaml``).

    ``penalty = weight * mean((a(baseline - m))^2)`` with ``m`` the temporal mean of every cell
    type's central cell over frames ``n_frames // 4 ..`` (samples, types) and
    ``a(x) = below * relu(x) - above * relu(-x)``; one SGD step on ``nodes_bias`` (learning
    rate from the schedule) per iteration below ``stop_iteration``, then the network clamps.

    Parameters
    ----------
    central_index : (n_cell_types,) node index of each type's central cell.
    baseline, weight, below, above, stop_iteration : 5.0, 0.1, 1.0, 0.1, 150000 (flyvis).
    """

    def __init__(self, central_index, baseline: float = 5.0, weight: float = 0.1,
                 below: float = 1.0, above: float = 0.1, stop_iteration: int | None = 150_000):
        self.central_index = torch.as_tensor(np.asarray(central_index), dtype=torch.long)
        self.baseline, self.weight = float(baseline), float(weight)
        self.below, self.above = float(below), float(above)
        self.stop_iteration = stop_iteration

    def active(self, iteration: int) -> bool:
        return self.stop_iteration is None or iteration < self.stop_iteration

    def __call__(self, activity: torch.Tensor) -> torch.Tensor:
        """The penalty (scalar tensor) of activity (samples, frames, n_nodes)."""
        n_frames = activity.shape[1]
        index = self.central_index.to(activity.device)
        mean = activity[:, n_frames // 4:, index].mean(dim=1)
        x = self.baseline - mean
        weighted = self.below * torch.relu(x) - self.above * torch.relu(-x)
        return self.weight * (weighted ** 2).mean()
