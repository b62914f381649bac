"""The TPU v1 paper's six applications on the simulated TPU v1, against the paper's TOPS.

Jouppi et al. (ISCA 2017) publish, per application, the layer counts by kind, the weights,
the operations per weight byte and the batch size (Table 1), and the measured TOPS and a
cycle breakdown (Table 3); not the layer shapes. The shapes here are guesses made from
Table 1 alone, before looking at the results, and never adjusted to them:

* MLP0, MLP1: ``FC`` equal square ReLU layers holding the published weights between them
  (MLP0: 5 x 2000^2 = 20M; MLP1: 4 x 1118^2 = 5M), at the published batch (200, 168).
* LSTM0, LSTM1: the ``FC`` layers only, equal and square (LSTM0: 24 x 1472^2 = 52M;
  LSTM1: 37 x 958^2 = 34M), sigmoid, at batch 64 and 96; the element-wise vector layers are
  left out (they run on the vector units, not the matrix unit).
* CNN0: 16 equal 3x3 convolutions, stride 1, "same" padding, C = F = 235 channels
  (16 x 9 x 235^2 = 8M weights) on 19x19 images: 2888 ops per weight byte at batch 8 means each
  weight is used 361 = 19 x 19 times per image. Batch 8.
* CNN1: 72 convolutions and 4 FC layers, 100M weights; not built: the compiler keeps every
  activation of the network in the Unified Buffer at once, which a network of this size
  exceeds (its row is reported as not run).

Each network gets random int8 weights and inputs, is compiled for the default TPUConfig (TPU
v1) and run on the fast path of the array; TOPS count 2 operations per MAC, as the paper's
92 TOPS peak does. Usage: python examples/tpu_paper_apps.py
"""

from __future__ import annotations

import time

import numpy as np

from systolic import tpu

PAPER_TOPS = {"MLP0": 12.3, "MLP1": 9.7, "LSTM0": 3.7, "LSTM1": 2.8, "CNN0": 86.0, "CNN1": 14.1}
# Table 3: weight stall + weight shift cycles, and array active cycles, in % of all cycles
PAPER_WEIGHT_WAIT = {"MLP0": 69.8, "MLP1": 57.6, "LSTM0": 73.9, "LSTM1": 79.2, "CNN0": 0.0,
                     "CNN1": 35.1}
PAPER_ACTIVE = {"MLP0": 12.7, "MLP1": 10.6, "LSTM0": 8.2, "LSTM1": 10.5, "CNN0": 78.2,
                "CNN1": 46.2}


def fc_app(layers: int, width: int, activation: str, rng) -> tpu.Network:
    requant = tpu.Requant.from_scale(1 / (64 * np.sqrt(width)))
    return tpu.Network([tpu.Dense(rng.integers(-127, 128, (width, width)), None, requant,
                                  activation) for _ in range(layers)], (width,))


def cnn0(rng) -> tpu.Network:
    c, k = 235, 3
    requant = tpu.Requant.from_scale(1 / (64 * np.sqrt(c * k * k)))
    return tpu.Network([tpu.Conv2D(rng.integers(-127, 128, (k, k, c, c)), None, 1, 1, requant,
                                   "relu") for _ in range(16)], (19, 19, c))


def main() -> None:
    rng = np.random.default_rng(0)
    apps = {"MLP0": (lambda: fc_app(5, 2000, "relu", rng), 200),
            "MLP1": (lambda: fc_app(4, 1118, "relu", rng), 168),
            "LSTM0": (lambda: fc_app(24, 1472, "sigmoid", rng), 64),
            "LSTM1": (lambda: fc_app(37, 958, "sigmoid", rng), 96),
            "CNN0": (lambda: cnn0(rng), 8)}
    config = tpu.TPUConfig()
    print(f"{'app':<6}{'batch':>6}{'TOPS':>8}{'paper':>8}{'ratio':>7}{'weight wait':>13}"
          f"{'paper':>7}{'active':>8}{'paper':>7}{'host':>7}{'run s':>7}")
    for name, (build, batch) in apps.items():
        start = time.perf_counter()
        network = build()
        x = rng.integers(-128, 128, (batch,) + network.input_shape)
        compiled = tpu.compile_network(network, batch, config)
        _, report = compiled.run(x)
        b = report.breakdown
        wait = 100 * report.weight_wait / report.cycles
        active = 100 * b["computing"] / report.cycles
        print(f"{name:<6}{batch:>6}{report.tops:>8.1f}{PAPER_TOPS[name]:>8.1f}"
              f"{report.tops / PAPER_TOPS[name]:>7.2f}{wait:>12.1f}%"
              f"{PAPER_WEIGHT_WAIT[name]:>6.1f}%{active:>7.1f}%{PAPER_ACTIVE[name]:>6.1f}%"
              f"{100 * b['host'] / report.cycles:>6.1f}%"
              f"{time.perf_counter() - start:>7.1f}")
    print(f"{'CNN1':<6}{32:>6}{'-':>8}{PAPER_TOPS['CNN1']:>8.1f}   not run: 100M weights in "
          "76 layers, the activations do not fit the Unified Buffer without reuse")


if __name__ == "__main__":
    main()
