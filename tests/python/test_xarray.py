#!/usr/bin/env python3
"""Result and meta files open in xarray with named, valued dimensions (format 1.2).

  test_xarray.py --mirage PATH [--workdir DIR]

Runs the real binary on a small multiple-choice sweep with item difficulty (every group of a
result file, /jumps and /model/difficulty included), a single-scale sweep with --compression
gzip (no /jumps), and a small `mirage meta`; opens every group that holds datasets with
xarray and h5netcdf, as a user would (`xr.open_dataset(path, group=..., engine="h5netcdf")`),
and checks each dataset's dimension names against docs/FORMAT.md, the coordinate values (the
`scale` coordinate equals /model/scale, `test_size` the configured sizes, ...), their `units`,
`long_name` and `description`, and that xarray reads the same numbers as h5py. A format 1.0
file (tests/python/make_fixture.py) still opens in h5py as before. Prints one line per check,
then "N passed, M failed"; exits 1 if any failed, 77 (skipped) if xarray or h5netcdf is not
installed (python3 -m pip install -r scripts/requirements.txt).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURE = os.path.join(HERE, "make_fixture.py")
SKIP = 77  # ctest's SKIP_RETURN_CODE for this test

try:
    import h5py
    import numpy as np
    import xarray as xr
    import h5netcdf  # the engine of xr.open_dataset below
except ImportError as err:  # an environment without the optional packages: skipped, said so
    print(f"test_xarray.py: skipped: missing Python package ({err}); install them with\n"
          f"  python3 -m pip install -r {os.path.join(ROOT, 'scripts', 'requirements.txt')}",
          file=sys.stderr)
    sys.exit(SKIP)

# The dimensions of every dataset of a result file (docs/FORMAT.md §2), by path pattern.
SKTR = ("scale", "length", "test_size", "replicate")
SKT = ("scale", "length", "test_size")
PAIR = ("scale_pair", "length", "test_size")
RESULT_DIMS = [
    (r"model/(scale|loss|p_token)", ("scale",)),
    (r"model/difficulty/(probability|shift_quantile)", ("quantile_probability",)),
    (r"model/difficulty/p_token_quantile", ("scale", "quantile_probability")),
    (r"task/length", ("length",)),
    (r"task/test_size", ("test_size",)),
    (r"counts/attempt_histogram", SKTR + ("correct_attempts",)),
    (r"counts/\w+", SKTR),
    (r"metrics/\w+/(estimate|ci_low|ci_high)", SKTR),
    (r"metrics/\w+/expected", ("scale", "length")),
    (r"summary/\w+/(mean|sd|q025|q500|q975|p_zero|coverage|mean_ci_width)", SKT),
    (r"interval_comparison/\w+/[\w-]+/(coverage|mean_ci_width|exact_coverage)", SKT),
    (r"jumps/\w+/(low|high|significant)", PAIR + ("replicate",)),
    (r"jumps/\w+/(fraction_significant|coverage)", PAIR),
    (r"jumps/\w+/expected", ("scale_pair", "length")),
    (r"frontier/(simulated_scale|analytic_scale|analytic_scale_exact|until_success_scale|pass_at_\d+_scale)",
     ("length", "test_size")),
    (r"frontier/required_test_size", ("scale", "length")),
    (r"emergence/\w+/score", ("length", "test_size", "replicate")),
    (r"emergence/\w+/(median|q025|q975)", ("length", "test_size")),
    (r"emergence/\w+/expected", ("length",)),
]
UNITS = {"scale": "parameters", "length": "tokens", "test_size": "items", "replicate": "1",
         "scale_pair": "parameters", "quantile_probability": "1", "task": "1",
         "correct_attempts": "attempts",
         "family": None}  # a string coordinate has no units


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"PASS  {name}")
        else:
            self.failed += 1
            print(f"FAIL  {name}" + (f": {detail}" if detail else ""))
        sys.stdout.flush()
        return ok


def run(cmd, timeout=240):
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return proc.returncode, proc.stderr
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {timeout} s"


def datasets(path):
    """{group: [dataset names]} for every group of the file that holds datasets."""
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            group, _, leaf = name.rpartition("/")
            out.setdefault(group, []).append(leaf)

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


def expected_dims(table, path):
    for pattern, dims in table:
        if re.fullmatch(pattern, path):
            return dims
    return None


def check_file(checks, label, path, table, coordinate_values, groups=None):
    """Opens every group (or those of `groups`) with xarray: each dataset has the dimensions
    of `table` (the coordinates themselves excepted), every dimension is a coordinate of the
    group with the values `coordinate_values(name)` and its attributes, and the numbers are
    h5py's."""
    groups = datasets(path) if groups is None else groups
    checks.check(f"{label}: the file has groups with datasets", bool(groups))
    with h5py.File(path, "r") as f:
        for group, names in sorted(groups.items()):
            where = f"{label} /{group}"
            try:
                ds = xr.open_dataset(path, group=group, engine="h5netcdf")
            except Exception as err:  # noqa: BLE001 - any failure to open is the finding
                checks.check(f"{where}: xarray opens the group", False,
                             f"{type(err).__name__}: {err}")
                continue
            with ds:
                coordinates = set(ds.coords)
                wrong, unknown, differ = [], [], []
                for name in names:
                    if name in coordinates and name not in ds.data_vars:
                        continue  # a coordinate: checked below
                    want = expected_dims(table, f"{group}/{name}")
                    got = ds[name].dims
                    if want is None:
                        unknown.append(name)
                    elif got != want:
                        wrong.append(f"{name}{got} (want {want})")
                    if not np.array_equal(ds[name].values, f[f"{group}/{name}"][()],
                                          equal_nan=ds[name].dtype.kind == "f"):
                        differ.append(name)
                checks.check(f"{where}: every dataset is listed in docs/FORMAT.md's dims",
                             not unknown, f"unknown {unknown}")
                checks.check(f"{where}: dimension names", not wrong, "; ".join(wrong))
                checks.check(f"{where}: xarray reads h5py's values", not differ, str(differ))
                for dim in sorted(ds.dims):
                    if not checks.check(f"{where}: dimension {dim} has coordinate values",
                                        dim in coordinates, f"coordinates {sorted(coordinates)}"):
                        continue
                    coordinate = ds[dim]
                    want = coordinate_values(dim)
                    checks.check(f"{where}: coordinate {dim} values",
                                 want is not None and np.array_equal(coordinate.values, want),
                                 f"{coordinate.values} != {want}")
                    per_family = dim.startswith("scale_") and dim != "scale_pair"
                    units = UNITS.get("scale" if per_family else dim, "")
                    checks.check(f"{where}: coordinate {dim} units",
                                 coordinate.attrs.get("units") == units,
                                 f"{coordinate.attrs.get('units')!r} != {units!r}")
                    checks.check(f"{where}: coordinate {dim} long_name and description",
                                 bool(coordinate.attrs.get("long_name"))
                                 and bool(coordinate.attrs.get("description")),
                                 str(coordinate.attrs))


def check_result(checks, label, path):
    with h5py.File(path, "r") as f:
        checks.check(f"{label}: format_version [1, 6]",
                      list(f.attrs["format_version"]) == [1, 6], str(f.attrs["format_version"]))
        scale = f["model/scale"][()]
        axes = {"scale": scale, "length": f["task/length"][()],
                "test_size": f["task/test_size"][()],
                "replicate": np.arange(int(f["task/test_size"].attrs["replicates"])),
                "scale_pair": np.sqrt(scale[:-1] * scale[1:])}
        if "model/difficulty/probability" in f:
            axes["quantile_probability"] = f["model/difficulty/probability"][()]
        if "attempts" in f["task"].attrs:
            axes["correct_attempts"] = np.arange(int(f["task"].attrs["attempts"]) + 1)
    check_file(checks, label, path, RESULT_DIMS, axes.get)
    return axes


def check_meta(checks, label, path):
    with h5py.File(path, "r") as f:
        meta = f["meta"]
        families = str(meta.attrs["families"]).split(",")
        axes = {"task": np.arange(int(meta.attrs["tasks"])), "family": np.array(families),
                "replicate": np.arange(int(meta.attrs["replicates"]))}
        for fam in families:  # the family's scales: /meta/family/<family>/scale
            axes[f"scale_{fam}"] = meta[f"family/{fam}/scale"][()]
    table = [(r"meta/task/\w+", ("task",)),
             (r"meta/score/\w+", ("task", "family", "replicate")),
             (r"meta/score_expected/\w+", ("task", "family")),
             (r"meta/fraction_replicate/\w+", ("family", "replicate")),
             (r"meta/(fraction|fraction_expected|fraction_relative|fraction_relative_expected)"
              r"/\w+", ("family",))]
    for fam in families:
        table += [(rf"meta/family/{re.escape(fam)}/scale", (f"scale_{fam}",)),
                  (rf"meta/curve/\w+/{re.escape(fam)}", ("task", "replicate", f"scale_{fam}")),
                  (rf"meta/expected/\w+/{re.escape(fam)}", ("task", f"scale_{fam}"))]

    groups = datasets(path)
    checks.check(f"{label}: the groups of docs/FORMAT.md §4",
                 {"meta/task", "meta/score", "meta/score_expected", "meta/fraction",
                  f"meta/family/{families[0]}", "meta/curve/exact_match"}
                 <= set(groups), str(sorted(groups)))
    check_file(checks, label, path, table, axes.get, groups)
    return axes


def run_checks(checks, mirage, work):
    # 1. Multiple choice with item difficulty: every group of a result file.
    full = os.path.join(work, "full.h5")
    rc, err = run([mirage, "run", "--scales", "1e8:1e12:5", "--lengths", "1,3",
                   "--test-sizes", "10,100", "--replicates", "4", "--task", "multiple-choice",
                   "--choices", "4", "--difficulty", "normal:1", "--seed", "3", "--quiet",
                   "-o", full])
    if checks.check("multiple choice run: mirage exits 0", rc == 0, err.strip()):
        axes = check_result(checks, "multiple choice run", full)
        checks.check("multiple choice run: test_size is the configured sizes",
                     list(axes["test_size"]) == [10, 100])
        # What a user does: pick by coordinate value, not by index.
        with xr.open_dataset(full, group="summary/exact_match", engine="h5netcdf") as ds, \
                h5py.File(full, "r") as f:
            picked = ds["mean"].sel(length=3, test_size=100).values
            checks.check("multiple choice run: .sel(length=3, test_size=100) is [:, 1, 1]",
                         np.array_equal(picked, f["summary/exact_match/mean"][:, 1, 1]))
            checks.check("multiple choice run: the scale coordinate has its units",
                         ds["scale"].attrs.get("units") == "parameters")
        with h5py.File(full, "r") as f:
            groups = {"counts", "metrics/exact_match", "summary/brier_score", "jumps/exact_match",
                      "interval_comparison/exact_match/blaker", "frontier",
                      "emergence/multiple_choice_grade", "model/difficulty"}
            checks.check("multiple choice run: has every kind of group",
                         all(g in f for g in groups), str([g for g in groups if g not in f]))

    # 2. One scale (no /jumps), compressed.
    single = os.path.join(work, "single.h5")
    rc, err = run([mirage, "run", "--scales", "1e9", "--lengths", "2",
                   "--test-sizes", "1,5000", "--replicates", "3", "--compression", "gzip",
                   "--seed", "3", "--quiet", "-o", single])
    if checks.check("single-scale gzip run: mirage exits 0", rc == 0, err.strip()):
        check_result(checks, "single-scale gzip run", single)

    # 3. Repeated attempts: the histogram's extra dimension and the pass@k groups.
    tries = os.path.join(work, "attempts.h5")
    rc, err = run([mirage, "run", "--scales", "1e9:1e11:3", "--lengths", "1,3",
                   "--test-sizes", "10,100", "--replicates", "3", "--attempts", "6",
                   "--pass-at", "1,3", "--seed", "3", "--quiet", "-o", tries])
    if checks.check("attempts run: mirage exits 0", rc == 0, err.strip()):
        check_result(checks, "attempts run", tries)
        with xr.open_dataset(tries, group="counts", engine="h5netcdf") as ds:
            checks.check("attempts run: the histogram sums to the test sizes",
                         np.array_equal(ds["attempt_histogram"].sum("correct_attempts")
                                        .isel(scale=0, length=0, replicate=0).values, [10, 100]))

    # 4. A small meta-analysis.
    meta = os.path.join(work, "meta.h5")
    rc, err = run([mirage, "meta", "--tasks", "6", "--replicates", "3",
                   "--families", "gpt3,big-g", "--seed", "5", "--quiet", "-o", meta])
    if checks.check("meta: mirage exits 0", rc == 0, err.strip()):
        check_meta(checks, "meta", meta)
        with xr.open_dataset(meta, group="meta/score", engine="h5netcdf") as ds:
            checks.check("meta: /meta/score has the string coordinate family",
                         list(ds["family"].values) == ["gpt3", "big-g"],
                         str(ds["family"].values))
            checks.check("meta: .sel(family='big-g') picks the second family",
                         ds["exact_match"].sel(family="big-g").shape == (6, 3))

    # 5. A format 1.0 file (no dimension scales) still opens in h5py as before.
    old = os.path.join(work, "format-1.0.h5")
    rc, err = run([sys.executable, FIXTURE, old, "--scales", "1e8:1e12:5",
                   "--test-sizes", "10,100", "--replicates", "4"])
    if checks.check("1.0 fixture: make_fixture.py exits 0", rc == 0, err.strip()):
        with h5py.File(old, "r") as f:
            checks.check("1.0 fixture: format_version [1, 0]",
                         list(f.attrs["format_version"]) == [1, 0])
            mean = f["summary/exact_match/mean"][()]
            checks.check("1.0 fixture: h5py reads /summary/exact_match/mean [S][K][T]",
                         mean.shape == (5, len(f["task/length"]), 2), str(mean.shape))
            checks.check("1.0 fixture: no dimension scales",
                         not f["model/scale"].is_scale and "scale" not in f["summary/exact_match"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirage", required=True, help="path to the mirage executable")
    ap.add_argument("--workdir", help="scratch directory (default: a temporary one)")
    args = ap.parse_args()
    if not os.access(args.mirage, os.X_OK):
        ap.error(f"--mirage {args.mirage} is not an executable file")
    temporary = None
    if not args.workdir:
        temporary = args.workdir = tempfile.mkdtemp(prefix="mirage-xarray-test-")
    if os.path.isdir(args.workdir):
        shutil.rmtree(args.workdir)
    os.makedirs(args.workdir)
    work = args.workdir
    checks = Checks()
    print(f"xarray {xr.__version__}, h5netcdf {h5netcdf.__version__}, h5py {h5py.__version__}")

    try:
        run_checks(checks, args.mirage, work)
    except Exception as err:  # noqa: BLE001 - a crash is a failure, not a traceback
        checks.check("the checks ran to the end", False, f"{type(err).__name__}: {err}")

    print(f"{checks.passed} passed, {checks.failed} failed")
    if temporary and checks.failed == 0:
        shutil.rmtree(temporary, ignore_errors=True)
    elif temporary:
        print(f"kept {temporary} for inspection")
    return 0 if checks.failed == 0 and checks.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
