"""SGD with momentum and learning-rate schedules."""

from collections.abc import Callable

import numpy as np

from .._geometry import finite_number


class TrainingDiverged(FloatingPointError):
    """The loss, a gradient or an updated parameter stopped being finite."""


class SGD:
    """Mini-batch gradient descent with momentum, as torch.optim.SGD (no dampening).

    ``buf = momentum*buf + grad; param -= lr*buf``, in place on the model's
    arrays. A step whose result would not be finite changes nothing and
    raises :class:`TrainingDiverged`, so the model keeps its last finite
    parameters.
    """

    def __init__(self, params, momentum=0.9):
        momentum = finite_number(momentum, "momentum", minimum=0.0, below=1.0)
        self.params = params
        self.momentum = momentum
        self.buffers = {name: np.zeros_like(p) for name, p in params.items()}

    def step(self, grads, lr):
        """Apply one update with learning rate ``lr``; grads maps names to arrays."""
        new_buffers, new_params = {}, {}
        for name, param in self.params.items():
            buf = self.momentum * self.buffers[name] + grads[name]
            updated = param - param.dtype.type(lr) * buf
            if not np.all(np.isfinite(updated)):
                raise TrainingDiverged(f"parameter {name} would become non-finite; stopped before updating it")
            new_buffers[name], new_params[name] = buf.astype(param.dtype, copy=False), updated
        for name, param in self.params.items():
            param[...] = new_params[name]
            self.buffers[name] = new_buffers[name]


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
