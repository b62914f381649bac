"""Instruction set: the instruction table, binary encoding, assembler and disassembler.

The encoding is ours (TPU v1's opcodes and field order are not published); it keeps TPU v1's
field widths: 3-byte Unified Buffer address, 2-byte accumulator address, 4-byte length and a
12-byte MatrixMultiply. Fields are big-endian. The table is in docs/tpu.md, "Encoding".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .._checks import check_int, is_int

__all__ = [
    "MNEMONICS",
    "Instruction",
    "Program",
    "ProgramError",
    "assemble",
    "disassemble",
]


class ProgramError(ValueError):
    """A malformed program, with the line (1-based) and the reason.

    For binary programs the line is the instruction's position, which is also its line in
    the disassembly.
    """

    def __init__(self, line: int, reason: str):
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}")


@dataclass(frozen=True)
class _Field:
    name: str
    size: int                  # bytes
    signed: bool = False


@dataclass(frozen=True)
class _Spec:
    mnemonic: str
    opcode: int
    size: int                  # bytes of the whole instruction
    fields: tuple[_Field, ...]  # binary order, after the opcode byte and the 2 flag bytes
    operands: tuple[str, ...]   # text order
    flag_groups: tuple[tuple[str | None, ...], ...] = ()
    fixed_flags: int = 0        # flag bits that tell specs sharing an opcode apart
    fixed_mask: int = 0


_UB = _Field("ub", 3)
_ACC = _Field("acc", 2)
_ROWS = _Field("rows", 4)
_FLAG_BYTES = 2
_CONV_BIT = 1 << 4

_SPECS = (
    _Spec("Nop", 0x00, 12, (), ()),
    _Spec("Halt", 0x01, 12, (), ()),
    _Spec("Sync", 0x02, 12, (), ()),
    _Spec("Read_Host_Memory", 0x03, 16, (_UB, _ROWS, _Field("host", 6)), ("host", "ub", "rows")),
    _Spec("Write_Host_Memory", 0x04, 16, (_UB, _ROWS, _Field("host", 6)),
          ("ub", "host", "rows")),
    _Spec("Read_Weights", 0x05, 12, (_Field("addr", 5), _Field("tiles", 4)), ("addr", "tiles")),
    _Spec("MatrixMultiply", 0x06, 12, (_UB, _ACC, _ROWS), ("ub", "acc", "rows"),
          ((None, "acc"), (None, "switch"), (None, "xu"), (None, "wu")), 0, _CONV_BIT),
    # Convolve is MatrixMultiply with a 2-dimensional length: rows of the UB read with a stride.
    _Spec("Convolve", 0x06, 12, (_UB, _ACC, _Field("stride", 2), _Field("rows", 2)),
          ("ub", "acc", "rows", "stride"),
          ((None, "acc"), (None, "switch"), (None, "xu"), (None, "wu")), _CONV_BIT, _CONV_BIT),
    _Spec("Activate", 0x07, 12, (_UB, _ACC, _ROWS), ("acc", "ub", "rows"),
          ((None, "relu", "sigmoid", "tanh"), (None, "pool"))),
    _Spec("SetQuant", 0x08, 12,
          (_Field("multiplier", 4), _Field("shift", 1), _Field("zero_point", 1, True),
           _Field("frac_bits", 1)),
          ("multiplier", "shift", "zero_point", "frac_bits"),
          ((None, "uint8"), (None, "half_away", "half_up", "f32"))),
    _Spec("SetPool", 0x09, 12, (_Field("size", 1), _Field("width", 2)), ("size", "width"),
          ((None, "max", "avg"),)),
    _Spec("SetBias", 0x0A, 12, (_UB,), ("ub",), ((None, "scale"),)),
)

_BY_NAME = {spec.mnemonic.lower(): spec for spec in _SPECS}
_BY_OPCODE: dict[int, list[_Spec]] = {}
for _spec in _SPECS:
    _BY_OPCODE.setdefault(_spec.opcode, []).append(_spec)

MNEMONICS = tuple(spec.mnemonic for spec in _SPECS)


def _group_layout(spec: _Spec) -> list[tuple[int, int]]:
    """(bit offset, bit width) of each flag group, packed from bit 0 up."""
    layout, offset = [], 0
    for group in spec.flag_groups:
        width = max(1, math.ceil(math.log2(len(group))))
        layout.append((offset, width))
        offset += width
    return layout


@dataclass(frozen=True)
class Instruction:
    """One instruction: mnemonic, flags (canonical order) and integer operands.

    ``line`` is where it came from (source line or position) and takes no part in equality.
    """

    mnemonic: str
    operands: tuple[int, ...] = ()
    flags: tuple[str, ...] = ()
    line: int = field(default=0, compare=False)

    def __post_init__(self):
        # Everything that the static check and the executor read is settled here, so that an
        # instruction built in Python is exactly one that the assembler could have produced.
        line = check_int("line", self.line, 0)
        if not isinstance(self.mnemonic, str):
            raise TypeError(f"mnemonic must be a string, got {self.mnemonic!r}")
        spec = _BY_NAME.get(self.mnemonic.lower())
        if spec is None:
            raise ProgramError(line, f"unknown mnemonic {self.mnemonic!r}")
        if self.mnemonic != spec.mnemonic:
            raise ProgramError(line, f"mnemonic {self.mnemonic!r} must be spelled "
                                     f"{spec.mnemonic!r}")
        operands = tuple(self.operands) if isinstance(self.operands, (tuple, list)) else None
        if operands is None or not all(is_int(v) for v in operands):
            raise TypeError(f"{spec.mnemonic}: operands must be a tuple of integers, "
                            f"got {self.operands!r}")
        if len(operands) != len(spec.operands):
            raise ProgramError(line, f"{spec.mnemonic} takes {len(spec.operands)} operand"
                                     f"{'' if len(spec.operands) == 1 else 's'} "
                                     f"({', '.join(spec.operands) or 'none'}), "
                                     f"got {len(operands)}")
        flags = tuple(self.flags) if isinstance(self.flags, (tuple, list)) else None
        if flags is None or not all(isinstance(f, str) for f in flags):
            raise TypeError(f"{spec.mnemonic}: flags must be a tuple of strings, "
                            f"got {self.flags!r}")
        chosen: list[str | None] = [None] * len(spec.flag_groups)
        for flag in flags:
            groups = [i for i, group in enumerate(spec.flag_groups) if flag in group]
            if not groups:
                raise ProgramError(line, f"{spec.mnemonic}: unknown flag {flag!r}")
            if chosen[groups[0]] is not None:
                raise ProgramError(line, f"{spec.mnemonic}: flag {flag!r} conflicts with "
                                         f"{chosen[groups[0]]!r}")
            chosen[groups[0]] = flag
        object.__setattr__(self, "line", line)
        object.__setattr__(self, "operands", tuple(int(v) for v in operands))
        object.__setattr__(self, "flags", tuple(f for f in chosen if f))
        self.encode()          # every operand must fit its field (negative addresses do not)

    @property
    def spec(self) -> _Spec:
        return _BY_NAME[self.mnemonic.lower()]

    def operand(self, name: str) -> int:
        """The operand called ``name`` (as in the encoding table)."""
        return self.operands[self.spec.operands.index(name)]

    def has(self, flag: str) -> bool:
        """Whether ``flag`` is set."""
        return flag in self.flags

    @property
    def text(self) -> str:
        """Canonical text form."""
        head = ".".join((self.mnemonic,) + self.flags)
        return f"{head} {', '.join(str(v) for v in self.operands)}" if self.operands else head

    def encode(self) -> bytes:
        """Binary form (big-endian fields)."""
        spec = self.spec
        flags = spec.fixed_flags
        for group, (offset, _width) in zip(spec.flag_groups, _group_layout(spec), strict=True):
            for code, name in enumerate(group):
                if name is not None and name in self.flags:
                    flags |= code << offset
        values = dict(zip(spec.operands, self.operands, strict=True))
        out = bytearray([spec.opcode]) + flags.to_bytes(_FLAG_BYTES, "big")
        for fld in spec.fields:
            try:
                out += values[fld.name].to_bytes(fld.size, "big", signed=fld.signed)
            except OverflowError:
                raise ProgramError(self.line, f"{self.mnemonic}: operand {fld.name}="
                                              f"{values[fld.name]} does not fit in {fld.size} "
                                              f"{'signed ' if fld.signed else ''}byte"
                                              f"{'s' if fld.size > 1 else ''}") from None
        return bytes(out.ljust(spec.size, b"\0"))


def _parse_int(token: str, line: int, mnemonic: str) -> int:
    try:
        return int(token, 0)
    except ValueError:
        raise ProgramError(line, f"{mnemonic}: operand {token!r} is not an integer") from None


def _parse_line(text: str, line: int) -> Instruction | None:
    code = text.split("#", 1)[0].strip()
    if not code:
        return None
    head, rest = (code.split(None, 1) + [""])[:2]
    name, *flags = head.split(".")
    spec = _BY_NAME.get(name.lower())
    if spec is None:
        raise ProgramError(line, f"unknown mnemonic {name!r}")
    tokens = [t.strip() for t in rest.split(",")] if rest.strip() else []
    if len(tokens) != len(spec.operands):
        raise ProgramError(line, f"{spec.mnemonic} takes {len(spec.operands)} operand"
                                 f"{'' if len(spec.operands) == 1 else 's'} "
                                 f"({', '.join(spec.operands) or 'none'}), got {len(tokens)}")
    operands = tuple(_parse_int(t, line, spec.mnemonic) for t in tokens)
    return Instruction(spec.mnemonic, operands, tuple(flag.lower() for flag in flags), line)


def _decode_one(data: bytes, pos: int, line: int) -> Instruction:
    specs = _BY_OPCODE.get(data[pos])
    if specs is None:
        raise ProgramError(line, f"unknown opcode 0x{data[pos]:02x} at byte {pos}")
    flags = int.from_bytes(data[pos + 1:pos + 1 + _FLAG_BYTES], "big")
    spec = next(s for s in specs if flags & s.fixed_mask == s.fixed_flags)
    if pos + spec.size > len(data):
        raise ProgramError(line, f"{spec.mnemonic}: truncated, {len(data) - pos} of "
                                 f"{spec.size} bytes")
    chosen, used = [], spec.fixed_mask
    for group, (offset, width) in zip(spec.flag_groups, _group_layout(spec), strict=True):
        code = (flags >> offset) & ((1 << width) - 1)
        used |= ((1 << width) - 1) << offset
        if code >= len(group):
            raise ProgramError(line, f"{spec.mnemonic}: invalid flag code {code}")
        if group[code] is not None:
            chosen.append(group[code])
    if flags & ~used:
        raise ProgramError(line, f"{spec.mnemonic}: reserved flag bits set (0x{flags:04x})")
    values, at = {}, pos + 1 + _FLAG_BYTES
    for fld in spec.fields:
        values[fld.name] = int.from_bytes(data[at:at + fld.size], "big", signed=fld.signed)
        at += fld.size
    if any(data[at:pos + spec.size]):
        raise ProgramError(line, f"{spec.mnemonic}: reserved bytes are not zero")
    return Instruction(spec.mnemonic, tuple(values[n] for n in spec.operands), tuple(chosen),
                       line)


@dataclass(frozen=True)
class Program:
    """A sequence of instructions, built from text (:meth:`parse`) or binary (:meth:`decode`).

    Attributes
    ----------
    instructions : tuple of Instruction
    """

    instructions: tuple[Instruction, ...]

    def __post_init__(self):
        instructions = self.instructions
        if (not isinstance(instructions, (tuple, list))
                or not all(isinstance(i, Instruction) for i in instructions)):
            raise TypeError(f"instructions must be a sequence of Instruction, "
                            f"got {instructions!r}")
        object.__setattr__(self, "instructions", tuple(instructions))

    @classmethod
    def parse(cls, text: str) -> Program:
        """Assemble the text form: one instruction per line, ``#`` starts a comment.

        Raises
        ------
        ProgramError
            Unknown mnemonic or flag, wrong operand count, a non-integer operand or one that
            does not fit its field.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        out = []
        for number, source in enumerate(text.splitlines(), start=1):
            inst = _parse_line(source, number)
            if inst is not None:
                out.append(inst)
        return cls(tuple(out))

    @classmethod
    def decode(cls, data: bytes) -> Program:
        """Decode the binary form; instruction ``i`` (0-based) gets line ``i + 1``."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes, got {type(data).__name__}")
        data = bytes(data)
        out, pos = [], 0
        while pos < len(data):
            inst = _decode_one(data, pos, len(out) + 1)
            out.append(inst)
            pos += inst.spec.size
        return cls(tuple(out))

    @classmethod
    def from_instructions(cls, instructions) -> Program:
        """A program of ``instructions``, renumbered 1, 2, ... (their lines in :attr:`text`)."""
        return cls(tuple(Instruction(i.mnemonic, tuple(i.operands), tuple(i.flags), n)
                         for n, i in enumerate(instructions, start=1)))

    def encode(self) -> bytes:
        """The binary form."""
        return b"".join(inst.encode() for inst in self.instructions)

    @property
    def text(self) -> str:
        """The canonical text form, one instruction per line."""
        return "".join(inst.text + "\n" for inst in self.instructions)

    def __len__(self) -> int:
        return len(self.instructions)


def assemble(text: str) -> bytes:
    """Text form to binary form (see :meth:`Program.parse`)."""
    return Program.parse(text).encode()


def disassemble(data: bytes) -> str:
    """Binary form to canonical text form (see :meth:`Program.decode`)."""
    return Program.decode(data).text
