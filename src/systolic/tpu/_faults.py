"""Faults and bypassed PEs at the TPU level: the matrix unit's cycle numbering and pruning.

The matrix unit runs each MatrixMultiply or Convolve on a freshly reset array
(:meth:`systolic.SystolicArray.run`: load the tile, stream the vectors, drain). A stuck bit is
stuck in every one of those runs; a flip happens once, at a cycle of the **matrix unit's cycle
count**: the runs' cycles one after another in program order, run ``i`` covering
``offsets[i] <= t < offsets[i] + totals[i]`` (:func:`matrix_runs`).

Fault-aware pruning: the compiler zeroes every weight that lands on a bypassed PE, so the
program computes :func:`prune_network` of the network, bit for bit (docs/tpu.md, "Faults in
the matrix unit").
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..faults import check_bypass
from ._config import TPUConfig
from ._isa import Program

__all__ = ["matrix_cycles", "prune_network"]

_MATRIX = ("MatrixMultiply", "Convolve")


def matrix_runs(program: Program, config: TPUConfig) -> list[int]:
    """The length in cycles of the array run of every matrix instruction, in program order."""
    from ..timing import breakdown

    return [breakdown(inst.operand("rows"), config.rows, config.cols, config.rows,
                      config.cols, "ws", double_buffer=config.double_buffer).total
            for inst in program.instructions if inst.mnemonic in _MATRIX]


def matrix_cycles(program, config: TPUConfig | None = None) -> int:
    """Cycles of the matrix unit over ``program``: the range a flip's cycle is drawn from.

    Every MatrixMultiply and Convolve is one run of the array (tile load, vectors, drain) from
    its reset state; this is the sum of their lengths, and a flip at cycle ``t`` hits the run
    that covers ``t`` when the runs are counted one after another in program order.

    Parameters
    ----------
    program : Program
    config : TPUConfig, optional
        The machine (TPU v1 by default).

    Returns
    -------
    int

    Examples
    --------
    >>> from systolic.tpu import Program, TPUConfig
    >>> program = Program.parse('''
    ...     Read_Weights 0, 1
    ...     MatrixMultiply.switch 0, 0, 6
    ...     MatrixMultiply 0, 6, 2
    ...     Halt''')
    >>> matrix_cycles(program, TPUConfig(rows=4, cols=4))    # (4 + 6 + 7) + (4 + 2 + 7)
    30
    """
    if not isinstance(program, Program):
        raise TypeError(f"program must be a Program, not {program!r}")
    config = TPUConfig() if config is None else config
    if not isinstance(config, TPUConfig):
        raise TypeError(f"config must be a TPUConfig, not {config!r}")
    return sum(matrix_runs(program, config))


def prune_network(network, config: TPUConfig | None = None, bypass=None):
    """The network with every weight that lands on a bypassed PE set to 0.

    The compiler puts channel ``ch`` of a layer's input on array row ``ch % g`` and output
    feature ``f`` on column ``f % g``, with ``g = min(rows, cols)`` (docs/tpu.md, "Compiler"),
    so weight ``(ch, f)`` of every kernel tap lands on ``PE(ch % g, f % g)``. A program compiled
    for a machine with bypassed PEs computes exactly this network's :meth:`Network.reference`.

    Parameters
    ----------
    network : Network
    config : TPUConfig, optional
        The machine (TPU v1 by default); its ``bypass`` is used unless ``bypass`` is given.
    bypass : sequence of (int, int), optional
        Bypassed PEs, instead of ``config.bypass``.

    Returns
    -------
    Network
        A new network (the same one when no weight lands on a bypassed PE).

    Examples
    --------
    >>> import numpy as np
    >>> from systolic.tpu import Dense, Network, TPUConfig
    >>> net = Network([Dense(np.ones((3, 2), np.int8))], (3,))
    >>> prune_network(net, TPUConfig(rows=2, cols=2), bypass=[(0, 1)]).layers[0].weight
    array([[1, 0],
           [1, 1],
           [1, 0]])
    """
    from ._compiler import Dense, Network

    if not isinstance(network, Network):
        raise TypeError(f"network must be a Network, not {network!r}")
    config = TPUConfig() if config is None else config
    if not isinstance(config, TPUConfig):
        raise TypeError(f"config must be a TPUConfig, not {config!r}")
    pes = config.bypass if bypass is None else check_bypass(bypass, config.rows, config.cols)
    g = min(config.rows, config.cols)
    dead = np.zeros((g, g), bool)
    for r, c in pes:
        if r < g and c < g:         # PEs outside the g x g corner never hold a weight
            dead[r, c] = True
    if not dead.any():
        return network
    layers = []
    for stage in network.stages:
        layer = stage.layer
        if isinstance(layer, Dense):
            # rows of a dense weight are the flattened (h, w, c) input: channel = row % c
            k, n = layer.weight.shape
            channel = np.arange(k) % stage.inp.c
            mask = dead[np.ix_(channel % g, np.arange(n) % g)]
        else:
            _, _, c, f = layer.weight.shape
            mask = np.broadcast_to(dead[np.ix_(np.arange(c) % g, np.arange(f) % g)],
                                   layer.weight.shape)
        layers.append(replace(layer, weight=np.where(mask, 0, layer.weight)))
        if stage.pool is not None:
            layers.append(stage.pool)
    return Network(layers, network.input_shape, input_signed=network.input_signed)
