"""Full-size matmuls on Verilator: ``make sim-verilator-full [SIZE=256]``.

Four different ``SIZE x SIZE`` matmuls, each compared with the model on every output and
cycle: int8 ws with one weight tile, int8 ws with K folded twice (accumulation across tiles),
int8 os, and is with uint8 operands. The two ws matmuls share one build, and every build
compiles the row of PEs once as a hierarchical block (``row_blocks``). Runs only when
``SIM_VERILATOR_FULL`` holds the size, and always on Verilator, whatever ``SIM`` says.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from systolic.hdl.sim import rtl_runner
from systolic.hdl.sim.stimulus import base_seed, lane_operands

#: (name, dataflow, x_signed, w_signed, matmuls as (M, K, N) in units of SIZE)
BUILDS = [
    ("ws_int8", "ws", True, True, [(1, 1, 1), (1, 2, 1)]),
    ("os_int8", "os", True, True, [(1, 1, 1)]),
    ("is_uint8", "is", False, False, [(1, 1, 1)]),
]


def _size() -> int | None:
    text = os.environ.get("SIM_VERILATOR_FULL", "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"SIM_VERILATOR_FULL must be a positive integer, got {text!r}")
    return int(text)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "dataflow", "x_signed", "w_signed", "shapes"), BUILDS,
                         ids=[build[0] for build in BUILDS])
def test_full_size_on_verilator(tmp_path, monkeypatch, name, dataflow, x_signed, w_signed,
                                shapes):
    size = _size()
    if size is None:
        pytest.skip("full size on Verilator: make sim-verilator-full SIZE=256")
    monkeypatch.setattr(rtl_runner, "SIM", "verilator")
    seed = base_seed(size + len(name))
    rng = np.random.default_rng(seed)
    cases = []
    for m, k, n in shapes:
        a, b = lane_operands(rng, m * size, k * size, n * size, dataflow, x_signed, w_signed)
        cases.append({"a": a, "b": b})
    start = time.perf_counter()
    run = rtl_runner.build_and_run(tmp_path, cases, rows=size, cols=size, dataflow=dataflow,
                                   x_signed=x_signed, w_signed=w_signed, seed=seed,
                                   progress=True, row_blocks=True)
    print(f"{name} {size}x{size}: {len(cases)} matmuls, {run.report['cycles']} cycles; "
          f"generate {run.generate_seconds:.1f} s, build {run.build_seconds:.1f} s, "
          f"model {run.model_seconds:.1f} s, simulate {run.test_seconds:.1f} s "
          f"(loop {run.report['seconds']:.1f} s); total {time.perf_counter() - start:.0f} s")
    assert run.report["errors"] == 0, f"seed {seed}: first mismatch {run.report['first']}"
    assert run.passed
    assert run.report["cases"] == len(shapes)
