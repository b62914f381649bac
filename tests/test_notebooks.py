"""The teaching notebooks are committed clean and each ends with a checked exercise.

Executing them is nbmake's job: ``pytest --nbmake examples/notebooks``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "examples" / "notebooks").glob("*.ipynb"))


def test_all_six_lessons_are_there():
    assert [path.name[:3] for path in NOTEBOOKS] == ["01_", "02_", "03_", "04_", "05_", "06_"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_is_clean_and_has_a_checked_exercise(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code), \
        "commit notebooks without outputs"
    headings = [cell.source for cell in notebook.cells if cell.cell_type == "markdown"]
    assert headings[0].startswith("# "), "the first cell is the lesson's title"
    exercise = next(i for i, cell in enumerate(notebook.cells)
                    if cell.cell_type == "markdown" and "## Exercise" in cell.source)
    assert any("assert " in cell.source for cell in notebook.cells[exercise + 1:]
               if cell.cell_type == "code"), "the exercise's answer is checked"
