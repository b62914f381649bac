"""The TPU v1 paper's six applications on the simulated TPU v1, against the paper's TOPS.

Jouppi et al. (ISCA 2017) publish, per application, the layer counts by kind, the weights,
the operations per weight byte and the batch size (Table 1), and the measured TOPS and a
cycle breakdown (Table 3); not the layer shapes. The shapes here are guesses made from those
published figures alone, before looking at the results, and never adjusted to them:

* MLP0, MLP1: ``FC`` equal square ReLU layers holding the published weights between them
  (MLP0: 5 x 2000^2 = 20M; MLP1: 4 x 1118^2 = 5M), at the published batch (200, 168).
* LSTM0: the 24 ``FC`` layers only, equal and square (24 x 1472^2 = 52M), sigmoid, batch 64;
  the element-wise vector layers are left out (they run on the vector units, not the matrix
  unit).
* LSTM1: the paper's own LSTM1 matrix size (section 7: "LSTM1's 600x600 matrix takes 9
  steps"): 94 sigmoid layers of 600 x 600 hold the published 34M weights (Table 1's 37 FC
  layers must each hold several such matrices; how they are grouped is not published), batch
  96, vector layers left out.
* CNN0: 16 equal 3x3 convolutions, stride 1, "same" padding, C = F = 235 channels
  (16 x 9 x 235^2 = 8M weights) on 19x19 images: 2888 ops per weight byte at batch 8 means each
  weight is used 361 = 19 x 19 times per image. Batch 8.
* CNN1: 72 3x3 "same" convolutions in five stages of 14, 14, 14, 15 and 15 layers on 64x64
  RGB images, 44 channels doubling per stage (44 ... 704), a 2x2 max pooling after each of the
  first four stages, then 4 FC layers (11264 -> 1024 -> 1024 -> 1024 -> 1000): 103M weights
  and 1600 ops per weight byte at batch 32 (paper: 100M, 1750). Only 4 of the paper's 13
  pooling layers are built (the compiler's pooling is non-overlapping, and 13 of those would
  shrink any image to nothing). The batch of 32 runs as 4 batches of 8 so that a batch's
  activations fit the Unified Buffer.

Each network gets random int8 weights and inputs, is compiled by
:func:`systolic.tpu.compile_graph` for the default TPUConfig (TPU v1) to run several batches back
to back (one batch's host transfers overlap another's compute), and is run on the fast path of
the array. TOPS count 2 operations per MAC, as the paper's 92 TOPS peak does: "TOPS" is the
whole run, "steady" one batch in the steady state (between the first and the last batch's
output transfer). With ``--resnet50`` a ResNet-50-sized network (not in the paper) runs too.
Usage: python examples/tpu_paper_apps.py [--resnet50]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from systolic import tpu

PAPER_TOPS = {"MLP0": 12.3, "MLP1": 9.7, "LSTM0": 3.7, "LSTM1": 2.8, "CNN0": 86.0, "CNN1": 14.1}
# Table 3: weight stall + weight shift cycles, and array active cycles, in % of all cycles
PAPER_WEIGHT_WAIT = {"MLP0": 69.8, "MLP1": 57.6, "LSTM0": 73.9, "LSTM1": 79.2, "CNN0": 0.0,
                     "CNN1": 35.1}
PAPER_ACTIVE = {"MLP0": 12.7, "MLP1": 10.6, "LSTM0": 8.2, "LSTM1": 10.5, "CNN0": 78.2,
                "CNN1": 46.2}


def _requant(k: int) -> tpu.Requant:
    return tpu.Requant.from_scale(1 / (64 * np.sqrt(k)))


def fc_app(layers: int, width: int, activation: str, rng) -> tpu.Graph:
    net = tpu.Network([tpu.Dense(rng.integers(-127, 128, (width, width)), None, _requant(width),
                                 activation) for _ in range(layers)], (width,))
    return tpu.Graph.from_network(net)


def _conv(rng, k: int, c: int, f: int, stride: int = 1, padding: int | None = None,
          activation: str = "relu") -> tpu.Conv2D:
    return tpu.Conv2D(rng.integers(-127, 128, (k, k, c, f)), None, stride,
                      k // 2 if padding is None else padding, _requant(k * k * c), activation)


def cnn0(rng) -> tpu.Graph:
    c = 235
    return tpu.Graph.from_network(tpu.Network([_conv(rng, 3, c, c) for _ in range(16)],
                                              (19, 19, c)))


def cnn1(rng) -> tpu.Graph:
    layers, c_in, width = [], 3, 44
    for stage, count in enumerate((14, 14, 14, 15, 15)):
        for _ in range(count):
            layers.append(_conv(rng, 3, c_in, width))
            c_in = width
        if stage < 4:
            layers.append(tpu.Pool2D("max", 2))
            width *= 2
    k = 4 * 4 * c_in
    for n in (1024, 1024, 1024, 1000):
        layers.append(tpu.Dense(rng.integers(-127, 128, (k, n)), None, _requant(k),
                                "relu" if n != 1000 else "identity"))
        k = n
    return tpu.Graph.from_network(tpu.Network(layers, (64, 64, 3)))


def resnet50(rng) -> tpu.Graph:
    """ResNet-50 v1.5 at 224x224: 53 convolutions, 16 residual adds, one FC layer. Its 3x3
    stride-2 max pooling is a 2x2 one here (the compiler's pooling does not overlap)."""
    g = tpu.Graph((224, 224, 3))
    t = g.pool(g.conv(g.input, _conv(rng, 7, 3, 64, stride=2)), tpu.Pool2D("max", 2))
    c = 64
    for stage, (blocks, width) in enumerate(((3, 64), (4, 128), (6, 256), (3, 512))):
        for block in range(blocks):
            stride = 2 if block == 0 and stage > 0 else 1
            y = g.conv(t, _conv(rng, 1, c, width))
            y = g.conv(y, _conv(rng, 3, width, width, stride=stride))
            y = g.conv(y, _conv(rng, 1, width, 4 * width, activation="identity"))
            skip = t if block else g.conv(t, _conv(rng, 1, c, 4 * width, stride=stride,
                                                   activation="identity"))
            t = g.add(y, skip, activation="relu")
            c = 4 * width
    t = g.pool(t, tpu.Pool2D("avg", 7))
    g.output(g.dense(t, tpu.Dense(rng.integers(-127, 128, (c, 1000)), None, _requant(c))))
    return g


def steady_cycles(compiled: tpu.CompiledGraph, report: tpu.RunReport) -> float:
    """Cycles per batch between the first and the last batch's output transfer."""
    first = {addrs[0]: b for b, addrs in enumerate(compiled.host_outputs)}
    ends = {}
    for entry in report.timeline:
        if entry.text.startswith("Write_Host_Memory"):
            host = int(entry.text.split(",")[1])
            if host in first:
                ends[first[host]] = entry.end
    return (ends[compiled.batches - 1] - ends[0]) / (compiled.batches - 1)


def run(name: str, graph: tpu.Graph, batch: int, batches: int, rng, config) -> None:
    start = time.perf_counter()
    x = rng.integers(-128, 128, (batch * batches,) + graph.input_shape)
    compiled = tpu.compile_graph(graph, batch, config, batches=batches)
    _, report = compiled.run(x)
    b = report.breakdown
    steady = 2 * graph.macs(batch) / (steady_cycles(compiled, report) / config.clock_hz) / 1e12
    wait = 100 * report.weight_wait / report.cycles
    active = 100 * b["computing"] / report.cycles
    paper = PAPER_TOPS.get(name)
    cells = (f"{paper:>8.1f}{steady / paper:>7.2f}{wait:>12.1f}%{PAPER_WEIGHT_WAIT[name]:>6.1f}%"
             f"{active:>7.1f}%{PAPER_ACTIVE[name]:>6.1f}%") if paper else \
        f"{'-':>8}{'-':>7}{wait:>12.1f}%{'-':>7}{active:>7.1f}%{'-':>7}"
    print(f"{name:<10}{batch * batches:>6}{report.tops:>7.1f}{steady:>8.1f}{cells}"
          f"{100 * b['host'] / report.cycles:>6.1f}%{compiled.spilled_rows:>8}"
          f"{time.perf_counter() - start:>7.0f}", flush=True)


def main() -> None:
    rng = np.random.default_rng(0)
    config = tpu.TPUConfig()
    # (graph builder, batch, batches run back to back)
    apps = {"MLP0": (lambda: fc_app(5, 2000, "relu", rng), 200, 3),
            "MLP1": (lambda: fc_app(4, 1118, "relu", rng), 168, 3),
            "LSTM0": (lambda: fc_app(24, 1472, "sigmoid", rng), 64, 3),
            "LSTM1": (lambda: fc_app(94, 600, "sigmoid", rng), 96, 3),
            "CNN0": (lambda: cnn0(rng), 8, 3),
            "CNN1": (lambda: cnn1(rng), 8, 4)}
    if "--resnet50" in sys.argv[1:]:
        apps["ResNet-50"] = (lambda: resnet50(rng), 1, 2)
    print(f"{'app':<10}{'batch':>6}{'TOPS':>7}{'steady':>8}{'paper':>8}{'ratio':>7}"
          f"{'weight wait':>13}{'paper':>7}{'active':>8}{'paper':>7}{'host':>7}{'spilled':>8}"
          f"{'run s':>7}")
    for name, (build, batch, batches) in apps.items():
        run(name, build(), batch, batches, rng, config)


if __name__ == "__main__":
    main()
