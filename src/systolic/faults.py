"""Faults in the array's registers and bypassed PEs (``docs/contract.md``, section 6).

A :class:`Fault` names a PE register, a PE, a bit and a kind: ``stuck_at_0`` and ``stuck_at_1``
force a bit for the whole run; ``flip`` inverts a bit of the register's value during one cycle.
A bypassed PE adds nothing (its product is 0). The model and the generated RTL apply both the
same way, so the RTL with faults built in is verified against the model with the same faults.

:func:`campaign` runs a workload (:class:`MatmulWorkload`, :class:`NetworkWorkload`) many
times, each with random faults drawn from a :class:`FaultModel`, on parallel processes, and
tabulates what they corrupted.

This module imports only the contract's facts at import time (the campaign imports the model
when it runs), so that :mod:`systolic.hdl` can use it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from ._checks import check_bool, check_choice, check_int, check_int_array, is_int
from ._dataflow import Dataflow, register_widths

__all__ = ["FAULT_KINDS", "Fault", "FaultModel", "MatmulWorkload", "NetworkWorkload",
           "campaign", "check_bypass", "check_faults"]

#: The kinds of fault (section 6): two permanent, one transient.
FAULT_KINDS = ("stuck_at_0", "stuck_at_1", "flip")


def _check_pe(name: str, pe) -> tuple[int, int]:
    what = "a pair (row, col) of non-negative integers"
    if not isinstance(pe, (tuple, list)) or len(pe) != 2 or not all(is_int(i) for i in pe):
        raise TypeError(f"{name} must be {what}, got {pe!r}")
    if pe[0] < 0 or pe[1] < 0:
        raise ValueError(f"{name} must be {what}, got {pe!r}")
    return int(pe[0]), int(pe[1])


def _widths_with(dataflow: Dataflow, rows: int, acc_bits: int, registers) -> dict[str, int]:
    """The register widths of ``dataflow``'s PE, once every name in ``registers`` is one."""
    widths = register_widths(dataflow, rows, acc_bits)
    for register in registers:
        if register not in widths:
            names = ", ".join(repr(name) for name in dataflow.registers)
            raise ValueError(f"the {dataflow.value} PE has no register {register!r}: "
                             f"expected one of {names}")
    return widths


def _check_inside(name: str, pe: tuple[int, int], rows: int, cols: int) -> None:
    if pe[0] >= rows or pe[1] >= cols:
        raise ValueError(f"{name} {pe!r} is outside the {rows}x{cols} array "
                         f"(rows 0..{rows - 1}, columns 0..{cols - 1})")


@dataclass(frozen=True)
class Fault:
    """A fault in one bit of one PE register.

    Parameters
    ----------
    register : str
        A register of the contract's PE table (section 3), for example ``"psum"``,
        ``"w_shadow"``, ``"x_valid"`` or ``"acc"``. Which ones exist depends on the dataflow;
        :meth:`check` refuses the others.
    pe : tuple of int
        ``(row, col)`` of the PE.
    bit : int
        The bit, ``0`` for the least significant; below the register's width.
    kind : {"stuck_at_0", "stuck_at_1", "flip"}
        ``stuck_at_0``/``stuck_at_1`` force the bit during every cycle; ``flip`` inverts it in
        the register's value during ``cycle`` only.
    cycle : int, optional
        The cycle of a ``flip`` (required for it, refused for the stuck-at kinds).

    Raises
    ------
    TypeError, ValueError
        For a field of the wrong type or value, naming the field.

    Examples
    --------
    >>> Fault("psum", (3, 5), 30, "flip", cycle=412)
    Fault(register='psum', pe=(3, 5), bit=30, kind='flip', cycle=412)
    >>> Fault("w_shadow", (0, 0), 7, "stuck_at_1").mask
    128
    >>> Fault("psum", (0, 0), 3, "flip")
    Traceback (most recent call last):
    ...
    ValueError: a 'flip' fault needs the cycle it happens in: cycle must be a non-negative \
integer, got None
    """

    register: str
    pe: tuple[int, int]
    bit: int
    kind: str
    cycle: int | None = None

    def __post_init__(self):
        if not isinstance(self.register, str):
            raise TypeError(f"register must be a register name (a string), got {self.register!r}")
        object.__setattr__(self, "pe", _check_pe("pe", self.pe))
        object.__setattr__(self, "bit", check_int("bit", self.bit, 0))
        check_choice("kind", self.kind, FAULT_KINDS)
        if self.kind == "flip":
            if self.cycle is None:
                raise ValueError("a 'flip' fault needs the cycle it happens in: cycle must be a "
                                 "non-negative integer, got None")
            object.__setattr__(self, "cycle", check_int("cycle", self.cycle, 0))
        elif self.cycle is not None:
            raise ValueError(f"a {self.kind!r} fault is permanent and takes no cycle, "
                             f"got cycle={self.cycle!r}")

    @property
    def mask(self) -> int:
        """``1 << bit``: the bit as a mask."""
        return 1 << self.bit

    def check(self, dataflow, rows: int, cols: int, acc_bits: int = 32) -> None:
        """Raise ``ValueError`` unless the fault exists on this array (section 6).

        Parameters
        ----------
        dataflow : Dataflow or {"ws", "os", "is"}
            Which PE kind the array uses.
        rows, cols : int
            The array's size.
        acc_bits : int
            The width of the sums.

        Examples
        --------
        >>> Fault("acc", (0, 0), 0, "stuck_at_0").check("ws", 4, 4)
        Traceback (most recent call last):
        ...
        ValueError: the ws PE has no register 'acc': expected one of 'x', 'x_valid', 'x_flag', \
'w', 'w_valid', 'w_tag', 'psum', 'psum_valid', 'w_active', 'w_shadow'
        """
        widths = _widths_with(Dataflow(dataflow), rows, acc_bits, [self.register])
        _check_inside("fault PE", self.pe, rows, cols)
        width = widths[self.register]
        if self.bit >= width:
            raise ValueError(f"bit {self.bit} is outside register {self.register!r} "
                             f"({width} bits: 0..{width - 1})")


def check_faults(faults, dataflow, rows: int, cols: int, acc_bits: int = 32
                 ) -> tuple[Fault, ...]:
    """The faults as a tuple, each checked against the array, with conflicts refused.

    ``None`` means no faults. Refused: an item that is not a :class:`Fault`, a fault the array
    does not have (:meth:`Fault.check`), the same fault twice and a bit stuck at both 0 and 1.
    The cycle of a flip is checked against the run's length by the engine, which knows it.

    Examples
    --------
    >>> check_faults([Fault("psum", (0, 0), 1, "stuck_at_0"),
    ...               Fault("psum", (0, 0), 1, "stuck_at_1")], "ws", 2, 2)
    Traceback (most recent call last):
    ...
    ValueError: bit 1 of register 'psum' of PE (0, 0) is stuck at both 0 and 1
    """
    if faults is None:
        return ()
    if isinstance(faults, Fault) or not hasattr(faults, "__iter__"):
        raise TypeError(f"faults must be a list of systolic.Fault, got {faults!r}")
    faults = tuple(faults)
    stuck = {}
    seen = set()       # a set, not list.count: campaigns check thousands of faults
    for fault in faults:
        if not isinstance(fault, Fault):
            raise TypeError(f"faults must be a list of systolic.Fault, got an item {fault!r}")
        fault.check(dataflow, rows, cols, acc_bits)
        if fault in seen:
            raise ValueError(f"fault listed twice: {fault!r}")
        seen.add(fault)
        if fault.kind != "flip":
            where = (fault.register, fault.pe, fault.bit)
            if stuck.setdefault(where, fault.kind) != fault.kind:
                raise ValueError(f"bit {fault.bit} of register {fault.register!r} of PE "
                                 f"{fault.pe} is stuck at both 0 and 1")
    return faults


def check_bypass(bypass, rows: int, cols: int) -> tuple[tuple[int, int], ...]:
    """The bypassed PEs as a sorted tuple of ``(row, col)``, each inside the array.

    ``None`` means none. A PE listed twice is refused.

    Examples
    --------
    >>> check_bypass([(1, 0), (0, 1)], 2, 2)
    ((0, 1), (1, 0))
    >>> check_bypass([(2, 0)], 2, 2)
    Traceback (most recent call last):
    ...
    ValueError: bypassed PE (2, 0) is outside the 2x2 array (rows 0..1, columns 0..1)
    """
    if bypass is None:
        return ()
    if not hasattr(bypass, "__iter__") or isinstance(bypass, str):
        raise TypeError(f"bypass must be a list of (row, col) pairs, got {bypass!r}")
    pes = [_check_pe("bypassed PE", pe) for pe in bypass]
    for pe in pes:
        _check_inside("bypassed PE", pe, rows, cols)
    if len(set(pes)) != len(pes):
        twice = next(pe for pe in pes if pes.count(pe) > 1)
        raise ValueError(f"bypassed PE {twice} is listed twice")
    return tuple(sorted(pes))


# --------------------------------------------------------------------------------------------
# Campaigns: many random faults over one workload
# --------------------------------------------------------------------------------------------

def _names(name: str, value, choices, item_name: str) -> tuple[str, ...]:
    value = (value,) if isinstance(value, str) else value
    if not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a string or a sequence of strings, got {value!r}")
    value = tuple(value)
    if not value:
        raise ValueError(f"{name} must not be empty")
    for item in value:
        check_choice(item_name, item, choices)
    return value


@dataclass(frozen=True)
class FaultModel:
    """How a campaign draws the faults of one run.

    Each run gets ``count`` faults on ``count`` different PEs, drawn uniformly from ``pes``;
    each fault's kind, register and bit are drawn uniformly from ``kinds``, ``registers`` and
    the bits of ``bits`` that the register has, and a flip's cycle uniformly from ``cycles``
    (within the run).

    Parameters
    ----------
    kinds : str or sequence of str
        Among ``"stuck_at_0"``, ``"stuck_at_1"``, ``"flip"``.
    registers : str or sequence of str
        PE registers (``docs/contract.md``, section 3), for example ``"psum"`` or
        ``("w_active", "w_shadow")``.
    bits : sequence of int, optional
        Candidate bits, for example ``range(24, 32)`` for the high bits of a 32-bit sum; a
        register takes those below its width. Default: every bit of the register.
    count : int
        Faults per run (one per PE).
    pes : sequence of (int, int), optional
        Candidate PEs (a PE listed twice counts once). Default: every PE of the array.
    cycles : range, optional
        Candidate cycles of a flip. Default: every cycle of the run.

    Raises
    ------
    TypeError, ValueError
        A field of the wrong type or value.

    Examples
    --------
    >>> import numpy as np
    >>> model = FaultModel("stuck_at_1", "psum", bits=range(28, 32), count=2)
    >>> for fault in model.sample(np.random.default_rng(0), "ws", 4, 4):
    ...     print(fault)
    Fault(register='psum', pe=(3, 0), bit=29, kind='stuck_at_1', cycle=None)
    Fault(register='psum', pe=(2, 2), bit=29, kind='stuck_at_1', cycle=None)
    """

    kinds: tuple = ("flip",)
    registers: tuple = ("psum",)
    bits: tuple | None = None
    count: int = 1
    pes: tuple | None = None
    cycles: range | None = None

    def __post_init__(self):
        object.__setattr__(self, "kinds", _names("kinds", self.kinds, FAULT_KINDS, "kind"))
        if isinstance(self.registers, str) or hasattr(self.registers, "__iter__"):
            registers = (self.registers,) if isinstance(self.registers, str) \
                else tuple(self.registers)
        else:
            raise TypeError(f"registers must be a string or a sequence of strings, got "
                            f"{self.registers!r}")
        if not registers or not all(isinstance(r, str) for r in registers):
            raise ValueError(f"registers must name at least one register, got {registers!r}")
        object.__setattr__(self, "registers", registers)
        if self.bits is not None:
            if isinstance(self.bits, str) or not hasattr(self.bits, "__iter__"):
                raise TypeError(f"bits must be a sequence of integers, got {self.bits!r}")
            bits = tuple(check_int("bit", b, 0) for b in self.bits)
            if not bits:
                raise ValueError("bits must not be empty")
            object.__setattr__(self, "bits", bits)
        object.__setattr__(self, "count", check_int("count", self.count, 1))
        if self.pes is not None:
            if isinstance(self.pes, str) or not hasattr(self.pes, "__iter__"):
                raise TypeError(f"pes must be a list of (row, col) pairs, got {self.pes!r}")
            pes = tuple(dict.fromkeys(_check_pe("pe", pe) for pe in self.pes))
            object.__setattr__(self, "pes", pes)
        if self.cycles is not None and not isinstance(self.cycles, range):
            raise TypeError(f"cycles must be a range, got {self.cycles!r}")

    def check(self, dataflow, rows: int, cols: int, acc_bits: int = 32,
              total: int | None = None) -> None:
        """Raise ``ValueError`` unless every draw gives a fault this array has.

        Parameters
        ----------
        dataflow : Dataflow or {"ws", "os", "is"}
        rows, cols : int
            The array's size.
        acc_bits : int
            The width of the sums.
        total : int, optional
            The run's length in cycles: then some cycle of ``cycles`` must be in the run.

        Examples
        --------
        >>> FaultModel("stuck_at_0", "x_valid", bits=[4]).check("ws", 4, 4)
        Traceback (most recent call last):
        ...
        ValueError: none of the bits [4] is in register 'x_valid' (1 bits)
        """
        widths = _widths_with(Dataflow(dataflow), rows, acc_bits, self.registers)
        for register in self.registers:
            if self.bits is not None and min(self.bits) >= widths[register]:
                raise ValueError(f"none of the bits {list(self.bits)} is in register "
                                 f"{register!r} ({widths[register]} bits)")
        for pe in self.pes or ():
            _check_inside("fault PE", pe, rows, cols)
        n_pes = rows * cols if self.pes is None else len(self.pes)
        if self.count > n_pes:
            raise ValueError(f"count={self.count} faults on different PEs, but only {n_pes} "
                             f"PE{'s' if n_pes > 1 else ''} to draw from")
        if "flip" in self.kinds and total is not None and not self._cycle_range(total):
            raise ValueError(f"no cycle of {self.cycles} is in the run (cycles 0..{total - 1})")

    def _cycle_range(self, total: int) -> range:
        cycles = range(total) if self.cycles is None else self.cycles
        return range(max(cycles.start, 0), min(cycles.stop, total), cycles.step) \
            if cycles.step > 0 else range(0)

    def sample(self, rng, dataflow, rows: int, cols: int, acc_bits: int = 32,
               total: int | None = None) -> tuple[Fault, ...]:
        """The faults of one run, drawn with ``rng`` (a :class:`numpy.random.Generator`).

        ``total`` is the run's length in cycles, needed when flips are drawn.
        """
        dataflow = Dataflow(dataflow)
        self.check(dataflow, rows, cols, acc_bits, total)
        if "flip" in self.kinds and total is None:
            raise ValueError("drawing flips needs the run's length: total must be given")
        widths = register_widths(dataflow, rows, acc_bits)
        if self.pes is None:
            picks = rng.choice(rows * cols, self.count, replace=False)
            pes = [divmod(int(i), cols) for i in picks]
        else:
            pes = [self.pes[int(i)] for i in rng.choice(len(self.pes), self.count,
                                                          replace=False)]
        faults = []
        for pe in pes:
            kind = self.kinds[int(rng.integers(len(self.kinds)))]
            register = self.registers[int(rng.integers(len(self.registers)))]
            width = widths[register]
            bits = range(width) if self.bits is None else [b for b in self.bits if b < width]
            bit = bits[int(rng.integers(len(bits)))]
            cycle = None
            if kind == "flip":
                cycles = self._cycle_range(total)
                cycle = cycles[int(rng.integers(len(cycles)))]
            faults.append(Fault(register, pe, bit, kind, cycle))
        return tuple(faults)


@dataclass(frozen=True, eq=False)
class MatmulWorkload:
    """A campaign workload: ``a @ b`` on an array.

    Parameters
    ----------
    array : systolic.SystolicArray
    a, b : array_like of int
        The operands, as for :meth:`systolic.SystolicArray.run`.

    Raises
    ------
    TypeError, ValueError
        Not an array, or operands the array refuses.
    """

    array: object
    a: np.ndarray
    b: np.ndarray

    def __post_init__(self):
        from .array import SystolicArray

        if not isinstance(self.array, SystolicArray):
            raise TypeError(f"array must be a systolic.SystolicArray, not {self.array!r}")
        # the fault-free result checks the operands now rather than in every worker
        object.__setattr__(self, "_clean", self.array.run(self.a, self.b, engine="fast"))

    def _geometry(self):
        arr = self.array
        return arr.dataflow, arr.rows, arr.cols, arr.acc_bits, self._clean.cycles

    def _reference(self) -> np.ndarray:
        return self._clean.output.astype(np.int64)

    def _runner(self, engine: str):
        def run(faults, bypass):
            return self.array.run(self.a, self.b, engine=engine, faults=faults,
                                  bypass=bypass, progress=False).output.astype(np.int64)
        return run


@dataclass(frozen=True, eq=False)
class NetworkWorkload:
    """A campaign workload: a network compiled for the TPU, on a batch of inputs.

    The faults are in the matrix unit (:class:`systolic.tpu.TPUConfig`, ``faults``); the
    outputs compared are the network's outputs for the whole batch.

    Parameters
    ----------
    network : systolic.tpu.Network
    x : array_like of int
        The inputs, ``(N,) + network.input_shape``; the program is compiled for batch ``N``.
    labels : array_like of int, optional
        The right class of each input: the table then has the accuracy of the outputs' argmax.
    config : systolic.tpu.TPUConfig, optional
        The machine (TPU v1 by default); its own faults and bypassed PEs are in every run.

    Examples
    --------
    >>> import numpy as np
    >>> from systolic.tpu import Dense, Network, TPUConfig
    >>> net = Network([Dense(np.eye(4, dtype=np.int8))], (4,))
    >>> x = np.array([[5, 1, 0, 2], [0, 0, 7, 1]])
    >>> work = NetworkWorkload(net, x, labels=[0, 2], config=TPUConfig(rows=4, cols=4))
    >>> table = campaign(work, FaultModel("stuck_at_1", "psum", bits=[3], pes=[(1, 0)]), 1,
    ...                  processes=1, progress=False)
    >>> row = table.iloc[0]          # a DataFrame: pandas is installed
    >>> int(row.outputs_corrupted), int(row.max_error), float(row.accuracy)
    (2, 8, 0.5)
    """

    network: object
    x: np.ndarray
    labels: np.ndarray | None = None
    config: object = None

    def __post_init__(self):
        from .tpu import Network, TPUConfig

        if not isinstance(self.network, Network):
            raise TypeError(f"network must be a systolic.tpu.Network, not {self.network!r}")
        config = TPUConfig() if self.config is None else self.config
        if not isinstance(config, TPUConfig):
            raise TypeError(f"config must be a systolic.tpu.TPUConfig, not {config!r}")
        object.__setattr__(self, "config", config)
        x = self.network.check_input(self.x)
        object.__setattr__(self, "x", x)
        if self.labels is not None:
            labels = check_int_array("labels", self.labels, 0, self.network.output_features - 1,
                                     ndim=1).astype(np.int64)
            if labels.shape != (x.shape[0],):
                raise ValueError(f"labels must have shape ({x.shape[0]},), one per input, "
                                 f"got {labels.shape}")
            object.__setattr__(self, "labels", labels)

    def _geometry(self):
        from .tpu import compile_network, matrix_cycles

        compiled = compile_network(self.network, self.x.shape[0], self.config)
        return "ws", self.config.rows, self.config.cols, 32, \
            matrix_cycles(compiled.program, self.config)

    def _reference(self) -> np.ndarray:
        return self.network.reference(self.x)

    def accuracy(self, outputs) -> float:
        """The fraction of inputs whose largest output is at their label (ties: lowest)."""
        return float(np.mean(np.argmax(outputs, axis=1) == self.labels))

    def _runner(self, engine: str):
        from dataclasses import replace

        from .tpu import compile_network

        compiled = {}

        def run(faults, bypass):
            # a program per set of bypassed PEs: the compiler prunes the weights on them
            bypass = tuple(sorted(set(self.config.bypass) | set(bypass)))
            if bypass not in compiled:
                compiled[bypass] = compile_network(self.network, self.x.shape[0],
                                                   replace(self.config, bypass=bypass))
            program = compiled[bypass]
            config = replace(program.config, faults=self.config.faults + tuple(faults))
            return replace(program, config=config).run(self.x, engine=engine)[0]
        return run


_WORKLOADS = (MatmulWorkload, NetworkWorkload)


def _run_chunk(workload, engine: str, reference: np.ndarray, chunk) -> list[dict]:
    """The table rows of some runs of a campaign (in a worker process or this one)."""
    run = workload._runner(engine)
    rows = []
    for index, faults, bypass in chunk:
        out = run(faults, bypass)
        diff = np.abs(out - reference)
        row = {"run": index, "faults": faults, "outputs_corrupted": int(np.count_nonzero(diff)),
               "max_error": int(diff.max()) if diff.size else 0}
        if isinstance(workload, NetworkWorkload) and workload.labels is not None:
            row["accuracy"] = workload.accuracy(out)
        rows.append(row)
    return rows


def campaign(workload, model: FaultModel, runs: int, *, seed: int = 0,
             bypass_faulty: bool = False, engine: str = "cycle", processes: int | None = None,
             progress: bool = True):
    """Run a workload many times, each time with random faults, and tabulate the damage.

    Run ``i`` draws its faults from ``model`` with the random generator
    ``numpy.random.default_rng([seed, i])``, so the table depends on ``seed`` and ``runs``
    only, never on how many processes share the work.

    Parameters
    ----------
    workload : MatmulWorkload or NetworkWorkload
    model : FaultModel
    runs : int
        Number of runs.
    seed : int
    bypass_faulty : bool
        Also bypass every PE that a run's faults are on: a chip whose faulty PEs are known
        from test. For a network the compiler then zeroes the weights on them (fault-aware
        pruning, :func:`systolic.tpu.prune_network`).
    engine : {"cycle", "fast"}
        The array's engine; ``"fast"`` only for what its fast path computes exactly.
    processes : int, optional
        Worker processes (default: every core); 1 runs in this process.
    progress : bool
        A progress bar over runs.

    Returns
    -------
    pandas.DataFrame or list of dict
        One row per run, in run order: ``run``, ``faults`` (a tuple of :class:`Fault`),
        ``outputs_corrupted`` (output values that differ from the fault-free result: ``a @ b``
        modulo ``2**acc_bits``, or ``systolic.tpu.Network.reference``), ``max_error``
        (the largest absolute difference) and, for a network with labels, ``accuracy``. A
        DataFrame when pandas is installed (``pip install 'systolic[sweep]'``), else a list of
        one dict per row.

    Raises
    ------
    TypeError, ValueError
        A bad workload, fault model (for this array), count or option.

    Examples
    --------
    >>> import numpy as np
    >>> from systolic import SystolicArray
    >>> a, b = np.ones((6, 4), np.int8), np.ones((4, 2), np.int8)
    >>> work = MatmulWorkload(SystolicArray(4, 4), a, b)
    >>> idle = [(r, c) for r in range(4) for c in (2, 3)]   # columns 2 and 3 are unused
    >>> table = campaign(work, FaultModel("stuck_at_1", "psum", count=3, pes=idle), runs=5,
    ...                  processes=1, progress=False)
    >>> [int(n) for n in table["outputs_corrupted"]]
    [0, 0, 0, 0, 0]
    """
    if not isinstance(workload, _WORKLOADS):
        raise TypeError(f"workload must be a MatmulWorkload or a NetworkWorkload, not "
                        f"{workload!r}")
    if not isinstance(model, FaultModel):
        raise TypeError(f"model must be a FaultModel, not {model!r}")
    runs = check_int("runs", runs, 1)
    seed = check_int("seed", seed, 0)
    bypass_faulty = check_bool("bypass_faulty", bypass_faulty)
    check_choice("engine", engine, ("cycle", "fast"))
    processes = (os.cpu_count() or 1) if processes is None else \
        check_int("processes", processes, 1)
    progress = check_bool("progress", progress)
    dataflow, rows, cols, acc_bits, total = workload._geometry()
    model.check(dataflow, rows, cols, acc_bits, total)
    tasks = []
    for index in range(runs):
        faults = model.sample(np.random.default_rng([seed, index]), dataflow, rows, cols,
                              acc_bits, total)
        bypass = tuple(sorted({f.pe for f in faults})) if bypass_faulty else ()
        tasks.append((index, faults, bypass))
    reference = workload._reference()
    size = max(1, min(16, math.ceil(runs / (4 * processes))))
    chunks = [tasks[i:i + size] for i in range(0, runs, size)]
    if processes > 1 and len(chunks) > 1:
        from ._parallel import as_finished, process_pool

        # the workers start before the progress bar's monitor thread
        pool = process_pool(min(processes, len(chunks)), "systolic.faults")
        finished = as_finished(pool, [pool.submit(_run_chunk, workload, engine, reference,
                                                  chunk) for chunk in chunks])
    else:
        finished = (_run_chunk(workload, engine, reference, chunk) for chunk in chunks)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=runs, unit="run", desc="campaign")
    results: list[dict] = []
    try:
        for done in finished:
            results += done
            if bar is not None:
                bar.update(len(done))
    finally:
        if bar is not None:
            bar.close()
    results.sort(key=lambda row: row["run"])
    try:
        import pandas as pd
    except ImportError:
        return results
    return pd.DataFrame(results)
