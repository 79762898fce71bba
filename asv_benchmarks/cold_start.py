"""Cold start, in fresh interpreters: import time, and the first conv2d with an empty numba cache."""

import subprocess
import sys

COLD_CACHE = """
import os, tempfile
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="fastconv-asv-cache-")
"""

FIRST_CONV2D = """
import numpy as np
import fastconv
fastconv.conv2d(np.ones((2, 3, 16, 16), np.float32), np.ones((4, 3, 3, 3), np.float32), method="direct")
"""


class ColdStart:
    number = 1
    repeat = (1, 3, 120.0)
    timeout = 300

    def timeraw_import(self):
        return COLD_CACHE + "import fastconv"

    def timeraw_first_conv2d_cold_cache(self):
        # Compiles the forward kernel from scratch: the price a first user pays once.
        return COLD_CACHE + FIRST_CONV2D

    def setup(self):
        # Fill numba's cache inside the installed package, so the warm figure is warm.
        subprocess.run([sys.executable, "-c", FIRST_CONV2D], check=True)

    def timeraw_first_conv2d_warm_cache(self):
        return FIRST_CONV2D
