"""Design-space sweeps on one core, on every local core and on a Dask cluster.

Run ``python benchmarks/bench_sweep.py``. The space is 12 array shapes x 3 dataflows x 4
memory settings (buffer 256 KiB or 4 MiB, DRAM 16 or 64 bytes per cycle) x 7 workloads
(ResNet-18, AlexNet, VGG-16 and a YOLOv2-tiny-style network at batch 1, one BERT-base encoder
layer at sequence length 128, a 5-layer MLP at batch 128 and an 8-layer LSTM step at batch 64,
written below as GEMM layers), evaluated with the closed-form cycle counts; and a 36-point
sweep that runs every layer on the array's fast path (values computed; one memory setting and
one workload, the BERT layer, keep it short). Each sweep runs, in one run of this script,

* in this process (``workers=1``, one core; every process gets one BLAS thread),
* on a process pool over every local core (pool start-up included; run before the cluster
  exists, so that the pool's workers are forked),
* on a ``distributed.LocalCluster`` with two single-threaded worker processes (started, and
  the engine's kernels compiled in its workers, once, timed apart from the sweeps);

the three tables must be equal. The parallel speed-up is the one-core time over each; the
cluster's per-point overhead is its time beyond the one-core time shared by its workers,
divided by the number of points. SCALE-Sim's cost for the 1,008-point sweep is estimated from
the 17 cases measured in ``results/scalesim.md``: a least-squares fit (of relative error) of
SCALE-Sim's time per layer against ``cycles x (R + C)`` (the size of the demand matrices it
builds), applied to every layer of the sweep with SCALE-Sim's own cycle count.

The markdown table is printed and written to ``benchmarks/results/sweep.md``.
"""

from __future__ import annotations

import os
from itertools import pairwise

# One BLAS thread in every process (this one, the pool's and the cluster's workers inherit
# it), so that "one core" means one core and the parallel runs do not oversubscribe.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import functools  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from machine import cpu_model  # noqa: E402
from systolic import sweep  # noqa: E402
from systolic._table import markdown_table  # noqa: E402
from systolic.timing import scalesim_breakdown  # noqa: E402

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "sweep.md"
SCALESIM_RESULTS = HERE / "results" / "scalesim.md"

DIMS = [(8, 8), (16, 16), (32, 32), (64, 64), (128, 128), (256, 256),
        (16, 64), (64, 16), (32, 128), (128, 32), (64, 256), (256, 64)]


def conv(name: str, size: int, kernel: int, stride: int, pad: int, c_in: int, c_out: int):
    """A convolution as the GEMM (output pixels) x (kernel taps x c_in) x c_out."""
    out = (size + 2 * pad - kernel) // stride + 1
    return name, out * out, kernel * kernel * c_in, c_out


def resnet18():
    layers = [conv("conv1", 224, 7, 2, 3, 3, 64)]
    size, c_in = 56, 64
    for stage, c_out in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            layers.append(conv(f"l{stage}b{block}a", size, 3, stride, 1, c_in, c_out))
            if stride == 2:
                layers.append(conv(f"l{stage}down", size, 1, 2, 0, c_in, c_out))
                size //= 2
            layers.append(conv(f"l{stage}b{block}b", size, 3, 1, 1, c_out, c_out))
            c_in = c_out
    return layers + [("fc", 1, 512, 1000)]


def alexnet():
    return [conv("conv1", 224, 11, 4, 2, 3, 64), conv("conv2", 27, 5, 1, 2, 64, 192),
            conv("conv3", 13, 3, 1, 1, 192, 384), conv("conv4", 13, 3, 1, 1, 384, 256),
            conv("conv5", 13, 3, 1, 1, 256, 256), ("fc6", 1, 9216, 4096),
            ("fc7", 1, 4096, 4096), ("fc8", 1, 4096, 1000)]


def vgg16():
    layers, c_in = [], 3
    for size, c_out, count in ((224, 64, 2), (112, 128, 2), (56, 256, 3), (28, 512, 3),
                               (14, 512, 3)):
        for i in range(count):
            layers.append(conv(f"conv{size}_{i}", size, 3, 1, 1, c_in, c_out))
            c_in = c_out
    return layers + [("fc6", 1, 25088, 4096), ("fc7", 1, 4096, 4096), ("fc8", 1, 4096, 1000)]


def yolo_tiny():
    layers, c_in = [], 3
    for size, c_out in ((416, 16), (208, 32), (104, 64), (52, 128), (26, 256), (13, 512),
                        (13, 1024), (13, 1024)):
        layers.append(conv(f"conv{len(layers)}", size, 3, 1, 1, c_in, c_out))
        c_in = c_out
    return layers + [conv("detect", 13, 1, 1, 0, 1024, 125)]


def bert_layer(seq: int = 128, hidden: int = 768, heads: int = 12):
    head = hidden // heads
    return [("qkv", seq, hidden, 3 * hidden), ("scores", heads * seq, head, seq),
            ("context", heads * seq, seq, head), ("proj", seq, hidden, hidden),
            ("ffn1", seq, hidden, 4 * hidden), ("ffn2", seq, 4 * hidden, hidden)]


def mlp(batch: int = 128):
    widths = (1024, 2048, 2048, 2048, 1024, 10)
    return [(f"fc{i}", batch, k, n) for i, (k, n) in enumerate(pairwise(widths))]


def lstm(batch: int = 64, hidden: int = 1024, layers: int = 8):
    return [(f"cell{i}", batch, 2 * hidden, 4 * hidden) for i in range(layers)]


WORKLOADS = {"resnet18": resnet18(), "alexnet": alexnet(), "vgg16": vgg16(),
             "yolo_tiny": yolo_tiny(), "bert_layer": bert_layer(), "mlp": mlp(),
             "lstm": lstm()}


#: The fast-engine sweep computes every product (it takes about a second per point on one
#: core here): one workload keeps it short.
FAST_WORKLOADS = ("bert_layer",)


def space(engine: str = "formula") -> sweep.Space:
    """The 1,008-point sweep; with an engine that runs the layers, one memory setting (it does
    not change what the array computes) and one workload, 36 points."""
    names = list(WORKLOADS) if engine == "formula" else FAST_WORKLOADS
    workloads = {name: [(m, k, n) for _, m, k, n in WORKLOADS[name]] for name in names}
    memory = dict(sram_kib=[256, 4096], dram_bytes_per_cycle=[16, 64]) \
        if engine == "formula" else dict(sram_kib=[4096], dram_bytes_per_cycle=[64])
    return sweep.Space(dims=DIMS, dataflow=["ws", "os", "is"], workloads=workloads,
                       engine=engine, **memory)


def timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def scalesim_fit() -> tuple[float, float, float]:
    """Least-squares ``seconds = a + b * cycles * (R + C)`` over the measured SCALE-Sim cases,
    and the largest relative error of the fit on them."""
    xs, ys = [], []
    for line in SCALESIM_RESULTS.read_text().splitlines():
        match = re.match(r"\| (\d+)x(\d+) \w+, .*? \| ([\d,]+) \|.*?\| ([\d.]+) s \|", line)
        if match:
            rows, cols, cycles, seconds = match.groups()
            xs.append(int(cycles.replace(",", "")) * (int(rows) + int(cols)))
            ys.append(float(seconds))
    if len(xs) < 5:
        sys.exit(f"could not read SCALE-Sim's measured cases from {SCALESIM_RESULTS}")
    x, y = np.array(xs, float), np.array(ys)
    # relative errors are minimised (rows divided by the time): the cases span 0.02 to 14 s
    design = np.stack([np.ones_like(x), x], 1) / y[:, None]
    (a, b), *_ = np.linalg.lstsq(design, np.ones_like(y), rcond=None)
    error = float(np.max(np.abs(a + b * x - y) / y))
    return float(a), float(b), error


def measure_local(sp: sweep.Space, cores: int) -> dict:
    """Time one sweep on one core and on the local pool; check the tables agree."""
    serial, t_serial = timed(lambda: sweep.run(sp, workers=1, progress=False))
    print(f"  one core: {t_serial:.2f} s", flush=True)
    pool, t_pool = timed(lambda: sweep.run(sp, workers=cores, progress=False))
    print(f"  {cores} local processes: {t_pool:.2f} s", flush=True)
    pd.testing.assert_frame_equal(pool, serial, obj="process pool table")
    return {"points": len(sp.points()), "layers": len(serial), "serial": t_serial,
            "pool": t_pool, "table": serial}


def measure_cluster(sp: sweep.Space, scheduler: str, result: dict) -> None:
    """Time the same sweep on the cluster; its table must equal the local one."""
    remote, result["cluster"] = timed(lambda: sweep.run(sp, scheduler=scheduler,
                                                        progress=False))
    print(f"  LocalCluster: {result['cluster']:.2f} s", flush=True)
    pd.testing.assert_frame_equal(remote, result["table"], obj="LocalCluster table")


def rows(title: str, r: dict, cores: int) -> list[list[str]]:
    n = r["points"]
    overhead = (r["cluster"] - r["serial"] / 2) / n
    return [
        [title, "one core (`workers=1`)", f"{r['serial']:.2f} s",
         f"{r['serial'] / n * 1e3:.2f} ms", "1.00x", ""],
        ["", f"{cores} local processes (pool start-up included)", f"{r['pool']:.2f} s",
         f"{r['pool'] / n * 1e3:.2f} ms", f"{r['serial'] / r['pool']:.2f}x", ""],
        ["", "LocalCluster, 2 worker processes", f"{r['cluster']:.2f} s",
         f"{r['cluster'] / n * 1e3:.2f} ms", f"{r['serial'] / r['cluster']:.2f}x",
         f"{overhead * 1e3:.2f} ms"],
    ]


def main() -> int:
    from distributed import LocalCluster

    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    formula, fast = space(), space("fast")
    def start():
        from distributed import Client

        new = LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                           dashboard_address=None)
        # import the model and compile the engine's kernels in every worker, as the runs in
        # this process have by then
        warm = sweep.Space(dims=[(4, 4)], dataflow=["ws", "os", "is"],
                           workloads=[[(8, 8, 8)]], engine="fast")
        with Client(new) as client:
            # (client.run takes workers= itself, hence the partial)
            client.run(functools.partial(sweep.run, warm, workers=1, progress=False))
        return new

    # the local runs first: a process with no other thread forks its pool workers at once
    sweeps = (("formula", formula), ("fast", fast))
    results = {}
    for name, sp in sweeps:
        print(f"{name}: {len(sp.points())} design points", flush=True)
        results[name] = measure_local(sp, cores)
    cluster, t_start = timed(start)
    try:
        for name, sp in sweeps:
            measure_cluster(sp, cluster.scheduler_address, results[name])
    finally:
        cluster.close()

    a, b, fit_error = scalesim_fit()
    points = formula.points()
    n_layers = results["formula"]["layers"]
    estimate = 0.0
    for p in points:
        for _, m, k, n in formula.layers(p["workload"]):
            cycles = scalesim_breakdown(m, k, n, p["rows"], p["cols"], p["dataflow"]).total
            estimate += a + b * cycles * (p["rows"] + p["cols"])
    floor = n_layers * min(float(s) for s in re.findall(
        r"\| ([\d.]+) s \|", SCALESIM_RESULTS.read_text()))

    machine = (f"{cpu_model()}, {cores} cores, load average {load:.2f} at the start; the "
               f"machine was shared with other jobs during the run, so the figures are "
               f"indicative; Python {platform.python_version()}, pandas {pd.__version__}")
    f, g = results["formula"], results["fast"]
    lines = [
        "# Design-space sweep",
        "",
        f"Machine: {machine}.",
        "",
        f"* **formula**: {len(DIMS)} array shapes x 3 dataflows x 4 memory settings x "
        f"{len(WORKLOADS)} workloads = {f['points']:,} design points, {f['layers']:,} layer "
        "evaluations: closed-form cycles (what both engines count), memory stalls, energy "
        "and area per layer.",
        f"* **fast engine**: the same shapes and dataflows, one memory setting, "
        f"{', '.join(FAST_WORKLOADS)} = {g['points']:,} points, {g['layers']:,} layers, each "
        "run on the "
        "array's fast path with random int8 operands (values computed, cycles from the "
        "schedule).",
        "",
        "For each, the three tables are equal. The cluster's overhead is its time beyond the "
        "one-core time shared by its two workers, per point: (cluster time - one-core time "
        f"/ 2) / points. Starting the LocalCluster and compiling the engine in its workers took "
        f"{t_start:.2f} s (not included).",
        "",
        *markdown_table(["sweep", "run", "wall time", "per point", "speed-up over one core",
                         "cluster overhead per point"],
                        [*rows("formula, 1,008 points", f, cores),
                         *rows(f"fast engine, {g['points']} points", g, cores)],
                        align="<<>>>>"),
        "",
        f"SCALE-Sim 3.0, estimated for the 1,008-point sweep: {estimate / 3600:,.1f} hours "
        f"for its {n_layers:,} layers, from a fit of its measured time per layer in "
        f"`results/scalesim.md` (seconds = {a:.3f} + {b * 1e6:.3f}e-6 x cycles x (R + C), "
        f"relative least squares, largest error {fit_error:.0%} on the 17 measured cases); "
        f"at least {floor / 3600:,.1f} hours even at its fastest measured layer time. That "
        f"is {estimate / f['serial']:,.0f} times our one-core time.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
