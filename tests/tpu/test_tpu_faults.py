"""Faults and bypassed PEs in the TPU's matrix unit, and fault-aware pruning by the compiler.

Oracles: the array itself (a matrix instruction is one ``SystolicArray.run`` with the same
faults, flips moved to that run's cycles) and a naive pruning that walks the compiled tiles.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from systolic import Fault, SystolicArray
from systolic.tpu import (
    TPU,
    Conv2D,
    Dense,
    Network,
    Pool2D,
    Program,
    Requant,
    TPUConfig,
    compile_network,
    matrix_cycles,
    prune_network,
)

# 256 accumulator rows: one batch block per layer for the networks below, one tile per block
SMALL = TPUConfig(rows=8, cols=8, ub_bytes=1 << 16, acc_rows=256)


def _mlp(rng):
    return Network([
        Dense(rng.integers(-128, 128, (20, 13)), rng.integers(-2000, 2000, 13),
              Requant.from_scale(1 / 300), "relu"),
        Dense(rng.integers(-128, 128, (13, 5)), None, Requant.from_scale(1 / 150)),
    ], (20,))


def _cnn(rng):
    return Network([
        Conv2D(rng.integers(-128, 128, (3, 3, 3, 10)), rng.integers(-500, 500, 10), 1, 1,
               Requant.from_scale(1 / 400), "relu"),
        Pool2D("max", 2),
        Dense(rng.integers(-128, 128, (5 * 5 * 10, 6)), None, Requant.from_scale(1 / 80)),
    ], (10, 10, 3))


def _naive_pruned(network, compiled):
    """The network whose weights are what the compiled tiles hold: every weight looked up in
    the tile the compiler wrote it to, by the layout rule of docs/tpu.md, one at a time."""
    g = min(compiled.config.rows, compiled.config.cols)
    tiles = iter(tile for _, tile in compiled.tiles)
    layers = []
    for stage in network.stages:
        layer = stage.layer
        weight = layer.weight.copy()
        if isinstance(layer, Dense):
            inp = stage.inp
            view = weight.reshape(inp.h, inp.w, inp.c, -1)
            blocks = [(view, (y, x), ic, oc)
                      for oc in range(-(-view.shape[3] // g)) for y in range(inp.h)
                      for x in range(inp.w) for ic in range(-(-inp.c // g))]
        else:
            view = weight
            fh, fw, c, f = weight.shape
            blocks = [(view, (i, j), ic, oc) for oc in range(-(-f // g)) for i in range(fh)
                      for j in range(fw) for ic in range(-(-c // g))]
        seen = {}
        for view_, tap, ic, oc in blocks:
            tile = next(tiles)
            seen[(tap, ic, oc)] = tile
            for r in range(g):
                for c in range(g):
                    ch, f = ic * g + r, oc * g + c
                    if ch < view_.shape[2] and f < view_.shape[3]:
                        view_[tap + (ch, f)] = tile[r, c]
        layers.append(replace(layer, weight=weight))
        if stage.pool is not None:
            layers.append(stage.pool)
    assert next(tiles, None) is None, "every tile is accounted for"
    return Network(layers, network.input_shape, input_signed=network.input_signed)


# -- the machine description ------------------------------------------------------------------

def test_config_stores_faults_and_bypass_as_checked_tuples():
    f = Fault("psum", (1, 2), 30, "stuck_at_1")
    cfg = TPUConfig(rows=4, cols=4, faults=[f], bypass=[(3, 3), (0, 1)])
    assert cfg.faults == (f,) and cfg.bypass == ((0, 1), (3, 3))
    assert TPUConfig().faults == () and TPUConfig().bypass == ()


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(faults=[Fault("acc", (0, 0), 0, "stuck_at_0")]), ValueError,
     r"^the ws PE has no register 'acc'"),
    (dict(faults=[Fault("psum", (4, 0), 0, "stuck_at_0")]), ValueError,
     r"^fault PE \(4, 0\) is outside the 4x4 array"),
    (dict(faults=[Fault("psum", (0, 0), 32, "stuck_at_0")]), ValueError,
     r"^bit 32 is outside register 'psum' \(32 bits: 0\.\.31\)"),
    (dict(faults=Fault("psum", (0, 0), 1, "stuck_at_0")), TypeError,
     r"^faults must be a list of systolic\.Fault"),
    (dict(bypass=[(0, 4)]), ValueError, r"^bypassed PE \(0, 4\) is outside the 4x4 array"),
    (dict(bypass=[(1, 1), (1, 1)]), ValueError, r"^bypassed PE \(1, 1\) is listed twice$"),
])
def test_config_refuses_faults_the_matrix_unit_does_not_have(kwargs, error, message):
    with pytest.raises(error, match=message):
        TPUConfig(rows=4, cols=4, **kwargs)


# -- fault-aware pruning ----------------------------------------------------------------------

@settings(max_examples=15)
@given(seed=st.integers(0, 2**16), n_bypass=st.integers(1, 12), cnn=st.booleans())
def test_compiled_tiles_hold_exactly_the_pruned_network(seed, n_bypass, cnn):
    rng = np.random.default_rng(seed)
    net = _cnn(rng) if cnn else _mlp(rng)
    picks = rng.choice(64, n_bypass, replace=False)
    cfg = replace(SMALL, bypass=[divmod(int(i), 8) for i in picks])
    compiled = compile_network(net, 1, cfg)
    for _, tile in compiled.tiles:
        assert all(tile[pe] == 0 for pe in cfg.bypass)
    naive = _naive_pruned(net, compiled)
    pruned = prune_network(net, cfg)
    for ours, theirs in zip(pruned.layers, naive.layers, strict=True):
        if not isinstance(ours, Pool2D):
            np.testing.assert_array_equal(ours.weight, theirs.weight)


def test_pruning_zeroes_weights_by_channel_and_feature_modulo_the_tile():
    net = Network([Dense(np.arange(1, 21).reshape(5, 4), None)], (5,))
    pruned = prune_network(net, TPUConfig(rows=2, cols=3), bypass=[(1, 0), (0, 2)])
    # g = min(2, 3) = 2: PE (0, 2) holds no weight; (1, 0) takes odd inputs x even outputs
    assert pruned.layers[0].weight.tolist() == [
        [1, 2, 3, 4], [0, 6, 0, 8], [9, 10, 11, 12], [0, 14, 0, 16], [17, 18, 19, 20]]
    assert prune_network(net, TPUConfig(rows=2, cols=3), bypass=[(0, 2)]) is net


def test_prune_network_refuses_what_is_not_a_network_or_config():
    with pytest.raises(TypeError, match=r"^network must be a Network, not 3$"):
        prune_network(3)
    net = Network([Dense(np.ones((2, 2), np.int8))], (2,))
    with pytest.raises(TypeError, match=r"^config must be a TPUConfig, not 'x'$"):
        prune_network(net, "x")
    with pytest.raises(ValueError, match=r"^bypassed PE \(9, 0\) is outside the 8x8 array"):
        prune_network(net, SMALL, bypass=[(9, 0)])


@pytest.mark.parametrize("cnn", [False, True])
def test_pruned_program_computes_the_pruned_reference_on_a_sound_machine(cnn):
    # zeroed weights need no bypass hardware: the same program on a machine without it
    rng = np.random.default_rng(5)
    net = _cnn(rng) if cnn else _mlp(rng)
    x = rng.integers(-128, 128, (3,) + net.input_shape)
    cfg = replace(SMALL, bypass=[(0, 0), (2, 5), (7, 1), (3, 3)])
    compiled = compile_network(net, 3, cfg)
    sound = replace(compiled, config=replace(cfg, bypass=()))
    out, _ = sound.run(x)
    np.testing.assert_array_equal(out, prune_network(net, cfg).reference(x))
    assert not np.array_equal(out, net.reference(x))


# -- the matrix unit's cycles -----------------------------------------------------------------

def test_matrix_cycles_are_the_array_runs_one_after_another():
    rng = np.random.default_rng(2)
    net = _cnn(rng)
    compiled = compile_network(net, 2, SMALL)
    rows = [inst.operand("rows") for inst in compiled.program.instructions
            if inst.mnemonic in ("MatrixMultiply", "Convolve")]
    array = SystolicArray(8, 8, "ws")
    expected = sum(array.run(np.zeros((m, 8), np.int8), np.zeros((8, 8), np.int8),
                             engine="fast").cycles for m in rows)
    assert matrix_cycles(compiled.program, SMALL) == expected


def test_matrix_cycles_refuses_bad_arguments():
    with pytest.raises(TypeError, match=r"^program must be a Program, not 'Halt'$"):
        matrix_cycles("Halt")
    with pytest.raises(TypeError, match=r"^config must be a TPUConfig, not 4$"):
        matrix_cycles(Program.parse("Halt"), 4)


# -- faults in the matrix unit ----------------------------------------------------------------

def _two_tile_machine(faults=(), bypass=(), seed=9):
    """A 4x4 machine that multiplies 6 rows by two tiles into accumulator rows 0..5, 6..11."""
    rng = np.random.default_rng(seed)
    cfg = TPUConfig(rows=4, cols=4, ub_bytes=1 << 10, acc_rows=16, faults=faults,
                    bypass=bypass)
    x = rng.integers(-128, 128, (6, 4), dtype=np.int8)
    w = rng.integers(-128, 128, (2, 4, 4), dtype=np.int8)
    tpu = TPU(cfg)
    tpu.host.write(0, x)
    tpu.weight_memory.write(0, w)
    program = Program.parse("""
        Read_Weights 0, 2
        Read_Host_Memory 0, 0, 6
        MatrixMultiply.switch 0, 0, 6
        MatrixMultiply.switch 0, 6, 6
        Halt""")
    return tpu, program, x, w


@pytest.mark.parametrize("flip_cycle", [0, 9, 16, 17, 25, 33])
def test_each_matrix_instruction_is_an_array_run_with_the_faults(flip_cycle):
    # each run is 4 + 6 + 7 = 17 cycles: the flip hits the first run (0, 9, 16) or the second
    stuck = Fault("psum", (2, 1), 20, "stuck_at_1")
    flip = Fault("w_active", (1, 3), 7, "flip", cycle=flip_cycle)
    tpu, program, x, w = _two_tile_machine([stuck, flip], bypass=[(0, 2)])
    assert matrix_cycles(program, tpu.config) == 34
    tpu.run(program, engine="cycle")
    array = SystolicArray(4, 4, "ws")
    for i in range(2):
        local = [stuck]
        if 17 * i <= flip_cycle < 17 * (i + 1):
            local.append(replace(flip, cycle=flip_cycle - 17 * i))
        res = array.run(x, w[i], engine="cycle", faults=local, bypass=[(0, 2)])
        np.testing.assert_array_equal(tpu.acc[6 * i:6 * i + 6], res.output)
    sound, *_ = _two_tile_machine()
    sound.run(program)
    assert not np.array_equal(tpu.acc[:12], sound.acc[:12])


def test_the_fast_engine_computes_bypass_and_stuck_weight_bits_like_the_cycle_engine():
    faults = [Fault("w_shadow", (3, 0), 6, "stuck_at_1"), Fault("w_active", (0, 1), 2,
                                                                  "stuck_at_0")]
    results = []
    for engine in ("fast", "cycle"):
        tpu, program, _, _ = _two_tile_machine(faults, bypass=[(1, 1), (2, 3)])
        tpu.run(program, engine=engine)
        results.append(tpu.acc[:12].copy())
    np.testing.assert_array_equal(*results)


@pytest.mark.parametrize("fault", [Fault("psum", (0, 0), 3, "stuck_at_1"),
                                   Fault("x", (1, 1), 0, "flip", cycle=3)])
def test_the_fast_engine_refuses_other_faults_before_running(fault):
    tpu, program, _, _ = _two_tile_machine([fault])
    with pytest.raises(ValueError, match=r"^the fast engine cannot compute Fault\(.*\) exactly "
                                         r"\(it computes bypassed PEs and stuck bits of "
                                         r"w_active/w_shadow on ws/is\): use engine='cycle'$"):
        tpu.run(program, engine="fast")
    assert not tpu.ub.any() and not tpu.acc.any()


def test_a_flip_after_the_matrix_units_last_cycle_is_refused_before_running():
    tpu, program, _, _ = _two_tile_machine([Fault("psum", (0, 0), 3, "flip", cycle=34)])
    with pytest.raises(ValueError, match=r"^flip at cycle 34 is after the matrix unit's last "
                                         r"cycle: this program runs it for 34 cycles \(0\.\.33, "
                                         r"see systolic\.tpu\.matrix_cycles\)$"):
        tpu.run(program, engine="cycle")
    assert not tpu.ub.any()


@pytest.mark.parametrize("engine", ["fast", "cycle"])
@pytest.mark.parametrize("cnn", [False, True])
def test_compiled_program_on_a_machine_with_bypassed_pes_computes_the_pruned_reference(
        engine, cnn):
    rng = np.random.default_rng(11)
    net = _cnn(rng) if cnn else _mlp(rng)
    x = rng.integers(-128, 128, (2,) + net.input_shape)
    cfg = replace(SMALL, bypass=[(1, 1), (4, 0), (6, 7), (0, 5), (3, 3), (7, 2)])
    out, _ = compile_network(net, 2, cfg).run(x, engine=engine)
    np.testing.assert_array_equal(out, prune_network(net, cfg).reference(x))
    assert not np.array_equal(prune_network(net, cfg).reference(x), net.reference(x))
