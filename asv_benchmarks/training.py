"""The default ConvNet on the embedded digits: one training step and a short epoch."""

from ._common import ConvBenchmark


class Training(ConvBenchmark):
    params = [["float32", "float64"]]
    param_names = ["dtype"]

    def setup(self, dtype):
        from fastconv.data import load_digits
        from fastconv.nn.default_model import default_convnet
        from fastconv.train import fit

        splits = load_digits(seed=0, dtype=dtype)
        self.x, self.y = splits.train
        self.model = default_convnet(splits.input_shape, splits.classes, dtype=dtype, seed=0)
        self.fit = fit
        self.step()

    def step(self):
        # One mini-batch of 32: forward, loss, backward, SGD update.
        self.fit(self.model, self.x[:32], self.y[:32], epochs=1, batch_size=32, lr=0.01, progress=False)

    def time_train_step(self, dtype):
        self.step()

    def time_short_epoch(self, dtype):
        self.fit(self.model, self.x[:512], self.y[:512], epochs=1, batch_size=32, lr=0.01, progress=False)
