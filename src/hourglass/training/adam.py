"""Adam as ``torch.optim.Adam(fused=True)`` computes it, without ``torch.optim.Optimizer``'s machinery.

Every entry point of torch's optimiser base class (its constructor's ``add_param_group``, ``step``,
``zero_grad``, ``state_dict``) imports ``torch._dynamo`` for torch.compile's sake, which can take longer
than a small table's whole fit and would be paid by every ``hourglass train`` (docs/benchmarks.md,
"Command-line start-up"). torch offers no setting that skips the import, so this class does the update
itself with the kernel torch's fused Adam runs (``torch._fused_adam_``, called with the arguments
``torch.optim.adam._fused_adam`` passes): the weights are the same bits (``tests/test_adam.py`` holds it
to that), and ``state_dict`` has torch's layout, so states written by either load into the other.

Only what training uses is here: one parameter group (``param_groups[0]["lr"]`` is the learning rate
``training.schedule`` sets), no AMSGrad, no maximising, no hooks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import torch

BETAS, EPS = (0.9, 0.999), 1e-8


class FusedAdam:
    """``torch.optim.Adam(params, lr, weight_decay=weight_decay, fused=True)``'s updates and state layout."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float, weight_decay: float = 0.0) -> None:
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        self.defaults: dict[str, Any] = {
            "lr": lr,
            "betas": BETAS,
            "eps": EPS,
            "weight_decay": weight_decay,
            "amsgrad": False,
            "maximize": False,
            "foreach": None,
            "capturable": False,
            "differentiable": False,
            "fused": True,
            "decoupled_weight_decay": False,
        }
        self.param_groups: list[dict[str, Any]] = [{"params": params, **self.defaults}]
        self.state: defaultdict[torch.Tensor, dict[str, Any]] = defaultdict(dict)

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        for p in params:
            if not self.state[p]:  # as torch.optim.Adam starts a fused parameter's state
                self.state[p] = {
                    "step": torch.zeros((), dtype=torch.float32, device=p.device),
                    "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                    "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
                }
        states = [self.state[p] for p in params]
        steps = [s["step"] for s in states]
        torch._foreach_add_(steps, 1)
        beta1, beta2 = group["betas"]
        torch._fused_adam_(
            params,
            [p.grad for p in params],
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [],
            steps,
            amsgrad=False,
            lr=group["lr"],
            beta1=beta1,
            beta2=beta2,
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            maximize=False,
            grad_scale=None,
            found_inf=None,
        )

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.param_groups[0]["params"]:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def state_dict(self) -> dict[str, Any]:
        """torch.optim.Optimizer's layout: parameters by position, their state by the same index."""
        params = self.param_groups[0]["params"]
        index = {id(p): i for i, p in enumerate(params)}
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        group["params"] = list(range(len(params)))
        return {"state": {index[id(p)]: dict(s) for p, s in self.state.items()}, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take the state ``state_dict`` (this class's or torch.optim.Adam's) describes, cast as torch casts it."""
        (saved,) = state_dict["param_groups"]
        params = self.param_groups[0]["params"]
        if len(saved["params"]) != len(params):
            raise ValueError("the saved state's parameter group does not match this optimizer's")
        by_index = dict(zip(saved["params"], params, strict=True))
        self.state = defaultdict(dict)
        for index, values in state_dict["state"].items():
            p = by_index[index]
            self.state[p] = {
                name: torch.as_tensor(value).to(p.device, torch.float32 if name == "step" else p.dtype, copy=True)
                for name, value in values.items()
            }
        self.param_groups = [{**saved, "params": params}]
