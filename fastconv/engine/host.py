"""Facts about the host CPU that ``auto``'s rule reads beside the tiles' vector width.

* ``AMD_WIDE_TILES`` / ``INTEL_WIDE_TILES``: wide (AVX-512) tiles on an AMD
  core, or on another maker's (Intel's). Their crossovers against im2col were
  measured on an AMD EPYC and an Intel Xeon (Emerald Rapids), and the two
  disagree (see :mod:`.choice`). The maker comes from the hardware
  (``vendor_id`` in /proc/cpuinfo), not from the CPU name numba compiles for,
  which NUMBA_CPU_NAME may set to another.
* ``L1_DATA_BYTES``: a core's level-1 data cache, from Linux's sysfs (32 KiB
  where it cannot be read): 32 KiB on the Zen 4 cores the rule was first
  measured on, 48 KiB on the Intel Xeon.
"""

import glob
import os

from llvmlite import binding as llvm

from ..kernels._simd import VECTOR_BYTES

DEFAULT_L1_DATA_BYTES = 32 * 2**10
L1_DATA_BYTES_RANGE = (4 * 2**10, 2**20)  # sizes outside it are misread: the default instead
_UNITS = {"K": 2**10, "M": 2**20}


def _read(path):
    with open(path) as file:
        return file.read().strip()


def cpuinfo_fields(path="/proc/cpuinfo"):
    """The first CPU's fields in ``path`` ("vendor_id", "model name", "flags", ...), stripped; {} where
    it cannot be read."""
    fields: dict = {}
    try:
        text = _read(path)
    except (OSError, ValueError):
        return fields
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if colon:
            fields.setdefault(key.strip(), value.strip())
    return fields


def is_amd(cpuinfo="/proc/cpuinfo"):
    """Whether the CPU is AMD's: ``vendor_id`` in ``cpuinfo``, else LLVM's name of the host ("znver4", ...)."""
    vendor = cpuinfo_fields(cpuinfo).get("vendor_id")
    if vendor is not None:
        return vendor == "AuthenticAMD"
    return llvm.get_host_cpu_name().startswith("znver")


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
            continue
        low, high = L1_DATA_BYTES_RANGE
        return value if low <= value <= high else DEFAULT_L1_DATA_BYTES
    return DEFAULT_L1_DATA_BYTES


WIDE_TILES = VECTOR_BYTES == 64  # AVX-512 tiles; else AVX2's
AMD_WIDE_TILES = WIDE_TILES and is_amd()
INTEL_WIDE_TILES = WIDE_TILES and not AMD_WIDE_TILES
L1_DATA_BYTES = l1_data_bytes()
