"""The RTL regression harness: generated Verilog against the cycle-accurate model, in cocotb.

:func:`build_and_run` generates an array, compiles it with Icarus Verilog or Verilator
(cocotb's runner), runs the model on a list of matmul cases and drives the model's edge stream
into the simulator, where the testbench (:mod:`systolic.hdl.sim.tb_array`) compares every
output value and the cycle it appears on (and, for small arrays, every PE register on every
cycle) with the model. ``systolic sim`` runs :func:`run_matmul_at_size`; the cocotb tests in
``tests/rtl`` and the fourth lesson use the same functions. Needs the ``hdl`` extra.

Modules: :mod:`~systolic.hdl.sim.rtl_runner` (build and run), :mod:`~systolic.hdl.sim.stimulus`
(random cases with extreme operands, folds and idle gaps), :mod:`~systolic.hdl.sim.model_streams`
(the model's side, handed to the simulator in an ``.npz`` file) and
:mod:`~systolic.hdl.sim.tb_array` (the testbench, loaded by the simulator).
"""

from .model_streams import case_streams
from .rtl_runner import RtlRun, build_and_run, run_matmul_at_size
from .stimulus import lane_operands, random_case

__all__ = ["RtlRun", "build_and_run", "case_streams", "lane_operands", "random_case",
           "run_matmul_at_size"]
