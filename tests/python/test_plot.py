#!/usr/bin/env python3
"""Tests of scripts/plot.py: it draws every figure a result file has data for, and it
refuses files and options it cannot honour.

  test_plot.py [--mirage PATH] [--workdir DIR] [--only figures,skip,refusal] [--dpi N]

With --mirage the figures are drawn from a real `mirage run` (multiple choice, 21 scales, L = 1,2,5,
n = 10,100,1000, 20 replicates, seed 7); without it from a file that make_fixture.py writes
with h5py (the whole format 1.0 schema, optional groups included). The `skip` and `refusal`
groups always use fixtures. Every check is an assertion that can fail; the script prints
one line per check, then "N passed, M failed", and exits non-zero if any failed.
"""

import argparse
import os
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
    """The figures whose data the file has (plot.py skips the others)."""
    with h5py.File(path, "r") as f:
        present = {
            "model": True,
            "resolution": "summary/exact_match/q975" in f,
            "frontier": "frontier/simulated_scale" in f,
            "intervals": "interval_comparison" in f,
            "emergence": "emergence" in f,
            "multiple_choice": "metrics/multiple_choice_grade" in f,
        }
    return [name for name in PLOT_MODULE.FIGURES if present[name]]


def check_figure_files(checks, outdir, name, dpi):
    png = os.path.join(outdir, f"{name}.png")
    pdf = os.path.join(outdir, f"{name}.pdf")
    if checks.check(f"{name}.png exists", os.path.isfile(png), png):
        try:
            width, height = parse_png(png)
            valid = True
        except (ValueError, zlib.error, struct.error) as err:
            checks.check(f"{name}.png is a valid PNG", False, str(err))
            valid = False
        if valid:
            checks.check(f"{name}.png is a valid PNG", True)
            w_in, h_in = PLOT_MODULE.FIGSIZE[name]
            want = (round(w_in * dpi), round(h_in * dpi))
            checks.check(f"{name}.png is {want[0]}x{want[1]} px (figsize x dpi)",
                         abs(width - want[0]) <= 1 and abs(height - want[1]) <= 1,
                         f"got {width}x{height}")
            pixels = mpimg.imread(png)
            grey = pixels[..., :3].mean(axis=-1) if pixels.ndim == 3 else pixels
            inked = float((grey < 0.9).mean())
            checks.check(f"{name}.png is not blank", grey.var() > 2e-3 and inked > 0.01,
                         f"pixel variance {grey.var():.2e}, {100 * inked:.2f} % inked")
    if checks.check(f"{name}.pdf exists", os.path.isfile(pdf), pdf):
        with open(pdf, "rb") as fh:
            head = fh.read(5)
            fh.seek(max(0, os.path.getsize(pdf) - 1024))
            end = fh.read()
        checks.check(f"{name}.pdf is a PDF (%PDF ... %%EOF)",
                     head == b"%PDF-" and b"%%EOF" in end, f"starts with {head!r}")


def group_figures(checks, args):
    work = fresh_dir(os.path.join(args.workdir, "figures"))
    if args.mirage:
        h5 = os.path.join(work, "small.h5")
        csv = os.path.join(work, "small.csv")
        # A multiple-choice task with item difficulty, so that every figure, the
        # grade-vs-Brier one included, is drawn from a real file.
        rc, out, err = run([args.mirage, "run", "--scales", "1e8:1e13:21", "--lengths", "1,2,5",
                            "--test-sizes", "10,100,1000", "--replicates", "20", "--seed", "7",
                            "--task", "multiple-choice", "--choices", "4", "--difficulty-sd", "1",
                            "--quiet", "-o", h5, "--csv", csv], timeout=240)
        checks.check("mirage run exits 0", rc == 0, f"rc={rc}: {tail(err)}")
        checks.check("mirage run wrote the HDF5 file", os.path.isfile(h5), h5)
        checks.check("mirage run wrote the CSV file", os.path.isfile(csv), csv)
        if not os.path.isfile(h5):
            return
        checks.check("the mirage file has every figure's data",
                     expected_figures(h5) == list(PLOT_MODULE.FIGURES), str(expected_figures(h5)))
    else:
        h5 = make_fixture(os.path.join(work, "fixture.h5"))
        print(f"note: no --mirage given; drawing from the fixture {h5}")
    outdir = os.path.join(work, "out")
    rc, out, err = run([sys.executable, PLOT, h5, "-o", outdir, "--dpi", str(args.dpi)])
    if not checks.check("plot.py exits 0", rc == 0, f"rc={rc}: {tail(err)}"):
        return
    expected = expected_figures(h5)
    for name in expected:
        check_figure_files(checks, outdir, name, args.dpi)
    listed = [line.strip() for line in out.splitlines() if line.strip()]
    wanted = sorted(os.path.join(outdir, f"{n}.{ext}") for n in expected for ext in ("png", "pdf"))
    checks.check("plot.py prints one line per written file", sorted(listed) == wanted,
                 f"printed {listed}")
    for name in PLOT_MODULE.FIGURES:
        if name not in expected:
            checks.check(f"{name} skipped with a note (no data in the file)",
                         f"skipping {name}" in err and not os.path.exists(
                             os.path.join(outdir, f"{name}.png")), tail(err))


def group_skip(checks, args):
    """A file without the optional groups: those figures are skipped, not errors."""
    work = fresh_dir(os.path.join(args.workdir, "skip"))
    h5 = make_fixture(os.path.join(work, "core_only.h5"), "--scales", "1e8:1e13:9",
                      "--test-sizes", "10,100", "--replicates", "6", "--no-optional",
                      "--no-multiple-choice")
    outdir = os.path.join(work, "out")
    rc, out, err = run([sys.executable, PLOT, h5, "-o", outdir, "--format", "png",
                        "--dpi", "60"])
    checks.check("file without optional groups: plot.py exits 0", rc == 0,
                 f"rc={rc}: {tail(err)}")
    for name in ("model", "resolution"):
        checks.check(f"file without optional groups: {name}.png written",
                     os.path.isfile(os.path.join(outdir, f"{name}.png")))
    for name in ("frontier", "intervals", "emergence", "multiple_choice"):
        checks.check(f"file without optional groups: {name} skipped with a note on stderr",
                     f"note: skipping {name}" in err
                     and not os.path.exists(os.path.join(outdir, f"{name}.png")), tail(err))
    checks.check("file without optional groups: no PDF when --format png",
                 not any(f.endswith(".pdf") for f in os.listdir(outdir)) if os.path.isdir(
                     outdir) else False)

    # --figures / --length / --test-size select what is drawn.
    full = make_fixture(os.path.join(work, "full.h5"), "--scales", "1e8:1e13:9",
                        "--test-sizes", "10,100", "--replicates", "6")
    outdir = os.path.join(work, "selected")
    rc, out, err = run([sys.executable, PLOT, full, "-o", outdir, "--figures",
                        "intervals,emergence", "--length", "2", "--test-size", "10",
                        "--format", "png", "--dpi", "60"])
    written = sorted(os.listdir(outdir)) if os.path.isdir(outdir) else []
    checks.check("--figures intervals,emergence --length 2 --test-size 10 draws just those",
                 rc == 0 and written == ["emergence.png", "intervals.png"],
                 f"rc={rc}, wrote {written}: {tail(err)}")


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

    cases = [
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
