"""Real workloads: the quantized digits MLP end to end, SCALE-Sim topologies, the examples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from systolic.timing import breakdown as contract_breakdown
from systolic.tpu import (
    TopologyError,
    TPUConfig,
    compile_network,
    digits_mlp,
    format_timings,
    read_topology,
    time_topology,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "data" / "small_topology.csv"


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    return digits_mlp()


def test_digits_mlp_on_the_tpu_is_bit_exact_and_accurate(digits):
    x = digits.x_test
    compiled = compile_network(digits.network, len(x), TPUConfig(rows=64, cols=64))
    logits, report = compiled.run(x)
    reference = digits.network.reference(x)
    np.testing.assert_array_equal(logits, reference)
    assert logits.min() >= -128 and logits.max() <= 127
    assert digits.float_accuracy > 0.95
    assert digits.accuracy(logits) > digits.float_accuracy - 0.02
    assert report.useful_macs == len(x) * (64 * 32 + 32 * 10)


def test_digits_training_is_deterministic(digits):
    again = digits_mlp()
    assert again.float_accuracy == digits.float_accuracy
    for a, b in zip(again.network.layers, digits.network.layers, strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)
        assert a.requant == b.requant


def test_read_sample_topology():
    layers = read_topology(SAMPLE)
    assert [(lay.name, lay.kind, lay.m, lay.k, lay.n) for lay in layers] == [
        ("conv1", "conv", 32 * 32, 27, 32),
        ("conv2", "conv", 16 * 16, 288, 64),          # (34 - 3) // 2 + 1 = 16
        ("conv3", "conv", 8 * 8, 576, 128),
        ("pointwise", "conv", 64, 128, 256),
        ("fc1", "gemm", 8, 512, 2048),                # GEMM rows are M, N, K
        ("fc2", "gemm", 8, 512, 10),
    ]
    assert read_topology(SAMPLE.read_text()) == layers


def test_time_topology_uses_the_array_timing():
    layers = read_topology(SAMPLE)
    timings = time_topology(layers, 32, 32)
    for t in timings:
        expected = contract_breakdown(t.layer.m, t.layer.k, t.layer.n, 32, 32, "ws")
        assert t.cycles == expected.total
        folds = -(-t.layer.k // 32) * -(-t.layer.n // 32)
        assert t.scalesim_cycles == folds * (2 * 32 + 32 + t.layer.scalesim_m - 2) - 1
        assert t.utilization == pytest.approx(t.macs / (t.cycles * 32 * 32))
    table = format_timings(timings, 32, 32)
    assert table.splitlines()[-1].startswith("total")
    assert len(table.splitlines()) == len(layers) + 2


@pytest.mark.parametrize("text, message", [
    ("a, 1, 2, 3,\nb, 1, 2, 3, 4,", r"^line 2: expected 3 numbers \(GEMM: M, N, K\) or 7 "),
    ("a, 1, 2, 3,\nb, 1, 2,", r"^line 2: expected 3 numbers \(GEMM: M, N, K\) or 7 \(conv: "),
    ("a, 1, 2, 3,\nb, 1, x, 3,", r"^line 2: field 'x' is not an integer$"),
    ("\n\na, 1, 0, 3,", r"^line 3: fields must be >= 1, got 0$"),
    ("c, 4, 4, 5, 5, 1, 2, 1,", r"^line 1: filter 5x5 is larger than the 4x4 input$"),
    ("name, M, N, K,\n", r"^line 1: no layers$"),
])
def test_topology_errors(text, message):
    with pytest.raises(TopologyError, match=message) as info:
        read_topology(text)
    assert isinstance(info.value, ValueError)


def _run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, check=True,
                          cwd=ROOT, timeout=300).stdout


def test_roofline_example(tmp_path):
    out = tmp_path / "roofline.png"
    text = _run("examples/roofline.py", str(out), "--quick")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ridge point: simulated" in text


def test_digits_example():
    pytest.importorskip("sklearn")
    text = _run("examples/digits_mlp.py")
    assert "logits equal the reference bit for bit" in text
    assert "float MLP accuracy" in text


def test_topology_command():
    text = _run("-m", "systolic.tpu", str(SAMPLE), "--rows", "16", "--cols", "16")
    assert text.splitlines()[1].startswith("conv1")
