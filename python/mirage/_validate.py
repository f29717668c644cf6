"""The reader's side of the file format: a Mirage file checked against the shapes it declares
itself before anything reads it (docs/FORMAT.md §1, "Reading a file").

The rules are those of the command line's reader (host/io/shape_check.h), in the same order
and with the same messages, so that `mirage summarize`, `mirage forecast`, `scripts/plot.py`
and `mirage.open` refuse a damaged file alike (tests/python/test_damaged_files.py runs all of
them on the same files). Files of format 1.2 and later label every axis of every dataset with a
netCDF dimension scale, so that:

  - a dimension scale is 1-D;
  - the copies of a scale (same name, different groups) hold the same values;
  - every other dataset of rank >= 1 has a readable scale on every axis, and the extent of
    each axis equals the length of its scale.

A run file's axes are checked too: /model/scale finite and > 0; /task/length and
/task/test_size integers >= 1, strictly increasing; all three 1-D and non-empty;
/task/test_size@replicates >= 1, /task/test_size@replicates_stored (format 1.6; R where absent)
from 1 to it, and the replicate axis of /metrics/exact_match/estimate that long. Only numpy and
h5py are needed (scripts/plot.py runs from a checkout).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Filetypes written with dimension scales on every axis (tally files have none).
LABELLED_FILETYPES = ("mirage-results", "mirage-meta", "mirage-forecast")
RUN_FILETYPE = "mirage-results"


class DamagedFileError(ValueError):
    """A Mirage file that disagrees with the shapes it declares."""


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _text(value.ravel()[0])
    return str(value)


def _refuse(context: str, what: str) -> None:
    raise DamagedFileError(f"{context}: {what}; the file is damaged or was edited")


def _shape_text(shape: tuple[int, ...]) -> str:
    inner = ", ".join(str(int(d)) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def _is_scale(dataset: Any) -> bool:
    import h5py

    return bool(h5py.h5ds.is_scale(dataset.id))


def parse_format_version(raw: Any) -> tuple[int, int]:
    """(major, minor) of a `format_version` attribute: two integers (format 1.0 on) or a
    "1.2" string; ValueError if it is neither."""
    if isinstance(raw, (str, bytes, np.bytes_)):
        parts = [int(v) for v in _text(raw).split(".")]
    else:
        parts = [int(v) for v in np.asarray(raw).ravel()]
    major, minor = (parts + [0, 0])[:2]
    return major, minor


def _version(h5: Any) -> tuple[int, int] | None:
    if "format_version" not in h5.attrs:
        return None
    try:
        return parse_format_version(h5.attrs["format_version"])
    except ValueError:
        return None


def check_declared_shapes(h5: Any, context: str) -> None:
    """Raises DamagedFileError naming the first dataset (in name order) of the h5py.File `h5`
    that breaks a rule of the module docstring; files of format 1.0 and 1.1, and files without
    a single scale (tallies, the first forecast files), are left to the checks of each
    reader."""
    import h5py

    filetype = _text(h5.attrs.get("filetype", ""))
    version = _version(h5)
    if filetype not in LABELLED_FILETYPES or version is None or version[0] != 1 or version[1] < 2:
        return
    names: list[str] = []
    h5.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    # A file without a single scale is unlabelled (the first forecast files, written before
    # forecast files had scales, carry a later version): left to the readers' own checks.
    if not any(_is_scale(h5[name]) for name in names):
        return
    first_copy: dict[str, tuple[str, int, np.ndarray | None]] = {}
    # The command line's order (H5Ovisit by name: depth first, each group's links by bytes).
    for name in sorted(names, key=lambda n: [part.encode("utf-8") for part in n.split("/")]):
        path = "/" + name
        try:
            dataset = h5[name]
            shape = tuple(int(d) for d in dataset.shape) if dataset.shape is not None else None
        except Exception:  # noqa: BLE001 - anything h5py cannot open is damage
            _refuse(context, f"dataset {path} cannot be opened")
        if shape is None:
            _refuse(context, f"dataset {path} has no readable shape")
        if _is_scale(dataset):
            if len(shape) != 1:
                _refuse(context, f"dimension scale {path} has shape {_shape_text(shape)}; "
                                 "a scale is 1-D")
            values = None
            if dataset.dtype.kind in "iuf":
                try:
                    values = np.asarray(dataset[()], dtype=np.float64)
                except Exception:  # noqa: BLE001
                    _refuse(context, f"dimension scale {path} cannot be read")
            leaf = path.rsplit("/", 1)[-1]
            if leaf not in first_copy:
                first_copy[leaf] = (path, shape[0], values)
                continue
            first_path, first_length, first_values = first_copy[leaf]
            same = first_length == shape[0] and (
                (first_values is None and values is None)
                or (first_values is not None and values is not None
                    and np.array_equal(first_values, values, equal_nan=True)))
            if not same:
                _refuse(context, f"dimension scale {path} ({shape[0]} values) differs from its "
                                 f"copy {first_path} ({first_length} values)")
            continue
        where = f"dataset {path} of shape {_shape_text(shape)}"
        for axis in range(len(shape)):
            try:
                attached = len(dataset.dims[axis])
            except Exception:  # noqa: BLE001
                attached = 0
            if attached <= 0:
                _refuse(context, f"{where} has no dimension scale on axis {axis}")
            try:
                scale = dataset.dims[axis][0]
                scale_name = scale.name or "?"
                scale_shape = tuple(int(d) for d in scale.shape)
            except Exception:  # noqa: BLE001 - a dangling reference
                _refuse(context, f"{where}: the dimension scale of axis {axis} cannot be read "
                                 "(it was deleted or replaced)")
            if len(scale_shape) != 1 or scale_shape[0] != shape[axis]:
                length = scale_shape[0] if len(scale_shape) == 1 else 0
                _refuse(context, f"{where} has {shape[axis]} values on axis {axis}, but its "
                                 f"dimension scale {scale_name} has {length}")


def check_run_axes(h5: Any, context: str) -> None:
    """The axes of a `mirage run` result file (module docstring); DamagedFileError if not."""
    for path in ("model/scale", "task/length", "task/test_size"):
        if path not in h5:
            _refuse(context, f"it has no /{path}")
        shape = tuple(int(d) for d in h5[path].shape or ())
        if len(shape) != 1 or shape[0] == 0:
            _refuse(context, f"axis /{path} has shape {_shape_text(shape)}; an axis is 1-D "
                             "with at least one value")
    kinds = {"model/scale": "f", "task/length": "iu", "task/test_size": "iu"}
    for path, allowed in kinds.items():
        kind = h5[path].dtype.kind
        if kind not in allowed:
            stored = ("floating-point numbers" if kind == "f" else "integers" if kind in "iu"
                      else "neither integers nor floating-point numbers")
            wanted = "floating-point numbers" if allowed == "f" else "integers"
            _refuse(context, f"dataset /{path} holds {stored}, not {wanted}")
    scales = np.asarray(h5["model/scale"][()], dtype=np.float64)
    for value in scales:
        if not (value > 0.0 and np.isfinite(value)):
            _refuse(context, f"/model/scale holds {value:f}; scales are finite and > 0")
    for path in ("task/length", "task/test_size"):
        values = np.asarray(h5[path][()], dtype=np.int64)
        for i, value in enumerate(values):
            if value < 1 or (i > 0 and value <= values[i - 1]):
                _refuse(context, f"/{path} holds {int(value)} at index {i}; its values are "
                                 "integers >= 1, strictly increasing")
    if "replicates" not in h5["task/test_size"].attrs:
        _refuse(context, "/task/test_size has no attribute 'replicates'")
    replicates = int(np.asarray(h5["task/test_size"].attrs["replicates"]).ravel()[0])
    if replicates < 1:
        _refuse(context, f"/task/test_size@replicates = {replicates}; at least 1 replicate")
    # Format 1.6: the per-replicate arrays of the first replicates_stored replicates (all R
    # in files without the attribute).
    stored, stored_name = replicates, "/task/test_size@replicates"
    if "replicates_stored" in h5["task/test_size"].attrs:
        stored = int(np.asarray(h5["task/test_size"].attrs["replicates_stored"]).ravel()[0])
        stored_name = "/task/test_size@replicates_stored"
        if stored < 1 or stored > replicates:
            _refuse(context, f"/task/test_size@replicates_stored = {stored}; from 1 to "
                             f"/task/test_size@replicates = {replicates}")
    estimate = "metrics/exact_match/estimate"
    if estimate in h5:
        shape = tuple(int(d) for d in h5[estimate].shape or ())
        if not shape or shape[-1] != stored:
            _refuse(context, f"dataset /{estimate} has shape {_shape_text(shape)}, but "
                             f"{stored_name} = {stored}")


def check_file(h5: Any, context: str) -> None:
    """Every check that applies to the file's filetype (run axes first, as the command line)."""
    if _text(h5.attrs.get("filetype", "")) == RUN_FILETYPE:
        check_run_axes(h5, context)
    check_declared_shapes(h5, context)
