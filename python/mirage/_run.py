"""mirage.run and mirage.meta: the `mirage run` and `mirage meta` commands in-process.

Keyword arguments become the command's options (`test_sizes=[100, 1000]` is
`--test-sizes 100,1000`), and the command line's own parser validates them, so every value is
accepted or refused exactly as `mirage` would, with its message. The result is written to a
file (a temporary one unless `output` is given) and read back with mirage.open, so the tree
holds what the file holds.
"""

from __future__ import annotations

import numbers
import os
import shutil
import sys
import tempfile
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence, Union

from ._open import open as _open

if TYPE_CHECKING:  # pragma: no cover
    import xarray

Path = Union[str, "os.PathLike[str]"]
Values = Union[Sequence[Any], str, float, int]

#: The exit code of a run stopped by a signal after saving its checkpoint.
EXIT_INTERRUPTED = 75

# One run at a time per process: the command line keeps process-wide state (OpenMP's thread
# count, the CPU kernel, signal handlers, the progress counter).
_LOCK = threading.Lock()


def _core() -> Any:
    try:
        from . import _core as core
    except ImportError as err:
        raise ImportError(
            "mirage._core, the compiled part of mirage, is missing: install the package with "
            "`python3 -m pip install .` from the repository (or build it with CMake and put "
            f"<build>/python on PYTHONPATH): {err}") from None
    return core


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        real = float(value)
        if real.is_integer() and abs(real) < 2.0**63:
            return str(int(real))
        return repr(real)
    return os.fspath(value) if isinstance(value, os.PathLike) else str(value)


def _value(value: Any) -> str:
    """An option's value as the command line writes it: lists comma-separated."""
    if isinstance(value, (str, bytes, os.PathLike)) or not hasattr(value, "__iter__"):
        return _number(value)
    return ",".join(_number(v) for v in value)


def arguments(command: str, options: dict[str, Any],
              positional: Sequence[Any] = ()) -> list[str]:
    """The command line of `command` for keyword options: None is left out, True is a flag,
    False leaves a flag out, underscores become dashes (`config` goes first, then the
    positional arguments)."""
    args = ["mirage", command]
    ordered = dict(options)
    if ordered.get("config") is not None:
        args += ["--config", _value(ordered.pop("config"))]
    ordered.pop("config", None)
    args += [_number(value) for value in positional]
    for key, value in ordered.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        else:
            args += [flag, _value(value)]
    return args


class _Bar:
    """Progress of the sampling: tqdm when it is installed, else one line on stderr."""

    def __init__(self, label: str):
        self.label = label
        self.start = time.monotonic()
        self.tqdm: Any = None
        self.shown = False
        self.last = 0.0

    def update(self, done: int, total: int) -> None:
        now = time.monotonic()
        if total <= 0 or now - self.start < 0.5:
            return
        if self.tqdm is None and not self.shown:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.tqdm = tqdm(total=total, desc=self.label, unit=" draws", unit_scale=True,
                                 leave=False)
            self.shown = True
        if self.tqdm is not None:
            self.tqdm.total = total
            self.tqdm.update(done - self.tqdm.n)
        elif now - self.last >= 0.25:
            self.last = now
            rate = done / (now - self.start)
            sys.stderr.write(f"\r{self.label} {100.0 * done / total:5.1f}%  {rate:.3g} draws/s  "
                             f"elapsed {now - self.start:.0f}s   ")
            sys.stderr.flush()

    def close(self) -> None:
        if self.tqdm is not None:
            self.tqdm.close()
        elif self.shown:
            sys.stderr.write("\r" + " " * 79 + "\r")
            sys.stderr.flush()


def _show_progress(quiet: bool, progress: bool | None) -> bool:
    if quiet:
        return False
    if progress is not None:
        return bool(progress)
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def execute(args: Sequence[str], *, show: bool = False,
            cleanup: Callable[[], None] | None = None) -> None:
    """Runs a mirage command line in this process (in a worker thread, the GIL released),
    drawing a progress bar when `show`. Raises ValueError (exit code 2: bad input) or
    RuntimeError (other failures) with the message that `mirage` prints after
    'mirage: error: '. If the caller is interrupted (KeyboardInterrupt), the command cannot
    be stopped: it finishes in the background and `cleanup` runs after it."""
    core = _core()
    args = [str(a) for a in args]
    _LOCK.acquire()
    outcome: dict[str, Any] = {}
    abandoned = threading.Event()

    def work() -> None:
        try:
            outcome["result"] = core.run_cli(args)
        except BaseException as err:  # noqa: BLE001 - handed to the caller
            outcome["error"] = err
        finally:
            _LOCK.release()
            if abandoned.is_set() and cleanup is not None:
                cleanup()

    started = core.progress()[2]
    worker = threading.Thread(target=work, name="mirage-" + args[1], daemon=True)
    bar = _Bar(f"mirage {args[1]}") if show else None
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
            if bar is not None:
                done, total, count = core.progress()
                if count != started:
                    bar.update(done, total)
    except KeyboardInterrupt as err:
        abandoned.set()
        if not worker.is_alive() and cleanup is not None:
            cleanup()
        sys.stderr.write(f"\nmirage: interrupted; the {args[1]} cannot be stopped and "
                         "finishes in the background\n")
        err.abandoned = True  # type: ignore[attr-defined]
        raise
    finally:
        if bar is not None:
            bar.close()
    if "error" in outcome:
        raise outcome["error"]
    code, message = outcome["result"]
    if code == 0:
        return
    if code == 2:
        raise ValueError(message)
    if code == EXIT_INTERRUPTED:
        checkpoint = args[args.index("--checkpoint") + 1] if "--checkpoint" in args else "?"
        raise KeyboardInterrupt(f"mirage: stopped by a signal; checkpoint saved to {checkpoint}; "
                                f"finish with the same call plus resume={checkpoint!r}")
    raise RuntimeError(message or f"mirage {args[1]} failed with exit code {code}")


def _command(command: str, options: dict[str, Any], output: Path | None, quiet: bool,
             progress: bool | None, positional: Sequence[Any] = ()) -> "xarray.DataTree":
    """Runs `command` writing `output` (or a temporary file) and returns the file's tree."""
    workdir = None
    if output is None:
        workdir = tempfile.mkdtemp(prefix="mirage-")
        path = os.path.join(workdir, f"{command}.h5")
    else:
        path = os.fspath(output)

    def cleanup() -> None:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)

    options = {**options, "output": path, "quiet": True}
    try:
        execute(arguments(command, options, positional), show=_show_progress(quiet, progress),
                cleanup=cleanup)
    except KeyboardInterrupt as err:
        if not getattr(err, "abandoned", False):  # else the command cleans up when it ends
            cleanup()
        raise
    except BaseException:
        cleanup()
        raise
    try:
        if not os.path.exists(path):
            raise RuntimeError(f"mirage {command} wrote no file {path}")
        tree = _open(path, load=True)
    finally:
        cleanup()
    tree.encoding["source"] = None if workdir is not None else path
    return tree


def run(scales: Values | None = None, lengths: Values | None = None,
        test_sizes: Values | None = None, replicates: int | None = None,
        seed: int | None = None, backend: str = "auto", *,
        preset: str | None = None, loss_scale: float | None = None,
        loss_exponent: float | None = None, loss_table: Path | None = None,
        extrapolate: bool = False, difficulty: str | None = None,
        difficulty_sd: float | None = None, task: str | None = None,
        choices: int | None = None, threads: int | None = None,
        cpu_kernel: str | None = None, devices: Values | None = None,
        items_per_unit: int | None = None, interval: str | None = None,
        mean_interval: str | None = None, confidence: float | None = None,
        shard: str | None = None, checkpoint: Path | None = None,
        checkpoint_every: float | None = None, resume: Path | None = None,
        compression: str | None = None, config: Path | None = None,
        output: Path | None = None, csv: Path | None = None, quiet: bool = False,
        progress: bool | None = None, **options: Any) -> "xarray.DataTree":
    """Runs `mirage run` in this process and returns its result file as an xarray.DataTree
    (see mirage.open): `tree["summary/exact_match"]` is a Dataset over (scale, length,
    test_size), `tree["counts"]` the tallies over (scale, length, test_size, replicate).

    Every keyword is the command's option of that name (underscores for dashes; see
    `mirage run --help` and the README): lists are comma-separated (`scales=[1e8, 1e9]` or
    the grid `scales="1e8:1e13:41"`), True turns a flag on, None leaves an option at its
    default. `backend` is passed unless it is "auto" (the default, so that a `config` file's
    backend applies). `config` is a TOML file with a [run] table, which the other keywords
    override. `output` keeps the HDF5 file there (else it is written to a temporary file and
    deleted); `csv` also writes the tidy CSV. A progress bar (tqdm if installed) is drawn in
    notebooks and terminals unless `quiet` or `progress=False`; the command line's own
    summary is not printed. Options not named here (later additions of the command line)
    pass through `**options` the same way.

    Bad input raises ValueError with the message `mirage run` prints after 'mirage: error: '
    (its exit code 2); other failures raise RuntimeError. One run at a time per process
    (calls from other threads wait)."""
    options = dict(
        config=config, scales=scales, lengths=lengths, test_sizes=test_sizes,
        replicates=replicates, seed=seed, backend=None if backend == "auto" else backend,
        preset=preset, loss_scale=loss_scale, loss_exponent=loss_exponent,
        loss_table=loss_table, extrapolate=extrapolate, difficulty=difficulty,
        difficulty_sd=difficulty_sd, task=task, choices=choices, threads=threads,
        cpu_kernel=cpu_kernel, devices=devices, items_per_unit=items_per_unit,
        interval=interval, mean_interval=mean_interval, confidence=confidence, shard=shard,
        checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume,
        compression=compression, csv=csv, **options)
    return _command("run", options, output, quiet, progress)


def meta(tasks: int | None = None, replicates: int | None = None, seed: int | None = None,
         families: Values | None = None, backend: str = "auto", *,
         length: str | None = None, loss_scale: str | None = None,
         loss_exponent: str | None = None, difficulty_family: str | None = None,
         difficulty_a: str | None = None, difficulty_b: str | None = None,
         choices: str | None = None, test_size: str | None = None,
         threshold: float | None = None, relative_threshold: float | None = None,
         threads: int | None = None, devices: Values | None = None, shard: str | None = None,
         config: Path | None = None, output: Path | None = None, csv: Path | None = None,
         quiet: bool = False, progress: bool | None = None,
         **options: Any) -> "xarray.DataTree":
    """Runs `mirage meta` (a synthetic BIG-bench) in this process and returns its file as an
    xarray.DataTree (see mirage.open): `tree["meta/score"]` over (task, family, replicate),
    `tree["meta/fraction"]` over family. The laws (`length`, `loss_scale`, ...) are written
    as on the command line, e.g. `length="int:1:8"`; everything else is as for mirage.run."""
    options = dict(
        config=config, tasks=tasks, replicates=replicates, seed=seed, families=families,
        backend=None if backend == "auto" else backend, length=length, loss_scale=loss_scale,
        loss_exponent=loss_exponent, difficulty_family=difficulty_family,
        difficulty_a=difficulty_a, difficulty_b=difficulty_b, choices=choices,
        test_size=test_size, threshold=threshold, relative_threshold=relative_threshold,
        threads=threads, devices=devices, shard=shard, csv=csv, **options)
    return _command("meta", options, output, quiet, progress)


def forecast(file: Path | "xarray.DataTree", fit_below: Values | None = None, *,
             metric: Values | None = None, method: Values | None = None,
             confidence: float | None = None, threads: int | None = None,
             output: Path | None = None, csv: Path | None = None,
             **options: Any) -> "xarray.DataTree":
    """Runs `mirage forecast` on a result file (a path, or a tree that mirage.open or
    mirage.run with `output` read from a file): fits the scales below `fit_below` and
    predicts the others, with intervals. Returns the forecast file as an xarray.DataTree;
    options and errors as for mirage.run."""
    source = getattr(file, "encoding", {}).get("source") if hasattr(file, "encoding") else file
    if source is None:
        raise ValueError("mirage.forecast needs a result file: give its path, or run with "
                         "output=... so that the tree has one")
    options = dict(fit_below=fit_below, metric=metric, method=method, confidence=confidence,
                   threads=threads, csv=csv, **options)
    return _command("forecast", options, output, True, False, positional=[os.fspath(source)])


def build_info() -> dict[str, Any]:
    """The compiled part's version, git commit and backends: {"version", "git_sha",
    "cuda", "mpi"} (cuda: the CUDA backend is built in, whether or not a device is present)."""
    core = _core()
    return {"version": core.version, "git_sha": core.git_sha, "cuda": bool(core.has_cuda),
            "mpi": bool(core.has_mpi)}
