"""Instruction set: encoding widths, text <-> binary round trips, assembler errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from systolic.tpu import MNEMONICS, Instruction, Program, ProgramError, assemble, disassemble
from systolic.tpu._isa import _BY_NAME


@st.composite
def instructions(draw):
    mnemonic = draw(st.sampled_from(MNEMONICS))
    spec = _BY_NAME[mnemonic.lower()]
    flags = tuple(f for f in (draw(st.sampled_from(group)) for group in spec.flag_groups) if f)
    sizes = {f.name: f for f in spec.fields}
    operands = []
    for name in spec.operands:
        fld = sizes[name]
        bits = 8 * fld.size
        low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if fld.signed else \
            (0, (1 << bits) - 1)
        operands.append(draw(st.one_of(st.integers(low, high), st.sampled_from([low, high]))))
    return Instruction(mnemonic, tuple(operands), flags)


@settings(max_examples=300)
@given(st.lists(instructions(), min_size=1, max_size=12))
def test_text_binary_text_round_trip(insts):
    text = Program.from_instructions(insts).text
    binary = assemble(text)
    assert disassemble(binary) == text
    assert assemble(disassemble(binary)) == binary
    assert Program.decode(binary).instructions == tuple(insts)


def test_field_widths_follow_tpu_v1():
    mm = Instruction("MatrixMultiply", ((1 << 24) - 1, (1 << 16) - 1, (1 << 32) - 1),
                     ("acc", "switch"))
    data = mm.encode()
    assert len(data) == 12                      # 1 opcode + 2 flags + 3 UB + 2 acc + 4 length
    assert data[3:6] == b"\xff\xff\xff" and data[6:8] == b"\xff\xff"
    assert data[8:12] == b"\xff\xff\xff\xff"
    with pytest.raises(ProgramError, match=r"^line 0: MatrixMultiply: operand ub=16777216 "
                                           r"does not fit in 3 bytes$"):
        Instruction("MatrixMultiply", (1 << 24, 0, 1))
    assert {len(Instruction(m, tuple(0 for _ in _BY_NAME[m.lower()].operands)).encode())
            for m in MNEMONICS} == {12, 16}


def test_text_form_is_forgiving_about_case_comments_and_hex():
    program = Program.parse("""
        # load and go
        read_weights 0x0, 2          # two tiles
        MATRIXMULTIPLY.Switch	0,0x10 ,  5
        Activate.relu.pool 0, 4, 16
        Halt
    """)
    assert program.text == ("Read_Weights 0, 2\nMatrixMultiply.switch 0, 16, 5\n"
                            "Activate.relu.pool 0, 4, 16\nHalt\n")
    assert [i.line for i in program.instructions] == [3, 4, 5, 6]


@pytest.mark.parametrize("text, message", [
    ("Nop\nMultiply 1, 2, 3", r"^line 2: unknown mnemonic 'Multiply'$"),
    ("MatrixMultiply 1, 2", r"^line 1: MatrixMultiply takes 3 operands \(ub, acc, rows\), "
                            r"got 2$"),
    ("Halt 1", r"^line 1: Halt takes 0 operands \(none\), got 1$"),
    ("SetBias", r"^line 1: SetBias takes 1 operand \(ub\), got 0$"),
    ("MatrixMultiply.fast 1, 2, 3", r"^line 1: MatrixMultiply: unknown flag 'fast'$"),
    ("Activate.relu.tanh 1, 2, 3", r"^line 1: Activate: flag 'tanh' conflicts with 'relu'$"),
    ("Read_Weights zero, 1", r"^line 1: Read_Weights: operand 'zero' is not an integer$"),
    ("\n\nActivate 0, -1, 3", r"^line 3: Activate: operand ub=-1 does not fit in 3 bytes$"),
    ("SetQuant 1, 2, 200, 0", r"^line 1: SetQuant: operand zero_point=200 does not fit in 1 "
                              r"signed byte$"),
])
def test_assembler_errors(text, message):
    with pytest.raises(ProgramError, match=message) as info:
        Program.parse(text)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("data, message", [
    (b"\x7f" + bytes(11), r"^line 1: unknown opcode 0x7f at byte 0$"),
    (bytes(12) + b"\x06\x00\x00", r"^line 2: MatrixMultiply: truncated, 3 of 12 bytes$"),
    (b"\x06\x80\x00" + bytes(9), r"^line 1: MatrixMultiply: reserved flag bits set "
                                 r"\(0x8000\)$"),
    (b"\x01" + bytes(10) + b"\x01", r"^line 1: Halt: reserved bytes are not zero$"),
    (b"\x09\x00\x03" + bytes(9), r"^line 1: SetPool: invalid flag code 3$"),
])
def test_decoder_errors(data, message):
    with pytest.raises(ProgramError, match=message):
        Program.decode(data)


def test_convolve_shares_the_matrix_multiply_opcode():
    conv = Program.parse("Convolve.acc 100, 7, 30, 2").instructions[0]
    mm = Program.parse("MatrixMultiply.acc 100, 7, 30").instructions[0]
    assert conv.encode()[0] == mm.encode()[0] == 0x06
    assert conv.encode()[8:12] == (2).to_bytes(2, "big") + (30).to_bytes(2, "big")
    assert conv.operand("stride") == 2 and conv.has("acc")
