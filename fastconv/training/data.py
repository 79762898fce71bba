"""Data sets as NCHW float arrays: the embedded digits, and loaders for MNIST and CIFAR-10 files.

Every loader returns a :class:`Splits` with a seeded train/validation split
and pixels normalised by the training set's mean and standard deviation.
Nothing is downloaded.
"""

import gzip
import io
import math
import os
import pickle
import zlib
from dataclasses import dataclass
from importlib import resources

import numpy as np

from .._files import check_file_size


@dataclass
class Splits:
    """(x, y) pairs: x (N, C, H, W) float, y (N,) int64, for three splits."""

    train: tuple
    validation: tuple
    test: tuple
    classes: int

    @property
    def input_shape(self):
        """(C, H, W) of one sample."""
        return self.train[0].shape[1:]


def _split(x, y, x_test, y_test, *, validation_fraction, seed, dtype, classes):
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction!r}")
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = int(round(validation_fraction * len(x)))
    val, train = order[:n_val], order[n_val:]
    mean = x[train].mean(dtype=np.float64)
    std = x[train].std(dtype=np.float64) or 1.0

    def norm(a):
        return ((a - mean) / std).astype(dtype)

    return Splits((norm(x[train]), y[train]), (norm(x[val]), y[val]), (norm(x_test), y_test.astype(np.int64)), classes)


def load_digits(*, validation_fraction=0.15, test_fraction=0.15, seed=0, dtype=np.float32):
    """The 1,797 embedded 8x8 handwritten digits, x (N, 1, 8, 8), 10 classes.

    Split at random (seeded) into train, validation and test.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    raw = resources.files("fastconv.training.datasets").joinpath("digits.csv.gz").read_bytes()
    table = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",", dtype=np.float64)
    x = table[:, :-1].reshape(-1, 1, 8, 8)
    y = table[:, -1].astype(np.int64)
    order = np.random.default_rng(seed + 1).permutation(len(x))
    n_test = int(round(test_fraction * len(x)))
    test, rest = order[:n_test], order[n_test:]
    return _split(
        x[rest],
        y[rest],
        x[test],
        y[test],
        seed=seed,
        dtype=dtype,
        classes=10,
        validation_fraction=validation_fraction / (1.0 - test_fraction),
    )


# IDX type codes (http://yann.lecun.com/exdb/mnist/ describes the format).
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

# The most data one file may hold, checked before anything is allocated. MNIST's training images
# are 47 MB, a CIFAR-10 batch 31 MB; a header or a pickle that announces more is refused.
MAX_IDX_BYTES = 2**30
MAX_CIFAR_BATCH_BYTES = 2**27
_READ_STEP = 2**24  # bytes read at a time: memory grows with the data present, not with what a header claims
_GZIP_MAGIC = b"\x1f\x8b"


def _read_exactly(stream, count, path, what):
    """``count`` bytes of ``stream``, read a step at a time; ValueError naming ``path`` if fewer are there."""
    data = bytearray()
    try:
        while len(data) < count:
            step = stream.read(min(_READ_STEP, count - len(data)))
            if not step:
                raise ValueError(f"{path}: truncated {what}: {len(data)} of {count} bytes")
            data += step
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: corrupt gzip data ({exc})") from None
    return bytes(data)


def _open_maybe_gzip(path):
    """A binary stream of the file's contents, decompressed on the fly when it is gzipped; and whether it is."""
    with open(path, "rb") as f:
        compressed = f.read(2) == _GZIP_MAGIC
    return (gzip.open(path, "rb") if compressed else open(path, "rb")), compressed


def read_idx(path, *, max_bytes=MAX_IDX_BYTES):
    """An array from an MNIST IDX file (raw or gzipped), checked against its header.

    The header is checked (type, dimensions, size against ``max_bytes`` and,
    for a raw file, against the file's size) before the data are read; a
    gzipped file is decompressed only as far as the header says it reaches.
    """
    stream, compressed = _open_maybe_gzip(path)
    with stream:
        magic = _read_exactly(stream, 4, path, "IDX header")
        if magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_TYPES or magic[3] == 0:
            raise ValueError(f"{path}: not an IDX file (bad magic number {magic.hex()})")
        ndim = magic[3]
        dims = _read_exactly(stream, 4 * ndim, path, "IDX header")
        shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
        dtype = np.dtype(_IDX_TYPES[magic[2]])
        expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
        if expected > max_bytes:
            raise ValueError(
                f"{path}: IDX header announces {expected} bytes of data for shape {shape}, "
                f"more than the {max_bytes} this reader takes"
            )
        if not compressed and os.path.getsize(path) != 4 + 4 * ndim + expected:
            raise ValueError(
                f"{path}: IDX header promises {expected} bytes of data for shape {shape}, "
                f"file has {os.path.getsize(path) - 4 - 4 * ndim} (truncated or corrupt)"
            )
        data = _read_exactly(stream, expected, path, "IDX data")
        if _read_exactly_or_less(stream, 1, path):
            raise ValueError(f"{path}: more data than the IDX header promises for shape {shape} (corrupt)")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _read_exactly_or_less(stream, count, path):
    try:
        return stream.read(count)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: corrupt gzip data ({exc})") from None


def _find(directory, names):
    for name in names:
        for candidate in (name, name + ".gz"):
            path = os.path.join(directory, candidate)
            if os.path.exists(path):
                return path
    raise FileNotFoundError(f"none of {names} (or .gz) found in {directory}")


def load_mnist(directory, *, validation_fraction=0.1, seed=0, dtype=np.float32):
    """MNIST (or Fashion-MNIST) from the four IDX files in ``directory``; x (N, 1, 28, 28)."""
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(_find(directory, [f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"]))
        labels = read_idx(_find(directory, [f"{prefix}-labels-idx1-ubyte", f"{prefix}-labels.idx1-ubyte"]))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{directory}: {split} images {images.shape} and labels {labels.shape} do not match")
        if len(labels) == 0:
            raise ValueError(f"{directory}: the {split} set holds no images")
        if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
            raise ValueError(f"{directory}: {split} labels must be non-negative integers")
        parts[split] = (images[:, None].astype(np.float64), labels.astype(np.int64))
    classes = int(parts["train"][1].max()) + 1
    if parts["test"][1].max() >= classes:
        raise ValueError(
            f"{directory}: test label {parts['test'][1].max()} is outside the training labels 0..{classes - 1}"
        )
    return _split(
        *parts["train"],
        *parts["test"],
        validation_fraction=validation_fraction,
        seed=seed,
        dtype=dtype,
        classes=classes,
    )


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists and NumPy arrays only: a data file must not run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_cifar_batch(path):
    """(x (N, 3, 32, 32) uint8, y (N,) int64) from one CIFAR-10 "python version" batch file.

    The file is read whole (at most MAX_CIFAR_BATCH_BYTES) and unpickled from
    memory, so a pickle that announces more data than the file holds fails
    instead of allocating it.
    """
    check_file_size(path, MAX_CIFAR_BATCH_BYTES, "CIFAR-10 batch")
    with open(path, "rb") as f:
        raw = f.read(MAX_CIFAR_BATCH_BYTES + 1)
    try:
        batch = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        MemoryError,
        OverflowError,
        RecursionError,
    ) as exc:
        raise ValueError(f"{path}: not a CIFAR-10 python batch ({type(exc).__name__}: {exc})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: not a CIFAR-10 python batch (no dict inside)")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise ValueError(f"{path}: CIFAR-10 batch lacks 'data' or 'labels'")
    try:
        data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"], dtype=np.int64)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"{path}: CIFAR-10 batch holds unreadable data or labels ({exc})") from None
    if data.dtype != np.uint8:
        raise ValueError(f"{path}: CIFAR-10 data must be uint8 pixels, got {data.dtype}")
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise ValueError(f"{path}: data {data.shape} / labels {labels.shape} are not CIFAR-10 shaped")
    if labels.size and (labels.min() < 0 or labels.max() >= 10):
        raise ValueError(f"{path}: labels must lie in 0..9, got {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(directory, *, validation_fraction=0.1, seed=0, dtype=np.float32):
    """CIFAR-10 from data_batch_1..5 and test_batch in ``directory``; x (N, 3, 32, 32)."""
    train = [read_cifar_batch(os.path.join(directory, f"data_batch_{i}")) for i in range(1, 6)]
    x_test, y_test = read_cifar_batch(os.path.join(directory, "test_batch"))
    x = np.concatenate([b[0] for b in train]).astype(np.float64)
    y = np.concatenate([b[1] for b in train])
    return _split(
        x,
        y,
        x_test.astype(np.float64),
        y_test,
        validation_fraction=validation_fraction,
        seed=seed,
        dtype=dtype,
        classes=10,
    )
