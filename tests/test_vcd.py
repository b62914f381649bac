"""VCD export: written with the RTL's names, read back and compared with the model's trace."""

from __future__ import annotations

import io

import numpy as np
import pytest

import systolic
from helpers import exact
from systolic.vcd import PORTS, export_vcd, read_vcd, register_names, value_at

ROWS, COLS, ACC_BITS = 3, 4, 16
WIDTHS = {"x": 8, "w": 8, "w_active": 8, "w_shadow": 8, "w_tag": 2, "psum": ACC_BITS,
          "acc": ACC_BITS, "hold": ACC_BITS}



def _pattern(value: int, width: int) -> int:
    return int(value) & ((1 << width) - 1)


@pytest.fixture(scope="module")
def operands():
    rng = np.random.default_rng(7)
    return rng.integers(-128, 128, (5, 7), dtype=np.int8), rng.integers(-128, 128, (7, 6),
                                                                          dtype=np.int8)


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_vcd_equals_trace_edges_and_outputs(dataflow, operands, tmp_path):
    a, b = operands
    arr = systolic.SystolicArray(ROWS, COLS, dataflow, acc_bits=ACC_BITS)
    path = tmp_path / "model.vcd"
    written = export_vcd(arr, a, b, path, window=(2, 30))
    assert (written.first_cycle, written.stop_cycle) == (2, 30)
    changes = read_vcd(path)
    assert set(changes) == set(written.signals) | {"systolic_array.clk"}

    run = arr.run(a, b, engine="cycle", record_outputs=True, trace=(0, 30))
    registers = run.trace.registers
    edges = arr.edge_stream(a, b)
    out_cycles = list(run.outputs.cycles)
    for t in range(2, 30):
        # Registers hold their cycle-t value just after rising edge t (time 10 t).
        for name in register_names(dataflow):
            for r in range(ROWS):
                for c in range(COLS):
                    got = value_at(changes[f"systolic_array.pe_r{r}_c{c}.{name}"], 10 * t + 1)
                    assert got == _pattern(registers[name][t, r, c], WIDTHS.get(name, 1)), \
                        (name, t, r, c)
        # Ports hold their cycle-t value after the falling edge (time 10 t + 5).
        sample = 10 * t + 6
        for r in range(ROWS):
            assert value_at(changes[f"systolic_array.x_data_{r}"], sample) == \
                _pattern(edges.x_data[t][r], 8)
        for c in range(COLS):
            assert value_at(changes[f"systolic_array.w_data_{c}"], sample) == \
                _pattern(edges.w_data[t][c], 8)
        for name in ("x_valid", "x_flag", "w_valid", "w_tag"):
            assert value_at(changes[f"systolic_array.{name}"], sample) == int(getattr(edges,
                                                                                      name)[t])
        valid = value_at(changes["systolic_array.out_valid"], sample)
        assert valid == int(t in out_cycles)
        if valid:
            vector = run.outputs.data[out_cycles.index(t)]
            for c in range(COLS):
                assert value_at(changes[f"systolic_array.out_data_{c}"], sample) == \
                    _pattern(vector[c], ACC_BITS)
    assert any(t in out_cycles for t in range(2, 30))


def test_whole_run_by_default_and_clock(operands):
    a, b = operands
    arr = systolic.SystolicArray(2, 2, "ws")
    text = io.StringIO()
    written = export_vcd(arr, a, b, text, signals=["out_valid", "psum"], pes=[(1, 0)])
    total = arr.run(a, b).cycles
    assert (written.first_cycle, written.stop_cycle) == (0, total)
    assert written.signals == ("systolic_array.out_valid", "systolic_array.pe_r1_c0.psum")
    changes = read_vcd(io.BytesIO(text.getvalue().encode()))
    clock = changes["systolic_array.clk"]
    assert clock[:3] == [(0, 1), (5, 0), (10, 1)]
    assert value_at(clock, 10 * total - 1) == 0
    assert "$timescale 1 ns $end" in text.getvalue()
    assert "$var reg 32" in text.getvalue()


def test_negative_sums_are_twos_complement_patterns():
    a = np.array([[-3]], dtype=np.int8)
    b = np.array([[5]], dtype=np.int8)
    text = io.StringIO()
    export_vcd(systolic.SystolicArray(1, 1, "ws", acc_bits=16), a, b, text,
               signals=["out_data", "out_valid"])
    changes = read_vcd(io.BytesIO(text.getvalue().encode()))
    valid_at = [t for t, v in changes["systolic_array.out_valid"] if v == 1][0]
    assert value_at(changes["systolic_array.out_data_0"], valid_at) == 0xFFF1   # -15


def test_value_at_and_unknown_bits():
    text = (b"$timescale 1 ns $end\n$scope module top $end\n$var wire 4 ! bus $end\n"
            b"$upscope $end\n$enddefinitions $end\n#0\nbx !\n#10\nb101 !\n#20\nb1z0 !\n")
    changes = read_vcd(io.BytesIO(text))
    assert changes == {"top.bus": [(0, None), (10, 5), (20, None)]}
    assert value_at(changes["top.bus"], 15) == 5
    assert value_at(changes["top.bus"], -1) is None


def test_register_names():
    assert register_names("os")[-2:] == ("acc", "hold")
    assert register_names(systolic.Dataflow.IS)[-2:] == ("w_active", "w_shadow")
    assert "out_data" in PORTS


def test_bad_arguments(operands):
    a, b = operands
    arr = systolic.SystolicArray(ROWS, COLS, "os")
    sink = io.StringIO()
    with pytest.raises(ValueError, match=exact(
            "window must be (first, stop) with 0 <= first < stop, got (5, 5)")):
        export_vcd(arr, a, b, sink, window=(5, 5))
    total = arr.run(a, b).cycles
    with pytest.raises(ValueError, match=exact(
            f"window (500, 600) starts after the run's last cycle {total - 1}")):
        export_vcd(arr, a, b, sink, window=(500, 600))
    with pytest.raises(ValueError, match=exact(
            "window of 20 cycles is longer than max_cycles=10; choose a window or raise "
            "max_cycles")):
        export_vcd(arr, a, b, sink, window=(0, 20), max_cycles=10)
    with pytest.raises(ValueError, match=exact(
            "12 PEs selected, more than max_pes=4; choose pes or raise max_pes")):
        export_vcd(arr, a, b, sink, max_pes=4)
    with pytest.raises(ValueError, match=r"^unknown signal 'w_active' for dataflow 'os'; "
                                         r"choose from x_data, "):
        export_vcd(arr, a, b, sink, signals=["psum", "w_active"])
    with pytest.raises(TypeError, match=exact("signals must be a collection of names, "
                                               "got 'psum'")):
        export_vcd(arr, a, b, sink, signals="psum")
    with pytest.raises(ValueError, match=exact("PE (3, 0) is not a (row, col) of a 3x4 array")):
        export_vcd(arr, a, b, sink, pes=[(0, 0), (3, 0)])
    with pytest.raises(ValueError, match=exact("unknown dataflow 'xs': expected one of 'ws', "
                                                "'os', 'is'")):
        register_names("xs")
