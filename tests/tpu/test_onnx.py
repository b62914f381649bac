"""OnnxSession against onnxruntime itself: bit-exact outputs on models onnxruntime quantized."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from onnx_models import quantized  # noqa: E402
from systolic import tpu  # noqa: E402

# one worker quantizes the models once for every test of this file
pytestmark = pytest.mark.xdist_group("onnx")

SMALL = tpu.TPUConfig(rows=32, cols=32)
# (model, QDQ, int8 activations, per channel): every format and type on every model, the
# per-channel choice alternating
VARIANTS = [(name, qdq, int8, (i + qdq + int8) % 2 == 0)
            for i, name in enumerate(("mlp", "cnn", "residual", "depthwise", "odd",
                                      "transformer", "inception"))
            for qdq in (False, True) for int8 in (False, True)]
# examples per draw: the dense models get a tall batch (thousands of rows)
BATCH = {"mlp": 3000, "transformer": 200, "cnn": 4, "residual": 4, "depthwise": 3, "odd": 4,
         "inception": 3}


def _reference(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _draws(shape, batch, seed):
    rng = np.random.default_rng(seed)
    yield rng.normal(0, 1, (batch,) + shape).astype(np.float32)
    # far outside the calibrated range: the input quantization and every layer saturate
    yield rng.normal(0, 8, (batch,) + shape).astype(np.float32)
    yield rng.uniform(-3, 3, (batch,) + shape).astype(np.float32)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    cache = {}

    def get(name, qdq, int8, per_channel):
        key = (name, qdq, int8, per_channel)
        if key not in cache:
            cache[key] = quantized(name, tmp_path_factory.mktemp(name), qdq=qdq, int8=int8,
                                   per_channel=per_channel)
        return cache[key]

    return get


@pytest.mark.parametrize("name,qdq,int8,per_channel", VARIANTS,
                         ids=["-".join((v[0], "qdq" if v[1] else "qop", "s8" if v[2] else "u8",
                                        "pc" if v[3] else "pt")) for v in VARIANTS])
def test_bit_exact_against_onnxruntime(models, name, qdq, int8, per_channel):
    path, shape = models(name, qdq, int8, per_channel)
    reference = _reference(path)
    session = tpu.OnnxSession(path, config=SMALL)
    if qdq and int8 and name in ("residual", "transformer", "inception"):
        # int8 tensors with two consumers stay int8, and onnxruntime runs the operators that
        # read or write them in float32: residual, the two Convs around the block's input;
        # inception, the stem and both branches; transformer, the three MatMuls reading x
        ops = [step.op for step in session._steps]
        assert ops.count("Conv (float32)") == {"residual": 2, "inception": 3}.get(name, 0)
        assert ops.count("MatMul (float32)") == (3 if name == "transformer" else 0)
    for x in _draws(shape, BATCH[name], seed=len(name)):
        want = reference.run(None, {"x": x})
        got = session.run(None, {"x": x})
        assert len(got) == len(want) == 1
        assert got[0].dtype == want[0].dtype and got[0].shape == want[0].shape
        assert np.array_equal(got[0], want[0])
    assert session.report.cycles > 0


@pytest.mark.parametrize("name", ["cnn", "depthwise", "odd", "residual", "transformer"])
def test_engines_agree(models, name):
    path, shape = models(name, False, False, True)
    x = next(_draws(shape, 2, seed=7))
    want = _reference(path).run(None, {"x": x})[0]
    runs = {}
    for engine in ("fast", "cycle"):
        session = tpu.OnnxSession(path, config=SMALL, engine=engine)
        runs[engine] = (session.run(None, {"x": x})[0], session.report)
    assert np.array_equal(runs["fast"][0], want) and np.array_equal(runs["cycle"][0], want)
    fast, cycle = runs["fast"][1], runs["cycle"][1]
    assert fast.cycles == cycle.cycles and fast.breakdown == cycle.breakdown
    assert [layer.cycles for layer in fast.layers] == [layer.cycles for layer in cycle.layers]


def test_default_machine_and_report(models):
    path, shape = models("cnn", True, True, True)
    session = tpu.OnnxSession(onnx.load(str(path)))
    x = next(_draws(shape, 2, seed=3))
    assert np.array_equal(session.run(None, {"x": x})[0],
                          _reference(path).run(None, {"x": x})[0])
    report = session.report
    assert report.cycles == sum(layer.cycles for layer in report.layers)
    assert sum(report.breakdown.values()) == report.cycles
    tpu_layers = [layer for layer in report.layers if layer.where == "tpu"]
    assert [layer.op for layer in tpu_layers] == ["QDQ Conv", "QDQ Conv", "QDQ Gemm"]
    macs = 2 * (10 * 10 * 3 * 9 * 8 + 5 * 5 * 8 * 9 * 16 + 16 * 10)
    assert report.tops == pytest.approx(2 * macs / report.seconds / 1e12)
    text = report.summary()
    assert "peak TOPS" in text and "QDQ Conv" in text and text.count("\n") > 10


# -- the activation unit's float32 mode ---------------------------------------------------

def _float32_oracle(acc, scale):
    return np.rint(np.float32(acc) * np.float32(scale)).astype(np.int64)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-(1 << 31), (1 << 31) - 1), min_size=1, max_size=20),
       st.floats(2.0 ** -40, 200.0, width=32))
def test_requantize_float32_matches_float32(acc, scale):
    acc = np.array(acc, np.int64)
    assert np.array_equal(tpu.requantize_float32(acc, np.float32(scale)),
                          _float32_oracle(acc.astype(np.int32), scale))


def test_requantize_float32_both_roundings():
    rng = np.random.default_rng(0)
    # near 2**25 float32(acc) drops bits; ties of the product are everywhere with these scales
    acc = np.concatenate([rng.integers((1 << 25) - 4096, (1 << 25) + 4096, 20000),
                          rng.integers(-(1 << 20), 1 << 20, 200000)])
    for scale in (np.float32(0.5), np.float32(2.0 ** -7) * np.float32(3),
                  np.float32(0.00123), np.float32(1) / np.float32(3)):
        assert np.array_equal(tpu.requantize_float32(acc, scale),
                              _float32_oracle(acc.astype(np.int32), scale))
    # an exact integer rescale (multiplier/shift) differs from float32 on a few of these
    requant = tpu.Requant.from_scale(0.00123)
    exact = tpu.round_div(acc * requant.multiplier, 1 << requant.shift, "half_even")
    assert not np.array_equal(exact, _float32_oracle(acc.astype(np.int32), np.float32(0.00123)))


def test_float32_mode_through_the_compiler():
    rng = np.random.default_rng(1)
    scale = rng.uniform(1e-4, 1e-2, 40).astype(np.float32)
    layer = tpu.Conv2D(rng.integers(-127, 128, (3, 3, 5, 40)), rng.integers(-5000, 5000, 40),
                       padding=1, requant=tpu.Requant(zero_point=3), scale=scale)
    net = tpu.Network([layer, tpu.Dense(rng.integers(-127, 128, (6 * 6 * 40, 7)),
                                        scale=np.full(7, 0.01, np.float32))], (6, 6, 5),
                      input_signed=False)
    x = rng.integers(0, 256, (2, 6, 6, 5))
    compiled = tpu.compile_network(net, 2, SMALL)
    assert "SetQuant.f32" in compiled.program.text and "SetBias.scale" in compiled.program.text
    for engine in ("fast", "cycle"):
        out, _ = compiled.run(x, engine=engine)
        assert np.array_equal(out, net.reference(x))


def test_float32_mode_assembles():
    text = "SetQuant.uint8.f32 1065353216, 0, -3, 4\nSetBias.scale 12\nHalt"
    assert tpu.disassemble(tpu.assemble(text)) == tpu.Program.parse(text).text
    assert tpu.Program.parse(text).instructions[0].flags == ("uint8", "f32")


@pytest.mark.parametrize("scale,match", [
    (np.ones(3, np.float64), r"^scale must be a float32 array, got dtype float64$"),
    (np.ones(2, np.float32), r"^scale must have shape \(3,\), got \(2,\)$"),
    (np.array([1, 0, 1], np.float32), r"^scale values must be positive and finite$"),
])
def test_layer_scale_checked(scale, match):
    error = TypeError if scale.dtype != np.float32 else ValueError
    with pytest.raises(error, match=match):
        tpu.Dense(np.ones((2, 3), np.int8), scale=scale)


# -- what is refused, and how --------------------------------------------------------------

def _model(nodes, inits, inputs, outputs, opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs,
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                   helper.make_opsetid("com.microsoft", 1)])


def _qconv_model(**attrs):
    inits = {"xs": np.float32(0.1), "xz": np.uint8(128), "w": np.ones((2, 1, 3, 3), np.int8),
             "ws": np.float32(0.05), "wz": np.int8(0), "ys": np.float32(0.2),
             "yz": np.uint8(100)}
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"],
                            ["y"], name="qconv", **attrs)
    return _model([node], inits,
                  [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 1, 6, 6])],
                  [helper.make_tensor_value_info("y", TensorProto.UINT8, None)])


@pytest.mark.parametrize("attrs,match", [
    ({"dilations": [2, 2]}, r"^node 'qconv' \(QLinearConv\): dilation other than 1 is not "
                            r"supported$"),
    ({"strides": [1, 2]}, r"^node 'qconv' \(QLinearConv\): strides \(1, 2\) differ; the TPU's "
                          r"Convolve has one$"),
    ({"auto_pad": "SAME_UPPER"}, r"^node 'qconv' \(QLinearConv\): auto_pad is not supported "
                                 r"\(give explicit pads\)$"),
])
def test_refused_conv_attributes(attrs, match):
    with pytest.raises(ValueError, match=match):
        tpu.OnnxSession(_qconv_model(**attrs))


def test_qlinearconv_with_pads_and_stride_matches():
    model = _qconv_model(pads=[0, 2, 1, 0], strides=[2, 2])
    x = np.random.default_rng(0).integers(0, 256, (1, 1, 6, 6)).astype(np.uint8)
    want = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert np.array_equal(tpu.OnnxSession(model, config=SMALL).run(None, {"x": x})[0], want)


def test_refused_float_operator(models):
    path, _ = models("mlp", False, False, False)
    model = onnx.load(str(path))
    graph = model.graph
    last = graph.output[0].name
    graph.node.append(helper.make_node("Softmax", [last], ["probs"], name="softmax"))
    graph.output[0].name = "probs"
    with pytest.raises(ValueError, match=r"^node 'softmax' \(Softmax\): operator not "
                                         r"supported$"):
        tpu.OnnxSession(model)


def test_refused_float_gemm():
    inits = {"w": np.ones((4, 3), np.int8), "ws": np.float32(0.1)}
    nodes = [helper.make_node("DequantizeLinear", ["w", "ws"], ["wf"], name="dq"),
             helper.make_node("Gemm", ["x", "wf"], ["y"], name="fc")]
    model = _model(nodes, inits, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    with pytest.raises(ValueError, match=r"^node 'fc' \(Gemm\): runs in float32 in onnxruntime "
                                         r"\(its quantized inputs or output are not fused into "
                                         r"an integer operator\); float operators are not "
                                         r"supported$"):
        tpu.OnnxSession(model)


def test_bad_arguments(models):
    path, shape = models("mlp", False, False, False)
    with pytest.raises(TypeError, match=r"^model must be a path or an onnx.ModelProto, not 3$"):
        tpu.OnnxSession(3)
    with pytest.raises(TypeError, match=r"^config must be a TPUConfig, not 'big'$"):
        tpu.OnnxSession(path, config="big")
    with pytest.raises(ValueError, match=r"^engine must be one of \('cycle', 'fast'\), not "
                                         r"'slow'$"):
        tpu.OnnxSession(path, engine="slow")
    session = tpu.OnnxSession(path)
    with pytest.raises(ValueError, match=r"^missing input 'x'$"):
        session.run(None, {})
    with pytest.raises(TypeError, match=r"^input 'x' must be float32, got float64$"):
        session.run(None, {"x": np.zeros((1,) + shape)})
    with pytest.raises(ValueError, match=r"^unknown output 'nope'$"):
        session.run(["nope"], {"x": np.zeros((1,) + shape, np.float32)})
    with pytest.raises(TypeError, match=r"^feeds must be a dict of name to array, not list$"):
        session.run(None, [])


# -- the command line -----------------------------------------------------------------------

def test_cli_runs_a_model(models, tmp_path, capsys):
    from systolic.cli import main

    path, shape = models("cnn", False, False, False)
    x = next(_draws(shape, 2, seed=11))
    np.save(tmp_path / "x.npy", x)
    assert main(["onnx", str(path), "--input", str(tmp_path / "x.npy"), "--dims", "32x32",
                 "--out", str(tmp_path / "y.npy")]) == 0
    out = capsys.readouterr().out
    assert "peak TOPS" in out and "QLinearConv" in out
    assert np.array_equal(np.load(tmp_path / "y.npy"), _reference(path).run(None, {"x": x})[0])


@pytest.mark.parametrize("args,match", [
    (["missing.onnx", "--input", "x.npy"],
     r"^systolic onnx: error: cannot read missing.onnx: No such file or directory$"),
    (["x.npy", "--input", "x.npy"], r"^systolic onnx: error: x.npy is not an ONNX model "),
    (["{model}", "--input", "other=x.npy"], r"^systolic onnx: error: missing input 'x'$"),
    (["{model}", "--input", "nothere.npy"], r"^systolic onnx: error: cannot read nothere.npy"),
    (["{model}", "--input", "x.npy", "--dims", "0x4"], r"^systolic onnx: error: argument "
                                                       r"--dims: expected RxC"),
])
def test_cli_errors(models, tmp_path, monkeypatch, capsys, args, match):
    from systolic.cli import main

    path, shape = models("mlp", False, False, False)
    monkeypatch.chdir(tmp_path)
    np.save("x.npy", np.zeros((1,) + shape, np.float32))
    assert main(["onnx"] + [a.format(model=path) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.match(match, err)


def test_cli_refuses_a_node(tmp_path, capsys):
    from systolic.cli import main

    onnx.save(_qconv_model(dilations=[2, 2]), tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 6, 6), np.uint8))
    assert main(["onnx", str(tmp_path / "m.onnx"), "--input", str(tmp_path / "x.npy")]) == 2
    assert capsys.readouterr().err == ("systolic onnx: error: node 'qconv' (QLinearConv): "
                                       "dilation other than 1 is not supported\n")


# -- float32 islands -----------------------------------------------------------------------

def test_fma_is_one_rounding():
    from fractions import Fraction

    from systolic.tpu._onnx import _fma

    rng = np.random.default_rng(2)
    a = rng.normal(size=3000).astype(np.float32)
    b = (rng.normal(size=3000) * 2.0 ** rng.integers(-30, 30, 3000)).astype(np.float32)
    c = (rng.normal(size=3000) * 2.0 ** rng.integers(-30, 30, 3000)).astype(np.float32)
    # a*b = +-2**-24 * (1 - 2**-46): the float64 sum lands exactly halfway between two
    # float32 values, and only the dropped 2**-70 says which way the exact value lies
    c[:1000] = rng.choice([-1, 1], 1000) * (1 + np.float32(2.0 ** -23) * rng.integers(0, 50, 1000))
    a[:1000] = rng.choice([-1, 1], 1000) * np.float32(2.0 ** -24 * (1 + 2.0 ** -23))
    b[:1000] = np.float32(1 - 2.0 ** -23)
    got = _fma(a, b, c)
    naive = (a.astype(np.float64) * b + c).astype(np.float32)
    assert np.sum(got != naive) > 100      # the ties this test is about
    for i in range(3000):
        exact = Fraction(float(a[i])) * Fraction(float(b[i])) + Fraction(float(c[i]))
        near = np.float32(float(exact))
        options = (near, np.nextafter(near, np.float32(np.inf)),
                   np.nextafter(near, np.float32(-np.inf)))
        want = min(options, key=lambda v: (abs(Fraction(float(v)) - exact),
                                           int(np.float32(v).view(np.uint32)) & 1))
        assert got[i] == want, i


@pytest.mark.parametrize("c,hw,k", [(3, 8, 3), (64, 4, 3), (32, 2, 3), (16, 9, 1)])
def test_float_conv_island_matches(c, hw, k):
    rng = np.random.default_rng(c + hw)
    f = 8
    inits = {"w": rng.integers(-127, 128, (f, c, k, k)).astype(np.int8),
             "ws": rng.uniform(0.001, 0.01, f).astype(np.float32), "wz": np.zeros(f, np.int8),
             "b": rng.integers(-3000, 3000, f).astype(np.int32), "bs": np.float32(1e-4)}
    nodes = [helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wf"], name="dqw", axis=0),
             helper.make_node("DequantizeLinear", ["b", "bs"], ["bf"], name="dqb"),
             helper.make_node("Conv", ["x", "wf", "bf"], ["y"], name="conv",
                              kernel_shape=[k, k], pads=[k // 2] * 4)]
    model = _model(nodes, inits,
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, c, hw, hw])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    x = rng.normal(size=(2, c, hw, hw)).astype(np.float32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    want = ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert np.array_equal(tpu.OnnxSession(model).run(None, {"x": x})[0], want)


@pytest.mark.parametrize("name", ["cnn", "odd", "mlp"])
def test_qdq_runs_what_qoperator_runs(models, name):
    # onnxruntime fuses a QDQ model into its QOperator twin's kernels, and so does the session
    # (MaxPool and Flatten between DequantizeLinear and QuantizeLinear run on the integers)
    _, shape = models(name, False, False, True)
    x = next(_draws(shape, 2, seed=5))
    reports = []
    for qdq in (False, True):
        session = tpu.OnnxSession(models(name, qdq, False, True)[0], config=SMALL)
        session.run(None, {"x": x})
        reports.append(session.report)
    assert reports[0].cycles == reports[1].cycles
    assert [layer.where for layer in reports[0].layers] == \
        [layer.where for layer in reports[1].layers]


def test_batches_larger_than_the_unified_buffer(models):
    # 16x8 array, 200 UB rows of 16 bytes: the MLP's batch runs in parts, one CNN image needs
    # more than the Unified Buffer holds
    config = tpu.TPUConfig(rows=16, cols=8, ub_bytes=200 * 16, acc_rows=64)
    for name in ("mlp", "cnn"):
        path, shape = models(name, False, True, False)
        x = next(_draws(shape, 20 if name == "mlp" else 1, seed=9))
        if name == "cnn":
            with pytest.raises(ValueError, match=r"^node 'conv3_quant' \(QLinearConv\): batch 1 "
                                                 r"needs 252 Unified Buffer rows, the machine "
                                                 r"has 200$"):
                tpu.OnnxSession(path, config=config).run(None, {"x": x})
            continue
        session = tpu.OnnxSession(path, config=config)
        got = session.run(None, {"x": x})[0]
        assert np.array_equal(got, _reference(path).run(None, {"x": x})[0])
        first = next(layer for layer in session.report.layers if layer.where == "tpu")
        # 5 + 12 rows per example and 96 rows of bias and scales: 6 examples a part
        assert first.report.cycles == first.cycles and first.macs == 20 * 40 * 96
        assert first.report.host_bytes > 4 * 96 * 16 and first.report.weight_tiles == 4 * 60


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_quantize_and_dequantize_linear(dtype):
    scale, zp = np.float32(0.037), np.array(7 if dtype == np.int8 else 131, dtype)
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q"),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dq")]
    model = _model(nodes, {"s": scale, "z": zp},
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
                   [helper.make_tensor_value_info("q", onnx.helper.np_dtype_to_tensor_dtype(
                       np.dtype(dtype)), None),
                    helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    rng = np.random.default_rng(4)
    ties = (np.arange(-300, 300) + np.float32(0.5)) * scale       # halfway, up to float32
    x = np.concatenate([rng.normal(0, 3, 5000), ties, [np.nan, np.inf, -np.inf, 0.0, -0.0,
                                                       1e30, -1e30]]).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})
    got = tpu.OnnxSession(model).run(None, {"x": x})
    assert got[0].dtype == want[0].dtype
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_matmul_integer_and_conv_integer():
    rng = np.random.default_rng(6)
    inits = {"b": rng.integers(-128, 128, (24, 5)).astype(np.int8), "az": np.uint8(121),
             "bz": np.int8(-3), "w": rng.integers(-128, 128, (6, 2, 3, 3)).astype(np.int8),
             "xz": np.uint8(9)}
    nodes = [helper.make_node("MatMulInteger", ["a", "b", "az", "bz"], ["y"], name="mmi"),
             helper.make_node("ConvInteger", ["x", "w", "xz"], ["z"], name="ci",
                              pads=[1, 0, 2, 1], strides=[2, 1], group=2)]
    model = _model(nodes, inits,
                   [helper.make_tensor_value_info("a", TensorProto.UINT8, [7, 24]),
                    helper.make_tensor_value_info("x", TensorProto.UINT8, [2, 4, 9, 8])],
                   [helper.make_tensor_value_info("y", TensorProto.INT32, None),
                    helper.make_tensor_value_info("z", TensorProto.INT32, None)])
    feeds = {"a": rng.integers(0, 256, (7, 24)).astype(np.uint8),
             "x": rng.integers(0, 256, (2, 4, 9, 8)).astype(np.uint8)}
    want = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, feeds)
    got = tpu.OnnxSession(model).run(None, feeds)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype == np.int32 and np.array_equal(g, w)
