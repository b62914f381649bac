"""Roofline of the simulated TPU: batch-size sweep of a fully connected network.

For each batch size the network is compiled, run on the simulated TPU v1 (fast path of the
array, real int8 data) and checked against the numpy reference. Operational intensity is MACs
per byte of weights fetched from the Weight Memory (for a dense layer it equals the batch
size). Throughput is the steady state: the extra operations of a network with twice the layers
over the extra cycles it takes, so host transfers and pipeline start-up cancel out (the paper's
die roofline also leaves the host out). The ridge point the simulated memory
system produces is the measured peak divided by the measured weight bandwidth; TPU v1's
published ridge point is about 1,350.

Usage: python examples/roofline.py [OUT.png] [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from systolic import tpu  # noqa: E402

PAPER_RIDGE = 1350


def fc_network(width: int, layers: int, seed: int = 0) -> tpu.Network:
    """``layers`` dense ``width x width`` ReLU layers with random int8 weights."""
    rng = np.random.default_rng(seed)
    # keep activations spread over int8: sums of `width` products of ~N(0, 64^2) terms
    requant = tpu.Requant.from_scale(1 / (64 * np.sqrt(width)))
    return tpu.Network([tpu.Dense(rng.integers(-128, 128, (width, width)), None, requant,
                                  "relu") for _ in range(layers)], (width,))


def _run(config, width, layers, batch, rng):
    net = fc_network(width, layers)
    compiled = tpu.compile_network(net, batch, config)
    x = rng.integers(-128, 128, (batch, width))
    out, report = compiled.run(x)
    if not np.array_equal(out, net.reference(x)):
        raise AssertionError(f"batch {batch}: TPU output differs from the numpy reference")
    return report


def measure(config: tpu.TPUConfig, width: int, layers: int, batches) -> list[dict]:
    """Run the sweep; one dict per batch size.

    The steady state is the difference between a network of ``2 * layers`` and one of
    ``layers`` identical layers: host transfers and the first fill cancel out.
    """
    rng = np.random.default_rng(1)
    points = []
    for batch in batches:
        short = _run(config, width, layers, batch, rng)
        long = _run(config, width, 2 * layers, batch, rng)
        macs = long.useful_macs - short.useful_macs
        cycles = long.cycles - short.cycles
        weight_bytes = (long.weight_tiles - short.weight_tiles) * config.tile_bytes
        points.append({
            "batch": batch,
            "intensity": macs / weight_bytes,
            "macs_per_cycle": macs / cycles,
            "tops": 2 * macs / (cycles / config.clock_hz) / 1e12,
            "whole_tops": long.tops,
            "cycles": long.cycles,
        })
    return points


def ridge(points, config: tpu.TPUConfig) -> tuple[float, float, float]:
    """(ridge point, measured peak MACs/cycle, measured weight bytes/cycle)."""
    peak = max(p["macs_per_cycle"] for p in points)
    bandwidth = max(p["macs_per_cycle"] / p["intensity"] for p in points)
    return peak / bandwidth, peak, bandwidth


def plot(points, config: tpu.TPUConfig, path: Path) -> float:
    """Save the roofline figure; returns the measured ridge point."""
    ridge_point, peak, bandwidth = ridge(points, config)
    to_tops = 2 * config.clock_hz / 1e12
    x = np.array([p["intensity"] for p in points])
    grid = np.logspace(np.log10(min(x.min(), 1)), np.log10(max(x.max(), 4096)), 200)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.loglog(grid, np.minimum(config.rows * config.cols, grid * config.dram_bytes_per_s
                               / config.clock_hz) * to_tops, "k--",
              label=f"configured roofline (ridge {config.ridge_point:,.0f})")
    ax.loglog(grid, np.minimum(peak, grid * bandwidth) * to_tops, color="tab:blue", alpha=0.5,
              label=f"measured roofline (ridge {ridge_point:,.0f})")
    ax.loglog(x, [p["tops"] for p in points], "o", color="tab:blue",
              label="simulated FC network, steady state")
    ax.loglog(x, [p["whole_tops"] for p in points], "x", color="tab:gray",
              label="whole program (host transfers included)")
    ax.axvline(PAPER_RIDGE, color="tab:red", lw=1, label="TPU v1 paper ridge ~1,350")
    ax.set_xlabel("operational intensity (MACs per weight byte)")
    ax.set_ylabel("TOPS (1 MAC = 2 ops)")
    ax.set_title(f"Simulated {config.rows}x{config.cols} TPU, {config.peak_tops:.0f} TOPS peak")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return ridge_point


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(Path(__file__).parent / "roofline.png"))
    parser.add_argument("--quick", action="store_true",
                        help="a 64x64 machine and a short sweep (seconds)")
    args = parser.parse_args(argv)
    if args.quick:
        config = tpu.TPUConfig(rows=64, cols=64)
        width, layers, batches = 128, 1, (8, 64, 256, 1024, 2048)
    else:
        config = tpu.TPUConfig()
        width, layers = 1024, 1
        batches = (16, 32, 64, 128, 256, 512, 1024, 1350, 2048)
    points = measure(config, width, layers, batches)
    print(f"{'batch':>6} {'MACs/byte':>10} {'TOPS steady':>12} {'TOPS whole':>11} {'cycles':>10}")
    for p in points:
        print(f"{p['batch']:>6} {p['intensity']:>10.0f} {p['tops']:>12.2f} "
              f"{p['whole_tops']:>11.2f} {p['cycles']:>10,}")
    ridge_point = plot(points, config, Path(args.out))
    print(f"ridge point: simulated {ridge_point:,.0f} MACs per weight byte, configured "
          f"{config.ridge_point:,.0f}, TPU v1 paper ~{PAPER_RIDGE:,}")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
