"""Optimisers (SGD with momentum, Adam, AdamW) and learning-rate schedules."""

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from .._geometry import real_in


class TrainingDiverged(FloatingPointError):
    """The loss, a gradient or an updated parameter stopped being finite."""


class Optimizer(ABC):
    """Updates a model's parameter arrays in place, all of them or none.

    ``step(grads, lr)`` computes every new parameter and state first; if one
    would not be finite it changes nothing and raises
    :class:`TrainingDiverged`, so the model keeps its last finite
    parameters. Subclasses implement ``_update`` and ``_commit``.
    """

    def __init__(self, params, lr=None):
        self.params = params
        self.lr = lr

    @abstractmethod
    def _update(self, name, param, grad, lr):
        """(new parameter, new state of ``name``), without changing either."""

    @abstractmethod
    def _commit(self, name, state):
        """Keep the state ``_update`` computed for ``name``."""

    def step(self, grads, lr=None):
        """Apply one update with learning rate ``lr`` (default: the optimiser's); grads maps names to arrays."""
        lr = self.lr if lr is None else lr
        if lr is None:
            raise ValueError(f"{type(self).__name__}.step needs a learning rate")
        updates = {}
        for name, param in self.params.items():
            updated, state = self._update(name, param, grads[name], lr)
            if not np.all(np.isfinite(updated)):
                raise TrainingDiverged(f"parameter {name} would become non-finite; stopped before updating it")
            updates[name] = updated, state
        for name, (updated, state) in updates.items():
            self.params[name][...] = updated
            self._commit(name, state)


class SGD(Optimizer):
    """Mini-batch gradient descent with momentum, as torch.optim.SGD (no dampening).

    ``buf = momentum*buf + grad; param -= lr*buf``, in place on the model's
    arrays; the learning rate is given to each ``step`` (or once as ``lr``).
    """

    def __init__(self, params, momentum=0.9, *, lr=None):
        momentum = real_in(momentum, "momentum", 0.0, 1.0, high_open=True)
        super().__init__(params, lr)
        self.momentum = momentum
        self.buffers = {name: np.zeros_like(p) for name, p in params.items()}

    def _update(self, name, param, grad, lr):
        buf = self.momentum * self.buffers[name] + grad
        return param - param.dtype.type(lr) * buf, buf.astype(param.dtype, copy=False)

    def _commit(self, name, state):
        self.buffers[name] = state


class Adam(Optimizer):
    """Adam, as torch.optim.Adam (its defaults, bias correction, L2 weight decay).

    With ``g = grad + weight_decay*param`` and t the step number::

        m = beta1*m + (1-beta1)*g          v = beta2*v + (1-beta2)*g*g
        param -= lr/(1-beta1**t) * m / (sqrt(v)/sqrt(1-beta2**t) + eps)

    computed as PyTorch's single-tensor implementation does (m by lerp,
    scalars in the parameter's dtype). ``state`` holds ``exp_avg`` (m) and
    ``exp_avg_sq`` (v) per parameter; ``steps`` counts the steps taken.
    (amsgrad, maximize and capturable are left out.)
    """

    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, real_in(lr, "lr", 0.0))
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise TypeError(f"betas must be a pair of numbers, got {betas!r}") from None
        self.betas = (
            real_in(beta1, "betas[0]", 0.0, 1.0, high_open=True),
            real_in(beta2, "betas[1]", 0.0, 1.0, high_open=True),
        )
        self.eps = real_in(eps, "eps", 0.0)
        self.weight_decay = real_in(weight_decay, "weight_decay", 0.0)
        self.steps = 0
        self.state = {name: {"exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)} for name, p in params.items()}

    def _update(self, name, param, grad, lr):
        t = param.dtype.type
        (beta1, beta2), step = self.betas, self.steps + 1
        grad = np.asarray(grad, dtype=param.dtype)
        if self.decoupled_weight_decay:
            param = param * t(1 - lr * self.weight_decay)
        elif self.weight_decay:
            grad = grad + t(self.weight_decay) * param
        m, v = self.state[name]["exp_avg"], self.state[name]["exp_avg_sq"]
        w = 1 - beta1  # m = torch.lerp(m, grad, w), computed as torch does on each side of 0.5
        m = m + t(w) * (grad - m) if w < 0.5 else grad - (grad - m) * t(1 - w)
        v = v * t(beta2) + t(1 - beta2) * grad * grad
        step_size = lr / (1 - beta1**step)
        denom = np.sqrt(v) / t((1 - beta2**step) ** 0.5) + t(self.eps)
        return param + t(-step_size) * (m / denom), {"exp_avg": m, "exp_avg_sq": v}

    def _commit(self, name, state):
        self.state[name] = state

    def step(self, grads, lr=None):
        super().step(grads, lr)
        self.steps += 1


class AdamW(Adam):
    """AdamW, as torch.optim.AdamW: Adam with decoupled weight decay (default 1e-2).

    Each step first shrinks ``param *= 1 - lr*weight_decay``, then applies
    Adam's update with the plain gradient.
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


class ConstantLR:
    """The base learning rate throughout."""

    def __call__(self, base_lr, epoch, iteration):
        return base_lr


class StepLR:
    """base_lr * gamma ** (epoch // step_size), as torch.optim.lr_scheduler.StepLR."""

    def __init__(self, step_size=10, gamma=0.1):
        if step_size < 1 or gamma <= 0:
            raise ValueError(f"StepLR needs step_size >= 1 and gamma > 0, got {step_size}, {gamma}")
        self.step_size, self.gamma = step_size, gamma

    def __call__(self, base_lr, epoch, iteration):
        return base_lr * self.gamma ** (epoch // self.step_size)


class CyclicLR:
    """Triangular cycles between base_lr and max_lr, ``step_size_up`` iterations each way.

    The "triangular" policy of torch.optim.lr_scheduler.CyclicLR (Smith, 2017).
    """

    def __init__(self, max_lr, step_size_up=200):
        if step_size_up < 1 or max_lr <= 0:
            raise ValueError(f"CyclicLR needs max_lr > 0 and step_size_up >= 1, got {max_lr}, {step_size_up}")
        self.max_lr, self.step_size_up = max_lr, step_size_up

    def __call__(self, base_lr, epoch, iteration):
        position = iteration / self.step_size_up
        fraction = 1.0 - abs(position % 2.0 - 1.0)
        return base_lr + (self.max_lr - base_lr) * fraction


def make_schedule(schedule, lr) -> Callable[[float, int, int], float]:
    """A schedule object from None, a callable, or "constant" / "step" / "cyclic" (default settings)."""
    if schedule is None or schedule == "constant":
        return ConstantLR()
    if schedule == "step":
        return StepLR()
    if schedule == "cyclic":
        return CyclicLR(max_lr=10 * lr)
    if callable(schedule):
        return schedule
    raise ValueError(f"schedule must be None, 'constant', 'step', 'cyclic' or a callable, got {schedule!r}")
