"""Data loaders on the embedded digits and on tiny generated MNIST / CIFAR-10 files."""

import gzip
import pickle

import numpy as np
import pytest

from fastconv.training import data


def test_digits_splits_are_seeded_normalised_nchw():
    a, b = data.load_digits(seed=0), data.load_digits(seed=0)
    x, y = a.train
    assert x.dtype == np.float32 and x.shape[1:] == (1, 8, 8) and a.classes == 10
    assert len(a.train[1]) + len(a.validation[1]) + len(a.test[1]) == 1797
    assert abs(float(x.mean())) < 1e-3 and float(x.std()) == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_array_equal(a.test[0], b.test[0])
    assert not np.array_equal(data.load_digits(seed=1).test[1], a.test[1])
    assert set(np.unique(y)) == set(range(10))


def _idx_bytes(array, type_code=0x08):
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(">u1").tobytes()


def _write_mnist(directory, gz, n_train=12, n_test=5):
    rng = np.random.default_rng(0)
    opener = gzip.open if gz else open
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        with opener(directory / f"{prefix}-images-idx3-ubyte{suffix}", "wb") as f:
            f.write(_idx_bytes(images))
        with opener(directory / f"{prefix}-labels-idx1-ubyte{suffix}", "wb") as f:
            f.write(_idx_bytes(labels))
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_files(tmp_path, gz):
    test_images, test_labels = _write_mnist(tmp_path, gz)
    splits = data.load_mnist(tmp_path, validation_fraction=0.25)
    assert splits.train[0].shape == (9, 1, 28, 28) and splits.validation[0].shape == (3, 1, 28, 28)
    np.testing.assert_array_equal(splits.test[1], test_labels)
    np.testing.assert_array_equal(data.read_idx(tmp_path / f"t10k-images-idx3-ubyte{'.gz' if gz else ''}"), test_images)


def test_mnist_truncated_and_corrupt_files(tmp_path):
    _write_mnist(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        data.load_mnist(tmp_path)
    path.write_bytes(b"\x12\x34\x56\x78" + bytes(100))
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(path)
    gz = tmp_path / "bad.gz"
    gz.write_bytes(gzip.compress(_idx_bytes(np.zeros((2, 2), np.uint8)))[:-6])
    with pytest.raises(ValueError, match="corrupt gzip"):
        data.read_idx(gz)


def test_mnist_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        data.load_mnist(tmp_path)


def _write_cifar(directory, n=4):
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"batch_label": name.encode(),
            b"labels": rng.integers(0, 10, n).tolist(),
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [b"x.png"] * n,
        }
        with open(directory / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    return batch


def test_cifar10_batches(tmp_path):
    last = _write_cifar(tmp_path)
    splits = data.load_cifar10(tmp_path, validation_fraction=0.2)
    assert splits.train[0].shape == (16, 3, 32, 32) and splits.validation[0].shape == (4, 3, 32, 32)
    x_test, y_test = data.read_cifar_batch(tmp_path / "test_batch")
    np.testing.assert_array_equal(x_test[1, 2], last[b"data"][1, 2048:].reshape(32, 32))
    np.testing.assert_array_equal(splits.test[1], last[b"labels"])


def test_cifar10_corrupt_and_malicious_files(tmp_path):
    _write_cifar(tmp_path)
    path = tmp_path / "data_batch_3"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(ValueError, match="data_batch_3: not a CIFAR-10 python batch"):
        data.load_cifar10(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path.write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(ValueError, match="refusing to load builtins.print"):
        data.read_cifar_batch(path)
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(ValueError, match="not CIFAR-10 shaped"):
        data.read_cifar_batch(path)


def test_mnist_empty_sets_and_labels_outside_the_training_classes(tmp_path):
    _write_mnist(tmp_path, gz=False, n_train=0)
    with pytest.raises(ValueError, match="the train set holds no images"):
        data.load_mnist(tmp_path)
    _write_mnist(tmp_path, gz=False)
    labels = np.zeros(5, np.uint8)
    labels[3] = 200
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(labels))
    with pytest.raises(ValueError, match="test label 200 is outside the training labels"):
        data.load_mnist(tmp_path)
