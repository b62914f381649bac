"""The closed forms of systolic.scalesim._closed against the compiled replay of SCALE-Sim's
buffers (itself held to the real SCALE-Sim in test_scalesim_reports.py), cell for cell."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from systolic.scalesim import Config, _closed, _replay_counts
from systolic.tpu import read_topology

CONV = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
        "Num Filter, Strides,\n")


@st.composite
def layers(draw):
    """One conv or GEMM layer, small enough for the replay, with strides up to 5."""
    if draw(st.booleans()):
        m, n, k = (draw(st.integers(1, 60)) for _ in range(3))
        return read_topology(f"Layer, M, N, K,\ng, {m}, {n}, {k},\n", kind="gemm")[0]
    ifh, ifw = draw(st.integers(1, 16)), draw(st.integers(1, 16))
    fh, fw = draw(st.integers(1, ifh)), draw(st.integers(1, ifw))
    ch, filters, stride = draw(st.integers(1, 4)), draw(st.integers(1, 24)), \
        draw(st.integers(1, 5))
    return read_topology(CONV + f"c, {ifh}, {ifw}, {fh}, {fw}, {ch}, {filters}, {stride},\n")[0]


@st.composite
def configs(draw):
    """Arrays from 1x1 to 16x16, and SRAMs from too small for anything to large enough."""
    return Config("run", draw(st.integers(1, 16)), draw(st.integers(1, 16)),
                  draw(st.sampled_from(("ws", "os", "is"))),
                  *(draw(st.sampled_from((1, 2, 4, 16, 64))) for _ in range(3)),
                  bandwidth_mode=draw(st.sampled_from(("CALC", "USER"))),
                  ifmap_bandwidth=draw(st.integers(1, 12)),
                  filter_bandwidth=draw(st.integers(1, 12)),
                  ofmap_bandwidth=draw(st.integers(1, 12)))


@settings(max_examples=400)
@given(layers(), configs())
def test_closed_forms_equal_the_replay(layer, config):
    closed = _closed.counts(layer, config)
    if closed is not None:
        assert closed == _replay_counts(layer, config)


def test_closed_forms_cover_the_layers_that_cannot_stall():
    # The closed form applies exactly when nothing can stall and no CALC epoch flushes.
    layer = read_topology(CONV + "c, 15, 11, 3, 2, 3, 24, 2,\n")[0]
    for dataflow in ("ws", "os", "is"):
        for mode in ("CALC", "USER"):
            big = Config("run", 8, 8, dataflow, 64, 64, 64, bandwidth_mode=mode)
            assert _closed.counts(layer, big) == _replay_counts(layer, big)
            assert _closed.counts(layer, Config("run", 8, 8, dataflow, 64, 64, 1,
                                                bandwidth_mode=mode)) is None
    # 1 kB: CALC flushes an epoch every 500 new addresses; USER's active half holds 47 lines of
    # 11 words. M*K = 480 fits both, 600 neither.
    for m, closed in ((20, True), (25, False)):
        gemm = read_topology(f"Layer, M, N, K,\ng, {m}, 20, 24,\n", kind="gemm")[0]
        for mode in ("CALC", "USER"):
            config = Config("run", 4, 4, "ws", 1, 1, 64, bandwidth_mode=mode)
            assert (_closed.counts(gemm, config) is not None) == closed
