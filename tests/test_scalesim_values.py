"""``systolic scalesim --with-values`` and :func:`systolic.scalesim.check_values`."""

from __future__ import annotations

import dataclasses

import pytest

import systolic.array
from scalesim_oracle import config_text
from systolic.cli import main
from systolic.scalesim import ValuesError, check_values, run

pytestmark = pytest.mark.filterwarnings("ignore:line 3. depth-wise layer")

# A strided conv (SCALE-Sim pads its M, the values use the true one) and a depth-wise layer.
TOPOLOGY = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
            "Num Filter, Strides,\n"
            "a, 10, 9, 3, 2, 3, 12, 2,\n"
            "b_DP, 7, 7, 3, 3, 2, 1, 1,\n")


@pytest.fixture
def files(tmp_path):
    (tmp_path / "t.csv").write_text(TOPOLOGY)
    for dataflow in ("ws", "os", "is"):
        (tmp_path / f"{dataflow}.cfg").write_text(config_text(8, 6, dataflow, mode="USER"))
    return tmp_path


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_with_values_checks_every_layer(files, capsys, dataflow):
    status = main(["scalesim", "-c", str(files / f"{dataflow}.cfg"), "-t", str(files / "t.csv"),
                   "-p", str(files / "out"), "--with-values", "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0
    assert "values: 3 layers" in out and "equal to numpy" in out
    assert (files / "out" / "run" / "COMPUTE_REPORT.csv").exists()


def test_check_values_is_seeded(files):
    report = run(str(files / "ws.cfg"), str(files / "t.csv"))
    assert check_values(report, seed=1) >= 0
    assert [layer.m for layer in report.layers] == [16, 25, 25]     # true sizes, not 20


def test_a_wrong_value_is_reported_with_its_layer(files, capsys, monkeypatch):
    real = systolic.array.SystolicArray.run

    def corrupted(self, a, b, **options):
        result = real(self, a, b, **options)
        if a.shape[0] == 25:                   # the depth-wise layers
            output = result.output.copy()
            output[3, 0] += 1
            result = dataclasses.replace(result, output=output)
        return result

    monkeypatch.setattr(systolic.array.SystolicArray, "run", corrupted)
    report = run(str(files / "os.cfg"), str(files / "t.csv"))
    with pytest.raises(ValuesError, match=r"layer 1 \('b_DPChannel_0', 25x9x1\): "
                                          r"output\[3, 0\] = -?\d+, numpy gives -?\d+"):
        check_values(report)
    status = main(["scalesim", "-c", str(files / "os.cfg"), "-t", str(files / "t.csv"),
                   "-p", str(files / "out"), "--with-values", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert err[-1].startswith("systolic scalesim: error: values differ from numpy: layer 1 ")
    assert "depth-wise" in err[0] and len(err) == 2
    assert (files / "out" / "run" / "DETAILED_ACCESS_REPORT.csv").exists()
