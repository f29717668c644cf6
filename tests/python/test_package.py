"""pytest: the package builds and imports in a fresh virtual environment, with the README's
commands (`python3 -m venv`, then `pip install .` from the repository root; the CUDA backend
left out with CMAKE_ARGS=-DMIRAGE_ENABLE_CUDA=OFF to keep it short), and does what a new user
does: a small run, a labelled Dataset, a figure, `python -m mirage.plot`, the `mirage`
executable.

A full rebuild of the C++ library (minutes on 2 cores); pip needs its registry (or a cache)
for the build requirements and dependencies. ctest runs it as `python_package_venv` (label
`venv`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

USER = textwrap.dedent("""
    import os, sys
    import matplotlib
    matplotlib.use("Agg")
    import mirage
    assert mirage.__file__.startswith(sys.prefix), (mirage.__file__, sys.prefix)
    tree = mirage.run(scales="1e8:1e12:5", lengths=[1, 5], test_sizes=[10, 100], replicates=3,
                      output="run.h5")
    ds = tree["summary/exact_match"].to_dataset()
    assert ds["mean"].dims == ("scale", "length", "test_size"), ds["mean"].dims
    assert list(ds["test_size"].values) == [10, 100]
    print(float(ds["mean"].sel(length=5, test_size=100).isel(scale=-1)))
    fig = mirage.plot.figure(tree, "model")
    fig.savefig("model.png")
    try:
        mirage.run(lengths=[5, 1])
    except ValueError as err:
        print("ValueError:", err)
    print(mirage.build_info())
""")


def run(cmd, cwd, env=None, timeout=1500):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)}: exit {proc.returncode}\n" \
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc.stdout


def test_pip_install_in_a_fresh_venv():
    work = tempfile.mkdtemp(prefix="mirage-venv-")
    try:
        venv = os.path.join(work, "venv")
        run([sys.executable, "-m", "venv", venv], work)
        python = os.path.join(venv, "bin", "python")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env.update(CMAKE_ARGS="-DMIRAGE_ENABLE_CUDA=OFF", MPLBACKEND="Agg",
                   PIP_DISABLE_PIP_VERSION_CHECK="1")
        # pip's CMake build is serial unless told otherwise (Makefiles): use every core.
        env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        run([python, "-m", "pip", "install", "-q", ROOT], work, env)
        out = run([python, "-c", USER], work, env)
        assert "ValueError: --lengths: value 1 follows 5" in out, out
        assert os.path.getsize(os.path.join(work, "model.png")) > 10000
        out = run([python, "-m", "mirage.plot", "run.h5", "-o", "figures", "--figures",
                   "resolution", "--format", "png", "--dpi", "40"], work, env)
        assert out.split() == [os.path.join("figures", "resolution.png")]
        out = run([os.path.join(venv, "bin", "mirage"), "--version"], work, env)
        assert out.startswith("mirage "), out
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
