#!/usr/bin/env python3
"""Tests of scripts/plot.py: it draws every figure a result file has data for, and it
refuses files and options it cannot honour.

  test_plot.py [--mirage PATH] [--workdir DIR] [--only figures,skip,refusal] [--dpi N]

With --mirage the figures are drawn from real files of the binary: a multiple-choice run with
item difficulty on the eight GPT-3 sizes (every run figure: metric_swap, difficulty, jumps,
intervals, multiple_choice, ...), a dense free-form run with a test size of 1 (undefined
coverage, estimates of 0 on log axes) and a small `mirage meta` (the meta figure, the run
figures skipped). Without --mirage they are drawn from files that make_fixture.py writes
with h5py (a format 1.0 run file and a meta file). The `skip` and `refusal` groups always
use fixtures: the 1.0 fixture proves that files written before format 1.1 still draw. Every
check is an assertion that can fail; the script prints one line per check, then
"N passed, M failed", and exits non-zero if any failed.
"""

import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PLOT = os.path.join(ROOT, "scripts", "plot.py")
FIXTURE = os.path.join(HERE, "make_fixture.py")
GROUPS = ("figures", "skip", "refusal")

try:
    import h5py
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import numpy as np
except ImportError as err:  # pragma: no cover - environment problem, reported plainly
    print(f"test_plot.py: missing Python package ({err}); install them with\n"
          f"  python3 -m pip install -r {os.path.join(ROOT, 'scripts', 'requirements.txt')}",
          file=sys.stderr)
    sys.exit(1)


def load_plot_module():
    """scripts/plot.py as a module, for FIGURES and FIGSIZE (the sizes a PNG must have)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("mirage_plot", PLOT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PLOT_MODULE = load_plot_module()


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


def run(cmd, timeout=300):
    """Run a command; returns (returncode, stdout, stderr). A timeout counts as rc -1."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as err:
        return -1, err.stdout or "", f"timed out after {timeout} s"
    except OSError as err:
        return -1, "", str(err)


def fresh_dir(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)
    return path


def make_fixture(path, *extra):
    rc, out, err = run([sys.executable, FIXTURE, path, *extra])
    if rc != 0:
        raise RuntimeError(f"make_fixture.py failed ({rc}): {err.strip()}")
    return path


def tail(text, lines=8):
    return " | ".join(text.strip().splitlines()[-lines:])


# --- PNG validation without trusting the writer ---------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel


def parse_png(path):
    """(width, height) of a PNG after checking its signature, every chunk's CRC, the IHDR,
    that the IDAT stream inflates to the size the header implies, and the IEND. Raises
    ValueError on the first problem."""
    with open(path, "rb") as fh:
        data = fh.read()
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("no PNG signature")
    pos, chunks, idat = len(PNG_SIGNATURE), [], b""
    header = None
    while pos < len(data):
        if pos + 8 > len(data):
            raise ValueError("truncated chunk header")
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = data[pos + 8 + length:pos + 12 + length]
        if len(body) != length or len(crc) != 4:
            raise ValueError(f"truncated {kind!r} chunk")
        if struct.unpack(">I", crc)[0] != zlib.crc32(kind + body) & 0xFFFFFFFF:
            raise ValueError(f"bad CRC in {kind!r} chunk")
        chunks.append(kind)
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
        if kind == b"IEND":
            break
    if not chunks or chunks[0] != b"IHDR" or header is None:
        raise ValueError("first chunk is not IHDR")
    if chunks[-1] != b"IEND":
        raise ValueError("no IEND chunk")
    width, height, depth, colour, _, _, interlace = header
    if colour not in CHANNELS or interlace != 0:
        raise ValueError(f"unexpected colour type {colour} / interlace {interlace}")
    row = 1 + (width * CHANNELS[colour] * depth + 7) // 8
    raw = zlib.decompress(idat)
    if len(raw) != row * height:
        raise ValueError(f"image data is {len(raw)} bytes, expected {row * height}")
    return width, height


# --- the groups -----------------------------------------------------------------------------

def expected_figures(path):
    """The figures whose data the file has (plot.py skips the others): a meta-analysis file
    draws only `meta`, a run file the others where it has their data."""
    with h5py.File(path, "r") as f:
        filetype = f.attrs.get("filetype", b"")
        filetype = filetype.decode() if isinstance(filetype, bytes) else str(filetype)
        if filetype == "mirage-meta":
            present = {name: False for name in PLOT_MODULE.FIGURES}
            present["meta"] = "meta/score" in f
        else:
            present = {
                "model": True,
                "metric_swap": "metrics/exact_match/ci_high" in f,
                "resolution": "summary/exact_match/q975" in f,
                "frontier": "frontier/simulated_scale" in f,
                "intervals": "interval_comparison" in f,
                "emergence": "emergence" in f,
                "meta": False,
                "multiple_choice": "metrics/multiple_choice_grade" in f,
                "difficulty": "model/difficulty/p_token_quantile" in f,
                "jumps": "jumps" in f,
            }
    return [name for name in PLOT_MODULE.FIGURES if present[name]]


RUN_FIGURES = [name for name in PLOT_MODULE.FIGURES if name != "meta"]


def check_figure_files(checks, outdir, name, dpi, label="", formats=("png", "pdf")):
    prefix = f"{label}: " if label else ""
    png = os.path.join(outdir, f"{name}.png")
    pdf = os.path.join(outdir, f"{name}.pdf")
    if checks.check(f"{prefix}{name}.png exists", os.path.isfile(png), png):
        try:
            width, height = parse_png(png)
            valid = True
        except (ValueError, zlib.error, struct.error) as err:
            checks.check(f"{prefix}{name}.png is a valid PNG", False, str(err))
            valid = False
        if valid:
            checks.check(f"{prefix}{name}.png is a valid PNG", True)
            w_in, h_in = PLOT_MODULE.FIGSIZE[name]
            want = (round(w_in * dpi), round(h_in * dpi))
            checks.check(f"{prefix}{name}.png is {want[0]}x{want[1]} px (figsize x dpi)",
                         abs(width - want[0]) <= 1 and abs(height - want[1]) <= 1,
                         f"got {width}x{height}")
            pixels = mpimg.imread(png)
            grey = pixels[..., :3].mean(axis=-1) if pixels.ndim == 3 else pixels
            inked = float((grey < 0.9).mean())
            checks.check(f"{prefix}{name}.png is not blank", grey.var() > 2e-3 and inked > 0.01,
                         f"pixel variance {grey.var():.2e}, {100 * inked:.2f} % inked")
    if "pdf" in formats and checks.check(f"{prefix}{name}.pdf exists", os.path.isfile(pdf),
                                         pdf):
        with open(pdf, "rb") as fh:
            head = fh.read(5)
            fh.seek(max(0, os.path.getsize(pdf) - 1024))
            end = fh.read()
        checks.check(f"{prefix}{name}.pdf is a PDF (%PDF ... %%EOF)",
                     head == b"%PDF-" and b"%%EOF" in end, f"starts with {head!r}")


def draw_all(checks, label, h5, outdir, dpi, extra=(), formats=("png", "pdf"), figures=None):
    """plot.py on every figure of a file (or on `figures`): the figures it has data for are
    written as valid PNG (figsize x dpi, not blank) and PDF, one printed line per file; the
    others are skipped with a note and not written. Returns plot.py's stderr."""
    selection = ("--figures", ",".join(figures)) if figures else ()
    rc, out, err = run([sys.executable, PLOT, h5, "-o", outdir, "--dpi", str(dpi),
                        "--format", ",".join(formats), *selection, *extra])
    if not checks.check(f"{label}: plot.py exits 0", rc == 0, f"rc={rc}: {tail(err)}"):
        return err
    checks.check(f"{label}: plot.py prints no warning", "warning" not in err.lower(),
                 tail(err))
    expected = [n for n in expected_figures(h5) if not figures or n in figures]
    for name in expected:
        check_figure_files(checks, outdir, name, dpi, label, formats)
    listed = [line.strip() for line in out.splitlines() if line.strip()]
    wanted = sorted(os.path.join(outdir, f"{n}.{ext}") for n in expected for ext in formats)
    checks.check(f"{label}: plot.py prints one line per written file", sorted(listed) == wanted,
                 f"printed {listed}")
    for name in figures or PLOT_MODULE.FIGURES:
        if name not in expected:
            checks.check(f"{label}: {name} skipped with a note",
                         f"skipping {name}" in err and not os.path.exists(
                             os.path.join(outdir, f"{name}.png")), tail(err))
    return err


def expect_text(checks, label, path, wanted, *argv):
    """Each figure's drawn text holds the given strings (titles, legends, captions)."""
    for name, needles in wanted.items():
        text = figure_text(path, name, *argv)
        missing = [n for n in needles if n not in text]
        checks.check(f"{label}: {name} says {', '.join(repr(n) for n in needles)}",
                     not missing, f"missing {missing}")


def mirage_file(checks, label, argv, path):
    rc, out, err = run(argv, timeout=240)
    checks.check(f"{label}: mirage exits 0", rc == 0, f"rc={rc}: {tail(err)}")
    return checks.check(f"{label}: mirage wrote the HDF5 file", os.path.isfile(path), path)


def group_figures(checks, args):
    work = fresh_dir(os.path.join(args.workdir, "figures"))
    if not args.mirage:
        h5 = make_fixture(os.path.join(work, "fixture.h5"))
        print(f"note: no --mirage given; drawing from the fixtures {h5} and meta_fixture.h5")
        draw_all(checks, "1.0 fixture", h5, os.path.join(work, "out"), args.dpi)
        meta = make_fixture(os.path.join(work, "meta_fixture.h5"), "--meta")
        draw_all(checks, "meta fixture", meta, os.path.join(work, "out-meta"), args.dpi)
        return

    # 1. Multiple choice with item difficulty on the eight GPT-3 sizes: every run figure.
    h5 = os.path.join(work, "gpt3.h5")
    csv = os.path.join(work, "gpt3.csv")
    if mirage_file(checks, "gpt3-full multiple choice",
                   [args.mirage, "run", "--preset", "gpt3-full", "--task", "multiple-choice",
                    "--choices", "4", "--difficulty", "normal:1", "--test-sizes", "10,100",
                    "--replicates", "20", "--seed", "7", "--quiet", "-o", h5, "--csv", csv], h5):
        checks.check("gpt3-full multiple choice: mirage wrote the CSV file", os.path.isfile(csv))
        checks.check("gpt3-full multiple choice: the file has every run figure's data",
                     expected_figures(h5) == RUN_FIGURES, str(expected_figures(h5)))
        draw_all(checks, "gpt3-full multiple choice", h5, os.path.join(work, "out-gpt3"),
                 args.dpi)
        expect_text(checks, "gpt3-full multiple choice", h5, {
            "metric_swap": ["n = 100 items", "Exact match (nonlinear)",
                            "Token edit distance (linear)", "Token accuracy (linear)"],
            "jumps": ["Newcombe", "MOVER", "positively correlated", "conservative",
                      "multiple-choice grade (nonlinear)", "Brier score (quadratic)"],
            "difficulty": ["normal:1", "Law of the difficulty", "no difficulty"],
            "intervals": ["Blaker", "likelihood ratio", "Student t", "nominal 95 %"],
            "multiple_choice": ["Brier score (quadratic in", "(discontinuous)"],
            "resolution": ["median", "replicate 0, n = 100"],
        })

    # 2. A dense free-form grid drawn at n = 1: undefined coverage (no Student-t interval
    #    of one item), estimates of 0 on every log axis, 20 jumps.
    dense = os.path.join(work, "dense.h5")
    if mirage_file(checks, "dense grid",
                   [args.mirage, "run", "--scales", "1e8:1e13:21", "--lengths", "1,2,5",
                    "--test-sizes", "1,10,100", "--replicates", "20", "--seed", "7",
                    "--quiet", "-o", dense], dense):
        expected = [n for n in RUN_FIGURES if n not in ("multiple_choice", "difficulty")]
        checks.check("dense grid: the file has the free-form figures' data",
                     expected_figures(dense) == expected, str(expected_figures(dense)))
        # The figures that n = 1 and a dense grid change (PNG only, to keep the test short).
        err = draw_all(checks, "dense grid at n = 1", dense, os.path.join(work, "out-dense"),
                       args.dpi, ("--test-size", "1", "--length", "2"), formats=("png",),
                       figures=("metric_swap", "resolution", "intervals", "jumps",
                                "multiple_choice"))
        checks.check("dense grid at n = 1: no note about unusable data",
                     "no usable data" not in err, tail(err))
        expect_text(checks, "dense grid at n = 1", dense, {
            "intervals": ["gaps: no interval", "n = 1 item)"],
            "metric_swap": ["bottom edge: 0"],
            "jumps": ["independent samples", "Newcombe"],
        }, "--test-size", "1", "--length", "2")

    # 3. --keep-replicates 1: the file stores replicate 0's arrays only and still draws every
    #    free-form figure (replicate 0's error bars, the summaries of all 20 replicates).
    kept = os.path.join(work, "kept.h5")
    if mirage_file(checks, "first replicate kept",
                   [args.mirage, "run", "--preset", "gpt3-full", "--test-sizes", "10,100",
                    "--replicates", "20", "--keep-replicates", "1", "--seed", "7", "--quiet",
                    "-o", kept], kept):
        expected = [n for n in RUN_FIGURES if n not in ("multiple_choice", "difficulty")]
        checks.check("first replicate kept: the file has the free-form figures' data",
                     expected_figures(kept) == expected, str(expected_figures(kept)))
        draw_all(checks, "first replicate kept", kept, os.path.join(work, "out-kept"),
                 args.dpi, formats=("png",))
        expect_text(checks, "first replicate kept", kept, {
            "resolution": ["median", "replicate 0, n = 100"],
            "metric_swap": ["20 replicate test sets"],
        })

    # 4. A meta-analysis: only the meta figure.
    meta = os.path.join(work, "meta.h5")
    if mirage_file(checks, "mirage meta",
                   [args.mirage, "meta", "--tasks", "30", "--replicates", "4", "--families",
                    "gpt3,big-g", "--quiet", "-o", meta], meta):
        checks.check("mirage meta: the file draws the meta figure only",
                     expected_figures(meta) == ["meta"], str(expected_figures(meta)))
        draw_all(checks, "mirage meta", meta, os.path.join(work, "out-meta"), args.dpi)
        expect_text(checks, "mirage meta", meta, {
            "meta": ["absolute threshold 5", "2 × (S − 1)", "scores S − 1 (gpt3 3, big-g 11)",
                     "30 synthetic tasks", "+∞"],
        })


def figure_text(path, name, *argv):
    """Every string a figure draws (titles, labels, legend, caption) as one line, built in
    this process with plot.py's own functions, without rendering. "" if the figure is not
    built."""
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    res = PLOT_MODULE.open_file(path)
    args = PLOT_MODULE.build_parser().parse_args([path, *argv])
    PLOT_MODULE.choose(res, args)
    with matplotlib.rc_context(PLOT_MODULE.RC):
        fig = PLOT_MODULE.BUILDERS[name](res, args)
    if fig is None:
        return ""
    try:
        # Whitespace normalised: captions wrap at any space.
        return " ".join(" ".join(t.get_text() for t in fig.findobj(Text)).split())
    finally:
        plt.close(fig)


def group_skip(checks, args):
    """Files without the optional groups draw in part; format 1.0 files still draw; a meta
    file draws only `meta` and a run file never does."""
    work = fresh_dir(os.path.join(args.workdir, "skip"))
    h5 = make_fixture(os.path.join(work, "core_only.h5"), "--scales", "1e8:1e13:9",
                      "--test-sizes", "10,100", "--replicates", "6", "--no-optional",
                      "--no-multiple-choice")
    outdir = os.path.join(work, "out")
    rc, out, err = run([sys.executable, PLOT, h5, "-o", outdir, "--format", "png",
                        "--dpi", "60"])
    checks.check("file without optional groups: plot.py exits 0", rc == 0,
                 f"rc={rc}: {tail(err)}")
    for name in ("model", "metric_swap", "resolution"):
        checks.check(f"file without optional groups: {name}.png written",
                     os.path.isfile(os.path.join(outdir, f"{name}.png")))
    for name in ("frontier", "intervals", "emergence", "meta", "multiple_choice", "difficulty",
                 "jumps"):
        checks.check(f"file without optional groups: {name} skipped with a note on stderr",
                     f"note: skipping {name}" in err
                     and not os.path.exists(os.path.join(outdir, f"{name}.png")), tail(err))
    checks.check("file without optional groups: no PDF when --format png",
                 not any(f.endswith(".pdf") for f in os.listdir(outdir)) if os.path.isdir(
                     outdir) else False)

    # A complete format 1.0 file (exact-match-only /interval_comparison/<method>, no /jumps,
    # no difficulty, the Brier score's kind "linear") draws every figure it has data for.
    full = make_fixture(os.path.join(work, "full.h5"), "--scales", "1e8:1e13:9",
                        "--test-sizes", "10,100", "--replicates", "6")
    outdir = os.path.join(work, "format-1.0")
    rc, out, err = run([sys.executable, PLOT, full, "-o", outdir, "--format", "png",
                        "--dpi", "40"])
    drawn = [n for n in PLOT_MODULE.FIGURES if n not in ("meta", "difficulty", "jumps")]
    checks.check("format 1.0 file: plot.py exits 0", rc == 0, f"rc={rc}: {tail(err)}")
    for name in drawn:
        try:
            size = parse_png(os.path.join(outdir, f"{name}.png"))
        except (OSError, ValueError, zlib.error, struct.error) as problem:
            size = str(problem)
        w_in, h_in = PLOT_MODULE.FIGSIZE[name]
        want = (round(w_in * 40), round(h_in * 40))
        checks.check(f"format 1.0 file: {name}.png is a {want[0]}x{want[1]} PNG",
                     size == want, str(size))
    for name in ("difficulty", "jumps", "meta"):
        checks.check(f"format 1.0 file: {name} skipped with a note", f"skipping {name}" in err,
                     tail(err))
    intervals = figure_text(full, "intervals")
    checks.check("format 1.0 file: intervals drawn from /interval_comparison/<method> "
                 "(exact match only)",
                 "Wald" in intervals and "Clopper–Pearson" in intervals
                 and "design effect" not in intervals and "token accuracy" not in intervals,
                 intervals[:300])
    emergence = figure_text(full, "emergence")
    checks.check("emergence legend calls the Brier score quadratic, not linear (the 1.0 "
                 "file says linear)",
                 "Brier score (quadratic)" in emergence and "Brier score (linear)" not in
                 emergence, emergence[:300])
    mc = figure_text(full, "multiple_choice")
    checks.check("multiple_choice labels the grade discontinuous and the Brier score "
                 "quadratic", "Multiple-choice grade (discontinuous)" in mc
                 and "Brier score (quadratic in" in mc, mc[:300])

    # --figures / --length / --test-size select what is drawn.
    outdir = os.path.join(work, "selected")
    rc, out, err = run([sys.executable, PLOT, full, "-o", outdir, "--figures",
                        "intervals,emergence", "--length", "2", "--test-size", "10",
                        "--format", "png", "--dpi", "60"])
    written = sorted(os.listdir(outdir)) if os.path.isdir(outdir) else []
    checks.check("--figures intervals,emergence --length 2 --test-size 10 draws just those",
                 rc == 0 and written == ["emergence.png", "intervals.png"],
                 f"rc={rc}, wrote {written}: {tail(err)}")

    # A run file asked for the meta figure skips it; a meta file draws only `meta`.
    outdir = os.path.join(work, "run-meta")
    rc, out, err = run([sys.executable, PLOT, full, "-o", outdir, "--figures", "meta",
                        "--format", "png", "--dpi", "40"])
    written = os.listdir(outdir) if os.path.isdir(outdir) else []
    checks.check("run file with --figures meta: exit 0, meta skipped with a note, nothing "
                 "written", rc == 0 and "skipping meta" in err and "run file" in err
                 and not written, f"rc={rc}, wrote {written}: {tail(err)}")
    meta = make_fixture(os.path.join(work, "meta.h5"), "--meta", "--tasks", "8")
    outdir = os.path.join(work, "meta-out")
    rc, out, err = run([sys.executable, PLOT, meta, "-o", outdir, "--format", "png",
                        "--dpi", "40", "--length", "5"])
    written = sorted(os.listdir(outdir)) if os.path.isdir(outdir) else []
    checks.check("meta file: draws meta.png only", rc == 0 and written == ["meta.png"],
                 f"rc={rc}, wrote {written}: {tail(err)}")
    checks.check("meta file: every run figure skipped with a note",
                 all(f"skipping {n}" in err for n in RUN_FIGURES), tail(err))
    checks.check("meta file: --length is ignored with a note", "--length is ignored" in err,
                 tail(err))
    with h5py.File(meta, "r") as f:
        fraction = f["meta/fraction/exact_match"][()]
        replicate = f["meta/fraction_replicate/exact_match"][()]
    checks.check("meta fixture: fraction is the mean of the per-replicate fractions",
                 np.allclose(fraction, replicate.mean(axis=1)))


def group_refusal(checks, args):
    work = fresh_dir(os.path.join(args.workdir, "refusal"))
    base = make_fixture(os.path.join(work, "base.h5"), "--scales", "1e8:1e13:6",
                        "--test-sizes", "10,100", "--replicates", "4", "--no-optional",
                        "--no-multiple-choice")

    def variant(name, **attrs):
        path = os.path.join(work, name)
        shutil.copyfile(base, path)
        with h5py.File(path, "r+") as f:
            for key, value in attrs.items():
                f.attrs[key] = value
        return path

    foreign = variant("foreign.h5", filetype="something-else")
    future = variant("future.h5", format_version=np.array([2, 0], dtype=np.int32))
    text_file = os.path.join(work, "notes.h5")
    with open(text_file, "w") as fh:
        fh.write("not an HDF5 file\n")
    missing = os.path.join(work, "does-not-exist.h5")

    meta_future = make_fixture(os.path.join(work, "meta-future.h5"), "--meta", "--tasks", "4",
                               "--format-version", "2,0")
    meta_foreign = make_fixture(os.path.join(work, "meta-foreign.h5"), "--meta", "--tasks", "4",
                                "--filetype", "mirage-metadata")
    cases = [
        ("a meta file of format_version [2,0]", [meta_future],
         ["plot.py: error:", "format version 2.0 is not supported (this script reads 1.x)"]),
        ("filetype=mirage-metadata", [meta_foreign],
         ["plot.py: error:", "is not a Mirage result file (filetype=mirage-metadata)"]),
        ("filetype=something-else", [foreign],
         [f"plot.py: error: {foreign} is not a Mirage result file (filetype=something-else)"]),
        ("format_version [2,0]", [future],
         ["plot.py: error:", "format version 2.0 is not supported (this script reads 1.x)"]),
        ("a file that is not HDF5", [text_file],
         ["plot.py: error:", "is not a Mirage result file"]),
        ("a missing file", [missing], ["plot.py: error:", "no such file"]),
        ("--length 7 (not in the file)", [base, "--length", "7"],
         ["plot.py: error: --length 7 is not in", "(available: 1, 2, 5)"]),
        ("--test-size 1000 (not in the file)", [base, "--test-size", "1000"],
         ["plot.py: error: --test-size 1000 is not in", "(available: 10, 100)"]),
        ("--figures bogus", [base, "--figures", "bogus"], ["plot.py: error:", "bogus"]),
    ]
    for label, argv, needles in cases:
        outdir = os.path.join(work, "out-" + "".join(c if c.isalnum() else "_" for c in label))
        rc, out, err = run([sys.executable, PLOT, *argv, "-o", outdir, "--format", "png"])
        checks.check(f"refuses {label}: exit status 2", rc == 2, f"rc={rc}: {tail(err)}")
        missing_text = [n for n in needles if n not in err]
        checks.check(f"refuses {label}: says why", not missing_text,
                     f"stderr lacks {missing_text}: {tail(err)}")
        written = os.listdir(outdir) if os.path.isdir(outdir) else []
        checks.check(f"refuses {label}: writes no figure", not written, f"wrote {written}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirage", help="path to the mirage executable (default: use a fixture)")
    ap.add_argument("--workdir", help="scratch directory (default: a temporary one)")
    ap.add_argument("--only", default=",".join(GROUPS),
                    help=f"comma-separated groups to run ({', '.join(GROUPS)})")
    ap.add_argument("--dpi", type=int, default=100, help="dpi of the figures group's PNGs")
    args = ap.parse_args()
    groups = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        ap.error(f"unknown group {', '.join(unknown)} (choose from {', '.join(GROUPS)})")
    if args.mirage and not os.access(args.mirage, os.X_OK):
        ap.error(f"--mirage {args.mirage} is not an executable file")
    temporary = None
    if not args.workdir:
        temporary = tempfile.mkdtemp(prefix="mirage-plot-test-")
        args.workdir = temporary
    os.makedirs(args.workdir, exist_ok=True)

    checks = Checks()
    for group in groups:
        print(f"== {group}")
        try:
            {"figures": group_figures, "skip": group_skip, "refusal": group_refusal}[group](
                checks, args)
        except Exception as err:  # a crash in a group is a failure, not a traceback
            checks.check(f"{group} group ran to the end", False, f"{type(err).__name__}: {err}")
    print(f"{checks.passed} passed, {checks.failed} failed")
    if temporary and checks.failed == 0:
        shutil.rmtree(temporary, ignore_errors=True)
    elif temporary:
        print(f"kept {temporary} for inspection")
    return 0 if checks.failed == 0 and checks.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
