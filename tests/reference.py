"""Naive reference model of the systolic array, written from ``docs/contract.md`` alone.

Everything here is deliberately literal and slow: plain Python loops over cycles, rows and
columns, one dictionary of registers per processing element, skew and de-skew delay lines as
Python lists, and a greedy scheduler that applies the legal-schedule rules of contract
section 3 one vector at a time. No numba and no code from the library: the point of this model
is to be an independent reading of the contract that the engine and the RTL are compared with.
It is meant for small arrays (up to about 8 x 8) and small matrices (up to about 20).

Besides the cycle-stepped model the module has a plain numpy matmul with explicit wrap-around,
an exact overflow count, and the closed-form cycle formulas of contract section 5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "DATAFLOWS",
    "ReferenceResult",
    "Schedule",
    "Tile",
    "exact_matmul",
    "formula_breakdown",
    "greedy_schedule",
    "numpy_matmul",
    "overflow_count",
    "register_names",
    "scalesim_total",
    "simulate",
    "split_tiles",
    "wrap",
]

DATAFLOWS = ("ws", "os", "is")

_LANE_REGISTERS = ("x", "x_valid", "x_flag", "w", "w_valid", "w_tag", "psum", "psum_valid")
_STATIONARY_REGISTERS = {"ws": ("w_active", "w_shadow"), "is": ("w_active", "w_shadow"),
                         "os": ("acc", "hold")}


def register_names(dataflow: str) -> tuple[str, ...]:
    """Names of the registers of one PE for ``dataflow`` (contract section 3)."""
    return _LANE_REGISTERS + _STATIONARY_REGISTERS[dataflow]


def wrap(value: int, acc_bits: int) -> int:
    """Reduce ``value`` modulo ``2**acc_bits`` into the signed two's-complement range."""
    half = 1 << (acc_bits - 1)
    return (int(value) + half) % (1 << acc_bits) - half


# --------------------------------------------------------------------------------------------
# Plain numpy references
# --------------------------------------------------------------------------------------------

def exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact integer product ``a @ b`` in int64 (8-bit operands never overflow int64 here)."""
    return np.asarray(a).astype(np.int64) @ np.asarray(b).astype(np.int64)


def numpy_matmul(a: np.ndarray, b: np.ndarray, acc_bits: int = 32) -> np.ndarray:
    """``a @ b`` wrapped to signed ``acc_bits`` bits, as int64."""
    exact = exact_matmul(a, b)
    half = np.int64(1) << np.int64(acc_bits - 1)
    modulus = np.int64(1) << np.int64(acc_bits)
    return (exact + half) % modulus - half


def overflow_count(a: np.ndarray, b: np.ndarray, acc_bits: int = 32) -> int:
    """Number of elements of ``a @ b`` whose exact value lies outside signed ``acc_bits``."""
    exact = exact_matmul(a, b)
    half = 1 << (acc_bits - 1)
    return int(np.count_nonzero((exact < -half) | (exact > half - 1)))


# --------------------------------------------------------------------------------------------
# Closed-form timing (contract section 5)
# --------------------------------------------------------------------------------------------

def _tiles_and_vectors(m: int, k: int, n: int, rows: int, cols: int,
                       dataflow: str) -> tuple[int, int]:
    if dataflow == "ws":
        return math.ceil(k / rows) * math.ceil(n / cols), m
    if dataflow == "is":
        return math.ceil(k / rows) * math.ceil(m / cols), n
    return math.ceil(m / rows) * math.ceil(n / cols), k


def formula_breakdown(m: int, k: int, n: int, rows: int, cols: int, dataflow: str,
                      double_buffer: bool = True) -> dict[str, int]:
    """The cycle breakdown of contract section 5 for the greedy schedule without gaps."""
    t, v = _tiles_and_vectors(m, k, n, rows, cols, dataflow)
    r, c = rows, cols
    if dataflow == "os":
        period = max(v, r)
        weight_load, drain, fill = 0, 2 * r + c - 1, v - 1 + r + c
    else:
        period = max(v, r) if double_buffer else v + r
        weight_load, drain, fill = r, r + c - 1, r + c - 1
    span = (t - 1) * period + v  # first x vector to last, inclusive
    streaming = t * v
    total = weight_load + span + drain
    return {"total": total, "weight_load": weight_load, "streaming": streaming,
            "stall": span - streaming, "drain": drain, "fill": fill}


def scalesim_total(m: int, k: int, n: int, rows: int, cols: int, dataflow: str) -> int:
    """SCALE-Sim 3.0's total cycle count (contract section 5, last paragraph)."""
    sr, sc, t = {"ws": (k, n, m), "is": (k, m, n), "os": (m, n, k)}[dataflow]
    folds = math.ceil(sr / rows) * math.ceil(sc / cols)
    if dataflow == "os":
        return folds * (rows + cols + t - 2) - 1
    return folds * (2 * rows + cols + t - 2) - 1


# --------------------------------------------------------------------------------------------
# Mapping a matmul onto tiles (contract section 4)
# --------------------------------------------------------------------------------------------

@dataclass
class Tile:
    """One tile of the mapping.

    ``weights`` is the R x C stationary tile (ws/is) or None (os). ``x_vectors`` are the x-lane
    vectors (length R) in stream order, ``w_vectors`` the w-lane vectors (length C) of os.
    ``targets[i][c]`` is the ``(row, col)`` of ``Y`` that output column ``c`` of result ``i``
    adds to (None for padding); for os the results are listed in drain order (row R-1 first).
    """

    weights: list[list[int]] | None
    x_vectors: list[list[int]]
    w_vectors: list[list[int]] | None
    targets: list[list[tuple[int, int] | None]] = field(default_factory=list)


def _element(matrix: np.ndarray, i: int, j: int) -> int:
    """``matrix[i, j]`` as a Python int, or 0 in the zero padding outside the matrix."""
    if 0 <= i < matrix.shape[0] and 0 <= j < matrix.shape[1]:
        return int(matrix[i, j])
    return 0


def split_tiles(a: np.ndarray, b: np.ndarray, rows: int, cols: int, dataflow: str) -> list[Tile]:
    """Cut ``a @ b`` into tiles in schedule order, as in the table of contract section 4."""
    m, k = a.shape
    n = b.shape[1]
    tiles = []
    if dataflow == "ws":
        for nb in range(math.ceil(n / cols)):
            for kb in range(math.ceil(k / rows)):
                weights = [[_element(b, kb * rows + r, nb * cols + c) for c in range(cols)]
                           for r in range(rows)]
                xs = [[_element(a, mi, kb * rows + r) for r in range(rows)] for mi in range(m)]
                targets = [[(mi, nb * cols + c) if nb * cols + c < n else None
                            for c in range(cols)] for mi in range(m)]
                tiles.append(Tile(weights, xs, None, targets))
    elif dataflow == "is":
        for mb in range(math.ceil(m / cols)):
            for kb in range(math.ceil(k / rows)):
                weights = [[_element(a, mb * cols + c, kb * rows + r) for c in range(cols)]
                           for r in range(rows)]
                xs = [[_element(b, kb * rows + r, ni) for r in range(rows)] for ni in range(n)]
                targets = [[(mb * cols + c, ni) if mb * cols + c < m else None
                            for c in range(cols)] for ni in range(n)]
                tiles.append(Tile(weights, xs, None, targets))
    else:
        for mb in range(math.ceil(m / rows)):
            for nb in range(math.ceil(n / cols)):
                xs = [[_element(a, mb * rows + r, ki) for r in range(rows)] for ki in range(k)]
                ws = [[_element(b, ki, nb * cols + c) for c in range(cols)] for ki in range(k)]
                targets = []
                for r in reversed(range(rows)):
                    targets.append([(mb * rows + r, nb * cols + c)
                                    if mb * rows + r < m and nb * cols + c < n else None
                                    for c in range(cols)])
                tiles.append(Tile(None, xs, ws, targets))
    return tiles


# --------------------------------------------------------------------------------------------
# The greedy scheduler (contract sections 3.1, 3.2 and 5)
# --------------------------------------------------------------------------------------------

@dataclass
class Schedule:
    """When things are presented at the array's edges.

    ``x_times[i]``: cycle of x vector ``i`` (schedule order). ``load_times[j]``: first cycle of
    the weight load of tile ``j`` (ws/is only, empty for os).
    """

    x_times: list[int]
    load_times: list[int]


def greedy_schedule(n_tiles: int, n_vectors: int, rows: int, dataflow: str,
                    double_buffer: bool = True, gaps=None) -> Schedule:
    """Place every x vector and weight load as early as the legal-schedule rules allow.

    A gap of ``g`` before vector ``i`` presents it ``g`` cycles after the earliest cycle the
    rules would otherwise give it; everything after it follows from the rules again.
    """
    total_vectors = n_tiles * n_vectors
    gaps = [0] * total_vectors if gaps is None else [int(g) for g in gaps]
    if len(gaps) != total_vectors:
        raise ValueError(f"gaps must have {total_vectors} entries, got {len(gaps)}")
    x_times: list[int] = []
    load_times: list[int] = []
    previous = -1  # cycle of the previous x vector
    for j in range(n_tiles):
        if dataflow == "os":
            if j == 0:
                start = 0
            else:
                # e_j >= e_{j-1} + R with the tile's pairs back to back after its first one.
                start = max(previous + 1, previous + rows - n_vectors + 1)
        else:
            if j == 0:
                load = 0
            else:
                switch_prev = x_times[(j - 1) * n_vectors]  # s_{j-1}
                load = max(switch_prev, load_times[j - 1] + rows)
                if not double_buffer:
                    load = max(load, previous + 1)  # after the last vector of tile j-1
            load_times.append(load)
            start = max(previous + 1, load + rows)  # s_j >= L_j + R
        for v in range(n_vectors):
            earliest = start if v == 0 else previous + 1
            previous = earliest + gaps[j * n_vectors + v]
            x_times.append(previous)
    return Schedule(x_times, load_times)


# --------------------------------------------------------------------------------------------
# The cycle-stepped array (contract sections 2 and 3)
# --------------------------------------------------------------------------------------------

class _DelayLine:
    """``length`` registers in a chain: the output during cycle t is the input of cycle t-length."""

    def __init__(self, length: int, reset):
        self.registers = [reset] * length

    def output(self, current):
        return self.registers[-1] if self.registers else current

    def clock(self, current):
        if self.registers:
            self.registers = [current] + self.registers[:-1]


@dataclass
class ReferenceResult:
    """Everything the naive model observed during one run."""

    output: np.ndarray            # M x N, int64, signed acc_bits values
    cycles: int                   # cycles up to and including the last result
    breakdown: dict[str, int]
    overflow_count: int
    tiles: int
    vectors: int
    macs: int
    utilization: float
    schedule: Schedule
    out_cycles: np.ndarray        # int64[n]: cycles with out_valid = 1
    out_data: np.ndarray          # int64[n, C]: out_data on those cycles
    edges: dict[str, np.ndarray]  # per-cycle edge inputs, one row per cycle
    registers: dict[str, np.ndarray] | None  # name -> (cycles, R, C) values during each cycle


def _edge_inputs(tiles: list[Tile], sched: Schedule, rows: int, cols: int, dataflow: str,
                 n_cycles: int) -> dict[str, np.ndarray]:
    """The unskewed top-level input ports during every cycle (idle cycles carry zeros)."""
    edges = {
        "x_data": np.zeros((n_cycles, rows), np.int64),
        "x_valid": np.zeros(n_cycles, np.int64),
        "x_flag": np.zeros(n_cycles, np.int64),
        "w_data": np.zeros((n_cycles, cols), np.int64),
        "w_valid": np.zeros(n_cycles, np.int64),
        "w_tag": np.zeros(n_cycles, np.int64),
    }
    n_vectors = len(tiles[0].x_vectors)
    for j, tile in enumerate(tiles):
        for v in range(n_vectors):
            t = sched.x_times[j * n_vectors + v]
            edges["x_data"][t] = tile.x_vectors[v]
            edges["x_valid"][t] = 1
            if dataflow == "os":
                edges["x_flag"][t] = int(v == n_vectors - 1)  # the last flag
                edges["w_data"][t] = tile.w_vectors[v]
            else:
                edges["x_flag"][t] = int(v == 0)  # the switch flag
        if dataflow != "os":
            for k in range(rows):
                t = sched.load_times[j] + k
                if edges["w_valid"][t]:
                    raise AssertionError(f"two weight loads overlap in cycle {t}")
                edges["w_data"][t] = tile.weights[k]
                edges["w_valid"][t] = 1
                edges["w_tag"][t] = k
    return edges


def _register_format(name: str, dataflow: str, rows: int, acc_bits: int, x_signed: bool,
                     w_signed: bool) -> tuple[int, bool]:
    """Width and signedness of a register's stored pattern (contract sections 3 and 6)."""
    if name in ("x_valid", "x_flag", "w_valid", "psum_valid"):
        return 1, False
    if name == "w_tag":
        return max(1, math.ceil(math.log2(rows))) if rows > 1 else 1, False
    if name in ("psum", "acc", "hold"):
        return acc_bits, True
    if name == "x":
        return 8, x_signed
    return 8, w_signed  # w, w_active, w_shadow: the w lane's values


def _corrupt(pes: list, cycle: int, faults, formats: dict) -> None:
    """Apply the faults to the register values during ``cycle`` (contract section 6).

    The register's pattern is taken as ``width`` bits, the flips of this cycle invert their
    bit, then every stuck bit is forced, and the pattern is read back signed or unsigned.
    """
    touched = {(f.register, f.pe) for f in faults}
    for name, (r, c) in touched:
        width, signed = formats[name]
        pattern = pes[r][c][name] % (1 << width)
        for f in faults:
            if (f.register, f.pe) == (name, (r, c)) and f.kind == "flip" and f.cycle == cycle:
                pattern ^= 1 << f.bit
        for f in faults:
            if (f.register, f.pe) == (name, (r, c)) and f.kind == "stuck_at_0":
                pattern &= ~(1 << f.bit)
            if (f.register, f.pe) == (name, (r, c)) and f.kind == "stuck_at_1":
                pattern |= 1 << f.bit
        if signed and pattern >= 1 << (width - 1):
            pattern -= 1 << width
        pes[r][c][name] = pattern


def _operand_signed(matrix: np.ndarray) -> bool:
    """int8 unless the dtype is uint8 or the values only fit uint8 (contract section 1)."""
    if matrix.dtype == np.int8:
        return True
    if matrix.dtype == np.uint8:
        return False
    return int(matrix.min()) >= -128 and int(matrix.max()) <= 127


def _step_pe(dataflow: str, reg: dict, x_in: tuple, w_in: tuple, psum_in: tuple, load: int,
             row: int, acc_bits: int, bypassed: bool = False) -> dict:
    """Next register values of one PE (contract sections 3.1 and 3.2)."""
    x_data, x_valid, x_flag = x_in
    w_data, w_valid, w_tag = w_in
    psum_data, psum_valid = psum_in
    new = {"x": x_data, "x_valid": x_valid, "x_flag": x_flag,
           "w": w_data, "w_valid": w_valid, "w_tag": w_tag}
    if dataflow == "os":
        product = w_data * x_data if x_valid and not bypassed else 0
        new["acc"] = 0 if x_flag else wrap(reg["acc"] + product, acc_bits)
        new["hold"] = wrap(reg["acc"] + product, acc_bits) if x_flag else reg["hold"]
        new["psum"] = reg["hold"] if load else psum_data
        new["psum_valid"] = 1 if load else psum_valid
    else:
        weight = reg["w_shadow"] if x_flag else reg["w_active"]
        product = weight * x_data if x_valid and not bypassed else 0
        new["psum"] = wrap(psum_data + product, acc_bits)
        new["psum_valid"] = x_valid
        new["w_active"] = reg["w_shadow"] if x_flag else reg["w_active"]
        new["w_shadow"] = w_data if (w_valid and w_tag == row) else reg["w_shadow"]
    return new


def simulate(a, b, rows: int, cols: int, dataflow: str = "ws", *, double_buffer: bool = True,
             acc_bits: int = 32, gaps=None, record_registers: bool = False, faults=(),
             bypass=()) -> ReferenceResult:
    """Run ``a @ b`` through the literal cycle-stepped model.

    Parameters
    ----------
    a, b : array_like of int
        ``M x K`` and ``K x N`` operands with values that fit int8 or uint8.
    rows, cols : int
        Array size ``R x C``.
    dataflow : {"ws", "os", "is"}
    double_buffer : bool
        Weight double buffering (ws/is).
    acc_bits : int
        Width of the sums, 16..32.
    gaps : sequence of int, optional
        Idle cycles before each x vector, in schedule order.
    record_registers : bool
        Keep every PE register of every cycle in ``ReferenceResult.registers``.
    faults : sequence of Fault
        Stuck and flipped register bits (contract section 6); only the fields are read.
    bypass : sequence of (int, int)
        Bypassed PEs: their product is 0. With faults or bypasses the run takes the
        schedule's cycles, and ``output`` adds up what the port shows on the cycles the
        schedule gives for results, whatever ``out_valid`` says.

    Returns
    -------
    ReferenceResult
    """
    a = np.asarray(a)
    b = np.asarray(b)
    m, k = a.shape
    n = b.shape[1]
    tiles = split_tiles(a, b, rows, cols, dataflow)
    n_tiles, n_vectors = len(tiles), len(tiles[0].x_vectors)
    sched = greedy_schedule(n_tiles, n_vectors, rows, dataflow, double_buffer, gaps)
    results_per_tile = rows if dataflow == "os" else n_vectors
    expected_results = n_tiles * results_per_tile
    # Generous bound: every result must appear within 2R + C cycles of the last x vector.
    n_cycles_max = max(sched.x_times) + 2 * rows + cols + 1
    edges = _edge_inputs(tiles, sched, rows, cols, dataflow, n_cycles_max)
    faults, bypass = list(faults), {tuple(pe) for pe in bypass}
    faulty = bool(faults or bypass)
    # the cycles the schedule gives for results (contract sections 3.1 and 3.2)
    if dataflow == "os":
        result_cycles = [sched.x_times[(j + 1) * n_vectors - 1] + rows + cols + q
                         for j in range(n_tiles) for q in range(rows)]
    else:
        result_cycles = [t + rows + cols - 1 for t in sched.x_times]
    formats = {name: _register_format(name, dataflow, rows, acc_bits,
                                      _operand_signed(b if dataflow == "is" else a),
                                      _operand_signed(a if dataflow == "is" else b))
               for name in register_names(dataflow)}
    port_log = {}

    names = register_names(dataflow)
    pes = [[{name: 0 for name in names} for _ in range(cols)] for _ in range(rows)]
    x_skew = [_DelayLine(r, (0, 0, 0)) for r in range(rows)]
    w_skew = [_DelayLine(c, (0, 0, 0)) for c in range(cols)]
    deskew = [_DelayLine(cols - 1 - c, (0, 0)) for c in range(cols)]

    snapshots = []
    out_cycles, out_data = [], []
    _corrupt(pes, 0, faults, formats)
    for t in range(n_cycles_max):
        if faulty and t == result_cycles[-1] + 1:
            break
        if record_registers:
            snapshots.append([[dict(pe) for pe in row] for row in pes])
        # Output port, seen during cycle t.
        bottom = [(pes[rows - 1][c]["psum"], pes[rows - 1][c]["psum_valid"]) for c in range(cols)]
        port = [deskew[c].output(bottom[c]) for c in range(cols)]
        if port[cols - 1][1]:
            out_cycles.append(t)
            out_data.append([value for value, _ in port])
        port_log[t] = [value for value, _ in port]
        if not faulty and len(out_cycles) == expected_results:
            break
        # Edge inputs presented during cycle t, and their skewed copies.
        x_port = [(int(edges["x_data"][t, r]), int(edges["x_valid"][t]), int(edges["x_flag"][t]))
                  for r in range(rows)]
        w_port = [(int(edges["w_data"][t, c]), int(edges["w_valid"][t]), int(edges["w_tag"][t]))
                  for c in range(cols)]
        x_edge = [x_skew[r].output(x_port[r]) for r in range(rows)]
        w_edge = [w_skew[c].output(w_port[c]) for c in range(cols)]
        # Every PE computes from the current registers; all registers update at the edge.
        new_pes = []
        for r in range(rows):
            new_row = []
            for c in range(cols):
                if c == 0:
                    x_in = x_edge[r]
                else:
                    left = pes[r][c - 1]
                    x_in = (left["x"], left["x_valid"], left["x_flag"])
                if r == 0:
                    w_in = w_edge[c]
                    psum_in = (0, 0)
                else:
                    up = pes[r - 1][c]
                    w_in = (up["w"], up["w_valid"], up["w_tag"])
                    psum_in = (up["psum"], up["psum_valid"])
                load = pes[rows - 1][c]["x_flag"] if dataflow == "os" else 0
                new_row.append(_step_pe(dataflow, pes[r][c], x_in, w_in, psum_in, load, r,
                                        acc_bits, (r, c) in bypass))
            new_pes.append(new_row)
        _corrupt(new_pes, t + 1, faults, formats)
        for r in range(rows):
            x_skew[r].clock(x_port[r])
        for c in range(cols):
            w_skew[c].clock(w_port[c])
            deskew[c].clock(bottom[c])
        pes = new_pes
    else:
        raise AssertionError(f"only {len(out_cycles)} of {expected_results} results appeared")

    total = result_cycles[-1] + 1 if faulty else out_cycles[-1] + 1
    # the host reads the results on the cycles the schedule gives for them
    host_reads = ([port_log[t] for t in result_cycles] if faulty else out_data)
    # Accumulate the results into Y, modulo 2**acc_bits.
    output = [[0] * n for _ in range(m)]
    result_index = 0
    for tile in tiles:
        for targets in tile.targets:
            vector = host_reads[result_index]
            result_index += 1
            for c, target in enumerate(targets):
                if target is not None:
                    i, jj = target
                    output[i][jj] = wrap(output[i][jj] + vector[c], acc_bits)

    first_x, last_x = min(sched.x_times), max(sched.x_times)
    streaming = n_tiles * n_vectors
    breakdown = {"total": total, "weight_load": first_x, "streaming": streaming,
                 "stall": last_x - first_x + 1 - streaming, "drain": total - 1 - last_x,
                 "fill": (result_cycles if faulty else out_cycles)[0] - first_x}
    registers = None
    if record_registers:
        registers = {name: np.array([[[pe[name] for pe in row] for row in snap]
                                     for snap in snapshots], dtype=np.int64)
                     for name in names}
    macs = m * k * n
    return ReferenceResult(
        output=np.array(output, dtype=np.int64).reshape(m, n),
        cycles=total,
        breakdown=breakdown,
        overflow_count=overflow_count(a, b, acc_bits),
        tiles=n_tiles,
        vectors=n_tiles * n_vectors,
        macs=macs,
        utilization=macs / (total * rows * cols),
        schedule=sched,
        out_cycles=np.array(out_cycles, dtype=np.int64),
        out_data=np.array(out_data, dtype=np.int64).reshape(len(out_data), cols),
        edges={name: value[:total] for name, value in edges.items()},
        registers=registers,
    )


# Totals measured with SCALE-Sim 3.0.0 (PyPI `scalesim`): (R, C, M, K, N, dataflow, total).
SCALESIM_MEASURED = [
    (256, 256, 256, 256, 256, "ws", 1021),
    (256, 256, 1024, 1024, 1024, "ws", 28639),
    (8, 8, 256, 256, 256, "ws", 284671),
    (32, 32, 256, 256, 256, "ws", 22399),
    (256, 256, 256, 256, 256, "os", 765),
    (256, 256, 256, 256, 256, "is", 1021),
]
