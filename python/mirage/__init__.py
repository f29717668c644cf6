"""Mirage from Python: Monte Carlo simulation of emergent abilities of LLMs and the metrics
that measure them (Schaeffer, Miranda & Koyejo, NeurIPS 2023).

  import mirage
  tree = mirage.run(lengths=[1, 5], test_sizes=[100, 1000], replicates=100)
  tree["summary/exact_match"]["mean"].sel(length=5, test_size=1000)
  mirage.plot.figure(tree, "model")

run(), meta() and forecast() run `mirage run`, `mirage meta` and `mirage forecast` in this
process (keyword arguments are the command's options) and return the file they write as an
xarray.DataTree; open() reads any Mirage file the same way; mirage.plot draws the paper's figures (it needs only numpy, h5py and
matplotlib, so `scripts/plot.py` works from a checkout without the compiled part).
"""

from __future__ import annotations

import importlib
from typing import Any

from ._open import open
from ._run import build_info, forecast, meta, run

__all__ = ["run", "meta", "forecast", "open", "build_info", "plot", "__version__"]


def _version() -> str:
    try:
        from ._core import version

        return str(version)
    except ImportError:
        pass
    try:
        from importlib.metadata import version as dist_version

        return dist_version("mirage-sim")
    except Exception:  # noqa: BLE001 - neither built nor installed: a plain checkout
        return "unknown"


__version__ = _version()


def __getattr__(name: str) -> Any:
    # mirage.plot is imported on first use, so that `python -m mirage.plot` runs it once.
    if name == "plot":
        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
