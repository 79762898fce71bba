"""Facts about the host CPU that ``auto``'s rule reads beside the tiles' vector width.

* ``AMD_CORE``: an AMD (Zen) core, by the CPU name numba compiles for. The wide
  (AVX-512) tiles' crossovers against im2col were measured on an AMD EPYC and
  an Intel Xeon, and the two disagree (see :mod:`.choice`).
* ``L1_DATA_BYTES``: a core's level-1 data cache, from Linux's sysfs (32 KiB
  where it cannot be read): 32 KiB on the Zen 4 cores the rule was first
  measured on, 48 KiB on the Intel Xeon (Emerald Rapids).
"""

import glob
import os

from llvmlite import binding as llvm
from numba import config

DEFAULT_L1_DATA_BYTES = 32 * 2**10
L1_DATA_BYTES_RANGE = (4 * 2**10, 2**20)  # sizes outside it are misread: the default instead
_UNITS = {"K": 2**10, "M": 2**20}


def cpu_name():
    """The CPU name numba compiles for: NUMBA_CPU_NAME if it names one, else LLVM's name of the host ("znver4", ...)."""
    named = config.CPU_NAME
    return named if named and named != "host" else llvm.get_host_cpu_name()


def _read(path):
    with open(path) as file:
        return file.read().strip()


def l1_data_bytes(cache_dir="/sys/devices/system/cpu/cpu0/cache"):
    """Bytes of the first CPU's level-1 data cache as sysfs states them, or DEFAULT_L1_DATA_BYTES where
    sysfs does not say, or says something outside L1_DATA_BYTES_RANGE."""
    for index in sorted(glob.glob(os.path.join(cache_dir, "index*"))):
        try:
            if _read(os.path.join(index, "level")) != "1" or _read(os.path.join(index, "type")) != "Data":
                continue
            size = _read(os.path.join(index, "size"))
            value = int(size[:-1]) * _UNITS[size[-1]] if size[-1:] in _UNITS else int(size)
        except (OSError, ValueError):
            break
        low, high = L1_DATA_BYTES_RANGE
        return value if low <= value <= high else DEFAULT_L1_DATA_BYTES
    return DEFAULT_L1_DATA_BYTES


AMD_CORE = cpu_name().startswith("znver")
L1_DATA_BYTES = l1_data_bytes()
