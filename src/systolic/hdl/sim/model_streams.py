"""The model's side of an RTL run: edge stream, output stream and register trace.

The model runs in the test process (its numba kernels compile once per process) and its
streams are handed to the simulator process in an ``.npz`` file.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EDGE_NAMES", "case_streams", "load_case", "save_cases"]

EDGE_NAMES = ("x_data", "x_valid", "x_flag", "w_data", "w_valid", "w_tag")


def _check_lanes(sidecar: dict, a: np.ndarray, b: np.ndarray):
    from systolic import Dataflow  # only the test process, which runs the model, gets here

    # The hardware's lane signedness is fixed at generation: the stimulus must fit it.
    x_op, w_op = (b, a) if Dataflow(sidecar["dataflow"]).transposed else (a, b)
    for lane, values in (("x", x_op), ("w", w_op)):
        low, high = (-128, 127) if sidecar[f"{lane}_signed"] else (0, 255)
        if values.size and (values.min() < low or values.max() > high):
            raise ValueError(f"{lane} lane operand outside {low}..{high} for this array")


def case_streams(sidecar: dict, a, b, gaps=None, registers: bool = False) -> dict:
    """Run ``a @ b`` through the cycle-accurate model built from the sidecar's parameters.

    The model gets the faults and bypassed PEs the sidecar records (section 6 of the contract).

    Returns ``edges_<port>`` (the per-cycle edge inputs), ``out_cycles``/``out_data`` (every
    cycle with ``out_valid`` and its data), ``cycles`` and, if ``registers``, ``reg_<name>``
    of shape ``(cycles, R, C)``.
    """
    # Imported here: the simulator process only loads the streams and needs no model.
    import systolic
    from systolic.hdl import faults_from_sidecar

    a, b = np.asarray(a), np.asarray(b)
    _check_lanes(sidecar, a, b)
    array = systolic.SystolicArray(sidecar["rows"], sidecar["cols"], sidecar["dataflow"],
                                   double_buffer=True, acc_bits=sidecar["acc_bits"])
    stream = array.edge_stream(a, b, gaps=gaps)
    # The hardware's faults and bypassed PEs, from its sidecar, are the model's too.
    faults, bypass = faults_from_sidecar(sidecar)
    faulty = {"faults": faults, "bypass": bypass} if faults or bypass else {}
    result = array.run(a, b, engine="cycle", gaps=gaps, record_outputs=True, **faulty)
    streams = {f"edges_{name}": np.asarray(getattr(stream, name), np.int64)
               for name in EDGE_NAMES}
    streams["out_cycles"] = np.asarray(result.outputs.cycles, np.int64)
    streams["out_data"] = np.asarray(result.outputs.data, np.int64)
    streams["cycles"] = np.array(result.cycles)
    if registers:
        traced = array.run(a, b, engine="cycle", gaps=gaps, trace=(0, result.cycles), **faulty)
        for name, values in traced.trace.registers.items():
            streams[f"reg_{name}"] = np.asarray(values, np.int64)
    return streams


def save_cases(path, sidecar: dict, cases: list[dict], registers: bool) -> list[dict]:
    """Run every case through the model and write all streams to ``path`` (``.npz``)."""
    arrays = {}
    all_streams = []
    for i, case in enumerate(cases):
        streams = case_streams(sidecar, case["a"], case["b"], case.get("gaps"), registers)
        arrays.update({f"c{i}_{key}": value for key, value in streams.items()})
        all_streams.append(streams)
    arrays["n_cases"] = np.array(len(cases))
    np.savez(path, **arrays)
    return all_streams


def load_case(data, i: int) -> dict:
    """Case ``i`` of a file written by :func:`save_cases` (``data`` from ``np.load``)."""
    prefix = f"c{i}_"
    return {key[len(prefix):]: data[key] for key in data.files if key.startswith(prefix)}
