"""Speed of the cycle-accurate engine and the fast path, against numpy in the same run.

Run ``python benchmarks/bench_engine.py``; the markdown table is printed and written to
``benchmarks/results/engine.md``. Every time is the best of several repeats.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numba
import numpy as np

import systolic
from machine import best_time, cpu_model
from systolic._table import markdown_table

RESULTS = Path(__file__).parent / "results" / "engine.md"
REPEATS = 9
DIMS = (256, 256)

# A fresh interpreter that imports the package and runs one 256^3 matmul on the cycle
# engine; it prints the seconds from before the import to the end of the run.
FIRST_CALL = """
import time
start = time.perf_counter()
import numpy as np
import systolic
rng = np.random.default_rng(0)
a = rng.integers(-128, 128, (256, 256), dtype=np.int8)
b = rng.integers(-128, 128, (256, 256), dtype=np.int8)
systolic.SystolicArray(256, 256, "ws").run(a, b, engine="cycle", progress=False)
print(time.perf_counter() - start)
"""


def operands(size: int):
    rng = np.random.default_rng(size)
    a = rng.integers(-128, 128, (size, size), dtype=np.int8)
    b = rng.integers(-128, 128, (size, size), dtype=np.int8)
    return a, b


def first_call_seconds(cache_dir: str) -> float:
    """Import plus first 256^3 run in a new process with the given numba cache folder."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    done = subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, check=True,
                          capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    lines = [
        "# Engine benchmark",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"numpy {np.__version__}, numba {numba.__version__}. Array {DIMS[0]}x{DIMS[1]}, "
        f"int8 operands, best of {REPEATS} runs.",
        "",
    ]
    rows = []
    a, b = operands(256)
    for dataflow in ("ws", "os", "is"):
        arr = systolic.SystolicArray(*DIMS, dataflow)
        cycles = arr.timing(256, 256, 256).total
        seconds = best_time(functools.partial(arr.run, a, b, engine="cycle", progress=False),
                            REPEATS)
        rate = cycles * DIMS[0] * DIMS[1] / seconds
        rows.append([f"cycle engine {dataflow}, 256^3 ({cycles} cycles)",
                     f"{seconds * 1e3:.1f} ms, {rate / 1e9:.2f} G PE-cycles/s"])
    arr = systolic.SystolicArray(*DIMS, "ws")
    for size in (256, 1024):
        a, b = operands(size)
        repeats = REPEATS if size <= 256 else 5
        cycle = best_time(functools.partial(arr.run, a, b, engine="cycle", progress=False),
                          repeats)
        fast = best_time(functools.partial(arr.run, a, b, engine="fast"), repeats)
        a32, b32 = a.astype(np.int32), b.astype(np.int32)
        int32 = best_time(functools.partial(np.matmul, a32, b32), repeats)
        af, bf = a.astype(np.float32), b.astype(np.float32)
        f32 = best_time(functools.partial(np.matmul, af, bf), repeats)
        rows += [
            [f"{size}^3 ws, cycle engine (values + cycles)", f"{cycle * 1e3:.1f} ms"],
            [f"{size}^3 ws, fast path", f"{fast * 1e3:.2f} ms"],
            [f"{size}^3 numpy int32 `@`", f"{int32 * 1e3:.2f} ms"],
            [f"{size}^3 numpy float32 `@` (BLAS)", f"{f32 * 1e3:.2f} ms"],
        ]
    with tempfile.TemporaryDirectory() as cache:
        cold = first_call_seconds(cache)
        warm = first_call_seconds(cache)
    rows += [
        ["fresh process, empty numba cache: import + first 256^3 run", f"{cold:.2f} s"],
        ["fresh process, warm numba cache: import + first 256^3 run", f"{warm:.2f} s"],
    ]
    lines += markdown_table(["measurement", "result"], rows)
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
