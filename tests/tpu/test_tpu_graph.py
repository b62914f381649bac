"""The graph compiler: DAGs of layers against the numpy reference, spills, batches, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from systolic import tpu
from systolic.tpu import (
    Conv2D,
    Dense,
    Graph,
    Network,
    Pool2D,
    Requant,
    TPUConfig,
    compile_graph,
    compile_network,
)

SMALL = TPUConfig(rows=8, cols=8, ub_bytes=1 << 16, acc_rows=64)


def _w(rng, *shape):
    return rng.integers(-128, 128, shape)


def _conv(rng, k, c, f, stride=1, padding=None, signed=True, activation="relu"):
    return Conv2D(_w(rng, k, k, c, f), rng.integers(-500, 500, f), stride,
                  k // 2 if padding is None else padding,
                  Requant.from_scale(1 / (40 * k * np.sqrt(c)), out_signed=signed), activation)


def _block(rng, c=5, hw=6, signed_input=True):
    """A residual block, a concatenation of two branches, a pooling of the concatenation
    (not fusable), a strided convolution and a dense head; two outputs."""
    g = Graph((hw, hw, c), input_signed=signed_input)
    c1 = g.conv(g.input, _conv(rng, 3, c, c))
    c2 = g.conv(c1, _conv(rng, 3, c, c, activation="identity"))
    res = g.add(g.input, c2, requant=Requant.from_scale(0.5), activation="relu")
    cat = g.concat([res, c1])
    pooled = g.pool(cat, Pool2D("max", 2))
    c3 = g.conv(pooled, _conv(rng, 2, 2 * c, 12, stride=2, padding=0))
    head = g.dense(c3, Dense(_w(rng, 12 * (hw // 4) ** 2, 7), None, Requant.from_scale(1 / 200)))
    g.output(head, res)
    return g


def _check(graph, batch, config, rng, batches=1, engines=("fast",)):
    x = rng.integers(-128 if graph.input_signed else 0, 128 if graph.input_signed else 256,
                     (batch * batches,) + graph.input_shape)
    compiled = compile_graph(graph, batch, config, batches=batches)
    expect = graph.reference(x)
    reports = []
    for engine in engines:
        outs, report = compiled.run(x, engine=engine)
        assert len(outs) == len(expect)
        for out, ref in zip(outs, expect, strict=True):
            np.testing.assert_array_equal(out, ref)
        reports.append(report)
    if len(reports) == 2:
        assert reports[0].cycles == reports[1].cycles
    return compiled, reports[0]


@pytest.mark.parametrize("signed", [True, False])
def test_residual_concat_pool_graph_is_exact_on_both_engines(signed):
    rng = np.random.default_rng(1)
    _check(_block(rng, signed_input=signed), 2, SMALL, rng, engines=("fast", "cycle"))


def test_reference_of_a_graph_is_the_numpy_of_its_nodes():
    rng = np.random.default_rng(2)
    g = Graph((2, 2, 3))
    a = g.conv(g.input, Conv2D(np.eye(3, dtype=int).reshape(1, 1, 3, 3)))
    s = g.add(a, g.input, activation="relu")
    g.output(g.concat([s, g.input]))
    x = rng.integers(-128, 128, (4, 2, 2, 3))
    expect = np.concatenate([np.clip(np.maximum(2 * x, 0), -128, 127), x], axis=-1)
    np.testing.assert_array_equal(g.reference(x)[0], expect.reshape(4, -1))


def test_from_network_matches_compile_network_and_the_network_reference():
    rng = np.random.default_rng(3)
    net = Network([_conv(rng, 3, 3, 10), Pool2D("avg", 2), _conv(rng, 3, 10, 9, stride=2),
                   Dense(_w(rng, 9 * 4, 6), None, Requant.from_scale(1 / 100),
                         scale=np.full(6, 1 / 97, np.float32))], (8, 8, 3))
    x = rng.integers(-128, 128, (3, 8, 8, 3))
    graph = Graph.from_network(net)
    outs, _ = compile_graph(graph, 3, SMALL).run(x)
    np.testing.assert_array_equal(outs[0], net.reference(x))
    np.testing.assert_array_equal(outs[0], compile_network(net, 3, SMALL).run(x)[0])


def test_bypassed_pes_are_pruned_as_by_compile_network():
    rng = np.random.default_rng(4)
    net = Network([_conv(rng, 3, 4, 6), Dense(_w(rng, 6 * 16, 5), None,
                                              Requant.from_scale(1 / 300))], (4, 4, 4))
    config = TPUConfig(rows=8, cols=8, ub_bytes=1 << 16, acc_rows=64, bypass=[(1, 2), (5, 0)])
    x = rng.integers(-128, 128, (2, 4, 4, 4))
    outs, _ = compile_graph(Graph.from_network(net), 2, config).run(x)
    expect, _ = compile_network(net, 2, config).run(x)
    np.testing.assert_array_equal(outs[0], expect)
    np.testing.assert_array_equal(outs[0], tpu.prune_network(net, config).reference(x))


def _skip_chain(rng, depth=4, c=6, hw=6):
    """A long skip connection: the first tensor is needed again after ``depth`` layers."""
    g = Graph((hw, hw, c))
    first = g.conv(g.input, _conv(rng, 3, c, c))
    t = first
    for _ in range(depth):
        t = g.conv(t, _conv(rng, 3, c, c))
    g.output(g.add(first, t))
    return g


def test_a_network_that_does_not_fit_spills_to_the_host_and_stays_exact():
    rng = np.random.default_rng(5)
    graph = _skip_chain(rng)
    roomy, roomy_report = _check(graph, 2, SMALL, rng)
    assert roomy.spilled_rows == 0
    # room for about three tensors: the skip tensor must leave while the chain runs
    tight_config = TPUConfig(rows=8, cols=8, ub_bytes=8 * (roomy.peak_rows - 70), acc_rows=64)
    tight, tight_report = _check(graph, 2, tight_config, rng, engines=("fast", "cycle"))
    assert tight.spilled_rows > 0
    assert tight.peak_rows <= tight_config.ub_rows
    assert tight_report.host_bytes > roomy_report.host_bytes
    assert "Write_Host_Memory" in tight.program.text.split("Halt")[0].split("MatrixMultiply", 1)[1]


def test_a_node_that_cannot_fit_is_refused_with_its_sizes():
    rng = np.random.default_rng(6)
    graph = _skip_chain(rng, depth=1)
    config = TPUConfig(rows=8, cols=8, ub_bytes=8 * 160, acc_rows=64)
    with pytest.raises(ValueError, match=r"^node 1 \(conv, 6x6x6\) needs 256 Unified Buffer "
                                         r"rows for its inputs and output at batch 2, 148 are "
                                         r"left beside the biases$"):
        compile_graph(graph, 2, config)


def test_batches_overlap_host_transfers_with_compute():
    rng = np.random.default_rng(7)
    graph = _block(rng)
    _, one = _check(graph, 2, SMALL, rng)
    compiled, three = _check(graph, 2, SMALL, rng, batches=3)
    assert compiled.batches == 3
    assert three.cycles < 3 * one.cycles
    assert three.useful_macs == 3 * one.useful_macs


def test_bands_wider_than_the_accumulators_are_split_into_segments():
    rng = np.random.default_rng(8)
    g = Graph((12, 10, 3))
    g.output(g.conv(g.input, _conv(rng, 3, 3, 4)))
    _check(g, 2, TPUConfig(rows=8, cols=8, ub_bytes=1 << 16, acc_rows=32), rng,
           engines=("fast", "cycle"))


@st.composite
def _dags(draw):
    """Small random DAGs: convolutions, adds, concatenations and poolings of any earlier
    tensors, then a dense head or an image output."""
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    hw = draw(st.sampled_from([2, 4]))
    g = Graph((hw, hw, draw(st.integers(1, 10))), input_signed=draw(st.booleans()))
    tensors = [g.input]
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["conv", "conv", "add", "concat", "pool"]))
        a = tensors[draw(st.integers(0, len(tensors) - 1))]
        ha, wa, ca = g._nodes[a].shape.h, g._nodes[a].shape.w, g._nodes[a].shape.c
        if kind == "conv":
            k = draw(st.sampled_from([1, 3]))
            f = draw(st.integers(1, 12))
            t = g.conv(a, _conv(rng, k, ca, f, signed=draw(st.booleans()),
                                activation=draw(st.sampled_from(["relu", "identity"]))))
        elif kind == "pool" and ha % 2 == 0 and wa % 2 == 0:
            t = g.pool(a, Pool2D(draw(st.sampled_from(["max", "avg"])), 2))
        else:
            same = [b for b in tensors if g._nodes[b].shape == g._nodes[a].shape] \
                if kind == "add" else \
                [b for b in tensors if (g._nodes[b].shape.h, g._nodes[b].shape.w) == (ha, wa)
                 and g._nodes[b].signed == g._nodes[a].signed]
            b = same[draw(st.integers(0, len(same) - 1))]
            t = g.add(a, b, requant=Requant.from_scale(0.5)) if kind == "add" else \
                g.concat([a, b])
        if t != 0:
            tensors.append(t)
    last = tensors[-1]
    if last == 0 or draw(st.booleans()):
        n = g._nodes[last].shape
        last = g.dense(last, Dense(_w(rng, n.h * n.w * n.c, 5), None,
                                   Requant.from_scale(1 / 500)))
    g.output(last)
    return g, seed


@settings(max_examples=25, deadline=None)
@given(_dags(), st.integers(1, 3), st.sampled_from([1 << 16, 1 << 12]))
def test_random_dags_match_the_reference(dag, batch, ub_bytes):
    graph, seed = dag
    config = TPUConfig(rows=8, cols=8, ub_bytes=ub_bytes, acc_rows=64)
    rng = np.random.default_rng(seed + 1)
    try:
        _check(graph, batch, config, rng)
    except ValueError as error:
        # only a tight Unified Buffer may refuse, and only with the sizes
        assert ub_bytes < 1 << 16 and "Unified Buffer rows for its inputs" in str(error)


@pytest.mark.parametrize("call, error, message", [
    (lambda g: g.conv(g.input, Dense(np.zeros((1, 1), int))), TypeError,
     r"^layer must be a Conv2D, not Dense"),
    (lambda g: g.conv(7, Conv2D(np.zeros((1, 1, 3, 1), int))), ValueError,
     r"^x=7 is not a tensor of this graph \(0\.\.0\)$"),
    (lambda g: g.conv("a", Conv2D(np.zeros((1, 1, 3, 1), int))), TypeError,
     r"^x must be a tensor of this graph \(an int\), not 'a'$"),
    (lambda g: g.conv(g.input, Conv2D(np.zeros((1, 1, 2, 1), int))), ValueError,
     r"^Conv2D weight has 2 input channels, tensor 0 has 3$"),
    (lambda g: g.dense(g.input, Dense(np.zeros((5, 1), int))), ValueError,
     r"^Dense weight has 5 rows, tensor 0 has 48 features$"),
    (lambda g: g.add(g.input, g.pool(g.input, Pool2D())), ValueError,
     r"^add needs equal shapes, got 4x4x3 and 2x2x3$"),
    (lambda g: g.concat([g.input, g.pool(g.input, Pool2D())]), ValueError,
     r"^concat needs equal heights and widths, got 4x4x3 and 2x2x3$"),
    (lambda g: g.concat([]), TypeError, r"^tensors must be a non-empty list"),
    (lambda g: g.pool(g.input, Pool2D("max", 3)), ValueError,
     r"^Pool2D size 3 does not divide the 4x4 tensor 0$"),
    (lambda g: g.output(g.input), ValueError, r"^the input cannot be an output$"),
    (lambda g: g.output(*[g.pool(g.input, Pool2D())] * 2), ValueError,
     r"^tensor 1 is already an output$"),
    (lambda g: compile_graph(g, 1), ValueError, r"^the graph has no outputs \(use Graph.output\)$"),
    (lambda g: compile_graph(g, 0), ValueError, r"^batch must be"),
    (lambda g: compile_graph("g", 1), TypeError, r"^graph must be a Graph, not 'g'$"),
])
def test_bad_input_is_refused_with_one_line(call, error, message):
    with pytest.raises(error, match=message):
        call(Graph((4, 4, 3)))


def test_bad_graph_arguments_are_refused():
    with pytest.raises(TypeError, match=r"^input_shape must be"):
        Graph("4x4")
    with pytest.raises(ValueError, match=r"^input_shape must be"):
        Graph((0, 4, 3))
    with pytest.raises(TypeError, match=r"^network must be a Network, not 3$"):
        Graph.from_network(3)
    g = Graph((4,))
    g.output(g.dense(g.input, Dense(np.ones((4, 2), int))))
    compiled = compile_graph(g, 2, SMALL, batches=2)
    with pytest.raises(ValueError, match=r"^x has 2 examples, the program was compiled for 2 "
                                         r"batch\(es\) of 2$"):
        compiled.run(np.zeros((2, 4), int))


def test_rows_are_freed_after_the_last_use():
    rng = np.random.default_rng(9)
    chain = Network([_conv(rng, 3, 6, 6) for _ in range(8)], (6, 6, 6))
    compiled, _ = _check(Graph.from_network(chain), 2, SMALL, rng)
    tensor = 2 * 8 * 8                      # one padded 6x6 image pair
    bias = 8 * 4                            # 8 layers, one chunk of 4 bias rows each
    # the input and one layer's output at a time (not nine tensors), plus the biases
    assert compiled.peak_rows == 2 * tensor + bias
    assert compiled.spilled_rows == 0


def test_each_weight_tile_is_fetched_once_per_batch_and_its_shift_hides():
    rng = np.random.default_rng(10)
    g = Graph((6, 6, 8))
    t = g.input
    for _ in range(3):
        t = g.conv(t, _conv(rng, 3, 8, 8))
    g.output(t)
    config = TPUConfig(rows=8, cols=8, ub_bytes=1 << 16, acc_rows=256)
    compiled, report = _check(g, 3, config, rng, batches=2)
    assert report.weight_tiles == 2 * 3 * 9            # batches x layers x taps
    assert report.breakdown["weight_shift"] == 0
    text = compiled.program.text
    # the last image of a tile is one multiply over its rows at the input's pitch (8)
    assert "MatrixMultiply" in text and f", {5 * 8 + 6}\n" in text


def test_a_downsampling_bottleneck_with_a_projection_is_exact_on_both_engines():
    """The ResNet-50 block shape: 1x1, 3x3 stride 2, 1x1, and a 1x1 stride-2 projection."""
    rng = np.random.default_rng(11)
    g = Graph((8, 8, 6), input_signed=False)
    y = g.conv(g.input, _conv(rng, 1, 6, 4))
    y = g.conv(y, _conv(rng, 3, 4, 4, stride=2))
    y = g.conv(y, _conv(rng, 1, 4, 12, activation="identity"))
    skip = g.conv(g.input, _conv(rng, 1, 6, 12, stride=2, activation="identity"))
    t = g.add(y, skip, activation="relu")
    g.output(g.dense(g.pool(t, Pool2D("avg", 4)), Dense(_w(rng, 12, 5), None,
                                                         Requant.from_scale(1 / 100))))
    _check(g, 2, SMALL, rng, engines=("fast", "cycle"))
