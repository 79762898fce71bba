"""The default ConvNet on the embedded digits: one training step and a short epoch."""

from ._common import ConvBenchmark


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
