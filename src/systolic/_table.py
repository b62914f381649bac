"""Text tables: the one formatter behind every table the command line, the TPU reports, the
demo and the benchmarks print.

Two shapes: :class:`Table` lines up columns of fixed or fitted width for a terminal, and
:func:`markdown_table` writes the pipe tables of ``benchmarks/results/``. The formats already
pinned by the documentation are kept exactly, so a column says how it is padded (``width``,
``align``), what separates it from the previous one (``sep``) and how its numbers are written
(``spec``, a format specification such as ``","`` or ``".1%"``). It imports only the standard
library, so every module may use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Column", "Table", "markdown_table"]


@dataclass(frozen=True)
class Column:
    """One column of a :class:`Table`.

    Parameters
    ----------
    title : str
        The header cell.
    width : int or None
        Cells are padded to this many characters (a longer cell overflows on its own line
        only); ``None`` fits the column to its widest cell, title included.
    align : {">", "<"}
        Right (numbers) or left (names) alignment.
    spec : str
        Format specification applied to numbers (``format(value, spec)``).
    clip : bool
        Cut text to ``width - 1`` characters, so that one space always follows it.
    sep : str
        Text written before the column.
    """

    title: str
    width: int | None = None
    align: str = ">"
    spec: str = ""
    clip: bool = False
    sep: str = ""

    def text(self, value) -> str:
        """A cell's text before padding: ``None`` is blank, strings stay as they are."""
        if value is None:
            return ""
        text = value if isinstance(value, str) else format(value, self.spec)
        if self.clip and self.width is not None:
            text = text[:self.width - 1]
        return text


class Table:
    """Columns lined up for a terminal.

    Parameters
    ----------
    columns : sequence of Column
    indent : str
        Text before every line.

    Examples
    --------
    >>> table = Table([Column("layer", None, "<"), Column("cycles", 10, spec=",")])
    >>> print("\\n".join(table.lines([("fc1", 4615), ("total", 10890)])))
    layer    cycles
    fc1       4,615
    total    10,890
    """

    def __init__(self, columns: Sequence[Column], indent: str = ""):
        self.columns = tuple(columns)
        self.indent = indent

    def lines(self, rows: Iterable[Sequence], header: bool = True) -> list[str]:
        """The header line (unless ``header`` is False) and one line per row."""
        cells = [[column.text(value) for column, value in zip(self.columns, row, strict=True)]
                 for row in rows]
        widths = [column.width if column.width is not None else
                  max([len(column.title)] + [len(line[i]) for line in cells])
                  for i, column in enumerate(self.columns)]
        titles = [column.title for column in self.columns]
        return [self._line(line, widths) for line in ([titles] if header else []) + cells]

    def header(self) -> str:
        """The header line; needs every column's ``width``."""
        return self._line([column.title for column in self.columns],
                          [column.width for column in self.columns])

    def row(self, values: Sequence) -> str:
        """One row's line, for tables printed as their rows are computed; needs every
        column's ``width``."""
        return self._line([column.text(value) for column, value in
                           zip(self.columns, values, strict=True)],
                          [column.width for column in self.columns])

    def _line(self, cells: Sequence[str], widths: Sequence[int | None]) -> str:
        if None in widths:
            raise ValueError("a column fitted to its cells needs all rows: use Table.lines")
        # No trailing blanks: a last cell left empty (a total row's) adds nothing.
        return (self.indent + "".join(
            f"{column.sep}{cell:{column.align}{width}}"
            for column, cell, width in zip(self.columns, cells, widths, strict=True))).rstrip()


def markdown_table(titles: Sequence[str], rows: Iterable[Sequence],
                   align: str | None = None) -> list[str]:
    """A pipe table: the header, the rule and one line per row of already written cells.

    ``align`` holds one character per column, ``"<"`` (the default rule ``---``) or ``">"``
    (``---:``).

    Examples
    --------
    >>> print("\\n".join(markdown_table(["run", "time"], [["fast", "1.2 ms"]], align="<>")))
    | run | time |
    |---|---:|
    | fast | 1.2 ms |
    """
    rule = ["---:" if a == ">" else "---" for a in (align or "<" * len(titles))]
    return ["| " + " | ".join(titles) + " |", "|" + "|".join(rule) + "|",
            *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)]
