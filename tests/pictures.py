"""The figures held to committed images, built at fixed seeds in a fixed style.

``tests/test_plot_images.py`` redraws each figure and compares it with its committed PNG
(``matplotlib.testing.compare.compare_images`` with a tolerance). After a deliberate change of
a picture, regenerate the images and look at them before committing::

    PYTHONPATH=src python tests/pictures.py

which also writes the README's picture and the docs' animated wavefront. The images were drawn
with the matplotlib version in ``tests/baseline/MATPLOTLIB_VERSION``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

import systolic  # noqa: E402
from systolic import plot  # noqa: E402

ROOT = Path(__file__).parents[1]
BASELINE = ROOT / "tests" / "baseline"
#: The README's picture: also a baseline, so it cannot drift from what the code draws.
README_PICTURE = ROOT / "docs" / "images" / "array_ws_4x4.png"
WAVEFRONT_GIF = ROOT / "docs" / "images" / "wavefront_ws_4x4.gif"
DPI = 72


@contextlib.contextmanager
def fixed_style():
    """Matplotlib's default style with the font settings of its own image tests (DejaVu Sans,
    no hinting), so that images do not depend on the machine's fonts or rc file."""
    import matplotlib.style

    with matplotlib.style.context("default"), matplotlib.rc_context(
            {"font.family": "DejaVu Sans", "text.hinting": "none",
             "svg.hashsalt": "systolic"}):
        yield


def multi_tile_ws(rows: int = 4, cols: int = 4, seed: int = 0):
    """A weight-stationary run of two weight tiles (K = 2R), every register traced."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-9, 10, (5, 2 * rows), dtype=np.int8)
    b = rng.integers(-9, 10, (2 * rows, cols), dtype=np.int8)
    return systolic.SystolicArray(rows, cols, "ws").run(a, b, engine="cycle", trace=True,
                                                         record_outputs=True)


def small_os(seed: int = 1):
    rng = np.random.default_rng(seed)
    a = rng.integers(-9, 10, (4, 5), dtype=np.int8)
    b = rng.integers(-9, 10, (5, 4), dtype=np.int8)
    return systolic.SystolicArray(4, 4, "os").run(a, b, engine="cycle", trace=True,
                                                  record_outputs=True)


def dense_ws(seed: int = 2):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (12, 32), dtype=np.int8)
    b = rng.integers(-128, 128, (32, 16), dtype=np.int8)
    return systolic.SystolicArray(16, 16, "ws").run(a, b, engine="cycle", trace=True)


#: The cycle of the README picture: the second tile's switch on its way through the array while
#: its last weights still load and the next x vectors wait at the skewed left edge.
README_CYCLE = 12


def array_ws_4x4():
    return plot.plot_array(multi_tile_ws(), README_CYCLE, pe=(1, 2))


def array_os_4x4():
    return plot.plot_array(small_os(), 12)


def array_ws_16x16_psum():
    return plot.plot_array(dense_ws(), 40, color="psum")


def tpu_timeline():
    from systolic.tpu import TPU, Program, TPUConfig, plot_run_timeline

    # two back-to-back matrix multiplies in one unit, and a Halt that takes no cycle
    program = Program.parse("Read_Weights 0, 2\nRead_Host_Memory 0, 0, 8\n"
                            "MatrixMultiply.switch 0, 0, 8\nMatrixMultiply.switch 0, 8, 8\n"
                            "Activate 0, 16, 16\nWrite_Host_Memory 16, 1000, 16\nHalt")
    return plot_run_timeline(TPU(TPUConfig(rows=4, cols=4)).run(program))


def waveforms():
    run = multi_tile_ws()
    cycles = run.cycles
    out_valid = [int(c in set(run.outputs.cycles.tolist())) for c in range(cycles)]
    by_cycle = dict(zip(run.outputs.cycles.tolist(), run.outputs.data[:, 0].tolist()))
    # as a VCD file stores it: a 32-bit pattern
    out_data = [by_cycle.get(c, 0) % 2**32 for c in range(cycles)]
    psum = [int(v) % 2**32 for v in run.trace.registers["psum"][:, 3, 0]]
    return plot.plot_waveforms({"out_valid": out_valid, "pe_r3_c0.psum": psum,
                                "out_data_0": out_data},
                               signed={"pe_r3_c0.psum": 32, "out_data_0": 32})


#: Baseline file name to the function drawing it.
FIGURES = {
    "array_ws_4x4.png": array_ws_4x4,
    "array_os_4x4.png": array_os_4x4,
    "array_ws_16x16_psum.png": array_ws_16x16_psum,
    "tpu_timeline.png": tpu_timeline,
    "waveforms.png": waveforms,
}


def baseline(name: str) -> Path:
    return README_PICTURE if name == README_PICTURE.name else BASELINE / name


def draw(name: str, path: Path) -> None:
    import matplotlib.pyplot as plt

    with fixed_style():
        fig = FIGURES[name]()
        fig.savefig(path, dpi=DPI)
    plt.close(fig)


def main() -> None:
    BASELINE.mkdir(exist_ok=True)
    for name in FIGURES:
        draw(name, baseline(name))
    (BASELINE / "MATPLOTLIB_VERSION").write_text(matplotlib.__version__ + "\n")
    run = multi_tile_ws()
    with fixed_style():
        # from the first x vector to the last result: both tiles' switches cross the array
        plot.save_animation(plot.animate_array(run, cycles=range(3, run.cycles)),
                            WAVEFRONT_GIF, fps=2, dpi=60)


if __name__ == "__main__":
    main()
