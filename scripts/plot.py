#!/usr/bin/env python3
"""Figures from a Mirage result file (HDF5, format 1.x; DESIGN.md section 6).

The figures reproduce the argument of Schaeffer, Miranda & Koyejo, "Are Emergent Abilities
of Large Language Models a Mirage?" (NeurIPS 2023): a smooth per-token model looks sharp
under a nonlinear metric and smooth under a linear one, and a small test set cannot
resolve a small accuracy.

  model            paper figure 2: p(N), exact match and token edit distance vs scale
  resolution       paper figure 4: exact match vs scale per test size, with the 1/n floor
  frontier         smallest scale with a visible exact match vs test size
  intervals        coverage and width of each confidence-interval method vs scale
  emergence        emergence ("breakthroughness") score per metric vs test size
  multiple_choice  multiple-choice grade and Brier score vs scale (paper figure 2 E/F)

Figures whose data a file lacks (the optional groups /frontier, /interval_comparison,
/emergence, /metrics/multiple_choice_grade) are skipped with a note on stderr.

Usage:
  plot.py results/mirage.h5 -o results/figures [--figures model,resolution,...]
          [--length 5] [--test-size 1000] [--format png,pdf] [--dpi 150]

Exit status: 0 on success, 2 for bad input (a file that is not a Mirage result file, an
unsupported format version, an option value the file does not contain).
"""

import argparse
import math
import os
import re
import sys

import numpy as np

try:
    import tomllib  # Python >= 3.11
except ImportError:  # pragma: no cover - older Pythons fall back to a regex reader
    tomllib = None

import matplotlib

matplotlib.use("Agg")  # no display: this script only writes files
import h5py  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

FILETYPE = "mirage-results"
FORMAT_MAJOR = 1

FIGURES = ("model", "resolution", "frontier", "intervals", "emergence", "multiple_choice")
FORMATS = ("png", "pdf", "svg")

#: Figure sizes in inches. A PNG written at --dpi D is exactly (w*D) x (h*D) pixels (no
#: tight bounding box), which tests/python/test_plot.py checks.
FIGSIZE = {
    "model": (12.0, 7.6),
    "resolution": (12.0, 5.8),
    "frontier": (12.0, 5.4),
    "intervals": (9.0, 7.6),
    "emergence": (12.0, 5.6),
    "multiple_choice": (11.0, 5.2),
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
METRIC_KIND = {
    "exact_match": "nonlinear",
    "token_edit_distance": "linear",
    "token_accuracy": "linear",
    "multiple_choice_grade": "nonlinear",
    "brier_score": "linear",
}
METHOD_ORDER = ("wilson", "clopper-pearson", "jeffreys", "agresti-coull", "wald")
METHOD_LABEL = {
    "wilson": "Wilson",
    "clopper-pearson": "Clopper–Pearson",
    "jeffreys": "Jeffreys",
    "agresti-coull": "Agresti–Coull",
    "wald": "Wald",
}

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


class InputError(Exception):
    """Bad input: reported as `plot.py: error: ...` with exit status 2."""


def note(message):
    print(f"{PROG}: note: {message}", file=sys.stderr)


PROG = "plot.py"


# --- reading ------------------------------------------------------------------------------

def as_text(value):
    """An HDF5 string attribute as str, whether stored fixed-length, variable or as bytes."""
    if isinstance(value, np.ndarray):
        value = value.item() if value.size == 1 else value.tolist()
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", "replace")
    return str(value)


class Results:
    """A validated Mirage result file, read eagerly into numpy arrays where small."""

    REQUIRED = ("model/scale", "model/loss", "model/p_token", "task/length", "task/test_size",
                "metrics/exact_match/expected", "summary/exact_match/mean")

    def __init__(self, path):
        self.path = path
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file")
        try:
            self.h5 = h5py.File(path, "r")
        except OSError as err:
            raise InputError(f"{path} is not a Mirage result file (cannot read it as HDF5: "
                             f"{err})") from None
        attrs = self.h5.attrs
        filetype = as_text(attrs["filetype"]) if "filetype" in attrs else "<missing>"
        if filetype != FILETYPE:
            raise InputError(f"{path} is not a Mirage result file (filetype={filetype})")
        version = self._format_version()
        if version[0] != FORMAT_MAJOR:
            raise InputError(f"{path}: format version {version[0]}.{version[1]} is not "
                             f"supported (this script reads {FORMAT_MAJOR}.x)")
        for name in self.REQUIRED:
            if name not in self.h5:
                raise InputError(f"{path} is incomplete: it has no /{name}")
        self.scale = self.h5["model/scale"][()].astype(float)
        self.loss = self.h5["model/loss"][()].astype(float)
        self.p_token = self.h5["model/p_token"][()].astype(float)
        self.lengths = self.h5["task/length"][()].astype(int)
        self.test_sizes = self.h5["task/test_size"][()].astype(np.int64)
        rep = self.h5["task/test_size"].attrs.get("replicates")
        self.replicates = int(np.asarray(rep).ravel()[0]) if rep is not None else None
        if self.replicates is None and "metrics/exact_match/estimate" in self.h5:
            self.replicates = int(self.h5["metrics/exact_match/estimate"].shape[-1])

    def _format_version(self):
        if "format_version" not in self.h5.attrs:
            raise InputError(f"{self.path} is not a Mirage result file (no format_version)")
        raw = self.h5.attrs["format_version"]
        try:
            if isinstance(raw, (str, bytes, np.bytes_)):
                parts = [int(v) for v in as_text(raw).split(".")]
            else:
                parts = [int(v) for v in np.asarray(raw).ravel()]
        except ValueError:
            raise InputError(f"{self.path}: unreadable format_version {raw!r}") from None
        return (parts + [0, 0])[:2]

    def has(self, name):
        return name in self.h5

    def read(self, name):
        return self.h5[name][()].astype(float)

    def attr(self, name, default=""):
        return as_text(self.h5.attrs[name]) if name in self.h5.attrs else default

    def metric_attr(self, metric, key):
        """An attribute of /metrics/<metric>, on the group or on its datasets."""
        for owner in (f"metrics/{metric}", f"metrics/{metric}/estimate",
                      f"metrics/{metric}/ci_low"):
            if owner in self.h5 and key in self.h5[owner].attrs:
                return self.h5[owner].attrs[key]
        return None

    def confidence(self):
        for value in (self.metric_attr("exact_match", "confidence"),
                      self.h5["interval_comparison"].attrs.get("confidence")
                      if self.has("interval_comparison") else None):
            if value is not None:
                return float(np.asarray(value).ravel()[0])
        return None

    def config(self):
        if self.has("config") and "config_toml" in self.h5["config"].attrs:
            return as_text(self.h5["config"].attrs["config_toml"])
        return ""


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


def _flatten(tree, prefix=""):
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, path + ".")
        else:
            yield path, value


def model_description(res):
    """`c = .., α = ..` from the resolved config, else `loss table`, else a fit to the file."""
    text = res.config()
    flat = {}
    if text and tomllib is not None:
        try:
            flat = dict(_flatten(tomllib.loads(text)))
        except tomllib.TOMLDecodeError:
            flat = {}
    if not flat and text:  # not strict TOML: read `key = number` lines
        for match in re.finditer(r"^\s*([\w.\-]+)\s*=\s*(.+?)\s*$", text, re.M):
            flat[match.group(1)] = match.group(2).strip("\"'")

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


def caption_lines(res, extra, width_in):
    """The caption: what the figure shows, then the sweep, then where the numbers come from."""
    conf = res.confidence()
    interval = res.metric_attr("exact_match", "interval")
    interval = as_text(interval) if interval is not None else "unknown"
    sha = res.attr("git_sha")
    version = res.attr("mirage_version", "?") + (f" ({sha})" if sha else "")
    conf_text = f"{100 * conf:g} % confidence" if conf is not None else "confidence unknown"
    width_chars = int(width_in * 72.0 / (0.56 * CAPTION_FONTSIZE))
    sweep = [f"Model: {model_description(res)}",
             f"scales {sci(res.scale[0])}–{sci(res.scale[-1])} ({len(res.scale)} points)",
             f"lengths L = {compact_list(res.lengths)}",
             f"test sizes n = {compact_list(res.test_sizes)}",
             f"R = {res.replicates} replicates",
             f"seed {res.attr('seed', '?')}",
             f"{conf_text} ({interval} intervals for exact match)",
             f"mirage {version}",
             f"backend {res.attr('backend', '?')}",
             os.path.basename(res.path)]
    lines = pack([extra], width_chars) if extra else []
    return lines + pack(sweep, width_chars)


# --- figure scaffolding -------------------------------------------------------------------

def style(i):
    return {"color": PALETTE[i % len(PALETTE)], "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINESTYLES[i % len(LINESTYLES)]}


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


def add_legend(head, handles, ncols=None):
    head.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0),
                ncols=ncols or len(handles), handlelength=2.6, columnspacing=1.6)


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


# --- figure 1: the model ------------------------------------------------------------------

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

    add_legend(head, length_handles(res.lengths, f"simulated mean (n = {n:,})"))
    return fig


# --- figure 2: resolution -----------------------------------------------------------------

def figure_resolution(res, opts):
    k = opts.length_index
    L = int(res.lengths[k])
    mean = res.read("summary/exact_match/mean")[:, k, :]
    q025 = res.read("summary/exact_match/q025")[:, k, :]
    q975 = res.read("summary/exact_match/q975")[:, k, :]
    p_zero = res.read("summary/exact_match/p_zero")[:, k, :]
    expected = res.read("metrics/exact_match/expected")[:, k]
    sizes = res.test_sizes
    # The smallest nonzero mean is 1/(n_max R) (one item in one replicate); the axis starts at
    # the decade below it, and bands that reach 0 are clipped there.
    finest = 1.0 / (float(sizes.max()) * max(res.replicates or 1, 1))
    floor = 10 ** math.floor(math.log10(finest) - 1e-9)

    fig, body, head = new_figure("resolution", res,
                     f"Small test sets cannot see small accuracies (exact match, L = {L})",
                     "lines: mean over replicates; bands: 2.5–97.5 % of replicates (a band "
                     "reaching 0 is drawn to the bottom edge); dashed: 1/n")
    ax, ax_zero = body.subplots(1, 2, width_ratios=[2.0, 1.0])

    ax.plot(res.scale, masked_positive(expected), color="black", linewidth=2.2, zorder=5)
    for j, n in enumerate(sizes):
        st = style(j)
        ax.fill_between(res.scale, np.clip(q025[:, j], floor, None), np.clip(q975[:, j], floor,
                        None), color=st["color"], alpha=0.16, linewidth=0, where=q975[:, j] > 0)
        ax.plot(res.scale, masked_positive(mean[:, j]), color=st["color"], marker=st["marker"],
                linestyle=st["linestyle"], markersize=3.8)
        ax.axhline(1.0 / n, color=st["color"], linestyle=(0, (5, 3)), linewidth=1.0)
        ax.annotate(f"1/n = 1/{int(n):,}", xy=(0.005, 1.0 / n),
                    xycoords=("axes fraction", "data"), xytext=(2, 2),
                    textcoords="offset points", fontsize=7.5, color=st["color"])
    log_scale_axis(ax)
    ax.set_yscale("log")
    ax.set_ylim(floor, 1.6)
    ax.set_ylabel(f"Exact match at L = {L} (fraction of items, log)")
    ax.set_title("A  Exact match vs scale, one curve per test size")

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
    ax_zero.text(0.98, 0.97, r"markers: simulated" "\n" r"lines: $(1-p^L)^n$",
                 transform=ax_zero.transAxes, ha="right", va="top", fontsize=7.5,
                 bbox={"facecolor": "white", "edgecolor": "0.8", "boxstyle": "round,pad=0.3"})

    handles = [Line2D([], [], **style(j), label=f"n = {int(n):,}") for j, n in enumerate(sizes)]
    handles += [Line2D([], [], color="black", linewidth=2.2, label=rf"analytic $p^{{{L}}}$"),
                Patch(facecolor="0.6", alpha=0.35, label="2.5–97.5 % of replicates"),
                Line2D([], [], color="0.3", linestyle=(0, (5, 3)), label="1/n floor")]
    add_legend(head, handles)
    return fig


# --- figure 3: resolution frontier --------------------------------------------------------

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


# --- figure 4: interval methods -----------------------------------------------------------

def figure_intervals(res, opts):
    k, t = opts.length_index, opts.test_size_index
    L, n = int(res.lengths[k]), int(res.test_sizes[t])
    group = res.h5["interval_comparison"]
    methods = [m for m in METHOD_ORDER if m in group]
    methods += sorted(m for m in group
                      if m not in METHOD_ORDER and isinstance(group[m], h5py.Group))
    methods = [m for m in methods if "coverage" in group[m] and "mean_ci_width" in group[m]]
    if not methods:
        return None
    conf = group.attrs.get("confidence")
    conf = float(np.asarray(conf).ravel()[0]) if conf is not None else res.confidence()
    fig, body, head = new_figure("intervals", res,
                     f"Confidence intervals for exact match (L = {L}, n = {n:,})",
                     f"coverage: fraction of {res.replicates} replicate intervals that contain "
                     r"the analytic $p^L$")
    ax_cov, ax_w = body.subplots(2, 1, sharex=True)
    min_cov = 1.0
    widths = {}
    for i, m in enumerate(methods):
        st = style(i)
        cov = group[m]["coverage"][()][:, k, t].astype(float)
        widths[m] = group[m]["mean_ci_width"][()][:, k, t].astype(float)
        if np.isfinite(cov).any():
            min_cov = min(min_cov, np.nanmin(cov))
        ax_cov.plot(res.scale, cov, **st, markersize=4)
    positive = np.concatenate([w[w > 0] for w in widths.values()])
    w_lo = 10 ** math.floor(math.log10(positive.min())) if positive.size else 1e-4
    w_hi = 10 ** math.ceil(math.log10(positive.max())) if positive.size else 1.0
    any_zero = False
    for i, m in enumerate(methods):
        st = style(i)
        ax_w.plot(res.scale, masked_positive(widths[m]), **st, markersize=4)
        zero = widths[m] == 0
        if zero.any():
            any_zero = True
            ax_w.plot(res.scale[zero], np.full(zero.sum(), w_lo * 1.3), color=st["color"],
                      marker=st["marker"], markerfacecolor="none", linestyle="none",
                      markersize=6, clip_on=False, zorder=6)
    if conf is not None:
        ax_cov.axhline(conf, color="black", linewidth=1.0, linestyle=(0, (6, 3)), zorder=0)
        ax_cov.annotate(f"nominal {100 * conf:g} %", xy=(0.005, conf),
                        xycoords=("axes fraction", "data"), xytext=(2, -10),
                        textcoords="offset points", fontsize=7.5)
    ax_cov.set_ylim(max(0.0, min_cov - 0.05) - 0.02, 1.02)
    ax_cov.set_ylabel("Coverage (fraction of replicates)")
    ax_cov.set_title("A  Coverage")
    ax_w.set_yscale("log")
    ax_w.set_ylim(w_lo / (1.6 if any_zero else 1.0), w_hi)
    ax_w.set_ylabel("Mean interval width (exact-match fraction, log)")
    ax_w.set_title("B  Mean width (resolution)")
    if any_zero:
        ax_w.text(0.01, 0.1, "open markers at the bottom: mean width 0 (a degenerate "
                  "interval in every replicate)", transform=ax_w.transAxes, fontsize=7.5,
                  color="0.3", va="bottom")
    log_scale_axis(ax_w)
    ax_cov.set_xscale("log")
    handles = [Line2D([], [], **style(i), label=METHOD_LABEL.get(m, m))
               for i, m in enumerate(methods)]
    handles.append(Line2D([], [], color="black", linestyle=(0, (6, 3)), label="nominal"))
    add_legend(head, handles)
    return fig


# --- figure 5: emergence score -----------------------------------------------------------

def figure_emergence(res, opts):
    group = res.h5["emergence"]
    order = [m for m in METRIC_LABEL if m in group]
    order += sorted(m for m in group if m not in METRIC_LABEL)
    metrics = [m for m in order if all(q in group[m] for q in ("median", "q025", "q975"))]
    if not metrics:
        return None
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
                                    if analytic else ""))
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
                ax.axhline(placed(analytic[m][k:k + 1])[0], color=style(i)["color"],
                           linestyle=style(i)["linestyle"], linewidth=0.8, alpha=0.7, zorder=2)
        for i, m in enumerate(metrics):
            st = style(i)
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
        kind = as_text(res.metric_attr(m, "kind") or METRIC_KIND.get(m, "?"))
        label = f"{METRIC_LABEL.get(m, m)} ({kind})"
        if m == "token_edit_distance":
            label += ", sign flipped"
        handles.append(Line2D([], [], **style(i), label=label))
    add_legend(head, handles)
    return fig


# --- figure 6: multiple choice ------------------------------------------------------------

def figure_multiple_choice(res, opts):
    panels = [m for m in ("multiple_choice_grade", "brier_score")
              if res.has(f"summary/{m}/mean")]
    if not panels:
        return None
    t = len(res.test_sizes) - 1
    n = int(res.test_sizes[t])
    fig, body, head = new_figure("multiple_choice", res,
                     "Multiple choice: a discontinuous grade vs the continuous Brier score",
                     f"markers: mean of {res.replicates} replicates at n = {n:,} items; "
                     "bands: 2.5–97.5 %; thin lines: analytic")
    axes = np.atleast_1d(body.subplots(1, len(panels)))
    titles = {"multiple_choice_grade": ("Multiple-choice grade (fraction correct)",
                                        "discontinuous metric"),
              "brier_score": ("Brier score (lower is better)", "continuous metric")}
    for ax, m, letter in zip(axes, panels, "AB"):
        mean = res.read(f"summary/{m}/mean")[:, :, t]
        q025 = res.read(f"summary/{m}/q025")[:, :, t] if res.has(f"summary/{m}/q025") else None
        q975 = res.read(f"summary/{m}/q975")[:, :, t] if res.has(f"summary/{m}/q975") else None
        expected = (res.read(f"metrics/{m}/expected") if res.has(f"metrics/{m}/expected")
                    else None)
        for i, L in enumerate(res.lengths):
            st = style(i)
            if q025 is not None and q975 is not None:
                ax.fill_between(res.scale, q025[:, i], q975[:, i], color=st["color"],
                                alpha=0.14, linewidth=0)
            if expected is not None:
                ax.plot(res.scale, expected[:, i], color=st["color"], linestyle=st["linestyle"],
                        linewidth=0.9)
            ax.plot(res.scale, mean[:, i], color=st["color"], marker=st["marker"],
                    linestyle="none", markersize=3.8)
        log_scale_axis(ax)
        label, kind = titles[m]
        ax.set_ylabel(label)
        ax.set_title(f"{letter}  {METRIC_LABEL[m].capitalize()} ({kind})")
    add_legend(head, length_handles(res.lengths, f"simulated mean (n = {n:,})"))
    return fig


# --- driver -------------------------------------------------------------------------------

NEEDS = {  # figure -> (dataset or group it cannot do without, what it is)
    "model": (None, None),
    "resolution": ("summary/exact_match/q975", "the /summary/exact_match quantiles"),
    "frontier": ("frontier/simulated_scale", "the /frontier group"),
    "intervals": ("interval_comparison", "the /interval_comparison group"),
    "emergence": ("emergence", "the /emergence group"),
    "multiple_choice": ("metrics/multiple_choice_grade", "/metrics/multiple_choice_grade"),
}
BUILDERS = {
    "model": figure_model,
    "resolution": figure_resolution,
    "frontier": figure_frontier,
    "intervals": figure_intervals,
    "emergence": figure_emergence,
    "multiple_choice": figure_multiple_choice,
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


def build_parser():
    ap = argparse.ArgumentParser(
        prog=PROG, description="Draw the Mirage figures from a result file (format 1.x).",
        epilog="Figures: " + ", ".join(FIGURES) + ". Those whose data the file lacks are "
               "skipped with a note.")
    ap.add_argument("input", help="result file written by `mirage run` (HDF5)")
    ap.add_argument("-o", "--output-dir", default="results/figures",
                    help="directory for <figure>.<format> (default: %(default)s)")
    ap.add_argument("--figures", type=comma_list(FIGURES, "figure"), default=list(FIGURES),
                    help="comma-separated subset of the figures (default: all)")
    ap.add_argument("--length", type=positive_int,
                    help="target length L for the resolution and intervals figures "
                         "(default: the largest in the file)")
    ap.add_argument("--test-size", type=positive_int,
                    help="test size n for the intervals figure (default: the largest "
                         "<= 1000 in the file, else the smallest)")
    ap.add_argument("--format", type=comma_list(FORMATS, "format"), default=["png", "pdf"],
                    help="comma-separated file formats (default: png,pdf)")
    ap.add_argument("--dpi", type=positive_int, default=150,
                    help="resolution of raster formats (default: %(default)s)")
    return ap


def choose(res, args):
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


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        res = Results(args.input)
        choose(res, args)
        try:
            os.makedirs(args.output_dir, exist_ok=True)
        except OSError as err:
            raise InputError(f"cannot create output directory {args.output_dir}: "
                             f"{err.strerror}") from None
        plt.rcParams.update(RC)
        for name in args.figures:
            need, what = NEEDS[name]
            if need is not None and not res.has(need):
                note(f"skipping {name}: {args.input} has no {what}")
                continue
            fig = BUILDERS[name](res, args)
            if fig is None:
                note(f"skipping {name}: {args.input} has no usable data for it")
                continue
            for fmt in args.format:
                path = os.path.join(args.output_dir, f"{name}.{fmt}")
                metadata = {"CreationDate": None} if fmt == "pdf" else None
                try:
                    fig.savefig(path, format=fmt, dpi=args.dpi, metadata=metadata)
                except OSError as err:
                    raise InputError(f"cannot write {path}: {err.strerror or err}") from None
                print(path, flush=True)
            plt.close(fig)
    except InputError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
