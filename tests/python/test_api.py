"""pytest: the Python package (python/mirage) against the command line.

  MIRAGE_BINARY=build/mirage PYTHONPATH=build/python python3 -m pytest tests/python/test_api.py

mirage.run and mirage.meta give the file that `mirage run` and `mirage meta` write for the
same configuration (identical counts, every dataset equal); every group opens with named
dimensions and coordinate values; format 1.0 and 1.1 files (no dimension scales) open with the
dimension names of 1.2; bad input raises ValueError with the command line's message; the
figures draw from a tree; `python -m mirage.plot` runs. MIRAGE_BINARY names the executable
(else `mirage` on PATH); the package is the one on sys.path (ctest puts <build>/python first).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import pytest

xr = pytest.importorskip("xarray")
mirage = pytest.importorskip("mirage")
pytest.importorskip("mirage._core", reason="mirage._core is not built")
from mirage import _run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURE = os.path.join(HERE, "make_fixture.py")

# A multiple-choice sweep with item difficulty has every group of a result file.
FULL = dict(scales="1e8:1e12:5", lengths=[1, 3], test_sizes=[10, 100], replicates=4,
            task="multiple-choice", choices=4, difficulty="normal:1", seed=3)
FULL_ARGS = ["--scales", "1e8:1e12:5", "--lengths", "1,3", "--test-sizes", "10,100",
             "--replicates", "4", "--task", "multiple-choice", "--choices", "4",
             "--difficulty", "normal:1", "--seed", "3"]
META = dict(tasks=6, replicates=3, families=["gpt3", "big-g"], seed=5)
META_ARGS = ["--tasks", "6", "--replicates", "3", "--families", "gpt3,big-g", "--seed", "5"]

RESULT_DIMS = {"scale", "length", "test_size", "replicate", "scale_pair", "quantile_probability"}
FORECAST_DIMS = {"cutoff", "scale", "length", "test_size", "replicate"}
# A forecast of a small free-form sweep: dense below the cutoffs, sparse above.
FORECAST_RUN = ["--scales", "1e8:5e9:8,2e10,2e11,1e12", "--lengths", "1,3",
                "--test-sizes", "30,300", "--replicates", "12", "--seed", "4"]


def binary():
    path = os.environ.get("MIRAGE_BINARY") or shutil.which("mirage")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("no mirage executable (set MIRAGE_BINARY)")
    return path


def cli(*args):
    """Runs the executable; returns (exit code, the last line of stderr)."""
    proc = subprocess.run([binary(), *args], capture_output=True, text=True, timeout=300)
    lines = proc.stderr.strip().splitlines()
    return proc.returncode, lines[-1] if lines else ""


@pytest.fixture(scope="module")
def work():
    path = tempfile.mkdtemp(prefix="mirage-test-api-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def full_cli(work):
    path = os.path.join(work, "full-cli.h5")
    code, err = cli("run", *FULL_ARGS, "-q", "-o", path)
    assert code == 0, err
    return path


@pytest.fixture(scope="module")
def full_tree():
    return mirage.run(**FULL, quiet=True)


@pytest.fixture(scope="module")
def meta_cli(work):
    path = os.path.join(work, "meta-cli.h5")
    code, err = cli("meta", *META_ARGS, "-q", "-o", path)
    assert code == 0, err
    return path


@pytest.fixture(scope="module")
def forecast_source(work):
    path = os.path.join(work, "forecast-run.h5")
    code, err = cli("run", *FORECAST_RUN, "-q", "-o", path)
    assert code == 0, err
    return path


@pytest.fixture(scope="module")
def forecast_tree(forecast_source, work):
    return mirage.forecast(forecast_source, [1e10, 1e11], metric=["exact_match", "token_accuracy"],
                           output=os.path.join(work, "forecast.h5"), quiet=True)


@pytest.fixture(scope="module")
def meta_tree():
    return mirage.meta(**META, quiet=True)


def datasets(path):
    """{path: values} of every dataset (strings as str, as mirage.open gives them)."""
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[name] = obj.asstr()[()] if obj.dtype.kind in "OS" else obj[()]

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


def same(got, want):
    if want.dtype.kind == "f":
        return got.shape == want.shape and np.array_equal(got, want, equal_nan=True)
    return got.shape == want.shape and np.array_equal(got.astype(want.dtype), want)


def without_output(config_toml):
    return [line for line in config_toml.splitlines() if not line.startswith("output")]


def variable(tree, path):
    parent, _, leaf = path.rpartition("/")
    node = tree[parent] if parent else tree
    return node.to_dataset()[leaf]


def posixpath_join(group, name):
    return "/".join(part for part in (group.strip("/"), name) if part)


def format_version(path):
    with h5py.File(path, "r") as f:
        return tuple(int(v) for v in f.attrs["format_version"])


# --- the same file as the command line ------------------------------------------------------

def test_arguments_follow_the_command_line():
    args = _run.arguments("run", dict(config="a.toml", scales=[1e8, 1e9], lengths=(1, 5),
                                      test_sizes=np.array([10, 1000]), replicates=3,
                                      seed=np.uint64(7), extrapolate=True, quiet=False,
                                      loss_scale=2.5e9, confidence=0.9, preset=None,
                                      difficulty="normal:1.5"))
    assert args == ["mirage", "run", "--config", "a.toml", "--scales", "100000000,1000000000",
                    "--lengths", "1,5", "--test-sizes", "10,1000", "--replicates", "3",
                    "--seed", "7", "--extrapolate", "--loss-scale", "2500000000",
                    "--confidence", "0.9", "--difficulty", "normal:1.5"]


def test_run_equals_the_command_line_bit_for_bit(full_cli, full_tree):
    want = datasets(full_cli)
    counts = [name for name in want if name.startswith("counts/") and want[name].ndim == 4]
    assert len(counts) == 6  # multiple choice: three token and three choice tallies
    for name in counts:
        got = variable(full_tree, name).values
        assert got.dtype == want[name].dtype and np.array_equal(got, want[name]), name
    for name, values in want.items():
        assert same(variable(full_tree, name).values, values), name
    with h5py.File(full_cli, "r") as f:
        assert full_tree.attrs["filetype"] == f.attrs["filetype"] == "mirage-results"
        assert without_output(full_tree["config"].attrs["config_toml"]) == \
            without_output(f["config"].attrs["config_toml"])
        assert int(full_tree.attrs["token_draws"]) == int(f.attrs["token_draws"])


def test_meta_equals_the_command_line_bit_for_bit(meta_cli, meta_tree):
    want = datasets(meta_cli)
    assert any(name.startswith("meta/score/") for name in want)
    for name, values in want.items():
        assert same(variable(meta_tree, name).values, values), name
    assert meta_tree.attrs["filetype"] == "mirage-meta"


def test_config_file_and_keywords_together(work, full_cli):
    config = os.path.join(work, "run.toml")
    with open(config, "w") as out:
        out.write('[run]\nscales = "1e8:1e12:5"\nlengths = [1, 3]\ntest-sizes = [10, 100]\n'
                  'replicates = 4\ntask = "multiple-choice"\ndifficulty = "normal:1"\n'
                  'seed = 99\n')
    tree = mirage.run(config=config, seed=3, quiet=True)  # keywords win, as flags do
    with h5py.File(full_cli, "r") as f:
        assert np.array_equal(tree["counts"]["exact_match"].values, f["counts/exact_match"][()])


def test_output_keeps_the_file_and_temporaries_go(work, full_cli, monkeypatch):
    # A temporary directory of this test's own: other tests running at the same time (ctest
    # -j) make and remove mirage-* directories in the system's.
    private = os.path.join(work, "private-tmp")
    os.makedirs(private)
    monkeypatch.setattr(tempfile, "tempdir", private)  # Python's temporaries
    monkeypatch.setenv("TMPDIR", private)  # the library's (std::filesystem::temp_directory_path)
    before = set(os.listdir(tempfile.gettempdir()))
    kept = os.path.join(work, "kept.h5")
    tree = mirage.run(**FULL, output=kept, quiet=True)
    assert os.path.exists(kept)
    assert tree.encoding["source"] == kept
    with h5py.File(kept, "r") as f:
        assert np.array_equal(tree["counts"]["token_errors"].values, f["counts/token_errors"][()])
    tree = mirage.run(**FULL, quiet=True)
    assert tree.encoding["source"] is None
    left = {d for d in set(os.listdir(tempfile.gettempdir())) - before if d.startswith("mirage-")}
    assert not left, left


def test_progress_counter_sees_the_run():
    core = mirage._core
    started = core.progress()[2]
    mirage.run(scales="1e8:1e10:3", lengths=[2], test_sizes=[100], replicates=2, quiet=True)
    done, total, count = core.progress()
    assert count == started + 1
    assert done == total == 3 * 2 * 100 * 2  # scales x length x items x replicates


def test_shard_writes_a_tally_file_that_opens(work):
    path = os.path.join(work, "part-0.h5")
    tree = mirage.run(scales="1e8:1e10:3", lengths=[2], test_sizes=[100], replicates=2,
                      shard="0/2", output=path, quiet=True)
    assert tree.attrs["filetype"] == "mirage-tallies"
    assert variable(tree, "tallies/segment").dims == ("tally",)
    assert variable(tree, "units/done").dims == ("unit",)


# --- errors: the command line's message -------------------------------------------------------

BAD_RUNS = [
    (dict(scales=[1e9, 1e8]), ["--scales", "1e9,1e8"]),
    (dict(lengths=[0]), ["--lengths", "0"]),
    (dict(replicate=3), ["--replicate", "3"]),
    (dict(interval="bogus"), ["--interval", "bogus"]),
    (dict(preset="gpt3", scales=[1e8, 1e9]), ["--scales", "1e8,1e9", "--preset", "gpt3"]),
    (dict(preset="gpt5"), ["--preset", "gpt5"]),
    (dict(config="/nonexistent/run.toml"), ["--config", "/nonexistent/run.toml"]),
    (dict(difficulty="normal:-1"), ["--difficulty", "normal:-1"]),
]


@pytest.mark.parametrize("kwargs,args", BAD_RUNS, ids=[a[0] for _, a in BAD_RUNS])
def test_bad_run_input_raises_the_cli_message(kwargs, args, work):
    code, line = cli("run", *args, "-q", "-o", os.path.join(work, "never.h5"))
    assert code == 2 and line.startswith("mirage: error: ")
    with pytest.raises(ValueError) as raised:
        mirage.run(**kwargs, output=os.path.join(work, "never.h5"), quiet=True)
    assert "mirage: error: " + str(raised.value) == line
    assert not os.path.exists(os.path.join(work, "never.h5"))


def test_bad_meta_input_raises_the_cli_message(work):
    code, line = cli("meta", "--families", "gpt3,nope", "-q", "-o",
                     os.path.join(work, "never.h5"))
    assert code == 2
    with pytest.raises(ValueError) as raised:
        mirage.meta(families=["gpt3", "nope"], quiet=True)
    assert "mirage: error: " + str(raised.value) == line


def test_exit_codes_map_to_exceptions(monkeypatch):
    """2 (bad input) is ValueError, 1 (any other failure) RuntimeError, 75 (stopped by a
    signal after a checkpoint) KeyboardInterrupt; each with the command line's message."""
    class Core:
        def __init__(self, code, message):
            self.outcome = (code, message)

        def run_cli(self, args):
            return self.outcome

        def progress(self):
            return (0, 0, 0)

    for code, message, error in ((2, "--x: bad", ValueError), (1, "cannot write", RuntimeError),
                                 (75, "", KeyboardInterrupt)):
        monkeypatch.setattr(_run, "_core", lambda: Core(code, message))
        with pytest.raises(error) as raised:
            _run.execute(["mirage", "run", "--checkpoint", "c.h5"])
        assert message in str(raised.value)
        if code == 75:
            assert "resume='c.h5'" in str(raised.value)


# --- labelled dimensions and coordinates ------------------------------------------------------

def check_labelled(tree, allowed, bare=()):
    """Every variable of every node has named dimensions from `allowed`, and every
    dimension a node uses (but those of `bare`) has coordinate values in that node."""
    nodes = 0
    for node in tree.subtree:
        ds = node.to_dataset()
        for name, var in ds.data_vars.items():
            assert all(d in allowed(d) for d in var.dims), f"{node.path}/{name}: {var.dims}"
        for dim in ds.dims:
            assert dim in ds.coords or dim in bare, f"{node.path}: {dim} has no coordinate"
        nodes += 1
    return nodes


def test_every_group_of_a_result_file_is_labelled(full_cli):
    tree = mirage.open(full_cli)
    with tree, h5py.File(full_cli, "r") as f:
        groups = []
        f.visit(lambda name: groups.append(name) if isinstance(f[name], h5py.Group) else None)
        assert {node.path.strip("/") for node in tree.subtree} == set(groups) | {""}
        assert check_labelled(tree, lambda d: RESULT_DIMS) == len(groups) + 1
        scale = f["model/scale"][()]
        coords = {"scale": scale, "length": f["task/length"][()],
                  "test_size": f["task/test_size"][()],
                  "replicate": np.arange(int(f["task/test_size"].attrs["replicates"])),
                  "scale_pair": np.sqrt(scale[:-1] * scale[1:]),
                  "quantile_probability": f["model/difficulty/probability"][()]}
        for node in tree.subtree:
            for dim, coordinate in node.to_dataset().coords.items():
                if dim in coords:
                    assert np.array_equal(coordinate.values, coords[dim]), (node.path, dim)
        # The dimensions of docs/FORMAT.md, by example.
        assert tree["counts"]["exact_match"].dims == ("scale", "length", "test_size",
                                                      "replicate")
        assert tree["metrics/exact_match"]["expected"].dims == ("scale", "length")
        assert tree["summary/brier_score"]["mean"].dims == ("scale", "length", "test_size")
        assert tree["jumps/exact_match"]["low"].dims == ("scale_pair", "length", "test_size",
                                                         "replicate")
        assert tree["frontier"]["required_test_size"].dims == ("scale", "length")
        assert tree["emergence/exact_match"]["score"].dims == ("length", "test_size",
                                                               "replicate")
        assert tree["model/difficulty"]["p_token_quantile"].dims == ("scale",
                                                                     "quantile_probability")
        # Selection by value, and the values h5py reads.
        picked = tree["summary/exact_match"]["mean"].sel(length=3, test_size=100).values
        assert np.array_equal(picked, f["summary/exact_match/mean"][:, 1, 1])
        assert int(tree["task"]["test_size"].attrs["replicates"]) == 4
        assert list(tree["jumps/exact_match"]["scale_low"].values) == list(scale[:-1])


def test_every_group_of_a_meta_file_is_labelled(meta_cli):
    with mirage.open(meta_cli) as tree:
        families = ["gpt3", "big-g"]
        allowed = {"task", "family", "replicate", "scale"} | {f"scale_{f}" for f in families}
        check_labelled(tree, lambda d: allowed)
        assert tree["meta/score"]["exact_match"].dims == ("task", "family", "replicate")
        assert list(tree["meta/score"]["family"].values) == families
        assert tree["meta/score"]["exact_match"].sel(family="big-g").shape == (6, 3)
        curve = tree["meta/curve/exact_match"]["big-g"]
        assert curve.dims == ("task", "replicate", "scale_big-g")
        with h5py.File(meta_cli, "r") as f:
            assert np.array_equal(curve["scale_big-g"].values, f["meta/family/big-g/scale"][()])
            assert np.array_equal(curve.values, f["meta/curve/exact_match/big-g"][()])


def test_every_group_of_a_forecast_is_labelled(forecast_tree, work):
    """mirage.forecast returns the forecast file as a tree whose every variable has named
    dimensions (no <name>_dim_<i>) with the file's axes as coordinate values."""
    path = os.path.join(work, "forecast.h5")
    tree = forecast_tree
    assert tree.attrs["filetype"] == "mirage-forecast"
    with h5py.File(path, "r") as f:
        groups = []
        f.visit(lambda name: groups.append(name) if isinstance(f[name], h5py.Group) else None)
        assert {node.path.strip("/") for node in tree.subtree} == set(groups) | {""}
        coords = {"cutoff": f["forecast/cutoff"][()], "scale": f["forecast/scale"][()],
                  "length": f["forecast/length"][()], "test_size": f["forecast/test_size"][()],
                  "replicate": np.arange(int(f["forecast/test_size"].attrs["replicates"]))}
        assert list(coords["cutoff"]) == [1e10, 1e11]
        variables = 0
        for node in tree.subtree:
            ds = node.to_dataset()
            for name, var in ds.data_vars.items():
                assert var.dims, f"{node.path}/{name}"
                for dim in var.dims:
                    assert "_dim_" not in dim and dim in FORECAST_DIMS, (node.path, name, dim)
                    assert dim in ds.coords, f"{node.path}/{name}: {dim} has no coordinate"
                variables += 1
                # The values are the file's.
                stored = f[posixpath_join(node.path, name)][()]
                assert same(np.asarray(var.values), stored), f"{node.path}/{name}"
            for dim, coordinate in ds.coords.items():
                assert np.array_equal(coordinate.values, coords[dim]), (node.path, dim)
        assert variables > 40
    # The dimensions of docs/FORMAT.md §8, by example, and selection by value.
    token = tree["forecast/token/exact_match"]
    assert token["low"].dims == ("cutoff", "scale", "length", "test_size", "replicate")
    assert token["status"].dims == ("cutoff", "length", "test_size", "replicate")
    assert token["coverage"].dims == ("cutoff", "scale", "length", "test_size")
    assert token["visible_scale_median"].dims == ("cutoff", "length", "test_size")
    assert tree["forecast"]["fitted"].dims == ("cutoff", "scale")
    assert tree["forecast/expected"]["exact_match"].dims == ("scale", "length")
    assert tree["forecast/observed"]["token_accuracy"].dims == ("scale", "length", "test_size",
                                                                "replicate")
    assert tree["forecast"]["visible_scale_truth"].dims == ("length", "test_size")
    picked = token["coverage"].sel(cutoff=1e10, scale=2e11, length=3, test_size=300).item()
    with h5py.File(path, "r") as f:
        s = list(f["forecast/scale"][()]).index(2e11)
        assert picked == f["forecast/token/exact_match/coverage"][0, s, 1, 1]
        assert f["forecast/token/exact_match/point"].dims[0][0] is not None
    assert int(tree["forecast"]["test_size"].attrs["replicates"]) == 12
    assert tree["forecast"]["scale"].attrs["units"] == "parameters"


def test_forecast_groups_open_in_xarray(work, forecast_tree):
    """Every group of a forecast file opens with xarray's h5netcdf engine with the same
    dimensions as mirage.open gives."""
    pytest.importorskip("h5netcdf")
    path = os.path.join(work, "forecast.h5")
    for node in forecast_tree.subtree:
        group = node.path.strip("/")
        own = node.to_dataset(inherit=False)
        if not own.data_vars:
            continue
        with xr.open_dataset(path, group=group or None, engine="h5netcdf") as ds:
            for name, var in own.data_vars.items():
                assert var.dims == ds[name].dims, f"{group}/{name}"
                assert "_dim_" not in " ".join(ds[name].dims)


def test_forecast_files_without_scales_open_labelled(work, forecast_source):
    """A forecast file of the first `mirage forecast` builds (no dimension scales): the
    dimension names come from docs/FORMAT.md §8's shapes."""
    out = os.path.join(work, "forecast-plain.h5")
    code, err = cli("forecast", forecast_source, "--fit-below", "1e10", "-q", "-o", out)
    assert code == 0, err
    plain = os.path.join(work, "forecast-noscales.h5")
    with h5py.File(out, "r") as src, h5py.File(plain, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value

        def copy(name, obj):
            if isinstance(obj, h5py.Group):
                group = dst.require_group(name)
                for key, value in obj.attrs.items():
                    group.attrs[key] = value
            elif not obj.is_scale or name.count("/") == 1:  # the originals of /forecast
                dst[name] = obj[()]
                for key, value in obj.attrs.items():
                    if key not in ("CLASS", "NAME", "REFERENCE_LIST", "DIMENSION_LIST",
                                   "units", "long_name", "description"):
                        dst[name].attrs[key] = value

        src.visititems(copy)
    with h5py.File(plain, "r") as f:
        assert not f["forecast/scale"].is_scale
    with mirage.open(plain) as tree:
        assert tree["forecast/naive/exact_match"]["high"].dims == (
            "cutoff", "scale", "length", "test_size", "replicate")
        for node in tree.subtree:
            for name, var in node.to_dataset().data_vars.items():
                assert all(d in FORECAST_DIMS for d in var.dims), (node.path, name, var.dims)
        assert np.array_equal(tree["forecast/naive/exact_match"]["scale"].values,
                              tree["forecast"]["scale"].values)


def test_the_dimension_names_are_the_files_own(full_cli):
    """Format 1.2 files name their dimensions (netCDF-4 dimension scales): mirage.open uses
    those names, as xarray's h5netcdf engine reads them. A 1.1 binary skips this."""
    if format_version(full_cli) < (1, 2):
        pytest.skip(f"the binary writes format {format_version(full_cli)}: no dimension scales")
    pytest.importorskip("h5netcdf")
    with mirage.open(full_cli) as tree, h5py.File(full_cli, "r") as f:
        assert f["counts/exact_match"].dims[0][0] is not None
        for node in tree.subtree:
            group = node.path.strip("/")
            own = node.to_dataset(inherit=False)
            if not own.data_vars:
                continue
            with xr.open_dataset(full_cli, group=group or None, engine="h5netcdf") as ds:
                for name, var in own.data_vars.items():
                    assert var.dims == ds[name].dims, f"{group}/{name}"


def test_format_1_0_and_1_1_files_open(work):
    for version in ("1,0", "1,1"):
        path = os.path.join(work, f"fixture-{version.replace(',', '.')}.h5")
        subprocess.run([sys.executable, FIXTURE, path, "--scales", "1e8:1e12:5",
                        "--test-sizes", "10,100", "--replicates", "4",
                        "--format-version", version], check=True, capture_output=True)
        if version == "1,0":  # the binned difficulty of 1.0 (docs/FORMAT.md §6.2)
            with h5py.File(path, "a") as f:
                f["model/difficulty/bin_probability"] = np.full(3, 1 / 3)
                f["model/difficulty/bin_shift"] = np.array([-1.0, 0.0, 1.0])
                f["model/difficulty/p_token"] = np.zeros((5, 3))
                f["counts/difficulty_bin"] = np.zeros((2, 4, 3), dtype=np.int64)
        tree = mirage.open(path, load=True)
        assert tuple(int(v) for v in tree.attrs["format_version"]) == \
            tuple(int(v) for v in version.split(","))
        check_labelled(tree, lambda d: RESULT_DIMS | {"bin"}, bare={"bin"})
        assert tree["counts"]["exact_match"].dims == ("scale", "length", "test_size",
                                                      "replicate")
        with h5py.File(path, "r") as f:
            assert np.array_equal(tree["counts"]["scale"].values, f["model/scale"][()])
            methods = [m for m in f["interval_comparison"]
                       if isinstance(f["interval_comparison"][m], h5py.Group)]
            assert methods  # 1.0: /interval_comparison/<method>
            m = methods[0]
            assert tree[f"interval_comparison/{m}"]["coverage"].dims == ("scale", "length",
                                                                          "test_size")
            if version == "1,0":
                assert tree["counts"]["difficulty_bin"].dims == ("test_size", "replicate",
                                                                 "bin")
                assert tree["model/difficulty"]["p_token"].dims == ("scale", "bin")


def test_open_refuses_what_is_not_a_mirage_file(work):
    with pytest.raises(FileNotFoundError):
        mirage.open(os.path.join(work, "missing.h5"))
    foreign = os.path.join(work, "foreign.h5")
    with h5py.File(foreign, "w") as f:
        f.attrs["filetype"] = "something-else"
    with pytest.raises(ValueError, match="is not a Mirage file"):
        mirage.open(foreign)
    future = os.path.join(work, "future.h5")
    with h5py.File(future, "w") as f:
        f.attrs["filetype"] = "mirage-results"
        f.attrs["format_version"] = np.array([2, 0], dtype=np.int32)
    with pytest.raises(ValueError, match="format version 2.0 is not supported"):
        mirage.open(future)
    text = os.path.join(work, "text.h5")
    with open(text, "w") as out:
        out.write("not HDF5\n")
    with pytest.raises(ValueError, match="cannot read it as HDF5"):
        mirage.open(text)


def test_lazy_open_reads_on_use_and_closes(full_cli):
    tree = mirage.open(full_cli)
    with h5py.File(full_cli, "r") as f:
        assert np.array_equal(tree["metrics/exact_match"]["estimate"][:, 1, 0, 2].values,
                              f["metrics/exact_match/estimate"][:, 1, 0, 2])
    tree.close()


# --- figures ----------------------------------------------------------------------------------

def test_figures_draw_from_a_tree(full_tree, meta_tree, work):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = mirage.plot.figure(full_tree, "model")
    assert tuple(fig.get_size_inches()) == mirage.plot.FIGSIZE["model"]
    plt.close(fig)
    fig = mirage.plot.figure(full_tree, "resolution", length=3, test_size=10)
    plt.close(fig)
    written = mirage.plot.save(meta_tree, os.path.join(work, "figures-meta"))
    assert [os.path.basename(p) for p in written] == ["meta.png"]
    written = mirage.plot.save(full_tree, os.path.join(work, "figures"), ["model", "jumps"],
                               dpi=40)
    assert [os.path.basename(p) for p in written] == ["model.png", "jumps.png"]
    assert all(os.path.getsize(p) > 1000 for p in written)
    with pytest.raises(ValueError, match="unknown figure"):
        mirage.plot.figure(full_tree, "bogus")
    with pytest.raises(ValueError, match="meta"):
        mirage.plot.figure(full_tree, "meta")
    with pytest.raises(ValueError, match="--length 7 is not in"):
        mirage.plot.figure(full_tree, "model", length=7)


def test_forecast_figure_draws(forecast_tree, full_tree, work):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes
    from matplotlib.lines import Line2D
    from matplotlib.text import Text

    fig = mirage.plot.figure(forecast_tree, "forecast", forecast_scale=2e11)
    assert tuple(fig.get_size_inches()) == mirage.plot.FIGSIZE["forecast"]
    text = " ".join(" ".join(t.get_text() for t in fig.findobj(Text)).split())
    lines = {line.get_gid(): line for line in fig.findobj(Line2D) if line.get_gid()}
    titles = [ax.get_title() for ax in fig.findobj(Axes) if ax.get_title()]
    plt.close(fig)
    assert [t[:2] for t in titles] == ["A ", "B ", "C "], titles
    sizes = forecast_tree["forecast"]["test_size"].values
    for m in ("naive", "token", "joint"):
        g = forecast_tree[f"forecast/{m}/exact_match"]
        # Panel C: the coverage at the forecast scale over every test size, as in the file.
        cover = g["coverage"].sel(cutoff=1e10, scale=2e11, length=3)
        line = lines[f"forecast-coverage-{m}"]
        np.testing.assert_allclose(np.asarray(line.get_xdata(), float), sizes, rtol=0.2)
        np.testing.assert_array_equal(np.asarray(line.get_ydata(), float),
                                      cover.sel(test_size=sizes).values)
        # Panel A: replicate 0's own forecast fan (default replicate).
        one = g.to_dataset().sel(cutoff=1e10, length=3, test_size=300, replicate=0)
        for key, name in (("point", "point"), ("low", "low"), ("high", "high")):
            np.testing.assert_array_equal(
                np.asarray(lines[f"forecast-replicate-{name}-{m}"].get_ydata(), float),
                one[key].values)
    for needle in ("C Coverage at N", "nominal 95 % ± 2 MC s.e. (R = 12)",
                   "replicate 0's point forecast"):
        assert needle in text, needle
    # Another replicate draws its own fan.
    fig = mirage.plot.figure(forecast_tree, "forecast", forecast_scale=2e11, replicate=5)
    line = next(l for l in fig.findobj(Line2D) if l.get_gid() == "forecast-replicate-point-token")
    plt.close(fig)
    np.testing.assert_array_equal(
        np.asarray(line.get_ydata(), float),
        forecast_tree["forecast/token/exact_match"]["point"].sel(
            cutoff=1e10, length=3, test_size=300, replicate=5).values)
    with pytest.raises(ValueError, match="--replicate 12 is not a replicate"):
        mirage.plot.figure(forecast_tree, "forecast", replicate=12)
    for needle in ("naive: logistic fit", "token: loss-law fit", "joint: loss-law fit",
                   "coverage", "truth (analytic)", "L = 3", "n = 300"):
        assert needle in text, needle
    # The legend's coverage is the file's, at the chosen forecast scale.
    cov = forecast_tree["forecast/token/exact_match"]["coverage"].sel(
        cutoff=1e10, scale=2e11, length=3, test_size=300).item()
    assert f"coverage {100 * cov:.0f} %" in text
    fig = mirage.plot.figure(forecast_tree, "forecast", length=1, test_size=30, cutoff=1e11)
    plt.close(fig)
    path = os.path.join(work, "forecast.h5")
    written = mirage.plot.save(path, os.path.join(work, "figures-forecast"), dpi=40)
    assert [os.path.basename(p) for p in written] == ["forecast.png"]
    assert os.path.getsize(written[0]) > 1000
    with pytest.raises(ValueError, match="forecast file"):
        mirage.plot.figure(full_tree, "forecast")
    with pytest.raises(ValueError, match="forecast file"):
        mirage.plot.figure(forecast_tree, "model")
    with pytest.raises(ValueError, match="--forecast-scale 3e\\+11 is not a scale"):
        mirage.plot.figure(forecast_tree, "forecast", forecast_scale=3e11)
    with pytest.raises(ValueError, match="--cutoff 5e\\+10 is not a cutoff"):
        mirage.plot.figure(forecast_tree, "forecast", cutoff=5e10)
    # The command line draws it from the file (only `forecast` by default).
    out = os.path.join(work, "figures-forecast-cli")
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(mirage.__file__)),
                                           os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "mirage.plot", path, "-o", out,
                           "--forecast-scale", "2e11", "--replicate", "3", "--format", "png",
                           "--dpi", "40"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [os.path.join(out, "forecast.png")]
    assert "warning" not in proc.stderr.lower()


@pytest.fixture(scope="module")
def attempts_tree():
    return mirage.run(scales="1e8:1e11:7", lengths=[1, 5], test_sizes=[100], replicates=20,
                      attempts=20, pass_at=[1, 5, 20], difficulty="normal:1.5", backend="cpu",
                      quiet=True)


def test_pass_at_k_figure_draws(attempts_tree, full_tree, work, capsys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    fig = mirage.plot.figure(attempts_tree, "pass_at_k")
    assert tuple(fig.get_size_inches()) == mirage.plot.FIGSIZE["pass_at_k"]
    text = " ".join(" ".join(t.get_text() for t in fig.findobj(Text)).split())
    for needle in ("pass@1", "pass@5", "pass@20", "exact match (attempt 0)", "exact truth",
                   "A = 20", "L = 5", "n = 100 items", "Schaeffer et al. 2025", "b = "):
        assert needle in text, needle
    # Panel A: one truth line per drawn scale (first and last among them), each the file's
    # exact E[1 - (1 - p_i^L)^k] at L = 5 against k.
    ks = [1, 5, 20]
    expected = np.stack([attempts_tree[f"metrics/pass_at_{k}"]["expected"].sel(length=5).values
                         for k in ks], axis=1)  # [S][k]
    lines = [line for line in fig.findobj(matplotlib.lines.Line2D)
             if line.get_gid() == "pass_at_k-truth"]
    assert 2 <= len(lines) <= 5
    rows = []
    for line in lines:
        assert np.array_equal(np.asarray(line.get_xdata(), dtype=float), ks)
        y = np.asarray(line.get_ydata(), dtype=float)
        match = [s for s in range(expected.shape[0]) if np.array_equal(y, expected[s])]
        assert match, y
        rows.append(match[0])
    assert rows[0] == 0 and rows[-1] == expected.shape[0] - 1 and rows == sorted(set(rows))
    plt.close(fig)
    # The other figures draw the pass@k of the smallest and largest k beside the metrics.
    for name in ("emergence", "jumps"):
        fig = mirage.plot.figure(attempts_tree, name)
        text = " ".join(t.get_text() for t in fig.findobj(Text))
        assert "pass@1 (nonlinear)" in text and "pass@20 (nonlinear)" in text, name
        assert "pass@5 (nonlinear)" not in text, name
        plt.close(fig)
    # A run without attempts: skipped with a note (save), refused with the reason (figure).
    capsys.readouterr()
    written = mirage.plot.save(full_tree, os.path.join(work, "figures-no-attempts"),
                               ["pass_at_k"], dpi=40)
    assert written == []
    assert "note: skipping pass_at_k" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no pass@k metrics .*--attempts"):
        mirage.plot.figure(full_tree, "pass_at_k")
    written = mirage.plot.save(attempts_tree, os.path.join(work, "figures-attempts"),
                               ["pass_at_k"], dpi=40)
    assert [os.path.basename(p) for p in written] == ["pass_at_k.png"]
    assert os.path.getsize(written[0]) > 1000


def test_python_m_mirage_plot(full_cli, work):
    out = os.path.join(work, "figures-cli")
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(mirage.__file__)),
                                           os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "mirage.plot", full_cli, "-o", out,
                           "--figures", "model", "--format", "png", "--dpi", "40"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [os.path.join(out, "model.png")]
    assert "warning" not in proc.stderr.lower()


def test_plot_refuses_a_damaged_file_in_one_line(full_cli, work):
    # Datasets that disagree with the file's axes (a shortened summary, an emptied length
    # axis) used to end plot.py in a traceback; now exit 2 and one line naming the file.
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(mirage.__file__)),
                                           os.environ.get("PYTHONPATH", "")]))
    for damage in ("shorten", "empty-length"):
        path = os.path.join(work, f"damaged-{damage}.h5")
        shutil.copyfile(full_cli, path)
        with h5py.File(path, "r+") as f:
            if damage == "shorten":
                data = f["summary/exact_match/mean"][:2]
                del f["summary/exact_match/mean"]
                f["summary/exact_match/mean"] = data
            else:
                del f["task/length"]
                f["task/length"] = np.zeros(0, dtype=np.int32)
        proc = subprocess.run([sys.executable, "-m", "mirage.plot", path, "-o",
                               os.path.join(work, "figures-damaged"), "--figures",
                               "model,resolution", "--format", "png", "--dpi", "40"],
                              capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 2, (damage, proc.stderr)
        assert "Traceback" not in proc.stderr, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and path in lines[0], proc.stderr


# --- the package ------------------------------------------------------------------------------

def test_stubs_name_what_the_module_has():
    import ast

    stub = os.path.join(os.path.dirname(mirage.__file__), "_core.pyi")
    tree = ast.parse(open(stub).read())
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    names |= {n.target.id for n in tree.body if isinstance(n, ast.AnnAssign)}
    public = {n for n in dir(mirage._core) if not n.startswith("_")}
    assert names == public
    info = mirage.build_info()
    assert info["version"] == mirage.__version__ and isinstance(info["cuda"], bool)
