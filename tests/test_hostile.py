"""Hostile input, class by class: each once gave a silent wrong answer, a hang, a memory blow-up
or a traceback; each now gives the right answer or one clear error."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

import systolic
from helpers import exact
from systolic import cli, tpu
from systolic.tpu import TPU, Instruction, Program, ProgramError, TPUConfig
from systolic.vcd import export_vcd, read_vcd

A = np.ones((3, 4), np.int8)
B = np.ones((4, 2), np.int8)
TOPOLOGY = Path(__file__).resolve().parents[1] / "examples" / "data" / "small_topology.csv"



# -- numbers are checked before they are converted ------------------------------------------

def test_gaps_of_unsigned_dtype_are_not_wrapped():
    arr = systolic.SystolicArray(4, 4)
    vectors = arr.run(A, B).vectors
    gaps = np.zeros(vectors, np.uint64)
    gaps[1] = 2**64 - 1          # an int64 cast makes this -1: an illegal, earlier vector
    with pytest.raises(ValueError, match=exact(
            f"gaps must add up to at most {2**60} cycles, got 18446744073709551615")):
        arr.run(A, B, gaps=gaps)


def test_gaps_whose_sum_passes_int64_are_refused():
    arr = systolic.SystolicArray(4, 4)
    gaps = np.full(arr.run(A, B).vectors, 2**59, np.int64)
    with pytest.raises(ValueError, match=exact(f"gaps must add up to at most {2**60} cycles, "
                                                f"got {3 * 2**59}")):
        arr.run(A, B, gaps=gaps)


def test_numpy_and_unsigned_sizes_are_accepted_exactly():
    arr = systolic.SystolicArray(np.uint8(4), np.int64(2), acc_bits=np.uint16(24))
    assert (arr.rows, arr.cols, arr.acc_bits) == (4, 2, 24)
    assert type(arr.rows) is int
    config = TPUConfig(rows=np.int16(8), cols=np.uint32(8))
    assert type(config.rows) is int and config.tile_bytes == 64


def test_timing_refuses_integral_floats():
    with pytest.raises(TypeError, match=exact("m must be a positive integer, got 256.0")):
        systolic.SystolicArray(4, 4).timing(256.0, 4, 4)


# -- inputs whose meaning would be ignored are refused ----------------------------------------

def test_masked_operands_and_gaps_are_refused():
    arr = systolic.SystolicArray(4, 4)
    masked = np.ma.masked_array(A, mask=np.eye(3, 4, dtype=bool))
    with pytest.raises(TypeError, match=exact("a must not be a masked array: the mask would be "
                                               "ignored")):
        arr.run(masked, B)
    with pytest.raises(TypeError, match=exact("b must not be a masked array: the mask would be "
                                               "ignored")):
        systolic.matmul(A, np.ma.masked_array(B))
    with pytest.raises(TypeError, match=exact("gaps must not be a masked array: the mask would "
                                               "be ignored")):
        arr.run(A, B, gaps=np.ma.masked_array(np.zeros(arr.run(A, B).vectors, np.int64)))


@pytest.mark.parametrize("name, value", [("double_buffer", "no"), ("double_buffer", 0),
                                         ("double_buffer", None)])
def test_flags_must_be_bools(name, value):
    with pytest.raises(TypeError, match=exact(f"{name} must be True or False, got {value!r}")):
        systolic.SystolicArray(4, 4, **{name: value})


def test_run_flags_must_be_bools():
    arr = systolic.SystolicArray(4, 4)
    with pytest.raises(TypeError, match=exact("record_outputs must be True or False, "
                                               "got 'yes'")):
        arr.run(A, B, record_outputs="yes")
    with pytest.raises(TypeError, match=exact("progress must be True, False or None, got 1")):
        arr.run(A, B, progress=1)
    with pytest.raises(TypeError, match=exact("engine must be 'cycle' or 'fast', got 1")):
        arr.run(A, B, engine=1)


# -- trace: whole-run shortcut and clipping ---------------------------------------------------

@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_trace_shortcut_and_clipping_equal_the_explicit_window(dataflow):
    arr = systolic.SystolicArray(3, 2, dataflow)
    total = arr.run(A, B).cycles
    explicit = arr.run(A, B, trace=(0, total)).trace
    for trace in (True, (0, None), (0, total + 50)):
        got = arr.run(A, B, trace=trace).trace
        assert got.first_cycle == 0
        for name, values in explicit.registers.items():
            np.testing.assert_array_equal(got.registers[name], values)
    tail = arr.run(A, B, trace=(5, None)).trace
    np.testing.assert_array_equal(tail.registers["psum"], explicit.registers["psum"][5:])


# -- memory: estimated before allocating, refused past the limit ------------------------------

def test_degenerate_array_is_refused_at_once_by_the_cycle_engine():
    arr = systolic.SystolicArray(100000, 1)
    message = ("the cycle engine on a 100000x1 array needs about 24.4 GiB, more than the limit "
               "of 4.0 GiB; use engine='fast' or a smaller array, or raise the limit with the "
               "environment variable SYSTOLIC_MEMORY_LIMIT")
    with pytest.raises(ValueError, match=exact(message)):
        arr.run(A, B)
    with pytest.raises(ValueError, match=exact(message)):
        arr.stepper(A, B)
    # the fast engine needs no per-PE state: it works, with the same cycle count
    res = arr.run(A, B, engine="fast")
    assert res.cycles == arr.timing(3, 4, 2).total
    np.testing.assert_array_equal(res.output, A.astype(np.int32) @ B)


def test_memory_limit_is_configurable(monkeypatch):
    monkeypatch.setenv("SYSTOLIC_MEMORY_LIMIT", "1K")
    with pytest.raises(ValueError, match=r"^the cycle engine on a 4x4 array needs about "
                                         r"[\d.]+ KiB, more than the limit of 1\.0 KiB; "):
        systolic.SystolicArray(4, 4).run(A, B)


def test_edge_stream_of_a_huge_gap_is_refused():
    arr = systolic.SystolicArray(2, 2)
    gaps = np.zeros(arr.run(A, B).vectors, np.int64)
    gaps[0] = 10**15
    with pytest.raises(ValueError, match=r"^the edge stream of a 1000000000000\d+-cycle run "
                                         r"needs about [\d.]+ TiB, more than the limit"):
        arr.edge_stream(A, B, gaps=gaps)


def test_huge_gemm_is_timed_without_data():
    arr = systolic.SystolicArray(256, 256)
    assert arr.timing(10**5, 10**5, 10**5).total == systolic.timing.breakdown(
        10**5, 10**5, 10**5, 256, 256).total


# -- VCD: only what is asked for is traced -----------------------------------------------------

def test_vcd_late_window_of_a_full_size_array():
    rng = np.random.default_rng(1)
    a = rng.integers(-128, 128, (256, 256), dtype=np.int8)
    arr = systolic.SystolicArray(256, 256)
    sink = io.StringIO()
    window = export_vcd(arr, a, a, sink, window=(600, 610), pes=[(0, 0), (255, 255)],
                        signals=["out_valid", "psum"])
    assert (window.first_cycle, window.stop_cycle) == (600, 610)
    assert window.signals == ("systolic_array.out_valid", "systolic_array.pe_r0_c0.psum",
                              "systolic_array.pe_r255_c255.psum")


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_vcd_of_selected_pes_matches_the_trace(dataflow, tmp_path):
    rng = np.random.default_rng(2)
    a = rng.integers(-128, 128, (5, 7), dtype=np.int8)
    b = rng.integers(-128, 128, (7, 6), dtype=np.int8)
    arr = systolic.SystolicArray(3, 4, dataflow)
    trace = arr.run(a, b, trace=True).trace
    path = tmp_path / "w.vcd"
    export_vcd(arr, a, b, path, window=(4, 20), pes=[(2, 3), (0, 1)], signals=["psum", "x"])
    changes = read_vcd(path)
    for r, c in [(2, 3), (0, 1)]:
        for name, width in (("psum", 32), ("x", 8)):
            values = changes[f"systolic_array.pe_r{r}_c{c}.{name}"]
            for t in range(4, 20):
                expected = int(trace.registers[name][t, r, c]) & ((1 << width) - 1)
                assert systolic.vcd.value_at(values, 10 * t + 7) == expected


# -- TPU: check and executor agree, typed memories ---------------------------------------------

def test_instruction_spelling_and_operands_are_checked_where_built():
    with pytest.raises(ProgramError, match=exact("line 0: mnemonic 'matrixmultiply' must be "
                                                  "spelled 'MatrixMultiply'")):
        Instruction("matrixmultiply", (0, 0, 1))
    with pytest.raises(ProgramError, match=exact("line 0: Read_Host_Memory: operand ub=-3 does "
                                                  "not fit in 3 bytes")):
        Instruction("Read_Host_Memory", (0, -3, 1))
    with pytest.raises(TypeError, match=exact("Read_Host_Memory: operands must be a tuple of "
                                               "integers, got (0.0, 0, 1)")):
        Instruction("Read_Host_Memory", (0.0, 0, 1))
    with pytest.raises(ProgramError, match=exact("line 0: Activate: unknown flag 'RELU'")):
        Instruction("Activate", (0, 0, 1), ("RELU",))
    with pytest.raises(TypeError, match=exact("instructions must be a sequence of Instruction, "
                                               "got ('Halt',)")):
        Program(("Halt",))
    # flags in any order become the canonical order, so equal programs encode alike
    assert Instruction("MatrixMultiply", (0, 0, 1), ("switch", "acc")).flags == ("acc", "switch")


def test_every_checked_instruction_encodes_and_decodes():
    program = Program.from_instructions([
        Instruction("Read_Weights", (0, 1)), Instruction("Read_Host_Memory", (0, 0, 2)),
        Instruction("MatrixMultiply", (0, 0, 2), ("switch",)), Instruction("Halt")])
    TPU(TPUConfig(rows=4, cols=4)).check(program)
    assert Program.decode(program.encode()) == program


def test_compiler_refuses_what_the_encoding_cannot_hold():
    net = tpu.Network([tpu.Conv2D(np.ones((1, 1, 1, 1), np.int8), stride=70000)], (1, 70001, 1))
    with pytest.raises(ProgramError, match=r"Convolve: operand stride=70000 does not fit in "
                                           r"2 bytes$"):
        tpu.compile_network(net, 1, TPUConfig(rows=4, cols=4))


@pytest.mark.parametrize("data, error, message", [
    (np.array([300], np.int32), ValueError,
     "host memory data must hold values from -128 to 255, got min 300, max 300"),
    (np.array([-1, 200]), ValueError, "host memory data must fit int8 or uint8, got min -1, "
                                      "max 200"),
    (np.array([1.0]), TypeError, "host memory data must be an integer array, got dtype float64"),
    ("abc", TypeError, "host memory: data must be bytes or an array of byte values, got a str"),
])
def test_host_memory_takes_bytes_only(data, error, message):
    with pytest.raises(error, match=exact(message)):
        TPU(TPUConfig(rows=4, cols=4)).host.write(0, data)


def test_host_memory_stores_one_byte_per_value():
    machine = TPU(TPUConfig(rows=4, cols=4))
    machine.host.write(0, [1, 2, 255])
    machine.host.write(3, np.array([-1, 5], np.int32))
    machine.host.write(5, b"\x07")
    assert machine.host.read(0, 6).tolist() == [1, 2, 255, 255, 5, 7]
    with pytest.raises(ValueError, match=exact("addr must be a non-negative integer, got -1")):
        machine.host.read(-1, 2)


def test_activation_is_exact_at_the_int32_extremes():
    lo, hi = -(2**31), 2**31 - 1
    acc = np.array([[lo, hi, lo, hi]], np.int64)
    bias = np.array([lo, hi, hi, lo], np.int64)
    req = tpu.Requant(multiplier=2**31 - 1, shift=62, out_signed=True)
    got = tpu.activate(acc, bias, req, "identity")
    for value, out in zip((acc + bias)[0].tolist(), got[0].tolist(), strict=True):
        num = value * (2**31 - 1)
        quot, rem = divmod(num, 2**62)
        quot += 1 if 2 * rem > 2**62 or (2 * rem == 2**62 and quot % 2) else 0
        assert out == min(max(quot, -128), 127)
    with pytest.raises(ValueError, match=exact("acc must hold values from -2147483648 to "
                                                "2147483647, got min 0, max 2147483648")):
        tpu.activate(np.array([[0, 2**31]]), np.zeros(2, np.int32), req, "identity")
    with pytest.raises(TypeError, match=exact("bias must be an integer array, got dtype "
                                               "float64")):
        tpu.activate(np.zeros((1, 2), np.int32), np.zeros(2), req, "identity")
    with pytest.raises(ValueError, match=exact("den must be an integer from 1 to "
                                                "4611686018427387904, got 0")):
        tpu.round_div(np.array([1]), 0, "half_even")


# -- HDL generator --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../evil", "a/b", "..", "", "a\\b"])
def test_hdl_names_stay_inside_out_dir(tmp_path, name):
    from systolic import hdl

    with pytest.raises(ValueError, match=exact(f"name must be a plain file name stem (no path "
                                                f"separators), got {name!r}")):
        hdl.write(tmp_path, 2, 2, name=name)
    assert list(tmp_path.iterdir()) == []


def test_hdl_out_dir_that_is_a_file(tmp_path):
    from systolic import hdl

    target = tmp_path / "file"
    target.write_text("")
    with pytest.raises(ValueError, match=exact(f"output directory {str(target)!r} is a file")):
        hdl.write(target, 2, 2)


def test_hdl_generator_refuses_past_the_memory_limit():
    from systolic import hdl

    with pytest.raises(ValueError, match=exact(
            "generating a 1000x1000 array needs about 11.4 GiB, more than the limit of 4.0 GiB; "
            "generate a smaller array, or raise the limit with the environment variable "
            "SYSTOLIC_MEMORY_LIMIT")):
        hdl.generate(1000, 1000)


# -- command line -----------------------------------------------------------------------------

_SCRIPT = Path(sys.executable).with_name("systolic")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "systolic.cli"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(COMMAND + list(args), capture_output=True, text=True, timeout=300)


def _one_line(out: subprocess.CompletedProcess, message: str) -> None:
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr == message + "\n"


def test_cli_non_utf8_topology(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"a, 1\xff, 2, 3,\n")
    _one_line(_cli("run", str(path)), f"systolic run: error: {path} is not UTF-8 text (byte 4)")


def test_cli_outputs_are_checked_before_the_work(tmp_path):
    missing = tmp_path / "nowhere" / "x.csv"
    _one_line(_cli("run", str(TOPOLOGY), "--csv", str(missing)),
              f"systolic run: error: cannot write {missing}: directory {missing.parent} does "
              f"not exist")
    _one_line(_cli("run", str(TOPOLOGY), "--json", str(tmp_path)),
              f"systolic run: error: cannot write {tmp_path}: it is a directory")


def test_cli_hdl_out_is_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("")
    _one_line(_cli("hdl", "--rows", "2", "--cols", "2", "--out", str(target)),
              f"systolic hdl: error: output directory {str(target)!r} is a file")


def test_cli_matmul_values_and_memory():
    _one_line(_cli("matmul", "--seed", "-1"),
              "systolic matmul: error: --seed must be a non-negative integer, got -1")
    _one_line(_cli("matmul", "--shape", "100000x100000x100000"),
              "systolic matmul: error: a 100000x100000x100000 matmul needs about 391.2 GiB, "
              "more than the limit of 4.0 GiB; choose a smaller --shape, or raise the limit "
              "with the environment variable SYSTOLIC_MEMORY_LIMIT")
    _one_line(_cli("matmul", "--dims", "100000x1", "--engine", "cycle", "--shape", "4x4x4"),
              "systolic matmul: error: the cycle engine on a 100000x1 array needs about 24.4 "
              "GiB, more than the limit of 4.0 GiB; use engine='fast' or a smaller array, or "
              "raise the limit with the environment variable SYSTOLIC_MEMORY_LIMIT")


def test_cli_matmul_reads_npy_operands_and_uint8_lanes(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    b = np.array([[-1, 2], [3, -4], [5, 6], [-7, 8]], np.int16)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    out = _cli("matmul", "--a", str(tmp_path / "a.npy"), "--b", str(tmp_path / "b.npy"),
               "--dims", "2x2", "--json")
    assert out.returncode == 0, out.stderr
    assert '"shape": "3x4x2"' in out.stdout and '"matches_numpy": true' in out.stdout
    np.save(tmp_path / "f.npy", np.ones((2, 2)))
    _one_line(_cli("matmul", "--a", str(tmp_path / "f.npy")),
              f"systolic matmul: error: A ({tmp_path / 'f.npy'}) must hold integers, got dtype "
              f"float64")
    _one_line(_cli("matmul", "--a", str(TOPOLOGY)),
              f"systolic matmul: error: {TOPOLOGY} is not a .npy array file")
    out = _cli("matmul", "--a-unsigned", "--b-unsigned", "--dims", "4x4", "--shape", "5x6x7")
    assert out.returncode == 0 and "result matches numpy" in out.stdout


def test_cli_closed_pipe_is_quiet():
    process = subprocess.Popen(COMMAND + ["run", str(TOPOLOGY)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdout.close()          # the reader is gone before the program writes
    stderr = process.stderr.read()
    assert process.wait(timeout=300) == 141
    assert stderr == b""


def test_cli_missing_extra_names_it(monkeypatch, capsys, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "amaranth" else real(name, *args))
    assert cli.main(["hdl", "--rows", "2", "--cols", "2", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "systolic hdl: error: this command needs the optional 'hdl' dependencies (amaranth not "
        "installed): pip install 'systolic[hdl]'\n")


def test_version():
    out = _cli("--version")
    assert out.returncode == 0 and out.stdout == f"systolic {systolic.__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", systolic.__version__)


# -- rough edges --------------------------------------------------------------------------------

def test_plot_timeline_functions_have_distinct_names():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from systolic import plot

    assert plot.plot_timeline is plot.plot_intervals
    assert tpu.plot_timeline is tpu.plot_run_timeline
    machine = TPU(TPUConfig(rows=4, cols=4))
    report = machine.run(Program.parse("Read_Host_Memory 0, 0, 1\nHalt"))
    assert tpu.plot_run_timeline(report) is not None
    with pytest.raises(TypeError, match=exact(
            "rows must be (name, start, end) intervals, got a RunReport; plot a TPU run with "
            "systolic.tpu.plot_run_timeline(report)")):
        plot.plot_timeline(report)


def test_vcd_signed_read_cycle_sampler_and_short_repr(tmp_path):
    from systolic.vcd import value_at_cycle

    a = np.array([[-100, 1], [2, 3]], np.int8)
    b = np.array([[1, 0], [0, 1]], np.int8)
    arr = systolic.SystolicArray(2, 2, "os")
    path = tmp_path / "w.vcd"
    window = export_vcd(arr, a, b, path)
    assert repr(window) == (f"VcdWindow(first_cycle=0, stop_cycle={window.stop_cycle}, "
                            f"signals=<{len(window.signals)} names>)")
    trace = arr.run(a, b, trace=True).trace
    unsigned = read_vcd(path)
    signed = read_vcd(path, signed=True)
    name = "systolic_array.pe_r0_c0.acc"
    values = [value_at_cycle(signed[name], t) for t in range(window.stop_cycle)]
    assert values == trace.registers["acc"][:, 0, 0].tolist()
    assert min(values) == -100
    assert value_at_cycle(unsigned[name], values.index(-100)) == 2**32 - 100
    with pytest.raises(ValueError, match=exact("cycle must be a non-negative integer, got -1")):
        value_at_cycle(signed[name], -1)


def test_progress_estimate_counts_cycles_on_tiny_arrays():
    from systolic.array import _estimated_seconds

    # measured: a 1x1 array steps about 1.75 million cycles per second
    assert _estimated_seconds(35_000_000, 1, 1) > 2
    assert _estimated_seconds(1023, 256, 256) < 0.1


def test_cli_sim_shows_what_it_simulated(monkeypatch, capsys, tmp_path):
    calls = []
    monkeypatch.setattr(cli.subprocess, "call", lambda command, **kw: calls.append(command) or 0)
    assert cli.main(["sim", "--rows", "2", "--cols", "3", "--tests", str(tmp_path)]) == 0
    assert calls[0][-3:] == ["-rP", "--show-capture=stdout", str(tmp_path)]


def test_cli_matmul_os_header_has_no_weight_buffering():
    out = _cli("matmul", "--dataflow", "os", "--no-double-buffer", "--dims", "4x4",
               "--shape", "4x4x4")
    assert out.stdout.splitlines()[0] == ("4x4x4 matmul on a 4x4 os array (fast engine, exact "
                                          "timing)")


def test_py_typed_marker_is_shipped():
    assert (Path(systolic.__file__).parent / "py.typed").is_file()


def test_timing_a_huge_topology_row_with_data_is_refused_before_building_it():
    layers = tpu.read_topology("big, 100000, 100000, 100000,\n")
    with pytest.raises(ValueError, match=exact(
            "layer 'big' (100000x100000x100000) needs about 204.9 GiB, more than the limit of "
            "4.0 GiB; time it without data with SystolicArray.timing (systolic run does), or "
            "raise the limit with the environment variable SYSTOLIC_MEMORY_LIMIT")):
        tpu.time_topology(layers)


@pytest.mark.parametrize("content, message", [
    (b"a, 1\xff, 2, 3,\n", "{path} is not UTF-8 text (byte 4)"),
    (b"x, 1, 2,\n", "{path} line 1: expected 3 numbers (GEMM: M, N, K) or 7 (conv: IfH, IfW, "
                    "FH, FW, C, NumFilt, Stride), got 2"),
    (b"big, 100000, 100000, 100000,\n",
     "layer 'big' (100000x100000x100000) needs about 204.9 GiB, more than the limit of 4.0 "
     "GiB; time it without data with SystolicArray.timing (systolic run does), or raise the "
     "limit with the environment variable SYSTOLIC_MEMORY_LIMIT")])
def test_python_m_systolic_tpu_errors_are_one_line(tmp_path, content, message):
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    out = subprocess.run([sys.executable, "-m", "systolic.tpu", str(path)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 2
    assert out.stderr == f"systolic tpu: error: {message.format(path=path)}\n"


def test_waveform_bus_labels_do_not_overlap():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from systolic.plot import plot_waveforms

    fig = plot_waveforms({"psum": [4294967198, 5, 4294967000, 7, 7, 7, 1234567890, 0]})
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = sorted((text.get_window_extent(renderer) for text in fig.axes[0].texts),
                   key=lambda box: box.x0)
    assert len(boxes) == 6
    assert all(left.x1 <= right.x0 for left, right in pairwise(boxes))
    assert [t.get_text() for t in fig.axes[0].texts][1] == "5"


def test_schedule_of_a_degenerate_array_is_refused_before_it_is_built():
    a = np.ones((1000, 1000), np.int8)
    with pytest.raises(ValueError, match=exact(
            "the schedule of a 1000x1000x1000 matmul on a 1x1 array (1000000 tiles of 1000 "
            "vectors) needs about 22.4 GiB, more than the limit of 4.0 GiB; use a larger array "
            "or smaller operands, or raise the limit with the environment variable "
            "SYSTOLIC_MEMORY_LIMIT")):
        systolic.SystolicArray(1, 1).run(a, a, engine="fast")
    # the closed form needs no schedule
    assert systolic.SystolicArray(1, 1).timing(1000, 1000, 1000).total == 1000000002


def test_plot_and_vcd_arguments():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from systolic import plot, vcd

    with pytest.raises(TypeError, match=exact("array must be a SystolicArray, got 'x'")):
        export_vcd("x", A, B, io.StringIO())
    with pytest.raises(ValueError, match=exact("PE (True, 2) is not a (row, col) of a 4x4 "
                                                "array")):
        export_vcd(systolic.SystolicArray(4, 4), A, B, io.StringIO(), pes=[(True, 2)])
    with pytest.raises(TypeError, match=exact("dataflow must be one of 'ws', 'os', 'is', "
                                               "got 3")):
        vcd.register_names(3)
    with pytest.raises(TypeError, match=exact("row must be (name, start, end) with numbers "
                                               "start and end, got ('a', '0', '5')")):
        plot.plot_intervals([("a", "0", "5")])
    with pytest.raises(TypeError, match=exact("run 'a' must be a CycleBreakdown or a RunResult, "
                                               "got 3")):
        plot.plot_breakdown({"a": 3})
    with pytest.raises(ValueError, match=exact(f"m must be an integer from 1 to {2**53}, got "
                                                f"{10**30}")):
        plot.pe_utilization(10**30, 2, 2, 2, 2, cycles=10)


def test_digits_seed_is_checked_before_training():
    with pytest.raises(ValueError, match=exact("seed must be an integer from 0 to 4294967295, "
                                                "got -1")):
        tpu.digits_mlp(seed=-1)
