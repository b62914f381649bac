"""The one table formatter (``_table``): fixed and fitted columns, clipping, blank cells and
pipe tables."""

from __future__ import annotations

import pytest

from helpers import exact
from systolic._table import Column, Table, markdown_table


def test_fixed_columns_pad_each_cell_and_let_a_long_one_overflow():
    table = Table([Column("name", 6, "<"), Column("n", 5, spec=",")], indent="  ")
    assert table.lines([("a", 1234), ("abcdefgh", 1234567)]) == [
        "  name      n", "  a     1,234", "  abcdefgh1,234,567"]
    assert table.header() == "  name      n"
    assert table.row(("b", 2)) == "  b         2"


def test_fitted_column_takes_its_widest_cell_and_clip_keeps_one_space():
    table = Table([Column("x", None, "<"), Column("label", 4, "<", clip=True, sep=" "),
                   Column("share", 7, spec=".1%")])
    assert table.lines([("long name", "abcdef", 0.25), ("s", None, None)], header=False) == [
        "long name abc   25.0%", "s"]


def test_fitted_column_needs_all_rows():
    table = Table([Column("x", None, "<")])
    with pytest.raises(ValueError, match=exact(
            "a column fitted to its cells needs all rows: use Table.lines")):
        table.row(("a",))


def test_a_row_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError):
        Table([Column("a", 3), Column("b", 3)]).lines([(1, 2, 3)])


def test_markdown_table_rules_follow_the_alignment():
    assert markdown_table(["a", "b"], [[1, "x"], ["", 2.5]]) == [
        "| a | b |", "|---|---|", "| 1 | x |", "|  | 2.5 |"]
    assert markdown_table(["a", "b"], [], align="<>")[1] == "|---|---:|"
