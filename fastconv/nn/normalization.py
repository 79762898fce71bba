"""BatchNorm2d: per-channel normalisation with batch statistics in training, running ones in evaluation."""

import numpy as np

from .._geometry import float_dtype, positive_int, real_in
from .layer import Layer

_AXES = (0, 2, 3)


class BatchNorm2d(Layer):
    """Batch normalisation over (N, H, W) for each channel, as torch.nn.BatchNorm2d.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``. In training mode
    (or without running statistics) mean and var are the batch's, var biased
    (divided by N*H*W); each training step then updates the buffers
    ``running_mean`` and ``running_var`` (the latter with the unbiased
    variance, divided by N*H*W - 1) as ``running = (1 - momentum) * running +
    momentum * batch``, or with a cumulative average (momentum=None), and
    counts ``num_batches_tracked``. In evaluation mode the running statistics
    normalise.

    Input and output (N, num_features, H, W). Parameters (affine=True):
    ``weight`` (ones) and ``bias`` (zeros), (num_features,). Buffers
    (track_running_stats=True): ``running_mean`` (zeros), ``running_var``
    (ones), (num_features,), and ``num_batches_tracked`` (int64, shape ()).
    """

    input_ndim = 4

    def __init__(
        self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, *, dtype=np.float32
    ):
        super().__init__()
        self.num_features = positive_int(num_features, "num_features")
        self.eps = real_in(eps, "eps", 0.0)
        self.momentum = None if momentum is None else real_in(momentum, "momentum", 0.0, 1.0)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        self.dtype = float_dtype(dtype)
        if self.affine:
            self.params["weight"] = np.ones(self.num_features, dtype=self.dtype)
            self.params["bias"] = np.zeros(self.num_features, dtype=self.dtype)
        if self.track_running_stats:
            self.buffers["running_mean"] = np.zeros(self.num_features, dtype=self.dtype)
            self.buffers["running_var"] = np.ones(self.num_features, dtype=self.dtype)
            self.buffers["num_batches_tracked"] = np.zeros((), dtype=np.int64)

    @classmethod
    def parameter_shapes(cls, config):
        features = (positive_int(config["num_features"], "num_features"),)
        return {"weight": features, "bias": features} if config.get("affine", True) else {}

    @classmethod
    def buffer_shapes(cls, config):
        features = (positive_int(config["num_features"], "num_features"),)
        if not config.get("track_running_stats", True):
            return {}
        return {"running_mean": features, "running_var": features, "num_batches_tracked": ()}

    def config(self):
        return dict(
            num_features=self.num_features,
            eps=self.eps,
            momentum=self.momentum,
            affine=self.affine,
            track_running_stats=self.track_running_stats,
            dtype=self.dtype.name,
        )

    def _batch_statistics(self, x):
        """Batch mean and biased variance (C,); updates the running statistics in training mode."""
        count = x.shape[0] * x.shape[2] * x.shape[3]
        if self.training and count < 2:
            raise ValueError(f"BatchNorm2d needs more than 1 value per channel when training, got input {x.shape}")
        mean = x.mean(axis=_AXES, dtype=x.dtype)
        centred = x - mean.reshape(1, -1, 1, 1)
        sum_squares = np.sum(centred * centred, axis=_AXES, dtype=x.dtype)
        var = sum_squares / x.dtype.type(max(count, 1))
        if self.training and self.track_running_stats:
            # PyTorch's update, in double precision: running = momentum * batch + (1 - momentum) * running.
            b = self.buffers
            b["num_batches_tracked"] += 1
            factor = 1.0 / int(b["num_batches_tracked"]) if self.momentum is None else self.momentum
            unbiased = sum_squares.astype(np.float64) / (count - 1)
            b["running_mean"][...] = factor * mean.astype(np.float64) + (1 - factor) * b["running_mean"].astype(
                np.float64
            )
            b["running_var"][...] = factor * unbiased + (1 - factor) * b["running_var"].astype(np.float64)
        return mean, var

    def _forward(self, x):
        if x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm2d expects input of shape (N, {self.num_features}, H, W), got {x.shape}")
        self._batch_stats = self.training or not self.track_running_stats
        if self._batch_stats:
            mean, var = self._batch_statistics(x)
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
        dtype = x.dtype
        inv_std = (1 / np.sqrt(var.astype(dtype, copy=False) + dtype.type(self.eps))).astype(dtype, copy=False)
        x_hat = (x - mean.astype(dtype, copy=False).reshape(1, -1, 1, 1)) * inv_std.reshape(1, -1, 1, 1)
        self._x_hat, self._inv_std = x_hat, inv_std
        if not self.affine:
            return x_hat
        weight = self.params["weight"].astype(dtype, copy=False)
        return x_hat * weight.reshape(1, -1, 1, 1) + self.params["bias"].astype(dtype, copy=False).reshape(1, -1, 1, 1)

    def _backward(self, grad, need_input_grad):
        x_hat, inv_std = self._x_hat, self._inv_std
        if self.affine:
            self.grads["weight"] = np.sum(grad * x_hat, axis=_AXES, dtype=grad.dtype)
            self.grads["bias"] = grad.sum(axis=_AXES, dtype=grad.dtype)
        if not need_input_grad:
            return None
        scale = inv_std if not self.affine else inv_std * self.params["weight"].astype(grad.dtype, copy=False)
        if not self._batch_stats:
            # Running statistics are constants: the layer is an affine map per channel.
            return grad * scale.reshape(1, -1, 1, 1)
        # The mean and variance depend on every input: dx = scale * (g - mean(g) - x_hat * mean(g * x_hat)).
        mean_grad = grad.mean(axis=_AXES, dtype=grad.dtype)
        mean_grad_x_hat = np.mean(grad * x_hat, axis=_AXES, dtype=grad.dtype)
        inner = grad - mean_grad.reshape(1, -1, 1, 1) - x_hat * mean_grad_x_hat.reshape(1, -1, 1, 1)
        return inner * scale.reshape(1, -1, 1, 1)
