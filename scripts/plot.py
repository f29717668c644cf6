#!/usr/bin/env python3
"""Figures from a Mirage result file: the command line of mirage.plot.

The figure code is the module python/mirage/plot.py of the Python package (`python -m
mirage.plot` where the package is installed); this script runs it from a checkout without
installing anything (it needs numpy, h5py and matplotlib, not the compiled part). Its names
are this module's too, for callers that load the script as a module.

Usage:
  plot.py FILE.h5 -o results/figures [--figures model,resolution,...]
          [--length 5] [--test-size 1000] [--format png,pdf] [--dpi 150]

Exit status: 0 on success, 2 for bad input (a file that is not a Mirage result file, an
unsupported format version, an option value the file does not contain).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "python"))

from mirage.plot import *  # noqa: E402,F401,F403 - the module's names, as before the move
from mirage.plot import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
