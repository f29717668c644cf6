#!/usr/bin/env python3
"""Damaged files are refused alike by every reader (docs/FORMAT.md §1, "Reading a file").

One small run file (and a meta and a forecast file) is copied and damaged in ways a careless
edit or a broken disk produces: a dataset shortened (with and without its dimension scales), an
axis lengthened or emptied, a scale deleted or changed in one of its copies, a type replaced,
the replicate count zeroed. Every reader must refuse every copy with exit status 2 (a
ValueError in Python), one line that names the file, and the same first damaged dataset:
`mirage summarize` and `mirage forecast` (C++, host/io/shape_check.cpp), scripts/plot.py and
mirage.open (Python, python/mirage/_validate.py). The undamaged files must pass all of them.

Usage: test_damaged_files.py --mirage PATH --workdir DIR
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))

import mirage  # noqa: E402  (the pure-Python part: open() and the validator)

FAILURES = []


def check(label, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + label + ("" if ok else f": {detail}"))
    if not ok:
        FAILURES.append(label)


def replace(f, name, data, attach=False, make_scale=None):
    """Replaces dataset `name` by `data`, keeping its attributes except the dimension
    bookkeeping; with `attach`, attaches the group's scales named like the old ones."""
    old = f[name]
    dims = []
    if attach:
        dims = [old.dims[i][0].name.rsplit("/", 1)[-1] if len(old.dims[i]) else None
                for i in range(old.ndim)]
    attrs = {k: v for k, v in old.attrs.items()
             if k not in ("DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME")}
    del f[name]
    f[name] = data
    for k, v in attrs.items():
        f[name].attrs[k] = v
    group = f[name].parent
    for i, dim in enumerate(dims):
        if dim is not None and dim in group:
            f[name].dims[i].attach_scale(group[dim])
    if make_scale:
        f[name].make_scale(make_scale)


# Each damage: (label, function editing an r+ h5py.File, fragment every message must hold).
def shorten_summary(f):
    replace(f, "summary/exact_match/mean", f["summary/exact_match/mean"][()].ravel()[:5])


def shorten_with_scales(f):
    replace(f, "metrics/token_accuracy/ci_low", f["metrics/token_accuracy/ci_low"][1:], attach=True)


def lengthen_scale(f):
    scale = f["model/scale"][()]
    replace(f, "model/scale", np.append(scale, scale[-1] * 10), make_scale="scale")


def empty_length(f):
    replace(f, "task/length", np.zeros(0, dtype=np.int32))


def float_test_sizes(f):
    replace(f, "task/test_size", f["task/test_size"][()].astype(np.float64))


def zero_replicates(f):
    f["task/test_size"].attrs["replicates"] = np.int64(0)


def stored_past_replicates(f):
    f["task/test_size"].attrs["replicates_stored"] = np.int64(21)


def stored_unlike_estimate(f):
    f["task/test_size"].attrs["replicates_stored"] = np.int64(7)


def change_scale_copy(f):
    f["summary/exact_match/scale"][0] = f["summary/exact_match/scale"][0] * 2


def two_dimensional_scale(f):
    length = f["summary/exact_match/length"][()]
    replace(f, "summary/exact_match/length", np.stack([length, length]), make_scale="length")


RUN_DAMAGE = [
    ("a summary shortened, its scales lost", shorten_summary,
     "dataset /summary/exact_match/mean of shape (5,) has no dimension scale on axis 0"),
    ("an interval shortened, its scales re-attached", shorten_with_scales,
     "dataset /metrics/token_accuracy/ci_low of shape"),
    ("the scale axis lengthened", lengthen_scale, "the file is damaged or was edited"),
    ("the length axis emptied", empty_length, "axis /task/length has shape (0,)"),
    ("test sizes stored as floats", float_test_sizes,
     "dataset /task/test_size holds floating-point numbers, not integers"),
    ("zero replicates", zero_replicates, "/task/test_size@replicates = 0"),
    ("more replicates stored than run", stored_past_replicates,
     "/task/test_size@replicates_stored = 21; from 1 to /task/test_size@replicates = 20"),
    ("stored replicates unlike the estimates", stored_unlike_estimate,
     "dataset /metrics/exact_match/estimate has shape (9, 5, 2, 20), but "
     "/task/test_size@replicates_stored = 7"),
    ("one copy of a scale changed", change_scale_copy,
     "dimension scale /summary/exact_match/scale"),
    ("a two-dimensional scale", two_dimensional_scale,
     "dimension scale /summary/exact_match/length has shape (2, "),
]


def first_path(message):
    """The first dataset a message names (after 'dataset', 'scale' or 'axis')."""
    found = re.search(r"(?:dataset|scale|axis) (/[A-Za-z0-9_/@]+)", message)
    if found:
        return found.group(1)
    found = re.search(r"(/task/test_size@replicates)", message)
    return found.group(1) if found else None


def run(command, env=None):
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    return proc.returncode, proc.stderr.strip()


def readers(binary, path, work, run_file):
    """Each reader's (exit status, message) for `path`: 0 and '' when it accepts the file."""
    env = dict(os.environ, MPLBACKEND="Agg")
    out = {}
    figures = os.path.join(work, "figures")
    plot = [sys.executable, os.path.join(ROOT, "scripts", "plot.py"), path, "-o", figures,
            "--figures", "model" if run_file else "meta", "--format", "png", "--dpi", "30"]
    if run_file is None:  # a forecast file: its own figure
        plot[plot.index("--figures") + 1] = "forecast"
    if run_file:
        out["summarize"] = run([binary, "summarize", path])
        forecast_out = os.path.join(work, "forecast-out.h5")
        if os.path.exists(forecast_out):
            os.remove(forecast_out)
        rc, err = run([binary, "forecast", path, "--fit-below", "1e10", "-o", forecast_out, "-q"])
        out["forecast"] = (rc, err)
        if rc != 0 and os.path.exists(forecast_out):
            out["forecast"] = (rc, err + " [and it left " + forecast_out + "]")
    rc, err = run(plot, env)
    out["plot.py"] = (rc, err)
    try:
        with mirage.open(path):
            pass
        out["mirage.open"] = (0, "")
    except ValueError as err:
        out["mirage.open"] = (2, str(err))
    except Exception as err:  # noqa: BLE001 - anything else is a failure of the reader layer
        out["mirage.open"] = (1, f"{type(err).__name__}: {err}")
    return out


def expect_refused(label, outcomes, path, fragment):
    named = set()
    for reader, (rc, err) in outcomes.items():
        lines = err.splitlines()
        check(f"{label}: {reader} refuses with exit status 2", rc == 2, f"rc={rc}: {err[-400:]}")
        check(f"{label}: {reader} says it in one line naming the file",
              len(lines) == 1 and path in lines[0] and "Traceback" not in err, err[-400:])
        check(f"{label}: {reader} says '{fragment}'", fragment in err, err[-400:])
        named.add(first_path(err))
    check(f"{label}: every reader names the same dataset", len(named) == 1 and None not in named,
          str(named))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mirage", required=True)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    run_path = os.path.join(work, "run.h5")
    subprocess.run([args.mirage, "run", "--scales", "1e8:1e12:9", "--test-sizes", "10,100",
                    "--replicates", "20", "-q", "-o", run_path], check=True)
    meta_path = os.path.join(work, "meta.h5")
    subprocess.run([args.mirage, "meta", "--tasks", "12", "-q", "-o", meta_path], check=True)
    forecast_path = os.path.join(work, "forecast.h5")
    subprocess.run([args.mirage, "forecast", run_path, "--fit-below", "1e10", "-q", "-o",
                    forecast_path], check=True)

    for label, path, run_file in (("the run file", run_path, True),
                                  ("the meta file", meta_path, False),
                                  ("the forecast file", forecast_path, None)):
        for reader, (rc, err) in readers(args.mirage, path, work, run_file).items():
            check(f"{label}, undamaged: {reader} reads it", rc == 0, err[-400:])

    for label, damage, fragment in RUN_DAMAGE:
        path = os.path.join(work, "damaged-" + re.sub(r"\W+", "-", label) + ".h5")
        shutil.copyfile(run_path, path)
        with h5py.File(path, "r+") as f:
            damage(f)
        expect_refused(label, readers(args.mirage, path, work, True), path, fragment)

    # The other labelled files: plot.py and mirage.open apply the same rules.
    for label, source, dataset, run_file in (
            ("a meta dataset shortened", meta_path, None, False),
            ("a forecast dataset shortened", forecast_path, None, None)):
        path = os.path.join(work, "damaged-" + re.sub(r"\W+", "-", label) + ".h5")
        shutil.copyfile(source, path)
        with h5py.File(path, "r+") as f:
            names = []
            f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset)
                         and o.ndim >= 1 and o.shape[0] > 1 and not h5py.h5ds.is_scale(o.id)
                         else None)
            target = sorted(names)[0]
            replace(f, target, f[target][1:], attach=True)
        expect_refused(label, readers(args.mirage, path, work, run_file), path,
                       f"dataset /{target} of shape")

    print(f"{len(FAILURES)} failure(s)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
