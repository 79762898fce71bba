"""Measured method choices, per machine: what ``fastconv.tune`` found fastest, kept on disk.

FFTW's wisdom and cuDNN's benchmark mode are the models. A choice is keyed by
everything that decides a pass's speed (pass, dtype, shapes, stride, padding,
dilation, groups, numba's thread count) and valid only on the machine and
versions that measured it: the file carries a fingerprint (CPU model, a hash
of its ISA flags, fastconv's and numba's versions), and a file with another
fingerprint is ignored (a new ``tune`` replaces it). The file lives at
``$FASTCONV_TUNE_CACHE`` or else ``$XDG_CACHE_HOME/fastconv/tuning.json``
(``~/.cache/fastconv/tuning.json``); it is read once per process, written
atomically, and a corrupt or unwritable one is ignored with a warning, never
fatal.
"""

import hashlib
import json
import os
import platform
import warnings

import numba

from .._files import write_atomically
from .._names import METHODS
from .._version import __version__
from .host import cpuinfo_fields
from .threads import thread_count

FORMAT_VERSION = 1
ENVIRONMENT_VARIABLE = "FASTCONV_TUNE_CACHE"
MAX_FILE_BYTES = 2**24


def cache_path():
    """Where the tuning cache lives (the file need not exist)."""
    path = os.environ.get(ENVIRONMENT_VARIABLE)
    if path:
        return path
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fastconv", "tuning.json")


def fingerprint():
    """What a measurement holds for: the CPU, its instruction sets, fastconv's and numba's versions."""
    fields = cpuinfo_fields()
    model = fields.get("model name", platform.processor() or platform.machine())
    flags = " ".join(sorted(fields.get("flags", "").split()))
    return {
        "cpu": model,
        "isa": hashlib.sha256(flags.encode()).hexdigest()[:16],
        "fastconv": __version__,
        "numba": numba.__version__,
    }


def key_of(pass_name, geom, dtype):
    """The cache key of one pass of a geometry in ``dtype`` with numba's current thread count."""
    return (
        f"{pass_name}:{dtype.name}:x{geom.N}x{geom.C}x{geom.H}x{geom.W}:w{geom.K}x{geom.C // geom.groups}x"
        f"{geom.R}x{geom.S}:s{geom.stride[0]},{geom.stride[1]}:p{geom.pad_top},{geom.pad_bottom},"
        f"{geom.pad_left},{geom.pad_right}:d{geom.dilation[0]},{geom.dilation[1]}:g{geom.groups}"
        f":t{thread_count()}"
    )


class TuningCache:
    """The choices of one cache file, read on first use."""

    def __init__(self):
        self._choices = None
        self._path = None
        self.generation = 0  # changes whenever the choices may have changed

    def load(self):
        """The choices, read from the file on first use: {key: {"method": ..., "ms": {...}}}."""
        if self._choices is not None:
            return self._choices
        path = cache_path()
        self._path, self._choices = path, {}
        self.generation += 1
        try:
            if os.path.getsize(path) > MAX_FILE_BYTES:
                raise ValueError(f"larger than {MAX_FILE_BYTES} bytes")
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            if not isinstance(data, dict) or not isinstance(data.get("choices"), dict):
                raise ValueError("not a tuning cache")
            if data.get("format") == FORMAT_VERSION and data.get("fingerprint") == fingerprint():
                self._choices = {
                    k: v for k, v in data["choices"].items() if isinstance(v, dict) and v.get("method") in METHODS
                }
        except (FileNotFoundError, NotADirectoryError):
            pass  # no cache yet
        except (OSError, ValueError, RecursionError) as exc:
            warnings.warn(f"ignoring the tuning cache {path}: {exc}", RuntimeWarning, stacklevel=4)
        return self._choices

    def lookup(self, key):
        """The measured method for ``key``, or None."""
        entry = self.load().get(key)
        return entry["method"] if entry else None

    def store(self, entries):
        """Add {key: {"method": ..., "ms": {...}}} and write the file (a warning if it cannot be written)."""
        choices = self.load()
        choices.update(entries)
        self.generation += 1
        path = self._path
        text = json.dumps({"format": FORMAT_VERSION, "fingerprint": fingerprint(), "choices": choices}, indent=1)
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            write_atomically(path, lambda f: f.write(text.encode()))
        except OSError as exc:
            warnings.warn(
                f"could not write the tuning cache {path} ({exc.strerror or exc}); the choices hold in this process only",
                RuntimeWarning,
                stacklevel=3,
            )

    def forget(self):
        """Read the file (and FASTCONV_TUNE_CACHE) again on next use."""
        self._choices = None
        self.generation += 1


tuning_cache = TuningCache()
