"""mirage.open: any Mirage file (docs/FORMAT.md) as an xarray.DataTree.

Every HDF5 group becomes a node of the tree (its attributes the node's; the root's are the
file's), every dataset a variable with named dimensions (its attributes the variable's), and
each node has the coordinates of the dimensions its variables use, so that
`tree["summary/exact_match"].to_dataset()` is a labelled Dataset (for a format 1.2 file, what
`xarray.open_dataset(path, group="summary/exact_match", engine="h5netcdf")` gives). The
dimensions and their coordinates:

  result files   scale, length, test_size, replicate (0..R-1), scale_pair (the geometric
                 mean of the pair's scales, with scale_low and scale_high beside it),
                 quantile_probability (with item difficulty)
  meta files     task (0..N-1), family (the names), replicate, scale_<family>
  forecast files cutoff, scale, length, test_size, replicate (0..R-1): the axes of
                 /forecast (cutoff, scale, length, test_size), in every group
  tally files    unit, tally (flat, as stored); task for meta shards
  other files    (filetypes newer than this reader) the names and values of their
                 dimension scales

Format 1.2 files name their dimensions with netCDF-4 dimension scales; those names and the
scales' values are used. Files of format 1.0 and 1.1 have none, nor have the forecast files of
the first `mirage forecast` builds: the dimensions are named from the shapes that
docs/FORMAT.md gives each dataset (the names 1.2 gives them), and the coordinates come from
/model/scale, /task/length, /task/test_size and /model/difficulty/probability (forecast files:
/forecast/cutoff, scale, length, test_size), whose attributes (test_size@replicates, ...) they
keep. A
dataset that the format does not list (a later minor version) gets the dimensions of its
scales, else <name>_dim_<i>.
"""

from __future__ import annotations

import os
import posixpath
from typing import TYPE_CHECKING, Any

import numpy as np

from ._validate import check_file, parse_format_version

if TYPE_CHECKING:  # pragma: no cover
    import xarray

RESULT_FILETYPE = "mirage-results"
TALLY_FILETYPE = "mirage-tallies"
META_FILETYPE = "mirage-meta"
META_TALLY_FILETYPE = "mirage-meta-tallies"
FORECAST_FILETYPE = "mirage-forecast"
FILETYPES = (RESULT_FILETYPE, TALLY_FILETYPE, META_FILETYPE, META_TALLY_FILETYPE,
             FORECAST_FILETYPE)
FORMAT_MAJOR = 1

# HDF5 dimension-scale and netCDF bookkeeping, hidden as h5netcdf hides it.
_HIDDEN_ATTRS = frozenset({"CLASS", "NAME", "REFERENCE_LIST", "DIMENSION_LIST",
                           "DIMENSION_LABELS", "_Netcdf4Dimid", "_Netcdf4Coordinates",
                           "_NCProperties", "_nc3_strict"})
# The NAME of a netCDF-4 dimension that is not also a variable.
_NETCDF_DIMENSION_ONLY = "This is a netCDF dimension but not a netCDF variable"

_S4 = ("scale", "length", "test_size", "replicate")
_S3 = ("scale", "length", "test_size")
_P4 = ("scale_pair", "length", "test_size", "replicate")
_P3 = ("scale_pair", "length", "test_size")


def _text(value: Any) -> str:
    if isinstance(value, np.ndarray):
        value = value.item() if value.size == 1 else value.tolist()
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", "replace")
    return str(value)


def _result_dims(path: str) -> tuple[str, ...] | None:
    """The dimensions docs/FORMAT.md §2 gives a dataset of a result file (1.0 and 1.1)."""
    parts = path.split("/")
    top, name, depth = parts[0], parts[-1], len(parts)
    if top == "model" and depth == 2:
        return ("scale",)  # scale, loss, p_token
    if top == "model" and depth == 3 and parts[1] == "difficulty":
        return {"probability": ("quantile_probability",),
                "shift_quantile": ("quantile_probability",),
                "p_token_quantile": ("scale", "quantile_probability"),
                # format 1.0: the binned logit-normal
                "bin_probability": ("bin",), "bin_shift": ("bin",),
                "p_token": ("scale", "bin")}.get(name)
    if top == "task" and depth == 2:
        return {"length": ("length",), "test_size": ("test_size",)}.get(name)
    if top == "counts" and depth == 2:
        return ("test_size", "replicate", "bin") if name == "difficulty_bin" else _S4
    if top == "metrics" and depth == 3:
        return ("scale", "length") if name == "expected" else _S4
    if top == "summary" and depth == 3:
        return _S3
    if top == "interval_comparison" and depth in (3, 4):  # 1.0: <method>/x, 1.1: <metric>/<method>/x
        return _S3
    if top == "jumps" and depth == 3:
        return {"expected": ("scale_pair", "length"), "fraction_significant": _P3,
                "coverage": _P3}.get(name, _P4)
    if top == "frontier" and depth == 2:
        return ("scale", "length") if name == "required_test_size" else ("length", "test_size")
    if top == "emergence" and depth == 3:
        return {"score": ("length", "test_size", "replicate"),
                "expected": ("length",)}.get(name, ("length", "test_size"))
    return None


def _meta_dims(path: str) -> tuple[str, ...] | None:
    """The dimensions docs/FORMAT.md §4 gives a dataset of a meta file."""
    parts = path.split("/")
    if parts[0] != "meta":
        return None
    if len(parts) == 3 and parts[1] == "task":
        return ("task",)
    if len(parts) == 4 and parts[1] == "family" and parts[3] == "scale":
        return (f"scale_{parts[2]}",)
    if len(parts) == 4 and parts[1] == "curve":
        return ("task", "replicate", f"scale_{parts[3]}")
    if len(parts) == 4 and parts[1] == "expected":
        return ("task", f"scale_{parts[3]}")
    if len(parts) == 3:
        return {"score": ("task", "family", "replicate"), "score_expected": ("task", "family"),
                "fraction": ("family",), "fraction_expected": ("family",),
                "fraction_relative": ("family",), "fraction_relative_expected": ("family",),
                "fraction_replicate": ("family", "replicate")}.get(parts[1])
    return None


_C5 = ("cutoff", "scale", "length", "test_size", "replicate")
_C4 = ("cutoff", "length", "test_size", "replicate")
_CS = ("cutoff", "scale", "length", "test_size")
_CKT = ("cutoff", "length", "test_size")
_FORECAST_DATASETS = {"point": _C5, "low": _C5, "high": _C5,
                      "status": _C4, "fit_scale": _C4, "fit_slope": _C4, "visible_scale": _C4,
                      "coverage": _CS, "median_abs_log_error": _CS, "mean_width": _CS,
                      "point_q025": _CS, "point_q500": _CS, "point_q975": _CS,
                      "fraction_defined": _CKT, "visible_scale_median": _CKT}


def _forecast_dims(path: str) -> tuple[str, ...] | None:
    """The dimensions docs/FORMAT.md §8 gives a dataset of a forecast file (for files written
    before forecast files had dimension scales)."""
    parts = path.split("/")
    if parts[0] != "forecast":
        return None
    if len(parts) == 2:
        name = parts[1]
        if name in ("cutoff", "scale", "length", "test_size"):
            return (name,)
        return {"fitted": ("cutoff", "scale"), "visible_accuracy": ("test_size",),
                "visible_scale_truth": ("length", "test_size")}.get(name)
    if len(parts) == 3 and parts[1] == "expected":
        return ("scale", "length")
    if len(parts) == 3 and parts[1] == "observed":
        return _S4
    if len(parts) == 4:  # <method>/<metric>/<dataset>
        return _FORECAST_DATASETS.get(parts[3])
    return None


def _tally_dims(path: str) -> tuple[str, ...] | None:
    """Tally files (FORMAT.md §3 and §5) as stored: flat arrays."""
    return {"units/done": ("unit",), "tallies/segment": ("tally",), "tasks/done": ("task",),
            "tallies": ("tally",)}.get(path)


_DIMS_OF = {RESULT_FILETYPE: _result_dims, META_FILETYPE: _meta_dims,
            FORECAST_FILETYPE: _forecast_dims,
            TALLY_FILETYPE: _tally_dims, META_TALLY_FILETYPE: _tally_dims}


# h5py's `.name` of a dereferenced object searches the file; paths come from this instead.
_Paths = dict  # ObjectID -> path in the file


def _path(obj: Any, paths: _Paths) -> str:
    found = paths.get(obj.id)
    return found if found is not None else obj.name.lstrip("/")


def _scale_name(scale: Any, paths: _Paths) -> str:
    """The dimension a dimension scale names: its NAME, else (netCDF) its dataset's name."""
    name = _text(scale.attrs["NAME"]) if "NAME" in scale.attrs else ""
    if not name or name.startswith(_NETCDF_DIMENSION_ONLY):
        name = posixpath.basename(_path(scale, paths))
    return name


def _is_scale(ds: Any) -> bool:
    return "CLASS" in ds.attrs and _text(ds.attrs["CLASS"]) == "DIMENSION_SCALE"


def _is_dimension_only(ds: Any) -> bool:
    return "NAME" in ds.attrs and _text(ds.attrs["NAME"]).startswith(_NETCDF_DIMENSION_ONLY)


def _attached_dims(ds: Any, paths: _Paths) -> list[tuple[str | None, Any]]:
    """Per axis: (dimension name, scale dataset) from the dimension scales attached to `ds`,
    or its dimension labels; (None, None) where there is neither."""
    out: list[tuple[str | None, Any]] = []
    for i in range(ds.ndim):
        name, scale = None, None
        try:
            axis = ds.dims[i]
            if len(axis):
                scale = axis[0]
                name = _scale_name(scale, paths)
            elif axis.label:
                name = axis.label
        except Exception:  # noqa: BLE001 - unreadable references: fall back to the table
            name, scale = None, None
        out.append((name, scale))
    return out


def _attrs(obj: Any) -> dict[str, Any]:
    out = {}
    for key in obj.attrs:
        if key in _HIDDEN_ATTRS:
            continue
        try:
            value = obj.attrs[key]
        except (OSError, TypeError):  # an attribute type h5py cannot read
            continue
        if isinstance(value, (bytes, np.bytes_)):
            value = _text(value)
        out[key] = value
    return out


def _read(ds: Any) -> np.ndarray:
    if ds.dtype.kind in "OSU":
        return np.asarray(ds.asstr()[()], dtype=object)
    return ds[()]


_LAZY_ARRAY: Any = None


def _lazy(ds: Any) -> Any:
    """An h5py dataset wrapped for xarray's lazy indexing: read when (and as far as) used."""
    global _LAZY_ARRAY
    from xarray.backends import BackendArray
    from xarray.core import indexing

    if _LAZY_ARRAY is None:
        class H5Array(BackendArray):
            def __init__(self, ds: Any):
                self.ds = ds
                self.shape = ds.shape
                self.dtype = ds.dtype

            def __getitem__(self, key: Any) -> np.ndarray:
                return indexing.explicit_indexing_adapter(
                    key, self.shape, indexing.IndexingSupport.BASIC, self._raw)

            def _raw(self, key: Any) -> np.ndarray:
                return np.asarray(self.ds[key])

            def __deepcopy__(self, memo: Any) -> Any:  # copies share the open file
                return self

        _LAZY_ARRAY = H5Array
    return indexing.LazilyIndexedArray(_LAZY_ARRAY(ds))


def _format_version(h5: Any, path: str) -> tuple[int, int]:
    if "format_version" not in h5.attrs:
        raise ValueError(f"{path} is not a Mirage file (no format_version)")
    raw = h5.attrs["format_version"]
    try:
        return parse_format_version(raw)
    except ValueError:
        raise ValueError(f"{path}: unreadable format_version {raw!r}") from None


def open(path: str | os.PathLike[str], *, load: bool = False) -> "xarray.DataTree":
    """Reads a Mirage file (any filetype: results, meta, tallies, meta tallies,
    forecast; format 1.x)
    into an xarray.DataTree, described in the module's docstring. Arrays are read when used
    (the file stays open until tree.close(); `with mirage.open(p) as tree:` closes it) unless
    `load` is true, which reads everything now and closes the file. Raises FileNotFoundError
    for a missing file and ValueError for a file that is not a Mirage file or has another
    major format version."""
    import h5py
    import xarray as xr

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    try:
        h5 = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path} is not a Mirage file (cannot read it as HDF5: {err})") from None
    try:
        tree = _build(h5, path, load, xr)
    except BaseException:
        h5.close()
        raise
    if load:
        h5.close()
    else:
        tree.set_close(h5.close)
    tree.encoding["source"] = path
    return tree


def _build(h5: Any, path: str, load: bool, xr: Any) -> "xarray.DataTree":
    import h5py

    filetype = _text(h5.attrs["filetype"]) if "filetype" in h5.attrs else "<missing>"
    if not filetype.startswith("mirage-"):
        raise ValueError(f"{path} is not a Mirage file (filetype={filetype})")
    major, minor = _format_version(h5, path)
    if major != FORMAT_MAJOR:
        raise ValueError(f"{path}: format version {major}.{minor} is not supported (this "
                         f"reader reads {FORMAT_MAJOR}.x)")
    # The file agrees with the shapes it declares (DamagedFileError, a ValueError, if not).
    check_file(h5, path)
    table = _DIMS_OF.get(filetype, lambda name: None)  # later filetypes: dimension scales

    groups: dict[str, Any] = {}
    datasets: dict[str, Any] = {}
    paths: _Paths = {}

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Group):
            groups[name] = obj
        elif isinstance(obj, h5py.Dataset):
            datasets[name] = obj
            paths[obj.id] = name

    h5.visititems(visit)

    # 1. Every dataset's dimension names: its dimension scales (format 1.2), else the
    # format's table (whose sizes must agree across the file), else <name>_dim_<i>.
    # Dimensions are scoped as in netCDF: sibling groups may use one name with two sizes.
    table_sizes: dict[str, int] = {}
    sizes: dict[str, set[int]] = {}
    scales: dict[str, dict[Any, Any]] = {}  # dimension -> {id: a scale dataset with its values}
    dims_of: dict[str, tuple[str, ...]] = {}
    for name, ds in datasets.items():
        if _is_dimension_only(ds):
            continue
        attached: list[tuple[str | None, Any]]
        if _is_scale(ds) and ds.ndim == 1:
            attached = [(_scale_name(ds, paths), ds)]
        else:
            attached = _attached_dims(ds, paths)
        known = table(name)
        if known is not None and len(known) != ds.ndim:
            known = None
        dims: list[str] = []
        for i, (dim, scale) in enumerate(attached):
            if dim is None and known is not None and \
                    table_sizes.setdefault(known[i], ds.shape[i]) == ds.shape[i]:
                dim = known[i]
            if dim is None or dim in dims:
                dim = f"{posixpath.basename(name)}_dim_{i}"
            if scale is not None and scale.ndim == 1 and not _is_dimension_only(scale):
                scales.setdefault(dim, {}).setdefault(scale.id, scale)
            sizes.setdefault(dim, set()).add(int(ds.shape[i]))
            dims.append(dim)
        dims_of[name] = tuple(dims)

    # 2. Coordinates, for the dimensions that have one size in the whole file.
    single = {dim: next(iter(n)) for dim, n in sizes.items() if len(n) == 1}
    coords = _coordinates(h5, filetype, single, scales)

    # 3. The nodes, each with the coordinates of the dimensions its variables use (as
    # xarray.open_dataset(path, group=...) gives a group of a format 1.2 file) unless it holds
    # that coordinate itself (a dimension scale, /model/scale, /task/length, ...).
    nodes: dict[str, dict[str, Any]] = {"": {}}
    for name in groups:
        nodes[name] = {}
    for name, ds in datasets.items():
        if name not in dims_of:
            continue
        parent, leaf = posixpath.split(name)
        eager = load or ds.dtype.kind in "OSU" or ds.ndim == 0 or dims_of[name] == (leaf,)
        data = _read(ds) if eager else _lazy(ds)
        nodes[parent][leaf] = xr.Variable(dims_of[name], data, attrs=_attrs(ds))
    tree = {}
    for name, variables in nodes.items():
        used = {dim for variable in variables.values() for dim in variable.dims}
        own = {dim: coords[dim] for dim in sorted(used)
               if dim in coords and dim not in variables}
        if "scale_pair" in used and "scale_pair" in coords:
            own.update({aux: coords[aux] for aux in ("scale_low", "scale_high")
                        if aux in coords and aux not in variables})
        attrs = _attrs(groups[name] if name else h5)
        tree["/" + name] = xr.Dataset(variables, coords=own, attrs=attrs)
    return xr.DataTree.from_dict(tree)


# Where format 1.0 and 1.1 files keep the values of a dimension (the root's coordinate).
_SOURCES = {"scale": "model/scale", "length": "task/length", "test_size": "task/test_size",
            "quantile_probability": "model/difficulty/probability"}


def _coordinates(h5: Any, filetype: str, sizes: dict[str, int],
                 scales: dict[str, dict[Any, Any]]) -> dict[str, Any]:
    """{dimension: coordinate} of the root for `sizes` (dimensions of one size): the values
    of the file's dimension scales (all equal), else of the dataset that holds them in 1.0
    and 1.1 (_SOURCES), else numbered (replicate, task), the families' names or scales, the
    geometric mean of each pair of adjacent scales (scale_pair). Attributes are the
    source's, over those of the scale."""
    import xarray as xr

    values: dict[str, np.ndarray] = {}
    attrs: dict[str, dict[str, Any]] = {}
    for dim, found in scales.items():
        first, *others = found.values()
        data = _read(first)
        if all(np.array_equal(data, _read(other)) for other in others):
            values[dim], attrs[dim] = data, _attrs(first)

    def source(dim: str, where: str) -> None:
        if where not in h5 or not hasattr(h5[where], "dtype"):
            return
        data = _read(h5[where])
        if dim in scales and (dim not in values or not np.array_equal(values[dim], data)):
            return  # the file's scales say otherwise
        values[dim] = data
        attrs[dim] = {**attrs.get(dim, {}), **_attrs(h5[where])}

    def generated(dim: str, data: Any) -> None:
        if dim not in scales and dim not in values:
            values[dim], attrs[dim] = np.asarray(data), {}

    if filetype == RESULT_FILETYPE:
        for dim, where in _SOURCES.items():
            source(dim, where)
        generated("replicate", np.arange(sizes.get("replicate", 0), dtype=np.int64))
        if "scale" in values:
            scale = np.asarray(values["scale"], dtype=float)
            generated("scale_pair", np.sqrt(scale[:-1] * scale[1:]))
    elif filetype == META_FILETYPE:
        meta = h5["meta"] if "meta" in h5 else None
        names: list[str] = []
        if meta is not None and "families" in meta.attrs:
            names = [f.strip() for f in _text(meta.attrs["families"]).split(",") if f.strip()]
        generated("task", np.arange(sizes.get("task", 0), dtype=np.int64))
        generated("family", np.array(names, dtype=object))
        generated("replicate", np.arange(sizes.get("replicate", 0), dtype=np.int64))
        for family in names:
            source(f"scale_{family}", f"meta/family/{family}/scale")
    elif filetype == FORECAST_FILETYPE:
        for dim in ("cutoff", "scale", "length", "test_size"):
            source(dim, f"forecast/{dim}")
        generated("replicate", np.arange(sizes.get("replicate", 0), dtype=np.int64))
    elif filetype == META_TALLY_FILETYPE:
        generated("task", np.arange(sizes.get("task", 0), dtype=np.int64))

    coords: dict[str, Any] = {}
    for dim, data in values.items():
        if dim in sizes and np.ndim(data) == 1 and len(data) == sizes[dim]:
            coords[dim] = xr.Variable((dim,), data, attrs=attrs.get(dim, {}))
    if filetype == RESULT_FILETYPE and "scale_pair" in coords and "scale" in coords:
        scale = np.asarray(coords["scale"].values, dtype=float)
        if len(scale) == sizes["scale_pair"] + 1:
            coords["scale_low"] = xr.Variable(("scale_pair",), scale[:-1])
            coords["scale_high"] = xr.Variable(("scale_pair",), scale[1:])
    return coords
