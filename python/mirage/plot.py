"""Figures from a Mirage result file (HDF5, format 1.x; docs/DESIGN.md §6).

The figures reproduce the argument of Schaeffer, Miranda & Koyejo, "Are Emergent Abilities
of Large Language Models a Mirage?" (NeurIPS 2023): a smooth per-token model looks sharp
under a nonlinear metric and smooth under a linear one, and a small test set cannot
resolve a small accuracy.

From a run file (`mirage run`, filetype "mirage-results"):

  model            paper figure 2: p(N), exact match and token edit distance vs scale
  metric_swap      paper figure 3: one test set's exact match, token edit distance and token
                   accuracy with their intervals, linear and log y
  resolution       paper figure 4: median exact match vs scale per test size, the 1/n floors
  frontier         smallest scale with a visible exact match vs test size
  intervals        coverage and width of every interval method, exact and simulated
  emergence        emergence ("breakthroughness") score per metric vs test size
  multiple_choice  multiple-choice grade (discontinuous) vs Brier score (quadratic in p^L)
  difficulty       the law of item difficulty and what it does to exact match
  jumps            how often the step between adjacent scales is significant, per metric
  pass_at_k        runs with --attempts: pass@k against k (log-log; Schaeffer et al. 2025),
                   pass@k against scale beside exact match, -log pass@k against k

From a meta-analysis file (`mirage meta`, filetype "mirage-meta"):

  meta             paper figure 5: fraction of (task, replicate) curves that look emergent
                   per metric and model family, at an absolute and a relative threshold

From a forecast file (`mirage forecast`, filetype "mirage-forecast"):

  forecast         exact match vs scale for one length and test size: the truth, the fitted
                   scales, and each method's median point forecast with the band of its
                   interval ends over replicates beside one replicate's forecast fan; the
                   coverage of each method's intervals against test size at one scale

Figures whose data a file lacks (the optional groups /frontier, /interval_comparison,
/emergence, /jumps, /model/difficulty datasets, /metrics/multiple_choice_grade, the
/metrics/pass_at_K of runs with attempts; `meta` for a run file, the run figures for a meta
file) are skipped with a note on stderr. Format 1.0
files (exact-match-only /interval_comparison/<method>, no /jumps) still draw.

Usage (`python -m mirage.plot`, or scripts/plot.py from a checkout):
  plot.py FILE.h5 -o results/figures [--figures model,resolution,...]
          [--length 5] [--test-size 1000] [--format png,pdf] [--dpi 150]
  plot.py FORECAST.h5 -o results/figures [--forecast-scale 2e11] [--cutoff 1e10]
          [--replicate 0]

From Python, `figure(data, name)` returns one figure as a matplotlib Figure and
`save(data, output_dir)` writes them, where `data` is a file name, an open h5py.File or the
xarray.DataTree of `mirage.run`, `mirage.meta` or `mirage.open`:

  import mirage, mirage.plot
  tree = mirage.run(lengths=[1, 5], test_sizes=[100, 1000], replicates=50)
  mirage.plot.figure(tree, "model")

Exit status: 0 on success, 2 for bad input (a file that is not a Mirage result file, an
unsupported format version, an option value the file does not contain).
"""

import argparse
import math
import os
import re
import statistics
import sys

import numpy as np

try:
    import tomllib  # Python >= 3.11
except ImportError:  # pragma: no cover - older Pythons fall back to a regex reader
    tomllib = None

import matplotlib

# The backend is chosen by main() (Agg: the command line only writes files), not on import,
# so that figure() draws in notebooks too.
import h5py  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402
from matplotlib.ticker import (FixedLocator, FuncFormatter, LogLocator, MaxNLocator,  # noqa: E402
                               NullFormatter, NullLocator)

from ._validate import DamagedFileError, check_file, parse_format_version  # noqa: E402

RUN_FILETYPE = "mirage-results"
META_FILETYPE = "mirage-meta"
FORECAST_FILETYPE = "mirage-forecast"
FILETYPE = RUN_FILETYPE  # kept for callers of the 1.0 script
FORMAT_MAJOR = 1

FIGURES = ("model", "metric_swap", "resolution", "frontier", "intervals", "emergence", "meta",
           "multiple_choice", "difficulty", "jumps")
META_FIGURES = ("meta",)  # what a meta-analysis file draws; a run file draws the others
#: What a forecast file draws. Not in FIGURES (the figures of run and meta files, which is
#: what --figures selects from by default for those files); ALL_FIGURES has every name.
FORECAST_FIGURES = ("forecast",)
#: What only a run with repeated attempts (--attempts A > 1, format 1.3) draws. Not in FIGURES
#: (whose names tests and callers take to be the figures of any 1.2 run or meta file); run
#: and meta files try them by default after FIGURES.
ATTEMPT_FIGURES = ("pass_at_k",)
ALL_FIGURES = FIGURES + ATTEMPT_FIGURES + FORECAST_FIGURES
FORMATS = ("png", "pdf", "svg")

#: Figure sizes in inches. A PNG written at --dpi D is exactly (w*D) x (h*D) pixels (no
#: tight bounding box), which tests/python/test_plot.py checks.
FIGSIZE = {
    "model": (12.0, 7.6),
    "metric_swap": (12.5, 8.0),
    "resolution": (12.5, 6.0),
    "frontier": (12.0, 5.4),
    "intervals": (12.5, 8.8),
    "emergence": (12.0, 5.6),
    "meta": (13.0, 10.0),
    "multiple_choice": (11.5, 8.8),
    "difficulty": (13.5, 5.8),
    "jumps": (13.0, 5.8),
    "forecast": (17.5, 7.2),
    "pass_at_k": (14.0, 6.2),
}

#: Okabe & Ito (2008) colour-blind-safe palette, the yellow last (weak on white).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000",
           "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)), (0, (1, 3)),
              (0, (3, 1, 1, 1)))

METRIC_LABEL = {
    "exact_match": "exact match",
    "token_edit_distance": "token edit distance",
    "token_accuracy": "token accuracy",
    "multiple_choice_grade": "multiple-choice grade",
    "brier_score": "Brier score",
}
#: How each metric depends on the per-token probability p (a property of the metric, not of
#: a file: format 1.0 files called the Brier score "linear"). The Brier score is a mean of
#: per-item scores but quadratic in q = p^L, so it is continuous, not linear.
METRIC_KIND = {
    "exact_match": "nonlinear",
    "token_edit_distance": "linear",
    "token_accuracy": "linear",
    "multiple_choice_grade": "nonlinear",
    "brier_score": "quadratic",
}
#: A fixed colour per metric, the same in every figure.
METRIC_STYLE = {"exact_match": 0, "token_edit_distance": 1, "token_accuracy": 2,
                "multiple_choice_grade": 3, "brier_score": 4}
#: Interval methods; a method for the token metrics shares the colour of its analogue for
#: proportions (wilson-deff of wilson, normal of Wald).
METHOD_ORDER = ("wilson", "clopper-pearson", "jeffreys", "agresti-coull", "wald", "logit",
                "likelihood-ratio", "blaker", "wilson-deff", "clopper-pearson-deff",
                "student-t", "normal")
METHOD_STYLE = {"wilson": 0, "clopper-pearson": 1, "jeffreys": 2, "agresti-coull": 3,
                "wald": 4, "logit": 5, "likelihood-ratio": 6, "blaker": 7,
                "wilson-deff": 0, "clopper-pearson-deff": 1, "student-t": 2, "normal": 4}
METHOD_LABEL = {
    "wilson": "Wilson",
    "clopper-pearson": "Clopper–Pearson",
    "jeffreys": "Jeffreys",
    "agresti-coull": "Agresti–Coull",
    "wald": "Wald",
    "logit": "logit",
    "likelihood-ratio": "likelihood ratio",
    "blaker": "Blaker",
    "wilson-deff": "Wilson with design effect",
    "clopper-pearson-deff": "Clopper–Pearson with design effect",
    "student-t": "Student t",
    "normal": "normal (z)",
    "newcombe": "Newcombe hybrid score",
}
DIFFICULTY_NAMES = ("none", "normal", "logistic", "kumaraswamy")

RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "figure.titlesize": 12,
    "figure.titleweight": "bold",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.4,
    "lines.markersize": 4.5,
    "legend.frameon": False,
    "pdf.fonttype": 42,  # embed TrueType so text stays text in the PDF
    "svg.fonttype": "none",
}

CAPTION_FONTSIZE = 7.5
CAPTION_LINE_IN = CAPTION_FONTSIZE * 1.5 / 72.0  # height of one caption line
NOTE_FONTSIZE = 7.5
NOTE_COLOUR = "0.3"

PROG = "plot.py"


class InputError(ValueError):
    """Bad input: reported as `plot.py: error: ...` with exit status 2 (a ValueError for
    figure() and save())."""


def note(message):
    print(f"{PROG}: note: {message}", file=sys.stderr)


# --- reading ------------------------------------------------------------------------------

def as_text(value):
    """An HDF5 string attribute as str, whether stored fixed-length, variable or as bytes."""
    if isinstance(value, np.ndarray):
        value = value.item() if value.size == 1 else value.tolist()
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", "replace")
    return str(value)


def as_float(value, default=None):
    if value is None:
        return default
    try:
        return float(np.asarray(value).ravel()[0])
    except (TypeError, ValueError, IndexError):
        return default


def _flatten(tree, prefix=""):
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, path + ".")
        else:
            yield path, value


def parse_config(text):
    """The stored configuration as {dotted.key: value}; `key = value` lines if not TOML."""
    flat = {}
    if text and tomllib is not None:
        try:
            flat = dict(_flatten(tomllib.loads(text)))
        except tomllib.TOMLDecodeError:
            flat = {}
    if not flat and text:
        for match in re.finditer(r"^\s*([\w.\-]+)\s*=\s*(.+?)\s*$", text, re.M):
            flat[match.group(1)] = match.group(2).strip("\"'")
    return flat


def open_file(path):
    """A validated Mirage file: Results for `mirage run`, MetaResults for `mirage meta`."""
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    try:
        h5 = h5py.File(path, "r")
    except OSError as err:
        raise InputError(f"{path} is not a Mirage result file (cannot read it as HDF5: "
                         f"{err})") from None
    return _validated(path, h5)


def _validated(path, h5):
    filetype = as_text(h5.attrs["filetype"]) if "filetype" in h5.attrs else "<missing>"
    kinds = {RUN_FILETYPE: Results, META_FILETYPE: MetaResults,
             FORECAST_FILETYPE: ForecastResults}
    if filetype not in kinds:
        if isinstance(h5, h5py.File):
            h5.close()
        raise InputError(f"{path} is not a Mirage result file (filetype={filetype})")
    if isinstance(h5, h5py.File):
        # The file agrees with the shapes it declares (mirage/_validate.py), before any figure
        # reads it. A DataTree comes from mirage.open, which checked the file it read.
        try:
            check_file(h5, path)
        except DamagedFileError as err:
            raise InputError(str(err)) from None
    return kinds[filetype](path, h5)


def load(data):
    """Results, MetaResults or ForecastResults from a file name, an open h5py.File, or the
    xarray.DataTree of mirage.run, mirage.meta, mirage.forecast or mirage.open (read through TreeFile, an h5py look-alike)."""
    if isinstance(data, (Results, MetaResults, ForecastResults)):
        return data
    if isinstance(data, (str, bytes, os.PathLike)):
        return open_file(os.fsdecode(data))
    if isinstance(data, h5py.File):
        return _validated(data.filename, data)
    xr = sys.modules.get("xarray")
    if xr is not None and isinstance(data, getattr(xr, "DataTree", ())):
        tree = TreeFile(data)
        return _validated(tree.filename, tree)
    raise TypeError(f"cannot draw from a {type(data).__name__}: give a file name, an h5py.File "
                    "or the xarray.DataTree of mirage.run, mirage.meta or mirage.open")


def is_group(obj):
    """Whether an object of a file is a group (h5py, or a node of a DataTree)."""
    return isinstance(obj, (h5py.Group, TreeGroup))


class TreeDataset:
    """A variable of an xarray.DataTree seen as an h5py dataset: [()] and slices read it;
    `is_scale` for a coordinate along itself (a dimension scale in a format 1.2 file)."""

    def __init__(self, variable, name):
        self._variable = variable
        self.is_scale = tuple(variable.dims) == (name,)
        self.attrs = variable.attrs
        self.shape = tuple(variable.shape)
        self.ndim = len(self.shape)
        self.size = int(np.prod(self.shape, dtype=np.int64))
        self.dtype = variable.dtype

    def __getitem__(self, key):
        return np.asarray(self._variable.values)[key]

    def __len__(self):
        return self.shape[0]


class TreeGroup:
    """A node of an xarray.DataTree (as mirage.open builds it) seen as an h5py group: paths
    name child nodes and variables; the file's /model/scale, /task/length and
    /task/test_size are the coordinates that every node inherits from the root."""

    def __init__(self, node):
        self._node = node
        self.attrs = node.attrs

    def _lookup(self, path):
        node = self._node
        parts = [part for part in str(path).split("/") if part]
        for i, part in enumerate(parts):
            if part in node.children:
                node = node.children[part]
            elif i == len(parts) - 1 and part in node.variables:
                return TreeDataset(node.variables[part], part)
            else:
                return None
        return TreeGroup(node)

    def __contains__(self, path):
        return self._lookup(path) is not None

    def __getitem__(self, path):
        found = self._lookup(path)
        if found is None:
            raise KeyError(path)
        return found

    def __iter__(self):
        yield from self._node.children
        own = self._node.to_dataset(inherit=False).variables
        yield from (name for name in own if name not in self._node.children)

    def keys(self):
        # Not list(self): list() asks __len__ for a size hint, and __len__ calls keys().
        return [name for name in self]

    def __len__(self):
        return len(self.keys())


class TreeFile(TreeGroup):
    """The root of a DataTree as an h5py file; `filename` is the file it was read from (its
    encoding's "source"), or "(in memory)"."""

    def __init__(self, tree):
        super().__init__(tree)
        self.filename = tree.encoding.get("source") or "(in memory)"

    def close(self):
        pass


class MirageFile:
    """What run and meta files share: the root attributes, the version, the configuration."""

    REQUIRED = ()
    DRAWS = ()  # the figures this kind of file can draw

    def __init__(self, path, h5):
        self.path = path
        self.h5 = h5
        version = self._format_version()
        if version[0] != FORMAT_MAJOR:
            raise InputError(f"{path}: format version {version[0]}.{version[1]} is not "
                             f"supported (this script reads {FORMAT_MAJOR}.x)")
        self.version = tuple(version)
        for name in self.REQUIRED:
            if name not in self.h5:
                raise InputError(f"{path} is incomplete: it has no /{name}")

    def _format_version(self):
        if "format_version" not in self.h5.attrs:
            raise InputError(f"{self.path} is not a Mirage result file (no format_version)")
        raw = self.h5.attrs["format_version"]
        try:
            return list(parse_format_version(raw))
        except ValueError:
            raise InputError(f"{self.path}: unreadable format_version {raw!r}") from None

    def has(self, name):
        return name in self.h5

    def read(self, name):
        return self.h5[name][()].astype(float)

    def attr(self, name, default=""):
        return as_text(self.h5.attrs[name]) if name in self.h5.attrs else default

    def config(self):
        if self.has("config") and "config_toml" in self.h5["config"].attrs:
            return as_text(self.h5["config"].attrs["config_toml"])
        return ""

    def provenance_segments(self):
        sha = self.attr("git_sha")
        version = self.attr("mirage_version", "?") + (f" ({sha})" if sha else "")
        return [f"seed {self.attr('seed', '?')}", f"mirage {version}",
                f"backend {self.attr('backend', '?')}", os.path.basename(self.path)]

    def caption_segments(self):
        return self.provenance_segments()


class Results(MirageFile):
    """A validated `mirage run` result file, read eagerly into numpy arrays where small."""

    REQUIRED = ("model/scale", "model/loss", "model/p_token", "task/length", "task/test_size",
                "metrics/exact_match/expected", "summary/exact_match/mean")
    DRAWS = tuple(f for f in FIGURES if f not in META_FIGURES) + ATTEMPT_FIGURES

    def __init__(self, path, h5=None):
        if h5 is None:  # Results(path) still opens a file itself, as in the 1.0 script
            other = open_file(path)
            if not isinstance(other, Results):
                raise InputError(f"{path} is a meta-analysis file, not a run file")
            h5 = other.h5
        super().__init__(path, h5)
        self.scale = self.h5["model/scale"][()].astype(float)
        self.loss = self.h5["model/loss"][()].astype(float)
        self.p_token = self.h5["model/p_token"][()].astype(float)
        self.lengths = self.h5["task/length"][()].astype(int)
        self.test_sizes = self.h5["task/test_size"][()].astype(np.int64)
        rep = self.h5["task/test_size"].attrs.get("replicates")
        self.replicates = int(np.asarray(rep).ravel()[0]) if rep is not None else None
        if self.replicates is None and "metrics/exact_match/estimate" in self.h5:
            self.replicates = int(self.h5["metrics/exact_match/estimate"].shape[-1])

    def metric_attr(self, metric, key):
        """An attribute of /metrics/<metric>, on the group or on its datasets."""
        for owner in (f"metrics/{metric}", f"metrics/{metric}/estimate",
                      f"metrics/{metric}/ci_low"):
            if owner in self.h5 and key in self.h5[owner].attrs:
                return self.h5[owner].attrs[key]
        return None

    def interval_name(self, metric):
        """The label of the per-replicate interval method of a metric ("?" if unknown)."""
        value = self.metric_attr(metric, "interval")
        if value is None:
            return "?"
        return METHOD_LABEL.get(as_text(value), as_text(value))

    def confidence(self):
        for value in (self.metric_attr("exact_match", "confidence"),
                      self.h5["interval_comparison"].attrs.get("confidence")
                      if self.has("interval_comparison") else None):
            if value is not None:
                return float(np.asarray(value).ravel()[0])
        return None

    def metrics(self):
        """Metrics with per-replicate estimates and intervals, in the paper's order."""
        group = self.h5["metrics"] if self.has("metrics") else {}
        order = metric_order(group)
        return [m for m in order if all(d in group[m] for d in ("estimate", "ci_low", "ci_high"))]

    def attempts(self):
        """A, the attempts per item (1 for a run without --attempts)."""
        for owner, key in (("task", "attempts"), ("counts/attempt_histogram", "attempts")):
            if self.has(owner) and key in self.h5[owner].attrs:
                return int(as_float(self.h5[owner].attrs[key], 1))
        return 1

    def pass_at(self):
        """[(k, metric)] of the pass@k metrics with their truth and summary, by k."""
        group = self.h5["metrics"] if self.has("metrics") else {}
        out = []
        for m in metric_order(group):
            k = pass_at_k(m)
            if k is None or "expected" not in group[m]:
                continue
            if not (self.has(f"summary/{m}/mean") or "estimate" in group[m]):
                continue
            attr = as_float(group[m].attrs.get("k")) if "k" in group[m].attrs else None
            out.append((int(attr) if attr is not None else k, m))
        return sorted(out)

    def difficulty(self):
        """(family, spec) of the item difficulty; ("none", "none") when absent."""
        if not self.has("model/difficulty"):
            return "none", "none"
        attrs = self.h5["model/difficulty"].attrs
        family = as_text(attrs["family"]) if "family" in attrs else "none"
        spec = as_text(attrs["spec"]) if "spec" in attrs else family
        return family, spec

    def task_kind(self):
        if self.has("task") and "kind" in self.h5["task"].attrs:
            return as_text(self.h5["task"].attrs["kind"])
        return "multiple-choice" if self.has("metrics/multiple_choice_grade") else "free-form"

    def choices(self):
        if self.has("task") and "choices" in self.h5["task"].attrs:
            return int(as_float(self.h5["task"].attrs["choices"], 0))
        return None

    def caption_segments(self):
        conf = self.confidence()
        conf_text = f"{100 * conf:g} % confidence" if conf is not None else "confidence unknown"
        intervals = f"{self.interval_name('exact_match')} intervals for exact match"
        linear = [m for m in ("token_edit_distance", "token_accuracy")
                  if self.metric_attr(m, "interval") is not None]
        if linear:
            intervals += f", {self.interval_name(linear[0])} for the token metrics"
        task = self.task_kind()
        if task == "multiple-choice":
            k = self.choices()
            task = f"multiple choice ({k} options)" if k else "multiple choice"
        family, spec = self.difficulty()
        segments = [f"Model: {model_description(self)}"]
        if family != "none":
            segments.append(f"item difficulty {spec}")
        segments.append(f"{task} task")
        attempts = self.attempts()
        if attempts > 1:
            segments.append(f"A = {attempts} attempts per item")
        segments += [
                     f"scales {sci(self.scale[0])}–{sci(self.scale[-1])} "
                     f"({len(self.scale)} points)",
                     f"lengths L = {compact_list(self.lengths)}",
                     f"test sizes n = {compact_list(self.test_sizes)}",
                     f"R = {self.replicates} replicates",
                     f"{conf_text} ({intervals})"]
        return segments + self.provenance_segments()


class MetaResults(MirageFile):
    """A validated `mirage meta` file: scores of many synthetic tasks on model families."""

    REQUIRED = ("meta/score", "meta/family", "meta/fraction")
    DRAWS = META_FIGURES

    def __init__(self, path, h5):
        super().__init__(path, h5)
        meta = self.h5["meta"]
        listed = as_text(meta.attrs["families"]).split(",") if "families" in meta.attrs else []
        listed = [f.strip() for f in listed if f.strip()]
        if not listed:  # order by the index attribute of each family group
            listed = sorted(meta["family"], key=lambda f: as_float(
                meta["family"][f].attrs.get("index"), 0.0))
        self.families = [f for f in listed if f"family/{f}/scale" in meta]
        if not self.families:
            raise InputError(f"{path} is incomplete: it has no /meta/family/<name>/scale")
        self.scales = {f: meta[f"family/{f}/scale"][()].astype(float) for f in self.families}
        order = [m for m in METRIC_LABEL if m in meta["score"]]
        self.metrics = order + sorted(m for m in meta["score"] if m not in METRIC_LABEL
                                      and not meta["score"][m].is_scale)  # 1.2: coordinates
        self.threshold = as_float(meta.attrs.get("threshold"))
        self.relative_threshold = as_float(meta.attrs.get("relative_threshold"))
        score = meta[f"score/{self.metrics[0]}"] if self.metrics else None
        self.tasks = int(as_float(meta.attrs.get("tasks"),
                                  score.shape[0] if score is not None else 0))
        self.replicates = int(as_float(meta.attrs.get("replicates"),
                                       score.shape[-1] if score is not None else 0))

    def choice_tasks(self):
        if self.has("meta/task/choices"):
            return int((self.h5["meta/task/choices"][()] > 0).sum())
        return None

    def caption_segments(self):
        flat = parse_config(self.config())

        def law(key):
            for name, value in flat.items():
                if name.split(".")[-1].replace("_", "-") == key:
                    return str(value)
            return None

        mc = self.choice_tasks()
        fams = ", ".join(f"{f} ({len(self.scales[f])} scales)" for f in self.families)
        segments = [f"{self.tasks} synthetic tasks"
                    + (f" ({mc} multiple choice)" if mc is not None else ""),
                    f"R = {self.replicates} replicate test sets per task and family",
                    f"families {fams}"]
        laws = [(key, law(key)) for key in ("length", "loss-scale", "loss-exponent",
                                             "difficulty-family", "test-size", "choices")]
        laws = [f"{key} {value}" for key, value in laws if value]
        if laws:
            segments.append("task laws: " + ", ".join(laws))
        return segments + self.provenance_segments()


class ForecastResults(MirageFile):
    """A validated `mirage forecast` file (docs/FORMAT.md §8): the truth, the source's
    estimates and every method's forecast over cutoffs, scales, lengths, test sizes and
    replicates."""

    REQUIRED = ("forecast/cutoff", "forecast/scale", "forecast/length", "forecast/test_size",
                "forecast/fitted")
    DRAWS = FORECAST_FIGURES
    METHODS = ("naive", "token", "joint")

    def __init__(self, path, h5):
        super().__init__(path, h5)
        g = self.h5["forecast"]
        self.cutoffs = g["cutoff"][()].astype(float)
        self.scale = g["scale"][()].astype(float)
        self.lengths = g["length"][()].astype(int)
        self.test_sizes = g["test_size"][()].astype(np.int64)
        rep = g["test_size"].attrs.get("replicates")
        self.replicates = int(np.asarray(rep).ravel()[0]) if rep is not None else None
        self.fitted = g["fitted"][()].astype(bool)  # [C][S]
        self.confidence = as_float(g.attrs.get("confidence"), 0.95)
        self.methods = [m for m in self.METHODS if f"forecast/{m}" in self.h5]

    def group_attr(self, name, key, default=""):
        if name in self.h5 and key in self.h5[name].attrs:
            return as_text(self.h5[name].attrs[key])
        return default

    def caption_segments(self):
        g = "forecast"
        R = self.replicates
        segments = [f"loss law {self.group_attr(g, 'loss_law', '?')}",
                    f"item difficulty {self.group_attr(g, 'difficulty', 'none')}",
                    f"{self.group_attr(g, 'task', 'free-form')} task",
                    f"scales {sci(self.scale[0])}–{sci(self.scale[-1])} "
                    f"({len(self.scale)} points)",
                    f"lengths L = {compact_list(self.lengths)}",
                    f"test sizes n = {compact_list(self.test_sizes)}",
                    f"R = {R} replicates",
                    f"{100 * self.confidence:g} % profile-likelihood intervals"]
        sha = self.attr("git_sha")
        version = self.attr("mirage_version", "?") + (f" ({sha})" if sha else "")
        source = self.attr("source_file")
        segments += [f"mirage {version}", os.path.basename(self.path)]
        if source:
            segments.append(f"from {os.path.basename(source)}")
        return segments


# --- the caption --------------------------------------------------------------------------

def sci(value, digits=2):
    """A number in mathtext scientific notation: 2e9 -> 2×10^9."""
    if value is None or not np.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    exponent = int(math.floor(math.log10(abs(value))))
    mantissa = value / 10 ** exponent
    if abs(exponent) <= 2:
        return f"{value:.{digits + 1}g}"
    text = f"{mantissa:.{digits}g}"
    if text == "1":
        return rf"$10^{{{exponent}}}$"
    return rf"${text}\times10^{{{exponent}}}$"


def _minus(value, fmt="g"):
    return format(value, fmt).replace("-", "−")


def model_description(res):
    """`c = .., α = ..` from the resolved config, else `loss table`, else a fit to the file."""
    flat = parse_config(res.config())

    def lookup(names):
        # mirage writes hyphenated keys (loss-scale); accept underscores as well.
        for key, value in flat.items():
            if key.split(".")[-1].replace("-", "_") in names:
                return value
        return None

    table = lookup(("loss_table", "table", "loss_file", "table_file", "loss_table_file"))
    kind = str(lookup(("kind", "law", "model_kind")) or "").lower()
    if table not in (None, "", [], {}) or "table" in kind:
        return "loss table"
    c, alpha = lookup(("c", "loss_scale")), lookup(("alpha", "loss_exponent"))
    try:
        c, alpha = float(c), float(alpha)
        # Trust the config only where the file's own losses follow it.
        law = (res.scale / c) ** alpha
        if np.allclose(law, res.loss, rtol=1e-6, atol=0.0):
            return rf"$L(N)=(N/c)^{{\alpha}}$, c = {sci(c)}, α = {_minus(alpha)}"
        return "loss table"
    except (TypeError, ValueError, ZeroDivisionError, FloatingPointError):
        pass
    # No usable config: recognise a power law in /model/loss itself.
    ok = (res.scale > 0) & (res.loss > 0)
    if ok.sum() >= 2:
        x, y = np.log(res.scale[ok]), np.log(res.loss[ok])
        slope, intercept = np.polyfit(x, y, 1)
        if np.max(np.abs(slope * x + intercept - y)) < 1e-6 and slope < 0:
            c_fit = math.exp(-intercept / slope)
            return (rf"$L(N)=(N/c)^{{\alpha}}$, c ≈ {sci(c_fit)}, "
                    f"α ≈ {_minus(slope, '.3g')} (fit to /model/loss)")
    return "loss table"


def compact_list(values):
    values = [int(v) for v in values]
    if len(values) <= 6:
        return ", ".join(f"{v:,}" for v in values)
    return f"{values[0]:,}–{values[-1]:,} ({len(values)} values)"


def _visible_length(text):
    """Rough printed length of a caption segment (mathtext markup does not print)."""
    text = re.sub(r"\\[a-zA-Z]+", "x", text)
    return len(re.sub(r"[${}^_]", "", text))


def pack(segments, width_chars, sep="  ·  "):
    """Greedy line filling of ' · '-separated segments."""
    lines, current = [], ""
    for seg in segments:
        candidate = current + sep + seg if current else seg
        if current and _visible_length(candidate) > width_chars:
            lines.append(current)
            current = seg
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def wrap(text, width_chars):
    """Greedy word wrap that never breaks inside $...$ mathtext."""
    words = re.findall(r"(?:\$[^$]*\$|\S)+", text)
    lines, current = [], ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if current and _visible_length(candidate) > width_chars:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def caption_lines(res, extra, width_in):
    """The caption: what the figure shows, then the sweep, then where the numbers come from."""
    width_chars = int(width_in * 72.0 / (0.56 * CAPTION_FONTSIZE))
    lines = wrap(extra, width_chars) if extra else []
    return lines + pack(res.caption_segments(), width_chars)


# --- figure scaffolding -------------------------------------------------------------------

def style(i):
    return {"color": PALETTE[i % len(PALETTE)], "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINESTYLES[i % len(LINESTYLES)]}


def metric_style(metric, fallback=0):
    return style(METRIC_STYLE.get(metric, fallback))


PASS_AT = re.compile(r"^pass_at_(\d+)$")


def pass_at_k(metric):
    """k of a pass@k metric name (pass_at_10 -> 10), else None."""
    match = PASS_AT.match(str(metric))
    return int(match.group(1)) if match else None


def metric_order(names):
    """Metric names in the paper's order, then pass@k by k, then the others by name."""
    names = [m for m in names]
    order = [m for m in METRIC_LABEL if m in names]
    order += sorted((m for m in names if pass_at_k(m) is not None), key=pass_at_k)
    return order + sorted(m for m in names if m not in order)


def metric_label(metric):
    k = pass_at_k(metric)
    return f"pass@{k}" if k is not None else METRIC_LABEL.get(metric, metric)


def pass_at_ends(metrics):
    """The metrics with the pass@k of the smallest and the largest k only: figures of every
    metric (emergence, jumps) show those two, the pass_at_k figure all of them."""
    passes = [m for m in metrics if pass_at_k(m) is not None]
    keep = {passes[0], passes[-1]} if passes else set()
    return [m for m in metrics if pass_at_k(m) is None or m in keep]


def metric_styles(metrics):
    """{metric: style}: the fixed colour of each known metric; pass@k metrics take the free
    colours after them in k order (runs with attempts are free-form, so the multiple-choice
    colours are free)."""
    out, j = {}, 0
    for i, m in enumerate(metrics):
        if m in METRIC_STYLE:
            out[m] = metric_style(m)
        elif pass_at_k(m) is not None:
            out[m] = style(3 + j)
            j += 1
        else:
            out[m] = style(i)
    return out


def metric_kind(res, metric):
    """nonlinear / linear / quadratic: the constant for known metrics, else the file's."""
    if metric in METRIC_KIND:
        return METRIC_KIND[metric]
    kind = res.metric_attr(metric, "kind") if hasattr(res, "metric_attr") else None
    return as_text(kind) if kind is not None else "?"


HEADER_IN = 0.34  # title
LEGEND_ROW_IN = 0.24  # each row of the figure legend under the title


def new_figure(name, res, title, extra_caption="", legend_rows=1):
    """A figure in three bands: header (title, legend), body (the axes), caption.

    Returns (fig, body, head): draw the axes on `body`, put the legend on `head` with
    `add_legend`. Legends therefore never sit on data, and the layout does not depend on
    matplotlib's placement of outside legends next to a suptitle. The figure is exactly
    FIGSIZE[name]; the caption takes what its lines need from the body.
    """
    w, h = FIGSIZE[name]
    fig = plt.figure(figsize=(w, h), layout="constrained")
    fig.get_layout_engine().set(h_pad=0.04, w_pad=0.06, hspace=0.0, wspace=0.0)
    lines = caption_lines(res, extra_caption, w)
    foot_in = 0.1 + CAPTION_LINE_IN * len(lines)
    head_in = HEADER_IN + LEGEND_ROW_IN * legend_rows
    head, body, foot = fig.subfigures(
        3, 1, height_ratios=[head_in, h - head_in - foot_in, foot_in])
    head.text(0.5, 1.0 - 0.06 / head_in, title, ha="center", va="top",
              fontsize=RC["figure.titlesize"], fontweight="bold")
    foot.text(0.008, 0.05 / foot_in, "\n".join(lines), fontsize=CAPTION_FONTSIZE,
              color="#333333", ha="left", va="bottom", linespacing=1.5)
    return fig, body, head


def add_legend(head, handles, ncols=None, loc="lower center", anchor=(0.5, 0.0), title=None):
    legend = head.legend(handles=handles, loc=loc, bbox_to_anchor=anchor,
                         ncols=ncols or len(handles), handlelength=2.6, columnspacing=1.6,
                         title=title, title_fontsize=8)
    if title:
        legend._legend_box.align = "left"  # title flush with the entries
    return legend


def log_scale_axis(ax):
    ax.set_xscale("log")
    ax.set_xlabel("Model scale N (parameters)")


def masked_positive(values):
    """Values for a log axis: zeros and negatives (and non-finite) become NaN (gaps)."""
    values = np.asarray(values, dtype=float).copy()
    values[~(values > 0) | ~np.isfinite(values)] = np.nan
    return values


def length_handles(lengths, simulated_label, analytic=True):
    handles = [Line2D([], [], **style(i), label=f"L = {L}") for i, L in enumerate(lengths)]
    handles.append(Line2D([], [], color="0.3", marker="o", linestyle="none",
                          label=simulated_label))
    if analytic:
        handles.append(Line2D([], [], color="0.3", linewidth=0.9, label="analytic"))
    return handles


def decade_below(value):
    """The power of ten at or below a positive value."""
    return 10.0 ** math.floor(math.log10(value) + 1e-9)


def panel_note(ax, text, x=0.01, y=0.02, ha="left", va="bottom"):
    ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, fontsize=NOTE_FONTSIZE,
            color=NOTE_COLOUR, zorder=20,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5})


def errorbar_handle(color, marker, label, markersize=4.2):
    """A legend entry drawn like the error bars it stands for."""
    line = Line2D([], [], color=color, marker=marker, linestyle="none", markersize=markersize,
                  markeredgecolor="white", markeredgewidth=0.5)
    bars = LineCollection([], colors=[color], linewidths=0.9)
    return ErrorbarContainer((line, (), (bars,)), has_xerr=False, has_yerr=True, label=label)


def readable_log_y(ax):
    """On a log y axis spanning under three decades, ticks at 1, 2, 5 × 10^k written
    plainly (0.2, 0.5, 1, 2) instead of 2×10^-1 on every minor tick."""
    lo, hi = ax.get_ylim()
    if lo <= 0 or math.log10(hi / lo) > 3.0:
        return
    ax.yaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def items(n):
    return f"{n:,} item" + ("" if n == 1 else "s")


def analytic_text(res, metric="exact_match"):
    """What the analytic curve of a metric is, in the paper's terms."""
    family, _ = res.difficulty()
    if metric == "exact_match":
        return ("the mixture $E[p_i^L]$ over the items' difficulty" if family != "none"
                else "$p^L$")
    return ""


def dodge(x, i, count, step=0.012):
    """x shifted by a small factor (log axes) so that markers of `count` series sit side by
    side instead of on top of each other."""
    return np.asarray(x, dtype=float) * 10 ** (step * (i - (count - 1) / 2.0))


def draw_band(ax, x, lo, hi, color, floor=None, alpha=0.14, edges=False, zorder=1):
    """A light band between lo and hi; on a log axis (floor given) ends at 0 sit on the
    floor. Returns True if some band was clipped at the floor."""
    lo = np.asarray(lo, dtype=float)
    hi = np.asarray(hi, dtype=float)
    clipped = False
    where = np.isfinite(lo) & np.isfinite(hi)
    if floor is not None:
        clipped = bool(((lo < floor) & where & (hi > floor)).any())
        where &= hi > floor
        lo, hi = np.maximum(lo, floor), np.maximum(hi, floor)
    ax.fill_between(x, lo, hi, where=where, color=color, alpha=alpha, linewidth=0,
                    zorder=zorder, interpolate=False)
    if edges:
        for y in (lo, hi):
            ax.plot(x, np.where(where, y, np.nan), color=color, linewidth=0.6, alpha=0.55,
                    zorder=zorder)
    return clipped


def draw_replicate(ax, x, est, lo, hi, color, floor=None, marker="o", markersize=4.2,
                   zorder=6, label=None):
    """One test set's estimates with its intervals as error bars. On a log axis (floor
    given) an estimate of 0 is an open marker on the bottom edge with its bar up to the
    interval's upper end, and lower ends at 0 are clipped to the floor. NaN estimates (no
    data) and NaN interval ends (no interval) draw no bar. Returns the count of zeros."""
    x = np.asarray(x, dtype=float)
    est, lo, hi = (np.asarray(v, dtype=float) for v in (est, lo, hi))
    ok = np.isfinite(est)
    lo = np.where(np.isfinite(lo), lo, est)
    hi = np.where(np.isfinite(hi), hi, est)
    common = dict(color=color, capsize=2.0, elinewidth=0.9, capthick=0.9, zorder=zorder,
                  markersize=markersize, markeredgecolor="white", markeredgewidth=0.5)
    if floor is None:
        shown = ok
        ax.errorbar(x[shown], est[shown], yerr=[np.clip(est - lo, 0, None)[shown],
                                                np.clip(hi - est, 0, None)[shown]],
                    fmt=marker, label=label, **common)
        return 0
    shown = ok & (est > 0)
    zero = ok & (est <= 0)
    low = np.maximum(lo, floor)
    ax.errorbar(x[shown], est[shown], yerr=[np.clip(est - low, 0, None)[shown],
                                            np.clip(hi - est, 0, None)[shown]],
                fmt=marker, label=label, **common)
    if zero.any():
        up = zero & (hi > floor)
        ax.vlines(x[up], floor, hi[up], color=color, linewidth=0.9, zorder=zorder)
        ax.plot(x[up], hi[up], linestyle="none", marker="_", markersize=5, color=color,
                zorder=zorder)
        ax.plot(x[zero], np.full(zero.sum(), floor), linestyle="none", marker=marker,
                markersize=markersize + 1, markerfacecolor="white", markeredgecolor=color,
                markeredgewidth=1.1, clip_on=False, zorder=zorder + 1)
    return int(zero.sum())


def replicate_quantiles(res, metric, k, t):
    """(q025, q500, q975) across replicates of a metric at (length k, test size t), [S]:
    from /summary when the file has it, else computed from the estimates (type 7)."""
    out = []
    for key, level in (("q025", 0.025), ("q500", 0.5), ("q975", 0.975)):
        name = f"summary/{metric}/{key}"
        if res.has(name):
            out.append(res.h5[name][:, k, t].astype(float))
        else:
            est = res.h5[f"metrics/{metric}/estimate"][:, k, t, :].astype(float)
            out.append(np.nanquantile(est, level, axis=-1))
    return tuple(out)


def replicate_curve(res, metric, k, t, r=0):
    """(estimate, ci_low, ci_high) of one replicate test set, [S]."""
    return tuple(res.h5[f"metrics/{metric}/{d}"][:, k, t, r].astype(float)
                 for d in ("estimate", "ci_low", "ci_high"))


def conf_percent(res):
    conf = res.confidence()
    return f"{100 * conf:g} %" if conf is not None else "the file's"


# --- paper figure 2: the model -----------------------------------------------------------

def figure_model(res, opts):
    t = len(res.test_sizes) - 1
    n = int(res.test_sizes[t])
    em = res.read("summary/exact_match/mean")[:, :, t]
    em_exp = res.read("metrics/exact_match/expected")
    have_ted = res.has("summary/token_edit_distance/mean")
    fig, body, head = new_figure("model", res,
                     "One smooth per-token model under a nonlinear metric (exact match) "
                     "and a linear one (token edit distance)",
                     f"markers: mean of {res.replicates} replicates at n = {n:,} items; "
                     "thin lines: analytic")
    axes = body.subplots(2, 3, sharex=True)
    (ax_loss, ax_em, ax_ted), (ax_p, ax_em_log, ax_ted_log) = axes

    for ax in axes.ravel():
        ax.set_xscale("log")
    for ax in axes[1]:
        ax.set_xlabel("Model scale N (parameters)")

    ax_loss.plot(res.scale, res.loss, color="0.15", marker="o", markersize=3)
    ax_loss.set_yscale("log")
    ax_loss.set_title("A  Per-token cross-entropy")
    ax_loss.set_ylabel("Loss L(N) (nats per token)")

    ax_p.plot(res.scale, res.p_token, color="0.15", marker="o", markersize=3)
    ax_p.set_ylim(-0.02, 1.02)
    ax_p.set_title("B  Per-token probability")
    ax_p.set_ylabel(r"p(N) = exp(−L(N))")

    positive = em_exp[em_exp > 0]
    em_floor = max(10 ** math.floor(math.log10(positive.min())), 1e-15) if positive.size else 1e-6
    for i, L in enumerate(res.lengths):
        st = style(i)
        for ax, y in ((ax_em, em[:, i]), (ax_em_log, masked_positive(em[:, i]))):
            ax.plot(res.scale, em_exp[:, i], color=st["color"], linestyle=st["linestyle"],
                    linewidth=0.9)
            ax.plot(res.scale, y, color=st["color"], marker=st["marker"], linestyle="none",
                    markersize=3.6)
    ax_em.set_ylim(-0.02, 1.02)
    ax_em.set_title("C  Exact match (nonlinear metric)")
    ax_em.set_ylabel("Exact match (fraction of items)")
    ax_em_log.set_yscale("log")
    ax_em_log.set_ylim(em_floor, 2.0)
    ax_em_log.axhline(1.0 / n, color="0.35", linestyle=(0, (4, 3)), linewidth=0.9)
    ax_em_log.annotate(f"1/n = 1/{n:,}", xy=(0.98, 1.0 / n),
                       xycoords=("axes fraction", "data"), xytext=(0, -4),
                       textcoords="offset points", ha="right", va="top", fontsize=7.5,
                       color="0.3")
    ax_em_log.set_title("D  Exact match, log y")
    ax_em_log.set_ylabel("Exact match (fraction, log)")

    if have_ted:
        ted = res.read("summary/token_edit_distance/mean")[:, :, t]
        ted_exp = res.read("metrics/token_edit_distance/expected")
        for i, L in enumerate(res.lengths):
            st = style(i)
            for ax, y in ((ax_ted, ted[:, i]), (ax_ted_log, masked_positive(ted[:, i]))):
                ax.plot(res.scale, ted_exp[:, i], color=st["color"], linestyle=st["linestyle"],
                        linewidth=0.9)
                ax.plot(res.scale, y, color=st["color"], marker=st["marker"], linestyle="none",
                        markersize=3.6)
        ax_ted.set_ylim(bottom=0)
        ax_ted_log.set_yscale("log")
    else:
        for ax in (ax_ted, ax_ted_log):
            ax.text(0.5, 0.5, "no token_edit_distance in this file", transform=ax.transAxes,
                    ha="center", va="center", color="0.4")
    ax_ted.set_title("E  Token edit distance (linear metric)")
    ax_ted.set_ylabel("Token edit distance (tokens per item)")
    ax_ted_log.set_title("F  Token edit distance, log y")
    ax_ted_log.set_ylabel("Token edit distance (tokens, log)")

    for ax in (ax_loss, ax_ted_log):
        if ax.get_yscale() == "log":
            readable_log_y(ax)
    add_legend(head, length_handles(res.lengths, f"simulated mean (n = {n:,})"))
    return fig


# --- paper figure 3: the same models under a nonlinear and two linear metrics ---------------

def log_floor(values, top, decades=7):
    """The bottom of a log axis: a little below the smallest positive value, at most
    `decades` decades below `top`."""
    values = np.concatenate([np.ravel(v) for v in values])
    positive = values[np.isfinite(values) & (values > 0)]
    low = positive.min() if positive.size else top * 1e-3
    return max(low / 1.5, top * 10.0 ** -decades)


def figure_metric_swap(res, opts):
    metrics = [m for m in ("exact_match", "token_edit_distance", "token_accuracy")
               if m in res.metrics()]
    if "exact_match" not in metrics:
        return None
    k, t = opts.length_index, opts.test_size_index
    L, n = int(res.lengths[k]), int(res.test_sizes[t])
    R = res.replicates
    fig, body, head = new_figure(
        "metric_swap", res,
        f"Same models, different metric: exact match vs the token metrics (L = {L}, "
        f"n = {items(n)})",
        f"Error bars: the estimates of one test set (replicate 0) with its {conf_percent(res)} "
        "intervals, as one researcher would report them; bands: 2.5–97.5 % of the "
        f"{R} replicate test sets; black: the analytic value"
        + (" (exact match $p^L$, edit distance $L(1 − p)$, accuracy $p$)"
           if res.difficulty()[0] == "none" else
           " (means over the items' difficulty: exact match $E[p_i^L]$, edit distance "
           "$L(1 − E[p_i])$, accuracy $E[p_i]$)")
        + ". Log rows: an estimate of 0 is an open marker on the bottom edge with its "
        "interval's upper end; bands reaching 0 are clipped there.")
    axes = body.subplots(2, len(metrics), sharex=True, squeeze=False)
    letters = "ABCDEF"
    for c, m in enumerate(metrics):
        st = metric_style(m)
        est, lo, hi = replicate_curve(res, m, k, t)
        q025, _, q975 = replicate_quantiles(res, m, k, t)
        expected = (res.read(f"metrics/{m}/expected")[:, k]
                    if res.has(f"metrics/{m}/expected") else None)
        kind = metric_kind(res, m)
        name = METRIC_LABEL.get(m, m)
        unit = {"exact_match": "fraction of items", "token_edit_distance": "tokens per item",
                "token_accuracy": "fraction of tokens"}.get(m, "")
        for row, ax in enumerate(axes[:, c]):
            log = row == 1
            ax.set_xscale("log")
            floor = None
            if log:
                top = np.nanmax(np.concatenate([hi, q975, expected if expected is not None
                                                else hi]))
                top = top if np.isfinite(top) and top > 0 else 1.0
                if m == "exact_match":
                    # Two decades below the smallest nonzero estimate, 1/n: the analytic
                    # curve is seen to go on where a test set of n items sees nothing.
                    floor = decade_below(1.0 / n) / 100.0
                else:
                    floor = log_floor([est, lo, q025, expected if expected is not None else est],
                                      top)
                ax.set_yscale("log")
                ax.set_ylim(floor, top * 1.6)
                readable_log_y(ax)
            clipped = draw_band(ax, res.scale, q025, q975, st["color"], floor=floor,
                                alpha=0.2, edges=True)
            if expected is not None:
                ax.plot(res.scale, masked_positive(expected) if log else expected,
                        color="black", linewidth=1.1, zorder=4)
            zeros = draw_replicate(ax, res.scale, est, lo, hi, st["color"], floor=floor,
                                   marker=st["marker"])
            if log and m == "exact_match":
                ax.axhline(1.0 / n, color="0.35", linestyle=(0, (4, 3)), linewidth=0.9)
                ax.annotate(f"1/n = 1/{n:,}", xy=(0.98, 1.0 / n),
                            xycoords=("axes fraction", "data"), xytext=(0, 3),
                            textcoords="offset points", ha="right", va="bottom",
                            fontsize=NOTE_FONTSIZE, color="0.3")
            if log and (zeros or clipped):
                panel_note(ax, "bottom edge: 0", x=0.99, ha="right")
            if not log:
                if m == "exact_match" or m == "token_accuracy":
                    ax.set_ylim(-0.03, 1.03)
                else:
                    ax.set_ylim(bottom=min(0.0, np.nanmin(lo)) if np.isfinite(lo).any() else 0)
            letter = letters[row * len(metrics) + c]
            title = f"{letter}  {name.capitalize()} ({kind})"
            ax.set_title(title + (", log y" if log else ""))
            ax.set_ylabel(f"{name.capitalize()} ({unit}{', log' if log else ''})")
            if row == 1:
                ax.set_xlabel("Model scale N (parameters)")
    for ax in axes[0]:
        ax.tick_params(labelbottom=True)
    grey = "0.35"
    handles = [errorbar_handle(grey, "o", f"replicate 0 and its {conf_percent(res)} interval"),
               Patch(facecolor=grey, alpha=0.3, label="2.5–97.5 % of replicates"),
               Line2D([], [], color="black", linewidth=1.1, label="analytic")]
    add_legend(head, handles)
    return fig


# --- paper figure 4: resolution -----------------------------------------------------------

def figure_resolution(res, opts):
    k, t_one = opts.length_index, opts.test_size_index
    L = int(res.lengths[k])
    sizes = res.test_sizes
    bands = [replicate_quantiles(res, "exact_match", k, j) for j in range(len(sizes))]
    p_zero = res.read("summary/exact_match/p_zero")[:, k, :]
    expected = res.read("metrics/exact_match/expected")[:, k]
    have_replicate = res.has("metrics/exact_match/estimate")
    n_one = int(sizes[t_one])
    # The smallest nonzero estimate is 1/n_max; the axis starts a decade below it, where
    # medians and band ends of 0 are drawn.
    floor = decade_below(1.0 / float(sizes.max())) / 10.0
    R = res.replicates
    fig, body, head = new_figure(
        "resolution", res,
        f"Small test sets cannot see small accuracies (exact match, L = {L})",
        f"Lines: the median over {R} replicate test sets per test size n; it is 0 (drawn on the "
        "bottom edge) where most test sets of n items contain no exact match, i.e. roughly "
        f"where the analytic {analytic_text(res)} falls below the dashed 1/n. Bands: "
        "2.5–97.5 % of "
        "replicates, clipped at the bottom edge where they reach 0."
        + (f" Black error bars: one test set (replicate 0) of n = {items(n_one)} with its "
           f"{conf_percent(res)} {res.interval_name('exact_match')} interval."
           if have_replicate else ""))
    ax, ax_zero = body.subplots(1, 2, width_ratios=[2.0, 1.0])

    ax.plot(res.scale, masked_positive(expected), color="black", linewidth=2.0, zorder=5)
    for j, n in enumerate(sizes):
        st = style(j)
        q025, q500, q975 = bands[j]
        draw_band(ax, res.scale, q025, q975, st["color"], floor=floor, alpha=0.09,
                  edges=False, zorder=1)
        median = np.where(q500 > 0, q500, floor)
        ax.plot(res.scale, median, color=st["color"], linestyle=st["linestyle"],
                linewidth=1.4, zorder=3, clip_on=False)
        ax.plot(res.scale[q500 > 0], q500[q500 > 0], color=st["color"], marker=st["marker"],
                linestyle="none", markersize=3.8, zorder=3)
        ax.axhline(1.0 / n, color=st["color"], linestyle=(0, (2, 2)), linewidth=0.9, zorder=2)
        ax.annotate(f"1/n = 1/{int(n):,}", xy=(0.005, 1.0 / n),
                    xycoords=("axes fraction", "data"), xytext=(2, 2),
                    textcoords="offset points", fontsize=NOTE_FONTSIZE, color=st["color"])
    if have_replicate:
        est, lo, hi = replicate_curve(res, "exact_match", k, t_one)
        draw_replicate(ax, res.scale, est, lo, hi, "black", floor=floor, marker="D",
                       markersize=3.6, zorder=7)
    log_scale_axis(ax)
    ax.set_yscale("log")
    ax.set_ylim(floor, 1.6)
    ax.set_ylabel(f"Exact match at L = {L} (fraction of items, log)")
    ax.set_title("A  Median exact match vs scale, one curve per test size")
    panel_note(ax, "bottom edge: 0", x=0.99, y=0.02, ha="right")

    for j, n in enumerate(sizes):
        st = style(j)
        analytic_zero = (1.0 - expected) ** float(n)
        ax_zero.plot(res.scale, analytic_zero, color=st["color"], linestyle=st["linestyle"],
                     linewidth=0.9)
        ax_zero.plot(res.scale, p_zero[:, j], color=st["color"], marker=st["marker"],
                     linestyle="none", markersize=3.8)
    log_scale_axis(ax_zero)
    ax_zero.set_ylim(-0.03, 1.03)
    ax_zero.set_ylabel("Fraction of replicates with exact match = 0")
    ax_zero.set_title("B  When the ability is invisible")
    ax_zero.text(0.98, 0.97, "markers: simulated\nlines: " + (
                 r"$(1-p^L)^n$" if res.difficulty()[0] == "none" else r"$(1-E[p_i^L])^n$"),
                 transform=ax_zero.transAxes, ha="right", va="top", fontsize=7.5,
                 bbox={"facecolor": "white", "edgecolor": "0.8", "boxstyle": "round,pad=0.3"})

    handles = [Line2D([], [], **style(j), label=f"n = {int(n):,}") for j, n in enumerate(sizes)]
    analytic = (rf"analytic $p^{{{L}}}$" if res.difficulty()[0] == "none"
                else rf"analytic $E[p_i^{{{L}}}]$")
    handles += [Line2D([], [], color="black", linewidth=2.0, label=analytic),
                Patch(facecolor="0.6", alpha=0.3, label="2.5–97.5 %"),
                Line2D([], [], color="0.3", linestyle=(0, (2, 2)), label="1/n")]
    if have_replicate:
        handles.append(errorbar_handle("black", "D", f"replicate 0, n = {n_one:,}",
                                       markersize=3.6))
    add_legend(head, handles)
    return fig


# --- resolution frontier ----------------------------------------------------------------

def figure_frontier(res, opts):
    sim = res.read("frontier/simulated_scale")  # [K][T]
    ana = res.read("frontier/analytic_scale")  # [K][T]
    have_required = res.has("frontier/required_test_size")
    fig, body, head = new_figure("frontier", res,
                     "Resolution frontier: the scale at which exact match becomes visible "
                     "depends on the test size",
                     "visible: at least half the replicates see a nonzero exact match; "
                     r"analytic: $1-(1-p^L)^n \geq 1/2$ on the scale grid; "
                     "△ above the grid: not reached within it")
    ax, ax_req = body.subplots(1, 2)
    sizes = res.test_sizes.astype(float)
    missing = ~np.isfinite(sim)
    # Unreached entries are drawn just above the grid's largest scale, so the axis must
    # reach there; otherwise it fits the data.
    top = res.scale[-1] * 2.0
    shown = np.concatenate([sim[~missing], ana[np.isfinite(ana)]])
    y_hi = top * 1.6 if missing.any() or not shown.size else shown.max() * 2.5
    y_lo = (shown.min() if shown.size else res.scale[0]) / 2.5
    for edge, label, va, dy in ((res.scale[0], "smallest scale in the grid", "top", -3),
                                (res.scale[-1], "largest scale in the grid", "top", -3)):
        if y_lo < edge < y_hi:
            ax.axhline(edge, color="0.55", linewidth=0.8, linestyle=(0, (1, 2)))
            ax.annotate(label, xy=(0.01, edge), xycoords=("axes fraction", "data"),
                        xytext=(0, dy), textcoords="offset points", ha="left", va=va,
                        fontsize=7.5, color="0.35")
    for i, L in enumerate(res.lengths):
        st = style(i)
        ax.plot(sizes, ana[i], color=st["color"], linestyle=st["linestyle"], linewidth=1.2)
        ok = ~missing[i]
        ax.plot(sizes[ok], sim[i][ok], color=st["color"], marker=st["marker"],
                linestyle="none", markersize=6.5, markeredgecolor="white", markeredgewidth=0.6)
        if (~ok).any():
            # Side by side, so that several lengths missing at one test size stay visible.
            nudge = 10 ** (0.025 * (i - (len(res.lengths) - 1) / 2))
            ax.plot(sizes[~ok] * nudge, np.full((~ok).sum(), top), color=st["color"],
                    marker="^",
                    markerfacecolor="none", markeredgewidth=1.3, linestyle="none",
                    markersize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(y_lo, y_hi)
    if len(sizes) > 1:
        ax.set_xlim(sizes.min() / 1.6, sizes.max() * 1.6)
    ax.set_xlabel("Test size n (items)")
    ax.set_ylabel("Smallest scale with visible exact match (parameters)")
    ax.set_title("A  Smallest visible scale vs test size")

    if have_required:
        required = res.read("frontier/required_test_size")  # [S][K]
        for i, L in enumerate(res.lengths):
            st = style(i)
            ax_req.plot(res.scale, masked_positive(required[:, i]), color=st["color"],
                        linestyle=st["linestyle"], linewidth=1.4)
        for j, n in enumerate(res.test_sizes):
            ax_req.axhline(float(n), color="0.55", linewidth=0.8, linestyle=(0, (1, 2)))
            ax_req.annotate(f"n = {int(n):,}", xy=(1.0, float(n)),
                            xycoords=("axes fraction", "data"), xytext=(-3, 2),
                            textcoords="offset points", ha="right", fontsize=7.5, color="0.35")
        log_scale_axis(ax_req)
        ax_req.set_yscale("log")
        # Four decades above the largest test size is enough to show the trend; the
        # astronomically large requirements of long targets at small scales leave the top.
        finite_req = required[np.isfinite(required) & (required > 0)]
        cap = 10.0 ** (math.ceil(math.log10(float(res.test_sizes.max()))) + 4)
        req_top = min(finite_req.max() * 2.0, cap) if finite_req.size else cap
        ax_req.set_ylim(0.5, max(req_top, float(res.test_sizes.max()) * 3.0))
        ax_req.set_ylabel("Test size needed (items)")
        ax_req.set_title(r"B  Test size to see $p^L$ with probability 1/2")
    else:
        ax_req.set_axis_off()
        ax_req.text(0.5, 0.5, "no /frontier/required_test_size in this file",
                    transform=ax_req.transAxes, ha="center", va="center", color="0.4")

    handles = [Line2D([], [], **style(i), label=f"L = {L}") for i, L in enumerate(res.lengths)]
    handles += [Line2D([], [], color="0.3", marker="o", linestyle="none",
                       label="simulated (markers)"),
                Line2D([], [], color="0.3", linewidth=1.2, label="analytic (lines)")]
    add_legend(head, handles)
    return fig


# --- interval methods: coverage and width -------------------------------------------------

def interval_methods(res):
    """{metric: {method: h5 group with coverage, mean_ci_width[, exact_coverage]}}.

    Format 1.1 stores /interval_comparison/<metric>/<method>; format 1.0 stored the
    exact-match methods directly under /interval_comparison/<method>."""
    ic = res.h5["interval_comparison"]
    out = {}

    def usable(group):
        return is_group(group) and all(d in group for d in ("coverage", "mean_ci_width"))

    old = {m: ic[m] for m in ic if usable(ic[m])}
    if old:
        out["exact_match"] = old
    for metric in ic:
        group = ic[metric]
        if metric in old or not is_group(group):
            continue
        methods = {m: group[m] for m in group if usable(group[m])}
        if methods:
            out[metric] = methods
    for metric, methods in out.items():
        order = [m for m in METHOD_ORDER if m in methods]
        order += sorted(m for m in methods if m not in METHOD_ORDER)
        out[metric] = {m: methods[m] for m in order}
    return out


def coverage_axis(ax, low, conf, R):
    """y limits of a coverage panel. Where some coverage falls far below the nominal level
    the axis is linear in two pieces, [0, 0.8] in the bottom quarter and [0.8, 1] above, so
    that the methods near the nominal level stay apart; a dotted line marks the change."""
    if conf is not None and R:
        half = 2.0 * math.sqrt(conf * (1.0 - conf) / R)
        ax.axhspan(conf - half, min(conf + half, 1.0), color="0.5", alpha=0.16, linewidth=0,
                   zorder=0)
    if low >= 0.75:
        ax.set_ylim(low - 0.03, 1.02)
        return
    brk, share = 0.8, 0.25

    def forward(y):
        y = np.asarray(y, dtype=float)
        return np.where(y < brk, y / brk * share, share + (y - brk) / (1.0 - brk) * (1 - share))

    def inverse(v):
        v = np.asarray(v, dtype=float)
        return np.where(v < share, v / share * brk, brk + (v - share) / (1 - share) * (1.0 - brk))

    ax.set_yscale("function", functions=(forward, inverse))
    ax.set_ylim(-0.02, 1.01)
    ticks = [0.0, 0.4, 0.8, 0.85, 0.9, 0.95, 1.0]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_yticks(ticks, [f"{v:g}" for v in ticks])
    ax.axhline(brk, color="0.3", linewidth=0.8, linestyle=(0, (1, 1.5)), zorder=1)
    ax.annotate("axis expanded above 0.8", xy=(0.99, brk), xycoords=("axes fraction", "data"),
                xytext=(0, -3), textcoords="offset points", ha="right", va="top",
                fontsize=NOTE_FONTSIZE, color=NOTE_COLOUR)


def _coverage_panel(ax, res, methods, k, t, conf, R):
    """Exact coverage (lines; short dashes on a sparse grid) and simulated coverage
    (markers). Returns the labels of the methods whose coverage is undefined somewhere
    (NaN: no interval)."""
    low, undefined = 1.0, []
    count = len(methods)
    sparse = len(res.scale) < 6
    for i, (m, group) in enumerate(methods.items()):
        st = style(METHOD_STYLE.get(m, i))
        cov = group["coverage"][:, k, t].astype(float)
        exact = (group["exact_coverage"][:, k, t].astype(float)
                 if "exact_coverage" in group else np.full_like(cov, np.nan))
        if np.isnan(cov).any():
            undefined.append(METHOD_LABEL.get(m, m))
        x = dodge(res.scale, i, count, step=0.01)
        if np.isfinite(exact).any():
            if sparse:  # no line between scales that far apart: a dash at each
                ax.plot(x, exact, color=st["color"], linestyle="none", marker="_",
                        markersize=16, markeredgewidth=1.6, zorder=3)
            else:
                ax.plot(res.scale, exact, color=st["color"], linestyle=st["linestyle"],
                        linewidth=1.1, zorder=3)
        ax.plot(x, cov, color=st["color"], marker=st["marker"], linestyle="none",
                markersize=4.6, markeredgecolor="white", markeredgewidth=0.4, zorder=4)
        shown = np.concatenate([cov[np.isfinite(cov)], exact[np.isfinite(exact)]])
        if shown.size:
            low = min(low, shown.min())
    if conf is not None:
        ax.axhline(conf, color="black", linewidth=1.0, linestyle=(0, (6, 3)), zorder=2)
    coverage_axis(ax, low, conf, R)
    ax.set_xscale("log")
    ax.set_ylabel("Coverage (fraction of replicates)")
    return undefined


def _width_panel(ax, res, methods, k, t, unit):
    widths = {m: g["mean_ci_width"][:, k, t].astype(float) for m, g in methods.items()}
    positive = np.concatenate([w[np.isfinite(w) & (w > 0)] for w in widths.values()])
    w_lo = decade_below(positive.min()) if positive.size else 1e-4
    w_hi = 10 ** math.ceil(math.log10(positive.max())) if positive.size else 1.0
    any_zero = False
    count = len(methods)
    for i, m in enumerate(methods):
        st = style(METHOD_STYLE.get(m, i))
        line = dict(st, linestyle="none") if len(res.scale) < 6 else st
        ax.plot(dodge(res.scale, i, count, step=0.01), masked_positive(widths[m]), **line,
                markersize=4.6)
        zero = widths[m] == 0
        if zero.any():
            any_zero = True
            ax.plot(dodge(res.scale, i, count, step=0.01)[zero], np.full(zero.sum(), w_lo),
                    color=st["color"], marker=st["marker"], markerfacecolor="white",
                    linestyle="none", markersize=6, clip_on=False, zorder=6)
    ax.set_yscale("log")
    ax.set_ylim(w_lo, w_hi)
    readable_log_y(ax)
    ax.set_ylabel(f"Mean interval width ({unit}, log)")
    log_scale_axis(ax)
    if any_zero:
        panel_note(ax, "open markers on the bottom edge: width 0 in every replicate")


def figure_intervals(res, opts):
    k, t = opts.length_index, opts.test_size_index
    L, n = int(res.lengths[k]), int(res.test_sizes[t])
    groups = interval_methods(res)
    if "exact_match" not in groups:
        return None
    token = next((m for m in ("token_accuracy", "token_edit_distance") if m in groups), None)
    conf = as_float(res.h5["interval_comparison"].attrs.get("confidence"), res.confidence())
    R = res.replicates
    have_exact = any("exact_coverage" in g and np.isfinite(g["exact_coverage"][:, k, t]).any()
                     for methods in groups.values() for g in methods.values())
    undefined = any(np.isnan(g["coverage"][:, k, t]).any() for methods in groups.values()
                    for g in methods.values())
    extra = (f"Coverage: the fraction of the {R} replicate intervals that contain the analytic "
             "value (markers)")
    extra += (f"; {'dashes' if len(res.scale) < 6 else 'lines'}: the exact coverage "
              "(binomial sum for exact match, exact distribution "
              "of the token tallies where the file has it)" if have_exact else
              "; no exact coverage here (a format 1.0 file, or a test size too large for it)")
    if conf is not None:
        extra += (f"; grey band: nominal ± 2√(c(1 − c)/R), c = {conf:g}, the Monte Carlo "
                  "spread "
                  f"of a simulated coverage near the nominal level")
    extra += "."
    extra += (f" Exact match: a proportion of items; {METRIC_LABEL[token]}: a mean of "
              "per-item scores, its intervals from the per-item spread." if token else "")
    if undefined:
        extra += " Gaps: no interval, so no coverage (e.g. Student t with n = 1)."
    fig, body, head = new_figure(
        "intervals", res,
        f"How often do the confidence intervals contain the truth? (L = {L}, n = {items(n)})",
        extra, legend_rows=2 if token else 1)
    if token:
        axes = body.subplots(2, 2, sharex=True)
        columns = [("exact_match", axes[:, 0], "AC"), (token, axes[:, 1], "BD")]
    else:
        axes = body.subplots(2, 1, sharex=True)
        columns = [("exact_match", axes, "AB")]
    for metric, (ax_cov, ax_w), letters in columns:
        methods = groups[metric]
        undefined = _coverage_panel(ax_cov, res, methods, k, t, conf, R)
        unit = "fraction of items" if metric == "exact_match" else (
            "tokens per item" if metric == "token_edit_distance" else "fraction of tokens")
        _width_panel(ax_w, res, methods, k, t, unit)
        name = METRIC_LABEL.get(metric, metric)
        ax_cov.set_title(f"{letters[0]}  Coverage, {name} ({metric_kind(res, metric)})")
        ax_w.set_title(f"{letters[1]}  Mean width, {name}")
        ax_cov.tick_params(labelbottom=True)
        if undefined:
            panel_note(ax_cov, f"gaps: no interval, coverage undefined ({', '.join(undefined)})")
    # One legend per column, over it; the same colour marks analogous methods.
    sparse = len(res.scale) < 6
    explain = [Line2D([], [], color="0.3", linewidth=1.1, label="exact") if not sparse else
               Line2D([], [], color="0.3", marker="_", markersize=12, markeredgewidth=1.6,
                      linestyle="none", label="exact"),
               Line2D([], [], color="0.3", marker="o", linestyle="none", label="simulated")]
    if conf is not None:
        explain.append(Line2D([], [], color="black", linewidth=1.0, linestyle=(0, (6, 3)),
                              label=f"nominal {100 * conf:g} %"))
    for c, (metric, _, _) in enumerate(columns):
        handles = [Line2D([], [], **style(METHOD_STYLE.get(m, i)),
                          label=METHOD_LABEL.get(m, m))
                   for i, m in enumerate(groups[metric])]
        if c == len(columns) - 1:
            handles += explain
        if token:
            add_legend(head, handles, ncols=math.ceil(len(handles) / 2),
                       loc="lower left" if c == 0 else "lower right",
                       anchor=(0.01, 0.0) if c == 0 else (0.99, 0.0))
        else:
            add_legend(head, handles)
    return fig


# --- emergence score --------------------------------------------------------------------

def figure_emergence(res, opts):
    group = res.h5["emergence"]
    metrics = pass_at_ends([m for m in metric_order(group)
                            if is_group(group[m])
                            and all(q in group[m] for q in ("median", "q025", "q975"))])
    if not metrics:
        return None
    styles = metric_styles(metrics)
    passes = [m for m in metrics if pass_at_k(m) is not None]
    data = {m: {q: group[m][q][()].astype(float) for q in ("median", "q025", "q975")}
            for m in metrics}
    # The score of the noise-free analytic curve, per length (newer files).
    analytic = {m: group[m]["expected"][()].astype(float).ravel() for m in metrics
                if "expected" in group[m] and group[m]["expected"].size == len(res.lengths)}
    everything = np.concatenate([np.ravel(v) for d in data.values() for v in d.values()]
                                + list(analytic.values()))
    finite = everything[np.isfinite(everything)]
    hi = max(finite.max(), 0.0) if finite.size else 1.0
    lo = min(finite.min(), 0.0) if finite.size else 0.0
    span = max(hi - lo, 1.0)
    # Infinite scores get their own row above (below) the finite range, labelled ±∞.
    y_pinf = hi + 0.14 * span if np.isposinf(everything).any() else None
    y_ninf = lo - 0.14 * span if np.isneginf(everything).any() else None
    top = (y_pinf if y_pinf is not None else hi) + 0.07 * span
    bottom = (y_ninf if y_ninf is not None else lo) - 0.05 * span

    def placed(values):
        out = values.copy()
        out[np.isposinf(values)] = y_pinf if y_pinf is not None else np.nan
        out[np.isneginf(values)] = y_ninf if y_ninf is not None else np.nan
        return out

    K = len(res.lengths)
    ncols = min(K, 5)
    nrows = math.ceil(K / ncols)
    fig, body, head = new_figure("emergence", res,
                                 "Emergence score per metric and test size",
                                 "markers: median over replicates; bars: 2.5–97.5 % of "
                                 "replicates; ±∞ row: infinite score (the median squared "
                                 "step between neighbouring scales is 0)"
                                 + ("; thin horizontal lines: score of the analytic curve"
                                    if analytic else "")
                                 + ("; pass@k: the smallest and largest k of the file (every k:"
                                    " the pass_at_k figure)" if passes else ""))
    axes = np.atleast_1d(body.subplots(nrows, ncols, sharey=True, squeeze=False)).ravel()
    sizes = res.test_sizes.astype(float)
    nm = len(metrics)
    for k, L in enumerate(res.lengths):
        ax = axes[k]
        for y_inf in (y_pinf, y_ninf):
            if y_inf is not None:
                ax.axhline(y_inf, color="0.6", linewidth=0.8, linestyle=(0, (1, 2)))
        for i, m in enumerate(metrics):
            if m in analytic and not np.isnan(analytic[m][k]):
                ax.axhline(placed(analytic[m][k:k + 1])[0], color=styles[m]["color"],
                           linestyle=styles[m]["linestyle"], linewidth=0.8, alpha=0.7,
                           zorder=2)
        for i, m in enumerate(metrics):
            st = styles[m]
            # Offset the metrics sideways (multiplicatively, log x) so the bars do not overlap.
            x = sizes * 10 ** (0.06 * (i - (nm - 1) / 2))
            med, q1, q2 = (placed(data[m][q][k]) for q in ("median", "q025", "q975"))
            ok = np.isfinite(med)
            yerr = np.vstack([np.clip(med - np.where(np.isnan(q1), med, q1), 0, None),
                              np.clip(np.where(np.isnan(q2), med, q2) - med, 0, None)])
            ax.errorbar(x[ok], med[ok], yerr=yerr[:, ok], color=st["color"],
                        marker=st["marker"], linestyle="none", markersize=5.5, capsize=2.5,
                        elinewidth=0.9, markeredgecolor="white", markeredgewidth=0.5,
                        zorder=4)
            finite_med = np.where(np.isfinite(data[m]["median"][k]), med, np.nan)
            ax.plot(x, finite_med, color=st["color"], linestyle=st["linestyle"], linewidth=1.0,
                    zorder=3)
        ax.axhline(0.0, color="0.5", linewidth=0.7)
        ax.set_xscale("log")
        ax.set_xlim(sizes.min() / 2.0, sizes.max() * 2.0)
        ax.set_ylim(bottom, top)
        ax.set_title(f"L = {L}")
        ax.set_xlabel("Test size n (items)")
        if k % ncols == 0:
            ax.set_ylabel("Emergence score (dimensionless)")
    ticks = [v for v in MaxNLocator(nbins=6).tick_values(lo, hi) if lo - 1e-9 <= v <= hi + 1e-9]
    labels = [f"{v:g}" for v in ticks]
    if y_pinf is not None:
        ticks.append(y_pinf)
        labels.append("+∞")
    if y_ninf is not None:
        ticks.insert(0, y_ninf)
        labels.insert(0, "−∞")
    axes[0].set_yticks(ticks, labels)
    for ax in axes[K:]:
        ax.set_axis_off()
    handles = []
    for i, m in enumerate(metrics):
        label = f"{metric_label(m)} ({metric_kind(res, m)})"
        if m == "token_edit_distance":
            label += ", sign flipped"
        handles.append(Line2D([], [], **styles[m], label=label))
    add_legend(head, handles)
    return fig


# --- paper figure 5: the meta-analysis -----------------------------------------------------

def _meta_fractions(res, metric, relative):
    """(fraction [F], noise-free fraction [F], per-replicate fractions [F][R]) of the curves
    of a metric above the absolute (relative=False) or relative threshold. The per-replicate
    shares are the file's for the absolute threshold and computed from the scores for the
    relative one (the same definition: among the tasks the metric applies to)."""
    meta = res.h5["meta"]
    key = "fraction_relative" if relative else "fraction"
    fraction = meta[f"{key}/{metric}"][()].astype(float)
    expected = (meta[f"{key}_expected/{metric}"][()].astype(float)
                if f"{key}_expected/{metric}" in meta else np.full_like(fraction, np.nan))
    if not relative and f"fraction_replicate/{metric}" in meta:
        per_replicate = meta[f"fraction_replicate/{metric}"][()].astype(float)
    else:
        score = meta[f"score/{metric}"][()].astype(float)  # [tasks][F][R]
        per_replicate = np.full((len(res.families), score.shape[-1]), np.nan)
        for f, fam in enumerate(res.families):
            s = score[:, f, :]
            applies = ~np.isnan(s)
            cut = (res.relative_threshold * (len(res.scales[fam]) - 1) if relative
                   else res.threshold)
            with np.errstate(invalid="ignore", divide="ignore"):
                per_replicate[f] = (np.where(applies, s > cut, False).sum(axis=0)
                                    / applies.sum(axis=0))
    return fraction, expected, per_replicate


def _meta_bars(ax, res, metrics, relative):
    F = len(res.families)
    width = 0.8 / F
    for f, fam in enumerate(res.families):
        colour = PALETTE[f % len(PALETTE)]
        x = np.arange(len(metrics)) + (f - (F - 1) / 2.0) * width
        values, expected, spread = [], [], []
        for m in metrics:
            fraction, exp, per_replicate = _meta_fractions(res, m, relative)
            values.append(fraction[f])
            expected.append(exp[f])
            reps = per_replicate[f][np.isfinite(per_replicate[f])]
            spread.append(np.quantile(reps, [0.025, 0.975]) if reps.size else
                          (np.nan, np.nan))
        values, expected, spread = np.array(values), np.array(expected), np.array(spread)
        ax.bar(x, np.nan_to_num(values), width=width * 0.92, color=colour, alpha=0.85,
               edgecolor="white", linewidth=0.5, zorder=2)
        yerr = np.vstack([np.clip(values - spread[:, 0], 0, None),
                          np.clip(spread[:, 1] - values, 0, None)])
        ok = np.isfinite(values) & np.isfinite(spread).all(axis=1)
        ax.errorbar(x[ok], values[ok], yerr=yerr[:, ok], fmt="none", ecolor="0.15",
                    elinewidth=1.0, capsize=2.5, zorder=4)
        ax.plot(x, expected, linestyle="none", marker="D", markersize=5,
                markerfacecolor="white", markeredgecolor="black", markeredgewidth=1.1,
                zorder=5)
        for xi, v in zip(x, values):
            if np.isfinite(v) and v > 0.12:  # the value inside the bar, where it fits
                ax.annotate(f"{v:.2f}", xy=(xi, 0.0), xytext=(0, 3), textcoords="offset points",
                            ha="center", va="bottom", fontsize=6.5, color="white",
                            rotation=90, zorder=6)
    ax.set_xticks(np.arange(len(metrics)), [_meta_metric_label(res, m) for m in metrics])
    ax.set_xlim(-0.5, len(metrics) - 0.5)
    ax.set_ylim(0.0, 1.08)
    ax.grid(axis="x", visible=False)


def _meta_metric_label(res, metric):
    label = f"{METRIC_LABEL.get(metric, metric)}\n({METRIC_KIND.get(metric, '?')})"
    if metric in ("multiple_choice_grade", "brier_score"):
        label += "\nMC tasks"
    return label


def _meta_scores(res, ax, metrics):
    """Box plots of score / (S − 1) per metric and family on a log axis, with rows for +∞
    and for scores ≤ 0. Quantiles are of all curves the metric applies to (the infinite
    ones included, so a box or whisker may end in the +∞ row). Returns the top of the
    finite axis if some whisker goes beyond it (drawn as an arrow), else None."""
    F = len(res.families)
    width = 0.8 / F
    stats = {}
    drawn = []
    for m in metrics:
        score = res.h5[f"meta/score/{m}"][()].astype(float)
        for f, fam in enumerate(res.families):
            values = score[:, f, :].ravel()
            values = values[~np.isnan(values)] / max(len(res.scales[fam]) - 1, 1)
            if not values.size:
                continue
            q = np.quantile(values, [0.025, 0.25, 0.5, 0.75, 0.975], method="inverted_cdf")
            stats[m, f] = (q, float(np.isposinf(values).mean()), float((values <= 0).mean()))
            drawn.append(q[np.isfinite(q) & (q > 0)])
    marks = [1.0, res.relative_threshold or 1.0]
    marks += [res.threshold / (len(s) - 1) for s in res.scales.values()
              if res.threshold and len(s) > 1]
    core = np.concatenate([q[1:4] for q, _, _ in stats.values()] + [np.array(marks)])
    core = core[np.isfinite(core) & (core > 0)]
    finite = np.concatenate(drawn + [core])
    lo = decade_below(finite.min())
    # The axis reaches a decade above the boxes; rare huge finite scores (a curve whose
    # median step is nearly 0) would squash the rest, so whiskers beyond end in an arrow.
    hi = min(10 ** math.ceil(math.log10(finite.max()) - 1e-9),
             max(10 ** (math.ceil(math.log10(core.max()) - 1e-9) + 1), 100.0))
    span = math.log10(hi / lo)
    # The ±∞ and ≤ 0 rows, only where some curve lands there.
    some_inf = any(share > 0 or np.isposinf(q).any() for q, share, _ in stats.values())
    some_zero = any(share > 0 or (q <= 0).any() for q, _, share in stats.values())
    y_inf = hi * 10 ** (0.14 * span)
    y_zero = lo / 10 ** (0.14 * span)
    beyond = False

    def placed(v):
        nonlocal beyond
        if np.isposinf(v):
            return y_inf
        if v <= 0:
            return y_zero
        if v > hi:
            beyond = True
            return hi
        return v

    rows = [y for y, some in ((y_inf, some_inf), (y_zero, some_zero)) if some]
    for y in rows:
        ax.axhline(y, color="0.6", linewidth=0.8, linestyle=(0, (1, 2)))
    ax.axhline(1.0, color="0.3", linewidth=0.9, linestyle=(0, (5, 3)))
    if res.relative_threshold:
        ax.axhline(res.relative_threshold, color="black", linewidth=1.1)
    for (m, f), (q, share_inf, share_zero) in stats.items():
        colour = PALETTE[f % len(PALETTE)]
        x = metrics.index(m) + (f - (F - 1) / 2.0) * width
        w = width * 0.7
        y = [placed(v) for v in q]
        ax.vlines(x, y[0], y[4], color=colour, linewidth=1.1, zorder=3)
        ax.add_patch(Rectangle((x - w / 2, y[1]), w, y[3] - y[1], facecolor=colour, alpha=0.35,
                               edgecolor=colour, linewidth=1.0, zorder=3))
        ax.hlines(y[2], x - w / 2, x + w / 2, color=colour, linewidth=2.2, zorder=4)
        for end, value in ((y[0], q[0]), (y[4], q[4])):
            if np.isfinite(value) and value > hi:
                ax.plot(x, end, marker="^", markersize=5, color=colour, zorder=4,
                        clip_on=False)
            else:
                ax.hlines(end, x - w / 4, x + w / 4, color=colour, linewidth=1.1, zorder=3)
        if res.threshold:
            S = len(res.scales[res.families[f]])
            ax.hlines(res.threshold / max(S - 1, 1), x - w / 2 - 0.02, x + w / 2 + 0.02,
                      color="black", linewidth=1.6, linestyle=(0, (2, 1)), zorder=5)
        for share, row, va, dy in ((share_inf, y_inf, "bottom", 3), (share_zero, y_zero,
                                                                       "top", -3)):
            if share > 0:
                ax.plot(x, row, marker="o", markersize=3.5, color=colour, zorder=4)
                ax.annotate(f"{100 * share:.0f}%" if share >= 0.01 else "<1%", xy=(x, row),
                            xytext=(0, dy), textcoords="offset points", ha="center", va=va,
                            fontsize=6.5, color=colour)
    ax.set_yscale("log")
    ax.set_ylim((y_zero if some_zero else lo) / 10 ** (0.09 * span),
                (y_inf if some_inf else hi) * 10 ** (0.09 * span))
    exponents = list(range(int(round(math.log10(lo))), int(round(math.log10(hi))) + 1))
    if len(exponents) > 8:
        exponents = exponents[::math.ceil(len(exponents) / 8)]
    ax.set_yticks([10.0 ** e for e in exponents] + rows,
                  [f"{10.0 ** e:g}" if -2 <= e <= 3 else rf"$10^{{{e}}}$" for e in exponents]
                  + [("+∞" if y == y_inf else "≤ 0") for y in rows])
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_xticks(np.arange(len(metrics)), [_meta_metric_label(res, m) for m in metrics])
    ax.set_xlim(-0.5, len(metrics) - 0.5)
    ax.grid(axis="x", visible=False)
    ax.set_ylabel("Emergence score / (S − 1)  (log; a straight line scores 1)")
    return hi if beyond else None


def figure_meta(res, opts):
    metrics = [m for m in res.metrics
               if f"fraction/{m}" in res.h5["meta"] and np.isfinite(
                   res.h5[f"meta/fraction/{m}"][()].astype(float)).any()]
    if not metrics:
        return None
    thr, rel = res.threshold, res.relative_threshold
    line_scores = ", ".join(f"{fam} {len(res.scales[fam]) - 1}" for fam in res.families)
    identical = ("token_edit_distance" in metrics and "token_accuracy" in metrics and
                 np.array_equal(res.h5["meta/score/token_edit_distance"][()],
                                res.h5["meta/score/token_accuracy"][()], equal_nan=True))
    R = res.replicates
    extra = (f"Each of {res.tasks} tasks × {R} replicate test sets gives one curve per model "
             "family over the family's S scales, scored with BIG-bench's emergence score "
             f"(Srivastava et al. 2022). A: the share of curves, among the tasks the metric "
             f"applies to, scoring above {thr:g}; B: above {rel:g} × (S − 1). Absolute scores "
             "grow with the number of scales: a straight line over S scales scores S − 1 "
             f"({line_scores}), so a fixed threshold flags smooth curves on a dense grid. Bars: "
             f"the mean over replicates; error bars: 2.5–97.5 % of the {R} per-replicate "
             "shares; ◇: the noise-free (analytic) curves. C: score / (S − 1) of every curve; "
             "box 25–75 %, whiskers 2.5–97.5 %, thick line the median; +∞: a curve that "
             "moves "
             "although its median step is 0 (percent of curves); ≤ 0: flat or falling.")
    if identical:
        extra += " Token edit distance and token accuracy score alike (one is affine in the other)."
    fig, body, head = new_figure(
        "meta", res,
        "Meta-analysis: how many task curves look emergent, per metric and model family",
        extra)
    axes = body.subplot_mosaic([["A", "B"], ["C", "C"]], height_ratios=[1.0, 1.15])
    _meta_bars(axes["A"], res, metrics, relative=False)
    axes["A"].set_title(f"A  Score above the absolute threshold {thr:g}")
    axes["A"].set_ylabel("Fraction of (task, replicate) curves")
    _meta_bars(axes["B"], res, metrics, relative=True)
    axes["B"].set_title(f"B  Score above {rel:g} × (S − 1), relative to a straight line")
    axes["B"].set_ylabel("Fraction of (task, replicate) curves")
    beyond = _meta_scores(res, axes["C"], metrics)
    axes["C"].set_title("C  Distribution of the scores per curve, normalised by a straight "
                        "line's S − 1")
    handles = [Patch(facecolor=PALETTE[f % len(PALETTE)], alpha=0.85,
                     label=f"{fam} (S = {len(res.scales[fam])})")
               for f, fam in enumerate(res.families)]
    handles += [Line2D([], [], linestyle="none", marker="D", markerfacecolor="white",
                       markeredgecolor="black", label="noise-free curves"),
                Line2D([], [], color="black", linewidth=1.6, linestyle=(0, (2, 1)),
                       label=f"C: threshold {thr:g} / (S − 1)"),
                Line2D([], [], color="black", linewidth=1.1,
                       label=f"C: relative threshold {rel:g}"),
                Line2D([], [], color="0.3", linewidth=0.9, linestyle=(0, (5, 3)),
                       label="C: straight line")]
    if beyond is not None:
        handles.append(Line2D([], [], color="0.3", marker="^", linestyle="none",
                              label=f"C: whisker beyond {beyond:g}"))
    add_legend(head, handles)
    return fig


# --- multiple choice: grade vs Brier score ------------------------------------------------

MC_TITLES = {
    "multiple_choice_grade": ("Multiple-choice grade", "fraction correct", "discontinuous"),
    "brier_score": ("Brier score", "lower is better", "quadratic in q = p^L, continuous"),
}


def figure_multiple_choice(res, opts):
    panels = [m for m in ("multiple_choice_grade", "brier_score")
              if res.has(f"summary/{m}/mean")]
    if not panels:
        return None
    k, t = opts.length_index, opts.test_size_index
    L, n = int(res.lengths[k]), int(res.test_sizes[t])
    choices = res.choices()
    with_replicate = all(res.has(f"metrics/{m}/estimate") for m in panels)
    fig, body, head = new_figure(
        "multiple_choice", res,
        "Multiple choice: a discontinuous grade vs the continuous Brier score"
        + (f" ({choices} options)" if choices else ""),
        f"Top: every length; markers: the mean of {res.replicates} replicate test sets of "
        f"n = {n:,} items; bands: 2.5–97.5 % of replicates; thin lines: analytic. Bottom: "
        f"L = {L}; error bars: one test set (replicate 0) with its {conf_percent(res)} "
        "interval ("
        + ", ".join(f"{MC_TITLES[m][0].lower()}: {res.interval_name(m)}" for m in panels)
        + "); black: analytic. The grade scores an item 1 when the correct option "
        "gets the most mass, a step in q = p^L; the Brier score is (1 − q)² (1 + Σ D²), a "
        "smooth function of q.".replace("q = p^L", "$q = p^L$"),
        legend_rows=1)
    rows = 2 if with_replicate else 1
    axes = body.subplots(rows, len(panels), sharex=True, squeeze=False)
    letters = "ABCD"
    for c, m in enumerate(panels):
        name, unit, kind = MC_TITLES[m]
        kind_tex = kind.replace("q = p^L", "$q = p^L$")
        mean = res.read(f"summary/{m}/mean")[:, :, t]
        expected = (res.read(f"metrics/{m}/expected") if res.has(f"metrics/{m}/expected")
                    else None)
        ax = axes[0, c]
        for i, length in enumerate(res.lengths):
            st = style(i)
            q025, _, q975 = replicate_quantiles(res, m, i, t)
            draw_band(ax, res.scale, q025, q975, st["color"], alpha=0.14)
            if expected is not None:
                ax.plot(res.scale, expected[:, i], color=st["color"], linestyle=st["linestyle"],
                        linewidth=0.9)
            ax.plot(res.scale, mean[:, i], color=st["color"], marker=st["marker"],
                    linestyle="none", markersize=3.8)
        ax.set_title(f"{letters[c]}  {name} ({kind_tex})")
        ax.set_ylabel(f"{name} ({unit})")
        ax.set_xscale("log")
        if with_replicate:
            ax_one = axes[1, c]
            st = metric_style(m)
            q025, _, q975 = replicate_quantiles(res, m, k, t)
            draw_band(ax_one, res.scale, q025, q975, st["color"], alpha=0.2, edges=True)
            if expected is not None:
                ax_one.plot(res.scale, expected[:, k], color="black", linewidth=1.1, zorder=4)
            est, lo, hi = replicate_curve(res, m, k, t)
            draw_replicate(ax_one, res.scale, est, lo, hi, st["color"], marker=st["marker"])
            ax_one.set_title(f"{letters[len(panels) + c]}  {name}, one test set "
                             f"(L = {L}, n = {n:,})")
            ax_one.set_ylabel(f"{name} ({unit})")
            ax_one.set_ylim(ax.get_ylim())
            ax.tick_params(labelbottom=True)
        for a in axes[:, c]:
            log_scale_axis(a)
    handles = length_handles(res.lengths, f"mean (n = {n:,})")
    handles.insert(len(res.lengths) + 1, Patch(facecolor="0.6", alpha=0.35,
                                               label="2.5–97.5 %"))
    if with_replicate:
        handles.append(errorbar_handle("0.35", "o", "replicate 0 and its interval"))
    add_legend(head, handles)
    return fig


# --- item difficulty ------------------------------------------------------------------------

FAN = ((0.01, 0.99, 0.12), (0.10, 0.90, 0.2), (0.25, 0.75, 0.32))


def _level_index(levels, value):
    hit = np.nonzero(np.isclose(levels, value, rtol=1e-6, atol=1e-9))[0]
    return int(hit[0]) if hit.size else None


def _probit(p):
    """Φ⁻¹ elementwise (numpy only), for the normal-probability axis."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    inside = (p > 0) & (p < 1)
    out[inside] = [statistics.NormalDist().inv_cdf(v) for v in p[inside]]
    out[p <= 0] = -9.0
    out[p >= 1] = 9.0
    return out


def _phi(z):
    z = np.asarray(z, dtype=float)
    return 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))


def _probability_label(p):
    """0.01, 0.5, 0.99 as they are; 1e-6 as 10⁻⁶ and 1 − 1e-6 as 1 − 10⁻⁶."""
    if 0.01 <= p <= 0.99:
        return f"{p:g}"
    if p < 0.5:
        return rf"$10^{{{round(math.log10(p))}}}$"
    return rf"$1-10^{{{round(math.log10(1 - p))}}}$"


def figure_difficulty(res, opts):
    group = res.h5["model/difficulty"]
    if not all(d in group for d in ("probability", "shift_quantile", "p_token_quantile")):
        return None
    family, spec = res.difficulty()
    levels = group["probability"][()].astype(float)
    shift = group["shift_quantile"][()].astype(float)
    pq = group["p_token_quantile"][()].astype(float)  # [S][Q]
    k, t = opts.length_index, opts.test_size_index
    L, n = int(res.lengths[k]), int(res.test_sizes[t])
    fig, body, head = new_figure(
        "difficulty", res,
        f"Item difficulty ({spec}): items differ, and exact match becomes smoother",
        r"Every item i has its own logit shift $d_i$: $p_i(N) = \mathrm{sigmoid}(\mathrm{logit}"
        r"\,p(N) + d_i)$. A: quantiles over items of $p_i(N)$ at each scale (with a symmetric "
        "law the median item is the model); B: the quantile function of d "
        "(a straight line on this axis is a normal law); C: exact match at "
        f"L = {L}, n = {n:,}: the median of {res.replicates} replicate test sets, its "
        "2.5–97.5 % band, the analytic mixture E[p_i^L] and, for contrast, the model without "
        "difficulty, p(N)^L.".replace("p_i^L", "$p_i^L$").replace("p(N)^L", "$p(N)^L$"))
    ax_fan, ax_q, ax_em = body.subplots(1, 3)

    # A: the fan of per-item probabilities.
    median = _level_index(levels, 0.5)
    for lo_level, hi_level, alpha in FAN:
        i, j = _level_index(levels, lo_level), _level_index(levels, hi_level)
        if i is not None and j is not None:
            ax_fan.fill_between(res.scale, pq[:, i], pq[:, j], color=PALETTE[0], alpha=alpha,
                                linewidth=0)
    if median is not None:
        ax_fan.plot(res.scale, pq[:, median], color=PALETTE[0], linewidth=1.6)
    ax_fan.plot(res.scale, res.p_token, color="black", linestyle=(0, (4, 2)), linewidth=1.3)
    log_scale_axis(ax_fan)
    ax_fan.set_ylim(-0.02, 1.02)
    ax_fan.set_ylabel("Per-token probability of an item, $p_i(N)$")
    ax_fan.set_title("A  Per-token probability over items")

    # B: the quantile function of the logit shift, on a normal-probability axis.
    finite = np.isfinite(shift) & (levels > 0) & (levels < 1)
    ax_q.plot(levels[finite], shift[finite], color=PALETTE[1], marker="o", markersize=4,
              linewidth=1.4)
    q25, q75 = _level_index(levels, 0.25), _level_index(levels, 0.75)
    if q25 is not None and q75 is not None and shift[q75] > shift[q25]:
        sigma = (shift[q75] - shift[q25]) / 1.3489795
        ref = np.array([levels[finite].min(), levels[finite].max()])
        centre = shift[median] if median is not None else 0.0
        ax_q.plot(ref, centre + sigma * _probit(ref), color="0.45", linestyle=(0, (1, 1.5)),
                  linewidth=1.2)
    ax_q.set_xscale("function", functions=(_probit, _phi))
    ticks = [p for p in (1e-6, 1e-3, 0.05, 0.5, 0.95, 1 - 1e-3, 1 - 1e-6)
             if levels[finite].min() - 1e-12 <= p <= levels[finite].max() + 1e-12]
    ax_q.xaxis.set_major_locator(FixedLocator(ticks))
    ax_q.xaxis.set_minor_locator(NullLocator())
    ax_q.set_xticks(ticks, [_probability_label(p) for p in ticks])
    ax_q.set_xlim(levels[finite].min() / 1.5, 1 - (1 - levels[finite].max()) / 1.5)
    ax_q.axhline(0.0, color="0.5", linewidth=0.7)
    ax_q.set_xlabel("Probability (normal-probability axis)")
    ax_q.set_ylabel("Quantile of the logit shift d")
    ax_q.set_title(f"B  Law of the difficulty ({family})")

    # C: exact match with and without difficulty.
    st = metric_style("exact_match")
    q025, q500, q975 = replicate_quantiles(res, "exact_match", k, t)
    draw_band(ax_em, res.scale, q025, q975, st["color"], alpha=0.2, edges=True)
    ax_em.plot(res.scale, q500, color=st["color"], marker=st["marker"], linestyle="none",
               markersize=4)
    ax_em.plot(res.scale, res.read("metrics/exact_match/expected")[:, k], color="black",
               linewidth=1.2)
    ax_em.plot(res.scale, res.p_token ** L, color="0.45", linestyle="-.", linewidth=1.2)
    log_scale_axis(ax_em)
    ax_em.set_ylim(-0.02, 1.02)
    ax_em.set_ylabel(f"Exact match at L = {L} (fraction of items)")
    ax_em.set_title(f"C  Exact match, L = {L}, n = {n:,}")

    handles = [Patch(facecolor=PALETTE[0], alpha=a, label=f"{100 * lo:g}–{100 * hi:g} %")
               for lo, hi, a in FAN]
    handles += [Line2D([], [], color=PALETTE[0], linewidth=1.6, label="median item"),
                Line2D([], [], color="black", linestyle=(0, (4, 2)), label="model p(N)"),
                Line2D([], [], color=PALETTE[1], marker="o", label="quantile of d"),
                Line2D([], [], color="0.45", linestyle=(0, (1, 1.5)), linewidth=1.2,
                       label="normal, same IQR"),
                Line2D([], [], color=st["color"], marker=st["marker"], linestyle="none",
                       label="median of replicates"),
                Line2D([], [], color="black", linewidth=1.2, label="analytic"),
                Line2D([], [], color="0.45", linestyle="-.", linewidth=1.2,
                       label=r"no difficulty, $p^L$")]
    add_legend(head, handles)
    return fig


# --- significance of the jump between adjacent scales --------------------------------------

def jump_method_label(method):
    if method == "newcombe":
        return "Newcombe hybrid score"
    if method.startswith("mover-"):
        base = method[len("mover-"):]
        return f"MOVER from {METHOD_LABEL.get(base, base)}"
    return METHOD_LABEL.get(method, method)


def figure_jumps(res, opts):
    group = res.h5["jumps"]
    metrics = pass_at_ends([m for m in metric_order(group)
                            if is_group(group[m]) and "fraction_significant" in group[m]])
    if not metrics or len(res.scale) < 2:
        return None
    styles = metric_styles(metrics)
    passes = [m for m in metrics if pass_at_k(m) is not None]
    k, t = opts.length_index, opts.test_size_index
    L, n = int(res.lengths[k]), int(res.test_sizes[t])
    conf = as_float(group.attrs.get("confidence"), res.confidence())
    alpha = 1.0 - conf if conf is not None else None
    mid = np.sqrt(res.scale[:-1] * res.scale[1:])
    methods = {m: as_text(group[m].attrs.get("method", "?")) for m in metrics}
    free = [m for m in metrics if m not in ("multiple_choice_grade", "brier_score")]
    mc = [m for m in metrics if m in ("multiple_choice_grade", "brier_score")]
    with_coverage = [m for m in metrics if "coverage" in group[m]]
    panels = [("free-form metrics", free)] if free else []
    if mc:
        panels.append(("multiple choice", mc))
    used = sorted(set(methods.values()))
    how = "; ".join(f"{', '.join(metric_label(m) for m in metrics if methods[m] == x)}:"
                    f" {jump_method_label(x)}" for x in used)
    conf_text = f"{100 * conf:g} %" if conf is not None else "the file's"
    extra = (f"Per pair of adjacent scales, the fraction of the {res.replicates} replicates whose "
             f"{conf_text} interval for estimate(s + 1) − estimate(s) excludes 0 (L = {L}, "
             f"n = {n:,}). Intervals: Newcombe (1998) hybrid score interval for a difference of "
             "proportions; MOVER (Zou & Donner 2008) from each metric's own interval for means "
             f"({how}). ")
    shared = []
    if res.difficulty()[0] != "none":
        shared.append("the items' difficulty")
    if mc:
        shared.append("the distractor split of each multiple-choice item"
                      + (" (grade and Brier score only)" if not shared else ""))
    if shared:
        extra += ("Each scale draws its own tokens, but " + " and ".join(shared) + " are the "
                  "same at every scale of a replicate: adjacent scales are positively correlated "
                  "there, so these unpaired intervals are conservative (wider than needed).")
    else:
        extra += ("Adjacent scales are independent samples here (each scale draws its own "
                  "tokens), which is what these unpaired intervals assume; a benchmark that "
                  "scores the same items at every scale is paired.")
    if passes:
        extra += (" pass@k: the smallest and largest k of the file; all k share the attempts "
                  "of an item (every k: the pass_at_k figure).")
    if "token_edit_distance" in metrics and "token_accuracy" in metrics:
        a = group["token_edit_distance/fraction_significant"][:, k, t]
        b = group["token_accuracy/fraction_significant"][:, k, t]
        if np.array_equal(np.asarray(a), np.asarray(b)):
            extra += (" Token edit distance and token accuracy coincide: one is an affine "
                      "function of the other.")
    fig, body, head = new_figure(
        "jumps", res,
        f"Is the step between adjacent scales significant? (L = {L}, n = {items(n)})", extra)
    ncols = len(panels) + (1 if with_coverage else 0)
    axes = np.atleast_1d(body.subplots(1, ncols, sharex=True))
    letters = "ABC"
    for ax, (what, ms), letter in zip(axes, panels, letters):
        for i, m in enumerate(ms):
            st = styles[m]
            frac = group[f"{m}/fraction_significant"][:, k, t].astype(float)
            ax.plot(dodge(mid, i, len(ms), step=0.012), frac, **st, markersize=5,
                    markeredgecolor="white", markeredgewidth=0.5)
        if alpha is not None:
            ax.axhline(alpha, color="0.4", linewidth=0.9, linestyle=(0, (1, 2)))
            ax.annotate(f"{100 * alpha:g} %: expected for a zero step", xy=(0.99, alpha),
                        xycoords=("axes fraction", "data"), xytext=(0, 3),
                        textcoords="offset points", ha="right", va="bottom",
                        fontsize=NOTE_FONTSIZE, color="0.35")
        log_scale_axis(ax)
        ax.set_xlabel(r"Midpoint scale $\sqrt{N_s N_{s+1}}$ (parameters)")
        ax.set_ylim(-0.03, 1.03)
        ax.set_ylabel("Fraction of replicates with a significant step")
        ax.set_title(f"{letter}  Significant steps, {what}")
    if with_coverage:
        ax = axes[-1]
        for i, m in enumerate(with_coverage):
            st = styles[m]
            cov = group[f"{m}/coverage"][:, k, t].astype(float)
            ax.plot(dodge(mid, i, len(with_coverage), step=0.012), cov, **st, markersize=4.5,
                    markeredgecolor="white", markeredgewidth=0.5)
        if conf is not None:
            ax.axhline(conf, color="black", linewidth=1.0, linestyle=(0, (6, 3)))
            ax.annotate(f"nominal {100 * conf:g} % (grey: ± 2 Monte Carlo SE)", xy=(0.01, conf),
                        xycoords=("axes fraction", "data"), xytext=(2, -10),
                        textcoords="offset points", fontsize=NOTE_FONTSIZE)
        covs = np.concatenate([group[f"{m}/coverage"][:, k, t] for m in with_coverage])
        covs = covs[np.isfinite(covs)]
        coverage_axis(ax, min(covs.min() - 0.02, 0.9) if covs.size else 0.9, conf,
                      res.replicates)
        log_scale_axis(ax)
        ax.set_xlabel(r"Midpoint scale $\sqrt{N_s N_{s+1}}$ (parameters)")
        ax.set_ylabel("Coverage of the true step")
        ax.set_title(f"{letters[len(panels)]}  Do the step intervals hold their level?")
    handles = [Line2D([], [], **styles[m], label=f"{metric_label(m)} ({metric_kind(res, m)})")
               for m in metrics]
    add_legend(head, handles)
    return fig


# --- repeated attempts: pass@k -------------------------------------------------------------

def _pass_summary(res, metric, k, t):
    """(mean, q025, q975) over replicates of a metric at (length k, test size t), [S]."""
    if res.has(f"summary/{metric}/mean"):
        mean = res.h5[f"summary/{metric}/mean"][:, k, t].astype(float)
    else:
        mean = np.nanmean(res.h5[f"metrics/{metric}/estimate"][:, k, t, :].astype(float),
                          axis=-1)
    q025, _, q975 = replicate_quantiles(res, metric, k, t)
    return mean, q025, q975


def _spread(count, most):
    """Up to `most` indices of 0..count-1, evenly spread, the first and last among them."""
    if count <= most:
        return list(range(count))
    return sorted({int(round(v)) for v in np.linspace(0, count - 1, most)})


def _crossing(x, y, level):
    """The first x (log-interpolated) where a rising curve y reaches `level`; None if never."""
    y = np.asarray(y, dtype=float)
    above = np.nonzero(y >= level)[0]
    if not above.size:
        return None
    j = int(above[0])
    if j == 0:
        return float(x[0]) if y[0] == level else None
    lx0, lx1 = math.log(x[j - 1]), math.log(x[j])
    frac = (level - y[j - 1]) / (y[j] - y[j - 1])
    return math.exp(lx0 + frac * (lx1 - lx0))


def _loglog_slope(x, y):
    """Least-squares slope of log y on log x over the positive finite points (None if < 2)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2:
        return None
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def _sequential(count, cmap="viridis", lo=0.0, hi=0.88):
    """`count` colours of an ordered colour map (ordered things: scales, k), yellow end cut."""
    colours = matplotlib.colormaps[cmap](np.linspace(lo, hi, max(count, 2)))
    return [tuple(c) for c in colours[:count]] if count > 1 else [tuple(colours[0])]


def _neg_log(values):
    """-log(v) for a log axis: NaN where v is not in (0, 1)."""
    values = np.asarray(values, dtype=float)
    out = np.full(values.shape, np.nan)
    ok = np.isfinite(values) & (values > 0) & (values < 1)
    out[ok] = -np.log(values[ok])
    return out


#: The level at which panel B reads off how early each curve "emerges".
PASS_LEVEL = 0.5


def figure_pass_at_k(res, opts):
    passes = res.pass_at()
    if not passes:
        return None
    k_index, t = opts.length_index, opts.test_size_index
    L, n, R, A = int(res.lengths[k_index]), int(res.test_sizes[t]), res.replicates, res.attempts()
    ks = np.array([k for k, _ in passes], dtype=float)
    truth = np.stack([res.read(f"metrics/{m}/expected")[:, k_index] for _, m in passes], axis=1)
    sims = [_pass_summary(res, m, k_index, t) for _, m in passes]
    mean = np.stack([s[0] for s in sims], axis=1)  # [S][k]
    q025 = np.stack([s[1] for s in sims], axis=1)
    q975 = np.stack([s[2] for s in sims], axis=1)
    scale = res.scale
    shown = _spread(len(scale), 5)
    scale_colour = dict(zip(shown, _sequential(len(shown), "viridis")))
    k_colour = _sequential(len(passes), "plasma", 0.0, 0.85)
    family, spec = res.difficulty()
    truth_text = (r"$E[1-(1-p_i^L)^k]$ over the items' difficulty" if family != "none"
                  else r"$1-(1-p^L)^k$")

    # Where each k first reaches PASS_LEVEL (the exact truth, log-interpolated in scale).
    cross = [_crossing(scale, truth[:, j], PASS_LEVEL) for j in range(len(passes))]
    em_truth = res.read("metrics/exact_match/expected")[:, k_index]
    slopes = {s: _loglog_slope(ks, _neg_log(truth[s])) for s in shown}
    earlier, ratio = "", None
    if cross[0] is not None and cross[-1] is not None and len(passes) > 1:
        ratio = cross[0] / cross[-1]
        ratio = f"{ratio:.0f}" if ratio >= 10 else f"{ratio:.2g}"
        earlier = (f" The truth of pass@{passes[-1][0]} reaches {PASS_LEVEL:g} at N ≈ "
                   f"{sci(cross[-1])}, that of pass@{passes[0][0]} (and of exact match) at "
                   f"N ≈ {sci(cross[0])}, {ratio} times larger (log-interpolated between the "
                   f"scales of the grid).")
    extra = (f"L = {L} tokens, test sets of n = {n:,} items, A = {A} attempts per item; pass@k "
             f"per item from its c correct attempts, 1 − C(A − c, k)/C(A, k) (Chen et al. "
             f"2021), averaged over the test set. Markers: the mean over {R} replicate test sets; "
             f"error bars: 2.5–97.5 % of the replicates (exact match in B: the grey band); "
             f"lines: the exact truth "
             f"{truth_text}. A: pass@k against k at {len(shown)} scales; C: the same as "
             f"−log pass@k, a power law in k (a straight line) where the items' single-attempt "
             f"success has a heavy left tail (Schaeffer et al. 2025), with the slope b of a "
             f"least-squares line through the truth. B: pass@k against scale, beside exact "
             f"match (attempt 0 alone, as without attempts): the larger k, the earlier and "
             f"steeper the same ability appears." + earlier)
    fig, body, head = new_figure(
        "pass_at_k", res,
        f"Repeated attempts: pass@k against k and against scale (L = {L}, n = {items(n)}, "
        f"A = {A})", extra, legend_rows=2)
    ax_k, ax_s, ax_nl = body.subplots(1, 3, width_ratios=[1.0, 1.15, 1.0])

    # A: pass@k against k, log-log, one curve per scale.
    floor_a = log_floor([truth[shown], mean[shown], q025[shown]], 1.0, decades=8) / 1.5
    for s in shown:
        colour = scale_colour[s]
        ax_k.plot(ks, masked_positive(truth[s]), color=colour, linewidth=1.3, zorder=3,
                  gid="pass_at_k-truth")
        draw_replicate(ax_k, ks, mean[s], q025[s], q975[s], colour, floor=floor_a,
                       marker="o", markersize=4.4, zorder=5)
    ax_k.set_xscale("log")
    ax_k.set_yscale("log")
    ax_k.set_ylim(floor_a, 1.6)
    ax_k.set_xlim(ks.min() / 1.4, ks.max() * 1.4)
    ax_k.set_xlabel("k (attempts counted)")
    ax_k.set_ylabel(f"pass@k at L = {L} (fraction of items, log)")
    ax_k.set_title("A  pass@k against k, log-log")
    if len(ks) > 1 and np.isfinite(truth[shown[0], 0]) and truth[shown[0], 0] > 0:
        # For reference: k times pass@1 (one attempt's rate, no overlap between attempts).
        ref = truth[shown[0], 0] * ks
        ax_k.plot(ks, np.where(ref <= 1.0, ref, np.nan), color="0.45", linewidth=0.9,
                  linestyle=(0, (1, 2)), zorder=2)
        last = np.nonzero(ref <= 1.0)[0][-1]
        ax_k.annotate(r"$k \cdot$ pass@1", xy=(ks[last], ref[last]), xytext=(-3, 4),
                      textcoords="offset points", ha="right", va="bottom",
                      fontsize=NOTE_FONTSIZE, color=NOTE_COLOUR)
    if (mean[shown] <= 0).any():
        panel_note(ax_k, "bottom edge: 0", x=0.99, ha="right")

    # B: pass@k against scale, every k, and exact match of attempt 0.
    em_mean, em_lo, em_hi = _pass_summary(res, "exact_match", k_index, t)
    draw_band(ax_s, scale, em_lo, em_hi, "black", alpha=0.12, edges=True, zorder=1)
    ax_s.plot(scale, em_mean, color="black", marker="s", linestyle="none", markersize=3.6,
              zorder=6, markerfacecolor="white")
    ax_s.plot(scale, em_truth, color="black", linewidth=0.9, linestyle=(0, (4, 2)), zorder=2)
    count = len(passes)
    for j, (kv, m) in enumerate(passes):
        colour = k_colour[j]
        ax_s.plot(scale, truth[:, j], color=colour, linewidth=1.3, zorder=3)
        draw_replicate(ax_s, dodge(scale, j, count, step=0.006), mean[:, j], q025[:, j],
                       q975[:, j], colour, marker="o", markersize=3.8, zorder=5)
    ax_s.axhline(PASS_LEVEL, color="0.45", linewidth=0.8, linestyle=(0, (1, 2)), zorder=1)
    for j in (0, count - 1):
        if cross[j] is not None:
            ax_s.plot([cross[j]], [PASS_LEVEL], marker="|", markersize=11, color=k_colour[j],
                      markeredgewidth=1.8, zorder=7)
    if ratio is not None:
        ax_s.annotate("", xy=(cross[-1], PASS_LEVEL), xytext=(cross[0], PASS_LEVEL),
                      arrowprops={"arrowstyle": "->", "color": "0.3", "linewidth": 1.0,
                                  "shrinkA": 0, "shrinkB": 0}, zorder=8)
        panel_note(ax_s, f"the truth reaches {PASS_LEVEL:g} (dotted) at\n"
                         f"N ≈ {sci(cross[0])} for pass@{passes[0][0]} and exact match,\n"
                         f"N ≈ {sci(cross[-1])} for pass@{passes[-1][0]}: {ratio}× smaller",
                   x=0.99, y=0.03, ha="right")
    log_scale_axis(ax_s)
    ax_s.set_ylim(-0.02, 1.02)
    ax_s.set_ylabel(f"pass@k, exact match at L = {L} (fraction of items)")
    ax_s.set_title("B  pass@k against scale: the larger k, the earlier")

    # C: -log pass@k against k, log-log: the power law of Schaeffer et al. (2025).
    nl_truth = _neg_log(truth[shown])
    nl_mean = _neg_log(mean[shown])
    for i, s in enumerate(shown):
        colour = scale_colour[s]
        ax_nl.plot(ks, nl_truth[i], color=colour, linewidth=1.3, zorder=3)
        # -log is decreasing: the 97.5 % quantile of pass@k gives the lower end.
        lo, hi = _neg_log(q975[s]), _neg_log(q025[s])
        lo = np.where(np.isfinite(lo), lo, nl_mean[i])
        hi = np.where(np.isfinite(hi), hi, nl_mean[i])
        draw_replicate(ax_nl, ks, nl_mean[i], lo, hi, colour, marker="o", markersize=4.4,
                       zorder=5)
        finite = np.nonzero(np.isfinite(nl_truth[i]))[0]
        if slopes[s] is not None and finite.size:
            j = finite[-1]
            ax_nl.annotate(f"b = {_minus(slopes[s], '.2f')}", xy=(ks[j], nl_truth[i][j]),
                           xytext=(5, 0), textcoords="offset points", ha="left",
                           va="center", fontsize=NOTE_FONTSIZE, color=colour)
    ax_nl.set_xscale("log")
    ax_nl.set_yscale("log")
    ax_nl.set_xlim(ks.min() / 1.4, ks.max() * 4.0)
    ax_nl.set_xlabel("k (attempts counted)")
    ax_nl.set_ylabel("−log pass@k (log)")
    ax_nl.set_title(r"C  −log pass@k $\approx a\,k^{b}$: a power law")

    # Legends: the scales (A, C) on the left, the k (B) on the right.
    scale_handles = [Line2D([], [], color=scale_colour[s], marker="o", markersize=4.4,
                            label=f"N = {sci(scale[s])}") for s in shown]
    scale_handles += [errorbar_handle("0.35", "o", "mean, 2.5–97.5 %", markersize=4.4),
                      Line2D([], [], color="0.35", linewidth=1.3, label="exact truth")]
    add_legend(head, scale_handles, ncols=math.ceil(len(scale_handles) / 2),
               loc="lower left", anchor=(0.01, 0.0), title="A, C: one curve per scale")
    k_handles = [Line2D([], [], color=k_colour[j], marker="o", markersize=3.8,
                        label=f"pass@{kv}") for j, (kv, _) in enumerate(passes)]
    k_handles += [Line2D([], [], color="black", marker="s", markerfacecolor="white",
                         markersize=3.6, linestyle=(0, (4, 2)), linewidth=0.9,
                         label="exact match (attempt 0)")]
    add_legend(head, k_handles, ncols=math.ceil(len(k_handles) / 2), loc="lower right",
               anchor=(0.99, 0.0), title="B: one curve per k")
    return fig


# --- forecast: fitting below a cutoff, predicting above it --------------------------------

FORECAST_METHOD_LABEL = {
    "naive": "naive: logistic fit to exact match",
    "token": "token: loss-law fit to the token errors",
    "joint": "joint: loss-law fit to every length",
}
FORECAST_METHOD_STYLE = {"naive": 1, "token": 0, "joint": 2}
# joint is token's fit at the longest length: drawn thinner on top of it, both stay visible.
FORECAST_METHOD_WIDTH = {"naive": 1.6, "token": 2.0, "joint": 1.1}


def _quantile(values, q):
    """Type-7 quantile over the last axis ignoring NaN; NaN where a row has no value."""
    values = np.asarray(values, dtype=float)
    out = np.full(values.shape[:-1], np.nan)
    ok = np.isfinite(values).any(axis=-1)
    if ok.any():
        out[ok] = np.nanquantile(values[ok], q, axis=-1)
    return out


def forecast_series(res, method, metric, c, k, t):
    """{"median", "low", "high", "coverage"} of one method at (cutoff c, length k, test size
    t), each [S]: the median point forecast over replicates, the 2.5 % quantile of the
    intervals' lower ends, the 97.5 % quantile of their upper ends, the coverage."""
    g = f"forecast/{method}/{metric}"
    low = res.h5[f"{g}/low"][c, :, k, t, :].astype(float)
    high = res.h5[f"{g}/high"][c, :, k, t, :].astype(float)
    if res.has(f"{g}/point_q500"):
        median = res.h5[f"{g}/point_q500"][c, :, k, t].astype(float)
    else:
        median = _quantile(res.h5[f"{g}/point"][c, :, k, t, :], 0.5)
    return {"median": median, "low": _quantile(low, 0.025), "high": _quantile(high, 0.975),
            "coverage": res.h5[f"{g}/coverage"][c, :, k, t].astype(float)}


def forecast_replicate(res, method, metric, c, k, t, r):
    """{"point", "low", "high"} of one replicate test set r of one method at (cutoff c,
    length k, test size t), each [S]: what one researcher with that test set would have
    predicted."""
    g = f"forecast/{method}/{metric}"
    return {key: res.h5[f"{g}/{key}"][c, :, k, t, r].astype(float)
            for key in ("point", "low", "high")}


def coverage_band(R, nominal):
    """nominal ± 2 Monte Carlo standard errors sqrt(nominal (1 - nominal) / R) of a
    coverage estimated from R replicates."""
    half = 2.0 * math.sqrt(nominal * (1.0 - nominal) / R) if R else float("nan")
    return nominal - half, nominal + half


def figure_forecast(res, opts):
    metric = "exact_match"
    if not res.has(f"forecast/expected/{metric}"):
        return None
    c, k, t, s_at = opts.cutoff_index, opts.length_index, opts.test_size_index, \
        opts.forecast_scale_index
    r_one = getattr(opts, "replicate", None) or 0
    L, n, R = int(res.lengths[k]), int(res.test_sizes[t]), res.replicates
    cut = float(res.cutoffs[c])
    fitted = res.fitted[c]
    scale = res.scale
    sizes = res.test_sizes.astype(float)
    truth = res.h5[f"forecast/expected/{metric}"][:, k].astype(float)
    methods = [m for m in res.methods if res.has(f"forecast/{m}/{metric}/low")]
    if not methods:
        return None
    series, applicable, one, cover = {}, {}, {}, {}
    for m in methods:
        applicable[m] = res.group_attr(f"forecast/{m}/{metric}", "applicable", "yes") == "yes"
        if applicable[m]:
            series[m] = forecast_series(res, m, metric, c, k, t)
            one[m] = forecast_replicate(res, m, metric, c, k, t, r_one)
            # Coverage at the forecast scale over every test size of the file [T].
            cover[m] = res.h5[f"forecast/{m}/{metric}/coverage"][c, s_at, k, :].astype(float)
    at = float(scale[s_at])
    nominal = res.confidence
    mc_lo, mc_hi = coverage_band(R, nominal)
    coverage_text = []
    for m in methods:
        if m in series and np.isfinite(series[m]["coverage"][s_at]):
            coverage_text.append(f"{m} {100 * series[m]['coverage'][s_at]:.0f} %")
        elif m not in series:
            coverage_text.append(f"{m} not applicable")
    size_text = []
    for j, size in enumerate(res.test_sizes):
        vals = [f"{m} {100 * cover[m][j]:.0f} %" for m in methods
                if m in cover and np.isfinite(cover[m][j])]
        if vals:
            size_text.append(f"n = {int(size):,}: " + ", ".join(vals))
    failed = [m for m in one if not np.isfinite(one[m]["point"][~fitted]).any()]
    conf = f"{100 * nominal:g} %"
    extra = (f"A, B: exact match at L = {L} tokens with test sets of n = {n:,} items, fitted on "
             f"the {int(fitted.sum())} scales below N = {sci(cut)} (shaded) and forecast at "
             f"the {int((~fitted).sum())} scales at or above it. Wide grey line: the truth (the "
             f"model's analytic exact match); points: the median and 2.5–97.5 % range of the "
             f"observed exact match over the replicates at the fitted scales. Per method: the "
             f"median point forecast over the {R} replicate test sets (line) and the band from "
             f"the 2.5 % quantile of the {conf} intervals' lower ends to the 97.5 % quantile of "
             f"their upper ends (shaded). In A, one researcher's view: replicate {r_one}'s "
             f"observed exact match (open circles), point forecast (thin line) and {conf} "
             f"interval (thin dotted lines)"
             + (f"; its {', '.join(failed)} fit failed" if failed else "")
             + f". C: coverage of the truth by each method's {conf} intervals at "
             f"N = {sci(at)} (dotted line in A, B) and L = {L} against the test size "
             f"({'; '.join(size_text) or 'undefined'}), with the nominal {conf} and its Monte "
             f"Carlo band ±2√({nominal:g}·{1 - nominal:g}/{R}) = "
             f"{mc_lo:.3f}–{mc_hi:.3f} for {R} replicates.")
    fig, body, head = new_figure(
        "forecast", res,
        f"Forecasting exact match from the scales below N = {sci(cut)} "
        f"(L = {L}, n = {n:,})", extra, legend_rows=3)
    axes = body.subplots(1, 3, gridspec_kw={"width_ratios": [1.0, 1.0, 0.72]})
    observed = observed_one = None
    if res.has(f"forecast/observed/{metric}"):
        est = res.h5[f"forecast/observed/{metric}"][:, k, t, :].astype(float)
        observed = (_quantile(est, 0.5), _quantile(est, 0.025), _quantile(est, 0.975))
        if r_one < est.shape[-1]:
            observed_one = est[:, r_one]
    visible = None
    if res.has("forecast/visible_accuracy"):
        visible = float(res.h5["forecast/visible_accuracy"][t])
    floor = decade_below(0.1 / n)
    for ax, log_y in ((axes[0], False), (axes[1], True)):
        log_scale_axis(ax)
        lo_x, hi_x = scale[0] / 1.6, scale[-1] * 1.6
        ax.set_xlim(lo_x, hi_x)
        ax.axvspan(lo_x, cut, color="0.55", alpha=0.13, linewidth=0, zorder=0)
        ax.axvline(cut, color="0.35", linewidth=0.9, linestyle="--", zorder=1)
        ax.axvline(at, color="0.35", linewidth=0.9, linestyle=":", zorder=1)
        for m in methods:
            if m not in series:
                continue
            colour = PALETTE[FORECAST_METHOD_STYLE.get(m, 3) % len(PALETTE)]
            band = series[m]
            draw_band(ax, scale, band["low"], band["high"], colour,
                      floor=floor if log_y else None, alpha=0.16, edges=True, zorder=2)
            y = masked_positive(band["median"]) if log_y else band["median"]
            ax.plot(scale, y, color=colour, linewidth=FORECAST_METHOD_WIDTH.get(m, 1.4),
                    linestyle=LINESTYLES[FORECAST_METHOD_STYLE.get(m, 3) % len(LINESTYLES)],
                    zorder=4 + methods.index(m), gid=f"forecast-median-{m}")
            if not log_y:
                # One replicate's forecast fan: its point forecast and its interval.
                mine = one[m]
                ax.plot(scale, mine["point"], color=colour, linewidth=1.0,
                        zorder=8 + methods.index(m), gid=f"forecast-replicate-point-{m}")
                for key in ("low", "high"):
                    ax.plot(scale, mine[key], color=colour, linewidth=0.8,
                            linestyle=(0, (1, 1.5)), zorder=8 + methods.index(m),
                            gid=f"forecast-replicate-{key}-{m}")
        # The truth wide and light underneath, so that forecasts on it stay visible.
        y = masked_positive(truth) if log_y else truth
        ax.plot(scale, y, color="0.62", linewidth=5.5, zorder=3, solid_capstyle="butt")
        if observed is not None:
            med, q_lo, q_hi = observed
            show = fitted & np.isfinite(med)
            if log_y:
                show &= med > 0
            ax.errorbar(scale[show], med[show],
                        yerr=[np.clip(med - q_lo, 0, None)[show],
                              np.clip(q_hi - med, 0, None)[show]],
                        fmt="o", color="0.25", markersize=3.6, elinewidth=0.8, capsize=1.6,
                        markeredgecolor="white", markeredgewidth=0.4, zorder=6)
        if not log_y and observed_one is not None:
            show = fitted & np.isfinite(observed_one)
            ax.plot(scale[show], observed_one[show], linestyle="none", marker="o",
                    markersize=4.2, markerfacecolor="white", markeredgecolor="black",
                    markeredgewidth=0.8, zorder=12, gid="forecast-replicate-observed")
        if log_y:
            ax.set_yscale("log")
            ax.set_ylim(floor, 1.6)
            if visible is not None and visible > floor:
                ax.axhline(visible, color="0.5", linewidth=0.8, linestyle=(0, (1, 2)),
                           zorder=1)
                ax.text(cut * 1.15, visible * 1.15,
                        f"visible with n = {n:,}: $1 - 2^{{-1/n}}$", fontsize=NOTE_FONTSIZE,
                        color=NOTE_COLOUR, va="bottom", ha="left")
            ax.set_title("B  Log scale: the fitted region")
        else:
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(f"A  Linear scale: the forecast region, replicate {r_one}")
        ax.set_ylabel(f"Exact match (L = {L})")
        panel_note(ax, f"fitted: N < {sci(cut)}", x=0.01, y=0.98, va="top")
    # C: coverage against test size at the forecast scale.
    ax = axes[2]
    ax.set_xscale("log")
    lo_x, hi_x = sizes.min() / 2.0, sizes.max() * 2.0
    ax.set_xlim(lo_x, hi_x)
    ax.axhspan(mc_lo, mc_hi, color="0.55", alpha=0.22, linewidth=0, zorder=1)
    ax.axhline(nominal, color="0.25", linewidth=0.9, linestyle="--", zorder=2)
    if len(sizes) > 1:
        ax.axvline(n, color="0.35", linewidth=0.9, linestyle=":", zorder=1)
    for i, m in enumerate(methods):
        if m not in cover:
            continue
        colour = PALETTE[FORECAST_METHOD_STYLE.get(m, 3) % len(PALETTE)]
        ax.plot(dodge(sizes, i, len(methods), step=0.02), cover[m], color=colour,
                linewidth=FORECAST_METHOD_WIDTH.get(m, 1.4),
                linestyle=LINESTYLES[FORECAST_METHOD_STYLE.get(m, 3) % len(LINESTYLES)],
                marker=MARKERS[FORECAST_METHOD_STYLE.get(m, 3) % len(MARKERS)], markersize=5,
                markeredgecolor="white", markeredgewidth=0.5, zorder=4 + i,
                gid=f"forecast-coverage-{m}")
        # The values beside the markers: token and joint often coincide, so one above and
        # one below.
        dy = {"naive": 7, "token": 7, "joint": -11}.get(m, 7)
        for j, (x, v) in enumerate(zip(sizes, cover[m])):
            if not np.isfinite(v):
                continue
            last = j == len(sizes) - 1 and len(sizes) > 1
            ax.annotate(f"{100 * v:.1f} %", (x, v), xytext=(-6 if last else 6, dy),
                        textcoords="offset points", ha="right" if last else "left",
                        fontsize=NOTE_FONTSIZE, color=colour, zorder=10)
    ax.set_xticks(sizes)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(-0.02, 1.04)
    ax.set_xlabel("Test size n (items)")
    ax.set_ylabel(f"Coverage of the {conf} intervals")
    ax.set_title(f"C  Coverage at N = {sci(at)}, L = {L}")
    panel_note(ax, f"nominal {conf} ± 2 MC s.e. (R = {R}): {mc_lo:.3f}–{mc_hi:.3f}",
               x=0.02, y=0.02)
    handles = [Line2D([], [], color="0.62", linewidth=5.5, label="truth (analytic)")]
    if observed is not None:
        handles.append(errorbar_handle("0.25", "o",
                                       f"observed (fitted scales): median, 95 % of {R} sets",
                                       markersize=3.6))
    handles.append(Patch(facecolor="0.55", alpha=0.25, label=f"fitted scales N < {sci(cut)}"))
    for m in methods:
        colour = PALETTE[FORECAST_METHOD_STYLE.get(m, 3) % len(PALETTE)]
        label = FORECAST_METHOD_LABEL.get(m, m)
        if m in series:
            cov = series[m]["coverage"][s_at]
            cov_text = f"{100 * cov:.0f} %" if np.isfinite(cov) else "undefined"
            label += f" — coverage {cov_text} at N = {sci(at)}"
            handles.append(Line2D(
                [], [], color=colour, linewidth=FORECAST_METHOD_WIDTH.get(m, 1.4),
                linestyle=LINESTYLES[FORECAST_METHOD_STYLE.get(m, 3) % len(LINESTYLES)],
                marker=MARKERS[FORECAST_METHOD_STYLE.get(m, 3) % len(MARKERS)],
                markersize=4.5, markeredgecolor="white", markeredgewidth=0.5, label=label))
        else:
            handles.append(Line2D([], [], color=colour, linewidth=1.6, alpha=0.35,
                                  label=label + " — not applicable"))
    if observed_one is not None:
        handles.append(Line2D([], [], linestyle="none", marker="o", markersize=4.2,
                              markerfacecolor="white", markeredgecolor="black",
                              markeredgewidth=0.8,
                              label=f"A: replicate {r_one}'s observed exact match"))
    handles.append(Line2D([], [], color="0.3", linewidth=1.0,
                          label=f"A: replicate {r_one}'s point forecast"))
    handles.append(Line2D([], [], color="0.3", linewidth=0.8, linestyle=(0, (1, 1.5)),
                          label=f"A: replicate {r_one}'s {conf} interval"))
    handles.append(Patch(facecolor="0.55", alpha=0.35, edgecolor="0.25",
                         label=f"C: nominal {conf} ± 2 Monte Carlo s.e."))
    add_legend(head, handles, ncols=math.ceil(len(handles) / 3))
    return fig


# --- driver -------------------------------------------------------------------------------

NEEDS = {  # figure -> (dataset or group it cannot do without, what it is)
    "model": (None, None),
    "metric_swap": ("metrics/exact_match/ci_high", "per-replicate exact-match intervals"),
    "resolution": ("summary/exact_match/q975", "the /summary/exact_match quantiles"),
    "frontier": ("frontier/simulated_scale", "the /frontier group"),
    "intervals": ("interval_comparison", "the /interval_comparison group"),
    "emergence": ("emergence", "the /emergence group"),
    "meta": ("meta/score", "the /meta group"),
    "multiple_choice": ("metrics/multiple_choice_grade", "/metrics/multiple_choice_grade"),
    "difficulty": ("model/difficulty/p_token_quantile",
                   "item-difficulty data (/model/difficulty/p_token_quantile: a run with "
                   "--difficulty)"),
    "jumps": ("jumps", "the /jumps group (format 1.1)"),
    "forecast": ("forecast/expected/exact_match",
                 "exact-match forecast (mirage forecast --metric exact_match)"),
    "pass_at_k": (lambda res: bool(res.pass_at()),
                  "pass@k metrics (/metrics/pass_at_K: a run with --attempts A > 1, "
                  "format 1.3)"),
}
BUILDERS = {
    "model": figure_model,
    "metric_swap": figure_metric_swap,
    "resolution": figure_resolution,
    "frontier": figure_frontier,
    "intervals": figure_intervals,
    "emergence": figure_emergence,
    "meta": figure_meta,
    "multiple_choice": figure_multiple_choice,
    "difficulty": figure_difficulty,
    "jumps": figure_jumps,
    "forecast": figure_forecast,
    "pass_at_k": figure_pass_at_k,
}


def comma_list(allowed, what):
    def parse(text):
        items = [v.strip() for v in text.split(",") if v.strip()]
        if items == ["all"] and "all" not in allowed:
            return list(allowed)
        bad = [v for v in items if v not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {', '.join(bad) or repr(text)} (choose from "
                f"{', '.join(allowed)})")
        return list(dict.fromkeys(items))
    return parse


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def nonnegative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _same_scale(a, b):
    return abs(a / b - 1.0) <= 1e-9


def choose_forecast(res, args):
    """Resolve --length, --test-size, --cutoff and --forecast-scale against a forecast file:
    the longest length and the largest test size by default."""
    lengths = [int(v) for v in res.lengths]
    sizes = [int(v) for v in res.test_sizes]
    for flag, value, available in (("--length", args.length, lengths),
                                   ("--test-size", args.test_size, sizes)):
        if value is not None and value not in available:
            raise InputError(f"{flag} {value} is not in {res.path} (available: "
                             f"{', '.join(map(str, available))})")
    args.length_index = lengths.index(max(lengths) if args.length is None else args.length)
    args.test_size_index = sizes.index(max(sizes) if args.test_size is None else args.test_size)
    cutoffs = [float(v) for v in res.cutoffs]
    if args.cutoff is None:
        args.cutoff_index = 0
    else:
        found = [i for i, v in enumerate(cutoffs) if _same_scale(v, args.cutoff)]
        if not found:
            raise InputError(f"--cutoff {args.cutoff:g} is not a cutoff of {res.path} "
                             f"(available: {', '.join(f'{v:g}' for v in cutoffs)})")
        args.cutoff_index = found[0]
    scale = [float(v) for v in res.scale]
    forecast = [i for i in range(len(scale)) if not res.fitted[args.cutoff_index][i]]
    if args.forecast_scale is None:
        target = math.log(20.0 * cutoffs[args.cutoff_index])
        pool = forecast or list(range(len(scale)))
        args.forecast_scale_index = min(pool, key=lambda i: abs(math.log(scale[i]) - target))
    else:
        found = [i for i, v in enumerate(scale) if _same_scale(v, args.forecast_scale)]
        if not found:
            raise InputError(f"--forecast-scale {args.forecast_scale:g} is not a scale of "
                             f"{res.path} (available: {', '.join(f'{v:g}' for v in scale)})")
        args.forecast_scale_index = found[0]
    if args.replicate is None:
        args.replicate = 0
    elif res.replicates is not None and args.replicate >= res.replicates:
        raise InputError(f"--replicate {args.replicate} is not a replicate of {res.path} "
                         f"(available: 0 to {res.replicates - 1})")
    return args


def build_parser():
    ap = argparse.ArgumentParser(
        prog=PROG, description="Draw the Mirage figures from a result file (format 1.x).",
        epilog="Figures: " + ", ".join(ALL_FIGURES) + ". A `mirage meta` file draws only "
               "`meta`, a `mirage forecast` file only `forecast`, a `mirage run` file all the "
               "others; figures whose data the file lacks are skipped with a note.")
    ap.add_argument("input", help="file written by `mirage run`, `mirage meta` or `mirage "
                                  "forecast` (HDF5)")
    ap.add_argument("-o", "--output-dir", default="results/figures",
                    help="directory for <figure>.<format> (default: %(default)s)")
    ap.add_argument("--figures", type=comma_list(ALL_FIGURES, "figure"), default=None,
                    help="comma-separated subset of the figures (default: all of the file's "
                         "kind: " + ", ".join(FIGURES + ATTEMPT_FIGURES)
                         + " for run and meta files, "
                         + ", ".join(FORECAST_FIGURES) + " for forecast files)")
    ap.add_argument("--length", type=positive_int,
                    help="target length L of the metric_swap, resolution, intervals, "
                         "multiple_choice, difficulty, jumps and pass_at_k figures (default: "
                         "the largest in the file)")
    ap.add_argument("--test-size", type=positive_int,
                    help="test size n of the metric_swap, intervals, multiple_choice, "
                         "difficulty, jumps and pass_at_k figures and of the one test set in "
                         "resolution "
                         "(default: the largest <= 1000 in the file, else the smallest)")
    ap.add_argument("--cutoff", type=positive_float,
                    help="forecast files: the cutoff (--fit-below) of the forecast to draw "
                         "(default: the file's first)")
    ap.add_argument("--forecast-scale", type=positive_float,
                    help="forecast files: the scale at which the legend gives each method's "
                         "coverage (default: the forecast scale nearest to 20 x the cutoff)")
    ap.add_argument("--replicate", type=nonnegative_int,
                    help="forecast files: the replicate test set whose own forecast fan "
                         "panel A shows (default: 0)")
    ap.add_argument("--format", type=comma_list(FORMATS, "format"), default=["png", "pdf"],
                    help="comma-separated file formats (default: png,pdf)")
    ap.add_argument("--dpi", type=positive_int, default=150,
                    help="resolution of raster formats (default: %(default)s)")
    return ap


def choose(res, args):
    """Resolve --length and --test-size against the file (indices into its axes)."""
    args.length_index = args.test_size_index = None
    for key in ("cutoff", "forecast_scale", "replicate"):
        if not hasattr(args, key):
            setattr(args, key, None)
    if getattr(args, "figures", None) is None:
        args.figures = list(res.DRAWS if isinstance(res, ForecastResults)
                            else FIGURES + ATTEMPT_FIGURES)
    if isinstance(res, ForecastResults):
        return choose_forecast(res, args)
    for flag, value in (("--cutoff", args.cutoff), ("--forecast-scale", args.forecast_scale),
                        ("--replicate", args.replicate)):
        if value is not None:
            note(f"{flag} is ignored: {res.path} is not a forecast file")
    if not isinstance(res, Results):
        for flag, value in (("--length", args.length), ("--test-size", args.test_size)):
            if value is not None:
                note(f"{flag} is ignored: {res.path} is a meta-analysis file (every task has "
                     "its own length and test size)")
        return args
    lengths = [int(v) for v in res.lengths]
    sizes = [int(v) for v in res.test_sizes]
    if args.length is None:
        length = max(lengths)
    elif args.length in lengths:
        length = args.length
    else:
        raise InputError(f"--length {args.length} is not in {res.path} (available: "
                         f"{', '.join(map(str, lengths))})")
    if args.test_size is None:
        small = [n for n in sizes if n <= 1000]
        test_size = max(small) if small else min(sizes)
    elif args.test_size in sizes:
        test_size = args.test_size
    else:
        raise InputError(f"--test-size {args.test_size} is not in {res.path} (available: "
                         f"{', '.join(map(str, sizes))})")
    args.length_index = lengths.index(length)
    args.test_size_index = sizes.index(test_size)
    return args


def why_not(res, name):
    """Why a file cannot draw a figure (None if it can try)."""
    if name not in res.DRAWS:
        if name in FORECAST_FIGURES and not isinstance(res, ForecastResults):
            kind = "a run file (mirage run)" if isinstance(res, Results) else \
                "a meta-analysis file (mirage meta)"
            return (f"{res.path} is {kind}; the {name} figure needs a forecast file "
                    "(mirage forecast)")
        if isinstance(res, ForecastResults):
            return (f"{res.path} is a forecast file (mirage forecast), which draws only "
                    f"{', '.join(FORECAST_FIGURES)}")
        if isinstance(res, Results):
            return (f"{res.path} is a run file (mirage run); the meta figure needs a "
                    "meta-analysis file (mirage meta)")
        return (f"{res.path} is a meta-analysis file (mirage meta), which draws only "
                f"{', '.join(META_FIGURES)}")
    need, what = NEEDS[name]
    if callable(need):
        if not need(res):
            return f"{res.path} has no {what}"
    elif need is not None and not res.has(need):
        return f"{res.path} has no {what}"
    return None


def draw(res, args, written=None):
    """Draw and write the requested figures; prints one line per written file (or, given a
    list `written`, appends the paths to it instead)."""
    for name in args.figures:
        reason = why_not(res, name)
        if reason:
            note(f"skipping {name}: {reason}")
            continue
        fig = BUILDERS[name](res, args)
        if fig is None:
            note(f"skipping {name}: {res.path} has no usable data for it")
            continue
        try:
            for fmt in args.format:
                path = os.path.join(args.output_dir, f"{name}.{fmt}")
                metadata = {"CreationDate": None} if fmt == "pdf" else None
                try:
                    fig.savefig(path, format=fmt, dpi=args.dpi, metadata=metadata)
                except OSError as err:
                    raise InputError(f"cannot write {path}: {err.strerror or err}") from None
                if written is None:
                    print(path, flush=True)
                else:
                    written.append(path)
                # The layout is now fixed (in inches, so for every format and dpi): do not
                # solve it again for the next format.
                fig.set_layout_engine("none")
        finally:
            plt.close(fig)


def _options(res, figures, length, test_size, formats=("png",), dpi=150, output_dir=".",
             cutoff=None, forecast_scale=None, replicate=None):
    """The argparse namespace that main() would build, resolved against the file."""
    if replicate is not None and (isinstance(replicate, bool) or int(replicate) != replicate
                                  or replicate < 0):
        raise InputError(f"replicate must be a non-negative integer, got {replicate!r}")
    args = argparse.Namespace(figures=list(figures), length=length, test_size=test_size,
                              format=list(formats), dpi=dpi, output_dir=output_dir,
                              cutoff=cutoff, forecast_scale=forecast_scale,
                              replicate=None if replicate is None else int(replicate))
    return choose(res, args)


def figure(data, name, *, length=None, test_size=None, cutoff=None, forecast_scale=None,
           replicate=None):
    """One figure (a name of ALL_FIGURES) as a matplotlib Figure, drawn as `plot.py --figures
    NAME` draws it; `data` is a file name, an h5py.File or a DataTree of mirage.run,
    mirage.meta, mirage.forecast or mirage.open. `length` and `test_size` choose the length L
    and the test size n where a figure shows one (defaults as for the command line);
    `cutoff` and `forecast_scale` those of the forecast figure, `replicate` the test set
    whose own forecast fan it shows (default 0). Raises ValueError when the
    data cannot draw the figure (with the reason plot.py would note)."""
    if name not in ALL_FIGURES:
        raise ValueError(f"unknown figure {name!r} (choose from {', '.join(ALL_FIGURES)})")
    res = load(data)
    args = _options(res, [name], length, test_size, cutoff=cutoff,
                    forecast_scale=forecast_scale, replicate=replicate)
    reason = why_not(res, name)
    if reason:
        raise InputError(f"cannot draw {name}: {reason}")
    with matplotlib.rc_context(RC):
        fig = BUILDERS[name](res, args)
    if fig is None:
        raise InputError(f"cannot draw {name}: {res.path} has no usable data for it")
    return fig


def save(data, output_dir, figures=None, *, length=None, test_size=None, formats=("png",),
         dpi=150, cutoff=None, forecast_scale=None, replicate=None):
    """Writes figures (default: every figure of the file's kind; those whose data it lacks
    are skipped with a note on stderr) to output_dir/<figure>.<format> as the command line
    does, and returns the paths written."""
    res = load(data)
    names = list(res.DRAWS if figures is None else ([figures] if isinstance(figures, str)
                                                     else figures))
    unknown = [n for n in names if n not in ALL_FIGURES]
    if unknown:
        raise ValueError(f"unknown figure {', '.join(map(repr, unknown))} (choose from "
                         f"{', '.join(ALL_FIGURES)})")
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown format {', '.join(map(repr, bad))} (choose from "
                         f"{', '.join(FORMATS)})")
    output_dir = os.fspath(output_dir)
    args = _options(res, names, length, test_size, formats, dpi, output_dir, cutoff,
                    forecast_scale, replicate)
    os.makedirs(output_dir, exist_ok=True)
    written = []
    with matplotlib.rc_context(RC):
        draw(res, args, written)
    return written


def main(argv=None):
    matplotlib.use("Agg")  # no display: the command line only writes files
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        res = open_file(args.input)
        choose(res, args)
        try:
            os.makedirs(args.output_dir, exist_ok=True)
        except OSError as err:
            raise InputError(f"cannot create output directory {args.output_dir}: "
                             f"{err.strerror}") from None
        with matplotlib.rc_context(RC):
            draw(res, args)
    except InputError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except (KeyError, IndexError, ValueError, TypeError, OSError) as err:
        # A file whose datasets disagree with its axes or lack what its kind promises
        # (truncated, edited, damaged): one line, not a traceback.
        print(f"{PROG}: error: {args.input}: damaged or inconsistent file "
              f"({type(err).__name__}: {err}); `mirage summarize {args.input}` checks its "
              f"arrays against its axes", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
