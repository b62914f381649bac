"""Design-space exploration: many array designs x workloads as one table.

A :class:`Space` lists the values of every design parameter (array shape, dataflow, weight
double buffering, on-chip buffer size, DRAM bandwidth, timing convention) and the workloads;
its design points are all their combinations. :func:`run` evaluates every point, on the local
cores (a process pool) or on a Dask cluster, and returns a pandas DataFrame with one row per
point and layer: the parameters, the layer's shape, cycles and their breakdown, utilisation,
memory traffic and stalls, energy (:mod:`systolic.energy`) and area. :func:`totals` sums the
layers of each point and :func:`pareto` draws the cost of each design against another.

Results stream to the output file as points finish, and a run given an existing output file
skips the points it already holds, so an interrupted sweep resumes where it stopped.

The memory model is first order: a layer needs the DRAM bytes of
:func:`systolic.energy.matmul_counts`; at ``dram_bytes_per_cycle`` they take
``ceil(bytes / bandwidth)`` cycles, overlapped with the computation, so a layer whose
transfers take longer than its computation stalls for the difference (``memory_stall``).
``systolic sweep SPACE.toml --out FILE`` runs a space described in TOML (docs/sweep.md).
"""

from __future__ import annotations

import io
import itertools
import math
import os
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from . import energy as _energy
from ._parallel import as_finished, process_pool
from ._validate import check_dataflow
from .timing import breakdown, scalesim_breakdown

__all__ = ["PARAMETERS", "Space", "load_space", "pareto", "run", "totals"]

#: The columns that identify a design point (every input parameter of the sweep).
PARAMETERS = ("rows", "cols", "dataflow", "double_buffer", "sram_kib", "dram_bytes_per_cycle",
              "timing", "engine", "workload")

_TIMINGS = ("exact", "scalesim")
_ENGINES = ("formula", "fast", "cycle")
_BREAKDOWN = ("weight_load", "streaming", "stall", "drain", "fill")
_ENERGY_PARTS = ("mac", "acc_add", "register_hop", "sram", "dram", "idle")
#: Per-layer figures that add up over the layers of a point.
_ADDITIVE = ("macs", "cycles", "compute_cycles", "memory_stall", "weight_load", "streaming",
             "stall", "drain", "acc_adds", "register_hops", "sram_bytes", "dram_bytes",
             "idle_pe_cycles", "energy_j") + tuple(f"energy_{p}_j" for p in _ENERGY_PARTS)
_INTS = ("rows", "cols", "layer_index", "m", "k", "n", "macs", "cycles", "compute_cycles",
         "memory_stall", "weight_load", "streaming", "stall", "drain", "fill", "acc_adds",
         "register_hops", "sram_bytes", "dram_bytes", "idle_pe_cycles")
_STRINGS = ("dataflow", "timing", "engine", "workload", "layer")
_FORMATS = (".csv", ".parquet")


# --------------------------------------------------------------------------------------------
# The space
# --------------------------------------------------------------------------------------------

def _values(name: str, value) -> list:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        value = [value]
    value = list(value)
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


def _dims(value) -> list[tuple[int, int]]:
    out = []
    for i, item in enumerate(_values("dims", value)):
        pair = item.lower().split("x") if isinstance(item, str) else item
        try:
            rows, cols = (int(p) if isinstance(p, str) and p.isdigit() else p for p in pair)
        except (TypeError, ValueError):
            rows = cols = None
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                   for v in (rows, cols)):
            raise ValueError(f"dims[{i}] must be (rows, cols) or 'RxC' with positive integers, "
                             f"not {item!r}")
        out.append((rows, cols))
    return out


def _layer(where: str, index: int, item) -> tuple[str, int, int, int]:
    from .tpu import TopologyLayer

    if isinstance(item, TopologyLayer):
        return item.name, item.m, item.k, item.n
    if (isinstance(item, (tuple, list)) and len(item) == 3
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0
                    for v in item)):
        return f"layer{index}", int(item[0]), int(item[1]), int(item[2])
    raise ValueError(f"{where} layer {index} must be (M, K, N) with positive integers or a "
                     f"tpu.TopologyLayer, not {item!r}")


def _workload(where: str, item, base: Path | None) -> tuple[str, tuple]:
    """``(name, layers)`` of one workload item: a topology CSV path or a list of layers."""
    from .tpu import TopologyError, read_topology

    if isinstance(item, (str, Path)):
        path = Path(item)
        if base is not None and not path.is_absolute():
            path = base / path
        if path.suffix.lower() == ".onnx":
            raise ValueError(f"{where}: ONNX models are not supported yet ({path}); give a "
                             "SCALE-Sim topology CSV or a list of (M, K, N) layers")
        try:
            text = path.read_text()
        except OSError as error:
            raise ValueError(f"{where}: cannot read {path}: {error.strerror or error}") \
                from None
        try:
            layers = read_topology(text)
        except TopologyError as error:
            raise ValueError(f"{where}: {path} {error}") from None
        return path.stem, tuple(_layer(where, j, lay) for j, lay in enumerate(layers))
    if isinstance(item, (list, tuple)) and item:
        return "", tuple(_layer(where, j, lay) for j, lay in enumerate(item))
    raise ValueError(f"{where} must be a topology CSV path or a non-empty list of "
                     f"(M, K, N) layers, not {item!r}")


def _workloads(value, base: Path | None) -> tuple[tuple[str, tuple], ...]:
    if isinstance(value, dict):
        items = [(str(name), item) for name, item in value.items()]
    else:
        items = []
        for item in _values("workloads", value):
            if isinstance(item, dict):
                items.extend((str(name), sub) for name, sub in item.items())
            else:
                items.append((None, item))
    if not items:
        raise ValueError("workloads must not be empty")
    out, seen = [], set()
    for i, (name, item) in enumerate(items):
        found, layers = _workload(f"workloads[{name or i}]" if name else f"workloads[{i}]",
                                  item, base)
        name = name or found or f"workload{i}"
        if name in seen:
            raise ValueError(f"workload name {name!r} appears twice; give the workloads as a "
                             "dict to name them")
        seen.add(name)
        out.append((name, layers))
    return tuple(out)


def _numbers(name: str, value, *, allow_inf: bool = False) -> list[float]:
    out = []
    for item in _values(name, value):
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not item > 0 \
                or (math.isinf(item) and not allow_inf) or math.isnan(item):
            extra = " (inf: unlimited)" if allow_inf else ""
            raise ValueError(f"{name} values must be numbers > 0{extra}, not {item!r}")
        out.append(float(item))
    return out


def _choices(name: str, value, allowed) -> list[str]:
    out = []
    for item in _values(name, value):
        if item not in allowed:
            raise ValueError(f"{name} values must be in {allowed}, not {item!r}")
        out.append(item)
    return out


@dataclass(frozen=True, init=False)
class Space:
    """The designs and workloads of a sweep; its points are all combinations.

    Every parameter takes one value or a list of values.

    Parameters
    ----------
    dims : list of (int, int) or "RxC"
        Array shapes ``(rows, cols)``.
    dataflow : list of {"ws", "os", "is"}
    workloads : list or dict
        Each a SCALE-Sim topology CSV path or a list of layers (``(M, K, N)`` triples or
        :class:`systolic.tpu.TopologyLayer`). A path is named by its file name without
        extension, a list ``workload<i>``; a dict ``{name: workload}`` (as the whole argument
        or as an item of the list) names them.
    sram_kib : list of float
        On-chip buffer size in KiB (default 24 MiB, TPU v1's Unified Buffer).
    dram_bytes_per_cycle : list of float
        DRAM bandwidth; ``math.inf`` (the default) for no memory stalls.
    double_buffer : list of bool
        Weight double buffering (ws/is).
    timing : list of {"exact", "scalesim"}
        The contract's cycle count or SCALE-Sim 3.0's.
    engine : {"formula", "fast", "cycle"}
        ``"formula"``: the closed-form cycle counts (equal to both engines' without gaps);
        ``"fast"``/``"cycle"``: run every layer on the array with random int8 operands.
    energy : EnergyTable, optional
    area : AreaTable, optional

    Raises
    ------
    ValueError
        An empty list, a value out of range, an unreadable or malformed topology file, or an
        ONNX model.

    Examples
    --------
    >>> space = Space(dims=[(32, 32), "64x64"], dataflow=["ws", "os"],
    ...               workloads={"mlp": [(64, 256, 128), (64, 128, 10)]})
    >>> len(space.points())
    4
    """

    dims: tuple
    dataflow: tuple
    workloads: tuple
    sram_kib: tuple
    dram_bytes_per_cycle: tuple
    double_buffer: tuple
    timing: tuple
    engine: str
    energy: _energy.EnergyTable
    area: _energy.AreaTable

    def __init__(self, dims, dataflow=("ws",), workloads=(), *,
                 sram_kib=(_energy.DEFAULT_SRAM_KIB,), dram_bytes_per_cycle=(math.inf,),
                 double_buffer=(True,), timing=("exact",), engine: str = "formula",
                 energy: _energy.EnergyTable | None = None,
                 area: _energy.AreaTable | None = None, _base: Path | None = None):
        flows = []
        for item in _values("dataflow", dataflow):
            try:
                flows.append(check_dataflow(item).value)
            except (TypeError, ValueError):
                raise ValueError(f"dataflow values must be in ('ws', 'os', 'is'), not "
                                 f"{item!r}") from None
        buffers = []
        for item in _values("double_buffer", double_buffer):
            if not isinstance(item, bool):
                raise ValueError(f"double_buffer values must be true or false, not {item!r}")
            buffers.append(item)
        if engine not in _ENGINES:
            raise ValueError(f"engine must be one of {_ENGINES}, not {engine!r}")
        energy = _energy.EnergyTable() if energy is None else energy
        area = _energy.AreaTable() if area is None else area
        if not isinstance(energy, _energy.EnergyTable):
            raise TypeError(f"energy must be an EnergyTable, not {energy!r}")
        if not isinstance(area, _energy.AreaTable):
            raise TypeError(f"area must be an AreaTable, not {area!r}")
        values = {
            "dims": tuple(_dims(dims)), "dataflow": tuple(flows),
            "workloads": _workloads(workloads, _base),
            "sram_kib": tuple(_numbers("sram_kib", sram_kib)),
            "dram_bytes_per_cycle": tuple(_numbers("dram_bytes_per_cycle",
                                                   dram_bytes_per_cycle, allow_inf=True)),
            "double_buffer": tuple(buffers), "timing": tuple(_choices("timing", timing,
                                                                      _TIMINGS)),
            "engine": engine, "energy": energy, "area": area}
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def points(self) -> list[dict]:
        """Every design point as a dict of :data:`PARAMETERS`, in a fixed order."""
        return [{"rows": r, "cols": c, "dataflow": d, "double_buffer": b, "sram_kib": s,
                 "dram_bytes_per_cycle": bw, "timing": t, "engine": self.engine,
                 "workload": w[0]}
                for (r, c), d, b, s, bw, t, w in itertools.product(
                    self.dims, self.dataflow, self.double_buffer, self.sram_kib,
                    self.dram_bytes_per_cycle, self.timing, self.workloads)]

    def layers(self, workload: str) -> tuple:
        """The ``(name, M, K, N)`` layers of a workload."""
        return dict(self.workloads)[workload]


_TOML_KEYS = ("dims", "dataflow", "workloads", "sram_kib", "dram_bytes_per_cycle",
              "double_buffer", "timing", "engine", "energy", "area")


def load_space(path) -> Space:
    """Read a :class:`Space` from a TOML file (docs/sweep.md).

    Keys are the parameters of :class:`Space`; workload paths are relative to the file;
    a workload may also be an inline table ``{name = "mlp", layers = [[M, K, N], ...]}``;
    ``[energy]`` and ``[area]`` tables override fields of the energy and area tables.

    Raises
    ------
    ValueError
        An unreadable or malformed file, an unknown key, or a bad space.
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: {error}") from None
    unknown = sorted(set(data) - set(_TOML_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(_TOML_KEYS)})")
    if "dims" not in data or "workloads" not in data:
        raise ValueError(f"{path}: 'dims' and 'workloads' are required")
    workloads = data.pop("workloads")
    if isinstance(workloads, list) and any(isinstance(item, dict) for item in workloads):
        named = {}
        for i, item in enumerate(workloads):
            if not isinstance(item, dict):
                named[Path(str(item)).stem] = item
            elif set(item) != {"name", "layers"}:
                raise ValueError(f"{path}: workloads[{i}] must have the keys 'name' and "
                                 f"'layers', got {sorted(item)}")
            else:
                named[str(item["name"])] = item["layers"]
        workloads = named
    tables = {}
    for key, cls in (("energy", _energy.EnergyTable), ("area", _energy.AreaTable)):
        if key in data:
            known = {f.name for f in fields(cls)}
            extra = sorted(set(data[key]) - known)
            if extra:
                raise ValueError(f"{path}: unknown key {key}.{extra[0]} (known: "
                                 f"{', '.join(sorted(known))})")
            try:
                tables[key] = cls(**data.pop(key))
            except (TypeError, ValueError) as error:
                raise ValueError(f"{path}: {key}: {error}") from None
    try:
        return Space(workloads=workloads, _base=path.parent, **data, **tables)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None


# --------------------------------------------------------------------------------------------
# One design point
# --------------------------------------------------------------------------------------------

def _evaluate(point: dict, layers: tuple, energy: _energy.EnergyTable,
              area: _energy.AreaTable) -> list[dict]:
    """The table rows of one design point (one per layer)."""
    rows, cols, dataflow = point["rows"], point["cols"], point["dataflow"]
    design_area = _energy.area_mm2((rows, cols), dataflow=dataflow,
                                   sram_kib=point["sram_kib"], table=area)
    array = None
    if point["engine"] != "formula":
        from .array import SystolicArray

        array = SystolicArray(rows, cols, dataflow, double_buffer=point["double_buffer"])
    out = []
    for index, (name, m, k, n) in enumerate(layers):
        if array is not None:
            rng = np.random.default_rng(index)
            result = array.run(rng.integers(-128, 128, (m, k), dtype=np.int8),
                               rng.integers(-128, 128, (k, n), dtype=np.int8),
                               engine=point["engine"], timing=point["timing"], progress=False)
            parts = result.breakdown
        elif point["timing"] == "scalesim":
            parts = scalesim_breakdown(m, k, n, rows, cols, dataflow)
        else:
            parts = breakdown(m, k, n, rows, cols, dataflow,
                              double_buffer=point["double_buffer"])
        counts = _energy.matmul_counts(m, k, n, rows, cols, dataflow, cycles=parts.total,
                                       sram_kib=point["sram_kib"])
        bandwidth = point["dram_bytes_per_cycle"]
        transfer = 0 if math.isinf(bandwidth) else math.ceil(counts.dram_bytes / bandwidth)
        stall = max(0, transfer - parts.total)
        cycles = parts.total + stall
        counts = replace(counts, pe_cycles=cycles * rows * cols)
        joules = _energy.energy_breakdown(counts, table=energy)
        row = dict(point)
        row.update(layer=name, layer_index=index, m=m, k=k, n=n, macs=counts.macs,
                   cycles=cycles, compute_cycles=parts.total, memory_stall=stall,
                   **{f: getattr(parts, f) for f in _BREAKDOWN},
                   utilization=counts.macs / (cycles * rows * cols),
                   acc_adds=counts.acc_adds, register_hops=counts.register_hops,
                   sram_bytes=counts.sram_bytes, dram_bytes=counts.dram_bytes,
                   idle_pe_cycles=counts.idle_pe_cycles, energy_j=sum(joules.values()),
                   **{f"energy_{p}_j": joules[p] for p in _ENERGY_PARTS},
                   area_mm2=design_area)
        out.append(row)
    return out


def _evaluate_chunk(tasks: list, energy: _energy.EnergyTable,
                    area: _energy.AreaTable) -> list[list[dict]]:
    """Rows of several points: one task per worker call keeps the per-call cost small."""
    return [_evaluate(point, layers, energy, area) for point, layers in tasks]


# --------------------------------------------------------------------------------------------
# Tables, files and resuming
# --------------------------------------------------------------------------------------------

def _key(values) -> tuple:
    rows, cols, dataflow, double_buffer, sram, bw, timing, engine, workload = values
    return (int(rows), int(cols), str(dataflow), bool(double_buffer), float(sram), float(bw),
            str(timing), str(engine), str(workload))


def _frame(records: list[dict]):
    import pandas as pd

    table = pd.DataFrame.from_records(records)
    for column in table.columns:
        if column in _INTS:
            table[column] = table[column].astype("int64")
        elif column in _STRINGS:
            table[column] = table[column].astype(str)
        elif column == "double_buffer":
            table[column] = table[column].astype(bool)
        else:
            table[column] = table[column].astype("float64")
    return table


def _read_rows(path: Path) -> list[dict]:
    """Rows of an earlier (possibly interrupted) output; unreadable trailing lines dropped."""
    import pandas as pd

    if not path.exists() or path.stat().st_size == 0:
        return []
    if path.suffix == ".parquet":
        return pd.read_parquet(path).to_dict("records")
    text = path.read_text()
    # every batch is written with its final newline: text after the last one is a line cut
    # short by an interruption
    text = text[:text.rfind("\n") + 1]
    if not text.strip():
        return []
    return pd.read_csv(io.StringIO(text)).to_dict("records")


def _journal(out: Path) -> Path:
    """Where rows stream to: the CSV output itself, or a CSV beside a Parquet output."""
    return out if out.suffix == ".csv" else out.with_name(out.name + ".partial.csv")


class _Writer:
    """Appends finished points to a CSV file, one write and flush per batch of points."""

    def __init__(self, path: Path, rows: list[dict]):
        self.path = path
        self.columns = None
        tmp = path.with_name(path.name + ".tmp")
        if rows:
            _frame(rows).to_csv(tmp, index=False)
            self.columns = list(rows[0])
        else:
            tmp.write_text("")
        os.replace(tmp, path)
        self.handle = open(path, "a", newline="")

    def write(self, rows: list[dict]) -> None:
        if not rows:
            return
        table = _frame(rows)
        if self.columns is None:
            self.columns = list(table.columns)
            text = table.to_csv(index=False)
        else:
            text = table[self.columns].to_csv(index=False, header=False)
        self.handle.write(text)
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


# --------------------------------------------------------------------------------------------
# Running a sweep
# --------------------------------------------------------------------------------------------

def _chunks(tasks: list, workers: int) -> list[list]:
    size = max(1, min(64, math.ceil(len(tasks) / (4 * workers))))
    return [tasks[i:i + size] for i in range(0, len(tasks), size)]


def _serial(chunks, energy, area):
    for chunk in chunks:
        yield _evaluate_chunk(chunk, energy, area)


def _local(tasks, energy, area, workers):
    """Results of the tasks in chunks as they finish, in this process (``workers=1``) or on a
    pool of local processes. The pool starts its workers here, before any progress bar starts
    a monitor thread."""
    chunks = _chunks(tasks, workers)
    if workers == 1 or not tasks:
        return _serial(chunks, energy, area)
    pool = process_pool(workers, "systolic.sweep")
    return as_finished(pool, [pool.submit(_evaluate_chunk, chunk, energy, area)
                              for chunk in chunks])


def _dask(tasks, energy, area, scheduler):
    """Yield the results of the tasks in chunks as they finish, on a Dask cluster."""
    from distributed import Client, as_completed

    own = not isinstance(scheduler, Client)
    client = Client(scheduler) if own else scheduler
    try:
        workers = max(1, len(client.scheduler_info()["workers"]))
        futures = client.map(_evaluate_chunk, _chunks(tasks, workers), energy=energy,
                             area=area, pure=False)
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            client.cancel(futures)
    finally:
        if own:
            client.close()


def run(space: Space, scheduler=None, out=None, progress: bool = True,
        workers: int | None = None):
    """Evaluate every design point of ``space``.

    Parameters
    ----------
    space : Space
    scheduler : str or distributed.Client, optional
        A Dask scheduler address (``"tcp://host:8786"``) or client: run on that cluster
        (workers need ``pip install systolic``). By default the local cores run it.
    out : str or Path, optional
        ``.csv`` or ``.parquet`` file. Rows stream to it (a Parquet output streams to
        ``<out>.partial.csv`` until the end) and points it already holds are not run again;
        rows of points outside ``space`` stay in the file but not in the returned table.
    progress : bool
        A progress bar over design points.
    workers : int, optional
        Local processes (default: every core); 1 runs in this process.

    Returns
    -------
    pandas.DataFrame
        One row per design point and layer, in the order of :meth:`Space.points` and layers.

    Raises
    ------
    TypeError, ValueError
        Not a Space, a bad output suffix or worker count.
    """
    if not isinstance(space, Space):
        raise TypeError(f"space must be a Space, not {space!r}")
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, not {workers!r}")
    out = None if out is None else Path(out)
    if out is not None and out.suffix not in _FORMATS:
        raise ValueError(f"out must end with .csv or .parquet, not {out.name!r}")
    points = space.points()
    order = {_key(p.values()): i for i, p in enumerate(points)}
    layers = {name: lays for name, lays in space.workloads}

    done_rows: list[dict] = []
    other_rows: list[dict] = []      # points of other spaces in the same file: kept as they are
    if out is not None:
        earlier = _read_rows(out) if out.suffix == ".parquet" else []
        earlier += _read_rows(_journal(out))
        found: dict[tuple, dict] = {}
        for row in earlier:
            key = _key(row[p] for p in PARAMETERS)
            if key in order:
                found.setdefault(key, {})[int(row["layer_index"])] = row
            else:
                other_rows.append(row)
        for key, rows in found.items():
            if len(rows) == len(layers[key[-1]]):     # a point counts only when complete
                done_rows.extend(rows[i] for i in sorted(rows))
    done = {_key(r[p] for p in PARAMETERS) for r in done_rows}
    tasks = [(p, layers[p["workload"]]) for p in points if _key(p.values()) not in done]

    writer = _Writer(_journal(out), done_rows + other_rows) if out is not None else None
    results = list(done_rows)
    source = _local(tasks, space.energy, space.area, workers) if scheduler is None else \
        _dask(tasks, space.energy, space.area, scheduler)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(points), initial=len(done), unit="point", desc="sweep")
    try:
        for finished in source:
            batch = [row for point_rows in finished for row in point_rows]
            if writer is not None:
                writer.write(batch)
            results.extend(batch)
            if bar is not None:
                bar.update(len(finished))
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
    table = _frame(results) if results else _frame([])
    if len(table):
        position = [order[_key(v)] for v in zip(*(table[p] for p in PARAMETERS), strict=True)]
        table = table.assign(_order=position).sort_values(["_order", "layer_index"],
                                                          kind="stable")
        table = table.drop(columns="_order").reset_index(drop=True)
    if out is not None:
        saved = table
        if other_rows:
            import pandas as pd

            saved = pd.concat([table, _frame(other_rows)], ignore_index=True)
        if out.suffix == ".parquet":
            saved.to_parquet(out, index=False)
            _journal(out).unlink()
        else:
            saved.to_csv(out, index=False)
    return table


# --------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------

def _aggregate(table, keys: list[str]):
    additive = [c for c in _ADDITIVE if c in table.columns]
    grouped = table.groupby(keys, sort=False, dropna=False)
    result = grouped[additive].sum()
    result["layers"] = grouped.size()
    result["area_mm2"] = grouped["area_mm2"].first()
    result = result.reset_index()
    result["utilization"] = result["macs"] / (result["cycles"] * result["rows"]
                                              * result["cols"])
    return result


def totals(table):
    """One row per design point: the sums of its layers (cycles, energy, traffic, ...), its
    layer count, area and overall utilisation.

    Examples
    --------
    >>> space = Space(dims=[(8, 8)], workloads={"two": [(16, 16, 16), (8, 32, 4)]})
    >>> t = totals(run(space, progress=False, workers=1))
    >>> int(t.loc[0, "layers"]), int(t.loc[0, "macs"])
    (2, 5120)
    """
    return _aggregate(table, [c for c in PARAMETERS if c in table.columns])


def _front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mask of the points no other point beats in both ``x`` and ``y`` (smaller is better)."""
    order = np.lexsort((y, x))
    mask = np.zeros(len(x), bool)
    best = math.inf
    for i in order:
        if y[i] < best:
            mask[i] = True
            best = y[i]
    return mask


def pareto(table, x: str = "energy_j", y: str = "cycles"):
    """Plot each design's ``y`` against its ``x`` (summed over layers and workloads) and
    highlight the Pareto front (smaller is better on both axes).

    Parameters
    ----------
    table : pandas.DataFrame
        What :func:`run` returned (or :func:`totals` of it).
    x, y : str
        Columns: any per-layer figure that adds up, or ``area_mm2``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    for name in (x, y):
        if name not in _ADDITIVE + ("area_mm2",):
            raise ValueError(f"cannot plot {name!r}: choose a column that adds up over layers "
                             f"{_ADDITIVE} or 'area_mm2'")
    keys = [c for c in PARAMETERS if c in table.columns and c != "workload"]
    designs = _aggregate(table, keys)
    xs, ys = designs[x].to_numpy(float), designs[y].to_numpy(float)
    front = _front(xs, ys)
    fig = Figure(figsize=(7, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(xs[~front], ys[~front], s=14, color="0.7", label="design")
    order = np.argsort(xs[front])
    ax.plot(xs[front][order], ys[front][order], "o-", color="tab:red", ms=5,
            label=f"Pareto front ({int(front.sum())})")
    for i in np.flatnonzero(front):
        d = designs.iloc[i]
        ax.annotate(f"{d['rows']}x{d['cols']} {d['dataflow']}", (xs[i], ys[i]), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")
    for values, axis in ((xs, "x"), (ys, "y")):
        if values.min() > 0 and values.max() / values.min() > 100:
            getattr(ax, f"set_{axis}scale")("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    workloads = table["workload"].nunique() if "workload" in table.columns else 1
    ax.set_title(f"{len(designs)} designs, {workloads} workload(s)")
    ax.legend()
    return fig


# --------------------------------------------------------------------------------------------
# Command line: ``systolic sweep SPACE.toml --out FILE``
# --------------------------------------------------------------------------------------------

def add_sweep_parser(commands) -> None:
    """Add the ``sweep`` sub-command to the ``systolic`` command's sub-parsers."""
    parser = commands.add_parser(
        "sweep", help="run a design-space sweep described in TOML",
        description="Evaluate every design point of a space (TOML, see docs/sweep.md) on the "
                    "local cores or a Dask cluster and write one row per point and layer. An "
                    "existing output file is resumed: the points it holds are not run again.")
    parser.add_argument("space", type=Path, help="the space, a TOML file")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE",
                        help="results.csv or results.parquet")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="Dask scheduler address (tcp://host:8786); default: local cores")
    parser.add_argument("--workers", type=int, default=None,
                        help="local processes (default: every core)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar")
    parser.set_defaults(handler=_cli)


def _cli(args) -> int:
    try:
        import pandas  # noqa: F401
    except ImportError:
        print("systolic sweep: error: needs pandas and pyarrow: pip install 'systolic[sweep]'",
              file=sys.stderr)
        return 2
    try:
        space = load_space(args.space)
        table = run(space, scheduler=args.scheduler, out=args.out, progress=args.progress,
                    workers=args.workers)
    except (TypeError, ValueError, OSError) as error:
        print(f"systolic sweep: error: {error}", file=sys.stderr)
        return 2
    best = totals(table).sort_values("energy_j").iloc[0]
    print(f"{len(space.points())} design points, {len(table)} rows written to {args.out}; "
          f"least energy: {best['rows']}x{best['cols']} {best['dataflow']} on "
          f"{best['workload']}, {best['energy_j']:.4g} J, {best['cycles']:,} cycles")
    return 0
