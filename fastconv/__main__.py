import sys

from .cli import main

# Guarded: a Dask LocalCluster (`fastconv train --workers N`) starts its workers by spawning, which imports this module.
if __name__ == "__main__":
    sys.exit(main())
