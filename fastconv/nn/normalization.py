"""BatchNorm2d: per-channel normalisation with batch statistics in training, running ones in evaluation."""

import numpy as np

from .._geometry import float_dtype, positive_int, real_in
from ..engine import channel_statistics, gradient_sums, normalisation_grad_input, scale_and_shift
from .layer import Layer


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
        """Batch mean and biased variance (C,) float64; updates the running statistics in training mode."""
        count = x.shape[0] * x.shape[2] * x.shape[3]
        if self.training and count < 2:
            raise ValueError(f"BatchNorm2d needs more than 1 value per channel when training, got input {x.shape}")
        # Zeros: for an empty batch the kernel does not run.
        mean, sum_squares = np.zeros(self.num_features), np.zeros(self.num_features)
        channel_statistics(x, mean, sum_squares)
        var = sum_squares / max(count, 1)
        if self.training and self.track_running_stats:
            # PyTorch's update, in double precision: running = momentum * batch + (1 - momentum) * running.
            b = self.buffers
            b["num_batches_tracked"] += 1
            factor = 1.0 / int(b["num_batches_tracked"]) if self.momentum is None else self.momentum
            unbiased = sum_squares / (count - 1)
            b["running_mean"][...] = factor * mean + (1 - factor) * b["running_mean"].astype(np.float64)
            b["running_var"][...] = factor * unbiased + (1 - factor) * b["running_var"].astype(np.float64)
        return mean, var

    fuses_relu = True

    def _forward(self, x, rectify=False):
        if x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm2d expects input of shape (N, {self.num_features}, H, W), got {x.shape}")
        x = np.ascontiguousarray(x)
        self._batch_stats = self.training or not self.track_running_stats
        if self._batch_stats:
            mean, var = self._batch_statistics(x)
        else:
            mean, var = (self.buffers[k].astype(np.float64) for k in ("running_mean", "running_var"))
        inv_std = 1 / np.sqrt(var + self.eps)
        # y = (x - mean) * inv_std * weight + bias = x * scale + shift, per channel.
        scale = inv_std * self.params["weight"] if self.affine else inv_std
        shift = (self.params["bias"] if self.affine else 0) - mean * scale
        self._x, self._mean, self._inv_std, self._scale = x, mean, inv_std, scale
        dtype = x.dtype
        return scale_and_shift(x, scale.astype(dtype), shift.astype(dtype), np.empty_like(x), rectify)

    def _backward(self, grad, need_input_grad):
        x, mean, inv_std, scale = self._x, self._mean, self._inv_std, self._scale
        grad = np.ascontiguousarray(grad, dtype=x.dtype)
        C = self.num_features
        grad_sum, centred_grad_sum = np.zeros(C), np.zeros(C)
        gradient_sums(grad, x, mean, grad_sum, centred_grad_sum)
        # x_hat = (x - mean) * inv_std, so sum(grad * x_hat) = inv_std * sum(grad * (x - mean)).
        grad_x_hat_sum = inv_std * centred_grad_sum
        if self.affine:
            self.grads["weight"] = grad_x_hat_sum.astype(self.dtype)
            self.grads["bias"] = grad_sum.astype(self.dtype)
        if not need_input_grad:
            return None
        zeros = np.zeros(C)
        if not self._batch_stats:
            # Running statistics are constants: the layer is an affine map per channel.
            coefficients = (scale, zeros, zeros, zeros)
        else:
            # The mean and variance depend on every input:
            # dx = scale * (g - mean(g) - x_hat * mean(g * x_hat)), x_hat = (x - mean) * inv_std.
            count = x.shape[0] * x.shape[2] * x.shape[3]
            coefficients = (scale, mean, -scale * inv_std * grad_x_hat_sum / count, -scale * grad_sum / count)
        coefficients = [c.astype(x.dtype) for c in coefficients]
        return normalisation_grad_input(grad, x, *coefficients, np.empty_like(x))
