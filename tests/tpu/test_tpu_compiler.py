"""The compiler: layers to programs, checked bit for bit against the numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from systolic.tpu import (
    Conv2D,
    Dense,
    Network,
    Pool2D,
    Program,
    Requant,
    TPUConfig,
    compile_network,
)

SMALL = TPUConfig(rows=8, cols=8, ub_bytes=1 << 16, acc_rows=64)


def _w(rng, *shape):
    return rng.integers(-128, 128, shape)


def _mlp(rng):
    return Network([
        Dense(_w(rng, 20, 13), rng.integers(-2000, 2000, 13),
              Requant.from_scale(1 / 300, rounding="half_away"), "relu"),
        Dense(_w(rng, 13, 5), None, Requant.from_scale(1 / 150), "identity"),
    ], (20,))


def _cnn(rng, out_signed=True):
    return Network([
        Conv2D(_w(rng, 3, 3, 3, 10), rng.integers(-500, 500, 10), 1, 1,
               Requant.from_scale(1 / 400), "relu"),
        Pool2D("max", 2),
        Conv2D(_w(rng, 2, 2, 10, 4), None, 2, 1, Requant.from_scale(1 / 500, out_signed=False),
               "sigmoid"),
        Dense(_w(rng, 4 * 3 * 3, 6), None, Requant.from_scale(1 / 80, out_signed=out_signed),
              "tanh"),
    ], (10, 10, 3))


@pytest.fixture(scope="module")
def mlp_run():
    rng = np.random.default_rng(1)
    net = _mlp(rng)
    x = rng.integers(-128, 128, (40, 20))
    compiled = compile_network(net, 40, SMALL)
    return net, x, compiled, {engine: compiled.run(x, engine=engine)
                              for engine in ("fast", "cycle")}


def test_dense_layers_tiled_match_reference(mlp_run):
    net, x, compiled, runs = mlp_run
    out, report = runs["fast"]
    np.testing.assert_array_equal(out, net.reference(x))
    # 20 inputs -> 3 K tiles of 8, 13 outputs -> 2 N tiles; 40 examples -> 2 batch blocks
    # of 32 accumulator rows (half of 64); layer 2: 2 K tiles x 1 N tile x 2 blocks
    assert report.weight_tiles == 3 * 2 * 2 + 2 * 1 * 2
    assert report.useful_macs == 40 * (20 * 13 + 13 * 5)


def test_cycle_engine_and_fast_path_give_identical_numbers(mlp_run):
    _, _, _, runs = mlp_run
    (fast_out, fast), (cycle_out, cycle) = runs["fast"], runs["cycle"]
    np.testing.assert_array_equal(fast_out, cycle_out)
    assert fast.cycles == cycle.cycles
    assert fast.breakdown == cycle.breakdown
    assert fast.timeline == cycle.timeline


def test_program_is_inspectable_and_round_trips(mlp_run):
    _, _, compiled, _ = mlp_run
    text = compiled.program.text
    assert text.splitlines()[0].startswith("Read_Weights 0, ")
    assert text.splitlines()[-1] == "Halt"
    assert "Activate.relu" in text and "SetBias" in text
    assert Program.parse(text) == compiled.program
    assert Program.decode(compiled.program.encode()) == compiled.program


def test_convolutions_pooling_and_functions_match_reference():
    rng = np.random.default_rng(2)
    for out_signed in (True, False):
        net = _cnn(rng, out_signed)
        x = rng.integers(-128, 128, (3, 10, 10, 3))
        compiled = compile_network(net, 3, SMALL)
        out, report = compiled.run(x)
        np.testing.assert_array_equal(out, net.reference(x))
        assert "Convolve.switch" in compiled.program.text
        assert "Activate.relu.pool" in compiled.program.text
        if out_signed:
            cycle_out, cycle = compiled.run(x, engine="cycle")
            np.testing.assert_array_equal(cycle_out, out)
            assert (cycle.cycles, cycle.breakdown) == (report.cycles, report.breakdown)


def test_conv_reference_is_a_convolution():
    # the numpy reference itself, against a direct loop, for one small case
    rng = np.random.default_rng(3)
    w = rng.integers(-3, 4, (3, 2, 2, 3))          # small values: no saturation
    net = Network([Conv2D(w, None, 2, 1, Requant(1, 0, 0, True), "identity")], (5, 4, 2),
                  input_signed=False)
    x = rng.integers(0, 4, (2, 5, 4, 2))
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    expected = np.zeros((2, 3, 3, 3), np.int64)     # (5 + 2 - 3) // 2 + 1, (4 + 2 - 2) // 2 + 1
    for n in range(2):
        for i in range(3):
            for j in range(3):
                patch = padded[n, 2 * i:2 * i + 3, 2 * j:2 * j + 2, :]
                expected[n, i, j] = np.einsum("hwc,hwcf->f", patch, w)
    assert np.abs(expected).max() < 128
    np.testing.assert_array_equal(net.reference(x), expected.reshape(2, -1))
    out, _ = compile_network(net, 2, SMALL).run(x)
    np.testing.assert_array_equal(out, net.reference(x))


def test_non_square_array():
    rng = np.random.default_rng(4)
    net = _mlp(rng)
    x = rng.integers(-128, 128, (9, 20))
    out, _ = compile_network(net, 9, TPUConfig(rows=6, cols=10, ub_bytes=1 << 16,
                                               acc_rows=64)).run(x)
    np.testing.assert_array_equal(out, net.reference(x))


@pytest.mark.parametrize("build, message", [
    (lambda r: Network([Pool2D()], (4, 4, 1)), r"^layer 0: Pool2D must directly follow a "
                                               r"Conv2D$"),
    (lambda r: Network([Dense(_w(r, 4, 2)), Pool2D()], (4,)), r"^layer 1: Pool2D must "),
    (lambda r: Network([Conv2D(_w(r, 3, 3, 1, 2)), Pool2D("max", 3)], (6, 6, 1)),
     r"^layer 1: Pool2D size 3 does not divide the 4x4 output$"),
    (lambda r: Network([Dense(_w(r, 5, 2))], (4,)), r"^layer 0: Dense weight has 5 rows, the "
                                                    r"input has 4 features$"),
    (lambda r: Network([Conv2D(_w(r, 3, 3, 2, 2))], (6, 6, 1)),
     r"^layer 0: Conv2D weight has 2 input channels, the input has 1$"),
    (lambda r: Network([Conv2D(_w(r, 7, 7, 1, 2))], (6, 6, 1)),
     r"^layer 0: Conv2D kernel 7x7 is larger than the padded 6x6 input$"),
    (lambda r: Network([], (4,)), r"^a network needs at least one layer$"),
    (lambda r: Network([Dense(_w(r, 4, 2))], (0,)), r"^input_shape must be \(K,\) or "),
    (lambda r: Dense(r.integers(0, 200, (4, 2))), r"^weight must hold values from -128 to 127, "
                                                  r"got min \d+, max 1\d\d$"),
    (lambda r: Dense(_w(r, 4, 2), np.zeros(3, int)), r"^bias must have shape \(2,\), got "
                                                     r"\(3,\)$"),
    (lambda r: Dense(_w(r, 4, 2), activation="gelu"),
     r"^unknown activation 'gelu': expected one of "),
    (lambda r: Conv2D(_w(r, 1, 1, 1, 1), stride=0), r"^stride must be a positive integer, got 0$"),
    (lambda r: Pool2D("min"), r"^unknown kind 'min': expected 'max' or 'avg'$"),
])
def test_network_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build(np.random.default_rng(0))


def test_type_errors_and_batch_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match=r"^weight must be an integer array, got dtype "
                                        r"float64$"):
        Dense(np.zeros((2, 2)))
    with pytest.raises(TypeError, match=r"^layer 0: expected Dense, Conv2D or Pool2D, not 3$"):
        Network([3], (4,))
    net = _mlp(rng)
    with pytest.raises(ValueError, match=r"^batch must be a positive integer, got 0$"):
        compile_network(net, 0, SMALL)
    with pytest.raises(ValueError, match=r"^batch 5000 needs \d+ Unified Buffer rows, the "
                                         r"machine has 8192$"):
        compile_network(net, 5000, SMALL)
    wide = Network([Conv2D(_w(rng, 1, 1, 1, 1))], (2, 40, 1))
    with pytest.raises(ValueError, match=r"^a 1-row band of the 40-wide output does not fit "
                                         r"half the accumulators \(32 rows\)$"):
        compile_network(wide, 1, SMALL)
    compiled = compile_network(net, 4, SMALL)
    with pytest.raises(ValueError, match=r"^x has 3 examples, the program was compiled for "
                                         r"batch 4$"):
        compiled.run(rng.integers(0, 5, (3, 20)))
    with pytest.raises(ValueError, match=r"^x must have shape \(N,\) \+ \(20,\), got "
                                         r"\(4, 21\)$"):
        compiled.run(rng.integers(0, 5, (4, 21)))


@st.composite
def _requants(draw):
    return Requant.from_scale(draw(st.sampled_from([1 / 700, 1 / 90, 1 / 7])),
                              zero_point=draw(st.integers(-5, 5)),
                              out_signed=draw(st.booleans()),
                              rounding=draw(st.sampled_from(["half_even", "half_away",
                                                             "half_up"])),
                              frac_bits=draw(st.integers(0, 6)))


@st.composite
def _networks(draw):
    """A random small network, its input and a machine it fits."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    functions = st.sampled_from(["identity", "relu", "sigmoid", "tanh"])
    signed = draw(st.booleans())
    layers = []
    if draw(st.booleans()):
        h, w, c = draw(st.integers(3, 7)), draw(st.integers(3, 7)), draw(st.integers(1, 11))
        shape = (h, w, c)
        fh, fw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        stride, pad = draw(st.integers(1, 2)), draw(st.integers(0, 1))
        f = draw(st.integers(1, 10))
        layers.append(Conv2D(_w(rng, fh, fw, c, f), rng.integers(-900, 900, f), stride, pad,
                             draw(_requants()), draw(functions)))
        oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
        if oh % 2 == 0 and ow % 2 == 0 and draw(st.booleans()):
            layers.append(Pool2D(draw(st.sampled_from(["max", "avg"])), 2))
            oh, ow = oh // 2, ow // 2
        k = oh * ow * f
    else:
        k = draw(st.integers(1, 30))
        shape = (k,)
    for _ in range(draw(st.integers(1, 2))):
        n = draw(st.integers(1, 17))
        layers.append(Dense(_w(rng, k, n), rng.integers(-900, 900, n), draw(_requants()),
                            draw(functions)))
        k = n
    batch = draw(st.integers(1, 9))
    low = -128 if signed else 0
    x = rng.integers(low, low + 256, (batch,) + shape)
    config = TPUConfig(rows=draw(st.integers(2, 9)), cols=draw(st.integers(2, 9)),
                       ub_bytes=1 << 16, acc_rows=draw(st.sampled_from([40, 64])))
    return Network(layers, shape, input_signed=signed), x, config


@settings(max_examples=40)
@given(_networks())
def test_random_networks_match_reference(case):
    net, x, config = case
    out, report = compile_network(net, len(x), config).run(x)
    np.testing.assert_array_equal(out, net.reference(x))
    assert sum(report.breakdown.values()) == report.cycles
