"""Training: the default ConvNet on the embedded digits (a step and a short epoch), and one step of each
network of ``fastconv bench --training`` on random data."""

import numpy as np

from ._common import ConvBenchmark

# Network -> (one sample's shape, batch), as in fastconv bench --training.
NETWORKS = {"default": ((1, 8, 8), 32), "mnist": ((1, 28, 28), 64), "cifar": ((3, 32, 32), 64)}


def trainer():
    """(load_digits, default_convnet, fit) from wherever this commit's public API keeps them."""
    from fastconv.nn.default_model import default_convnet

    try:
        from fastconv.training import fit
        from fastconv.training.data import load_digits
    except ImportError:  # commits before the trainer moved into fastconv.training
        from fastconv.data import load_digits
        from fastconv.train import fit
    return load_digits, default_convnet, fit


class Training(ConvBenchmark):
    params = [["float32", "float64"]]
    param_names = ["dtype"]

    def setup(self, dtype):
        try:
            load_digits, default_convnet, self.fit = trainer()
        except ImportError as error:  # commits before the trainer
            raise NotImplementedError(str(error)) from None
        splits = load_digits(seed=0, dtype=dtype)
        self.x, self.y = splits.train
        self.model = default_convnet(splits.input_shape, splits.classes, dtype=dtype, seed=0)
        self.step()

    def step(self):
        # One mini-batch of 32: forward, loss, backward, SGD update.
        self.fit(self.model, self.x[:32], self.y[:32], epochs=1, batch_size=32, lr=0.01, progress=False)

    def time_train_step(self, dtype):
        self.step()

    def time_short_epoch(self, dtype):
        self.fit(self.model, self.x[:512], self.y[:512], epochs=1, batch_size=32, lr=0.01, progress=False)


def network(name, sample_shape, dtype):
    """The suite's own copy of a built-in network (fastconv.nn.models), built from ``fastconv.nn`` layers.

    Kept here so that every commit builds the same layers; NotImplementedError
    (asv's skip) on commits that lack a layer or an argument.
    """
    try:
        from fastconv import nn

        C, H, W = sample_shape
        rng = np.random.default_rng(0)
        conv = dict(dtype=dtype, rng=rng)
        if name == "cifar":
            layers = []
            for i, (c_in, c_out) in enumerate(((C, 32), (32, 64), (64, 128))):
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False, **conv), nn.BatchNorm2d(c_out, dtype=dtype)]
                layers += [nn.ReLU(), nn.MaxPool2d(2)] if i < 2 else [nn.ReLU()]
            return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10, **conv))
        # default: 3x3 convolutions of 16 and 32 channels; mnist: 5x5 of 16 (no padding), then 3x3 of 32.
        R, padding = (3, 1) if name == "default" else (5, 0)
        side = (H - R + 1 + 2 * padding) // 2 // 2
        return nn.Sequential(
            nn.Conv2d(C, 16, R, padding=padding, **conv),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1, **conv),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * side * side, 10, **conv),
        )
    except (ImportError, AttributeError, TypeError) as error:
        raise NotImplementedError(f"{name}: {error}") from None


class TrainingStep(ConvBenchmark):
    """One mini-batch of each network through fit: forward, loss, backward, SGD update (float32)."""

    params = [list(NETWORKS)]
    param_names = ["network"]

    def setup(self, name):
        try:
            _, _, self.fit = trainer()
        except ImportError as error:  # commits before the trainer
            raise NotImplementedError(str(error)) from None
        sample_shape, batch = NETWORKS[name]
        self.model = network(name, sample_shape, np.float32)
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((batch, *sample_shape)).astype(np.float32)
        self.y = rng.integers(0, 10, batch)
        self.time_train_step(name)

    def time_train_step(self, name):
        self.fit(self.model, self.x, self.y, epochs=1, batch_size=len(self.y), lr=0.01, progress=False)
