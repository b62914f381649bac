"""The main figures against committed images, so a change that breaks a picture fails.

Each figure of ``tests/pictures.py`` is drawn at its fixed seed in a fixed style and compared
with its PNG by matplotlib's own image comparison, with a tolerance (RMS of the pixel
difference) that absorbs anti-aliasing and font rasterising differences between machines but
not a moved box, a lost label or a changed colour. Regenerate the images with
``PYTHONPATH=src python tests/pictures.py`` after a deliberate change, and look at them.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.testing.compare import compare_images  # noqa: E402

import pictures  # noqa: E402

#: RMS difference (0..255 grey levels) a redrawn figure may have. The font (DejaVu Sans) ships
#: with matplotlib, so machines differ only by rasterising; the next cycle of the README
#: picture measures 11.
TOLERANCE = 2


@pytest.mark.parametrize("name", list(pictures.FIGURES))
def test_figure_matches_its_committed_image(name, tmp_path):
    drawn = tmp_path / name
    pictures.draw(name, drawn)
    expected = pictures.baseline(name)
    recorded = (pictures.BASELINE / "MATPLOTLIB_VERSION").read_text().strip()
    difference = compare_images(str(expected), str(drawn), tol=TOLERANCE)
    assert difference is None, (
        f"{name} differs from its committed image (drawn with matplotlib {recorded}, now "
        f"{matplotlib.__version__}): {difference}")


def test_the_comparison_sees_a_changed_picture(tmp_path):
    # the tolerance is not so loose that a different cycle of the same run passes
    drawn = tmp_path / "other_cycle.png"
    import matplotlib.pyplot as plt

    from systolic import plot

    with pictures.fixed_style():
        fig = plot.plot_array(pictures.multi_tile_ws(), pictures.README_CYCLE + 1, pe=(1, 2))
        fig.savefig(drawn, dpi=pictures.DPI)
    plt.close(fig)
    assert compare_images(str(pictures.README_PICTURE), str(drawn), tol=TOLERANCE) is not None
