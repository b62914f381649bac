"""Topology files in SCALE-Sim's formats, read by us and by SCALE-Sim 3.0's own loader."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest

import scalesim_oracle
from systolic.timing import scalesim_breakdown
from systolic.tpu import TopologyError, TopologyWarning, read_topology

CONV_HEADER = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
               "Num Filter, Strides,\n")

# Files SCALE-Sim reads (the shapes of those in its topologies/ folder): name -> (kind, text).
ACCEPTED = {
    "conv": ("conv", CONV_HEADER + "Conv1,224,224,7,7,3,64,2,\nConv2, 56, 56, 3, 3, 64, 64, 1,\n"
                                   "\nfc, 1, 1, 1, 1, 2048, 1000, 1,\n"),
    "conv_strides": ("conv", CONV_HEADER + "".join(
        f"s{s}, {h}, {w}, {fh}, {fw}, 3, 5, {s},\n"
        for s in (1, 2, 3, 4) for h, w, fh, fw in ((10, 9, 3, 2), (17, 17, 5, 5), (7, 12, 1, 4)))),
    "conv_header_without_comma": ("conv", CONV_HEADER.rstrip(",\n")
                                  + "\nc, 9, 9, 3, 3, 2, 4, 2,\n"),
    "conv_sparsity": ("conv", CONV_HEADER.rstrip("\n") + " Sparsity,\n"
                                                          "CONV_1, 5, 5, 3, 3, 2, 6, 1, 2:4,\n"),
    "conv_sparsity_without_comma": ("conv", CONV_HEADER + "c, 8, 8, 3, 3, 2, 6, 2, 1:4\n"),
    "conv_comment_after_row": ("conv", CONV_HEADER + "c, 8, 8, 3, 3, 2, 6, 2, # stem\n"),
    "conv_extra_int_without_comma": ("conv", CONV_HEADER + "c, 8, 8, 3, 3, 2, 6, 2, 1\n"),
    "conv_depthwise": ("conv", CONV_HEADER + "Conv1_DP, 12, 12, 3, 3, 4, 1, 2,\n"
                                             "pw, 5, 5, 1, 1, 4, 8, 1,\n"),
    "gemm": ("gemm", "Layer,M,N,K,\nL0,196,192,384,\nL1,196,1176,64,\n"),
    "gemm_header_without_comma": ("gemm", "Layer, M, N, K\nL0, 5, 6, 7,\n"),
    "gemm_sparsity": ("gemm", "Layer Name, M, N, K, Sparsity,\nGEMM_1, 3, 5, 16, 3:4,\n"
                              "GEMM_2, 1, 5, 16, 1:4,\n"),
    "gemm_extra_after_sparsity": ("gemm", "Layer, M, N, K,\nL0, 5, 6, 7, 1:1, 99,\n"),
}


def _write(tmp_path, files):
    paths = {}
    for name, (kind, text) in files.items():
        path = tmp_path / f"{name}.csv"
        path.write_text(text)
        paths[name] = (kind, path)
    return paths


def _read_quietly(path, kind):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TopologyWarning)
        return read_topology(path, kind=kind)


def test_every_file_scalesim_reads_is_read_the_same(tmp_path):
    paths = _write(tmp_path, ACCEPTED)
    for kind in ("conv", "gemm"):
        names = [name for name, (k, _) in paths.items() if k == kind]
        theirs = scalesim_oracle.load_topologies(kind, [paths[n][1] for n in names])
        for name in names:
            ours = _read_quietly(paths[name][1], kind)
            assert [[lay.name, lay.scalesim_m, lay.n, lay.k] for lay in ours] == \
                theirs[str(paths[name][1])], name
            # Auto-detection agrees with the explicit kind.
            assert _read_quietly(paths[name][1], None) == ours


def test_strided_conv_output_size():
    layers = read_topology(CONV_HEADER + "a, 10, 9, 3, 2, 3, 12, 2,\nb, 34, 34, 3, 3, 32, 64, 2,\n"
                           "c, 17, 17, 5, 5, 1, 1, 4,\nd, 8, 8, 2, 2, 1, 1, 2,\n")
    # True size floor((If - F) / S) + 1; SCALE-Sim's ceil((If - F + S) / S).
    assert [(lay.m, lay.scalesim_m) for lay in layers] == [(4 * 4, 5 * 5), (16 * 16, 17 * 17),
                                                           (4 * 4, 4 * 4), (4 * 4, 4 * 4)]
    assert layers[0].conv == (10, 9, 3, 2, 3, 2)


def test_files_scalesim_crashes_on_are_read_with_notes(tmp_path):
    # SCALE-Sim's conv_nets/Resnet50.csv: columns after the stride and a row of commas.
    text = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
            "Num Filter, Strides,,,Eh,Ew,e2\n,,,,,,,,,,,,\n"
            "Conv1,224,224,7,7,3,64,2,,,110,110,12100\n"
            "CB2a_1,56,56,1,1,64,64,1,,,,,\n# a comment line\nConv5,9,9,3,3,2,2,1\n")
    path = tmp_path / "Resnet50.csv"
    path.write_text(text)
    assert scalesim_oracle.load_topologies("conv", [path])[str(path)] == "IndexError"
    with pytest.warns(TopologyWarning) as notes:
        layers = read_topology(path)
    assert [str(n.message) for n in notes] == [
        "line 2: ignored a row of empty fields",
        "line 3: ignored the columns after the stride: 110, 110, 12100",
    ]
    assert [(lay.name, lay.line, lay.m, lay.k, lay.n) for lay in layers] == [
        ("Conv1", 3, 109 * 109, 147, 64), ("CB2a_1", 4, 56 * 56, 64, 64),
        ("Conv5", 6, 7 * 7, 18, 2)]
    assert layers[0].scalesim_m == 110 * 110


def test_notes_for_extra_headers_and_depthwise():
    with pytest.warns(TopologyWarning) as notes:
        layers = read_topology(CONV_HEADER + "\nSection two,\nx_DP, 5, 5, 3, 3, 3, 1, 1,\n")
    assert [str(n.message) for n in notes] == [
        "line 3: ignored a row without numbers (a header?): 'Section two,'",
        "line 4: depth-wise layer 'x_DP' (its name contains 'DP') split into 3 one-channel "
        "layers, as SCALE-Sim does",
    ]
    assert [(lay.name, lay.k, lay.conv[4]) for lay in layers] == [
        (f"x_DPChannel_{i}", 9, 1) for i in range(3)]


@pytest.mark.parametrize("text, kind, message", [
    ("a, 1, 2,\n", None, r"^line 1: expected 3 numbers \(GEMM: M, N, K\) or 7 \(conv: IfH, "
                         r"IfW, FH, FW, C, NumFilt, Stride\), got 2$"),
    ("h,\nLSTM, 1, B, 1, 1, H, H, 1,\n", None, r"^line 2: field 'B' is not an integer$"),
    ("h,\nL0, 5, 6, 7,\n", "conv", r"^line 2: expected 7 numbers \(conv: .*\), got 3$"),
    ("h,\nc, 8, 8, 3, 3, 2, 6, 2,\n", "gemm",
     r"^line 2: the field after K must be an N:M sparsity ratio, not '3' \(a conv row\?\)$"),
    ("h,\nL0, 5, 6, 7, 4:2,\n", None, r"^line 2: sparsity '4:2' must be N:M with 1 <= N <= M$"),
    ("h,\nL0, 5, 0, 7,\n", None, r"^line 2: fields must be >= 1, got 0$"),
    ("h,\nL0, 5, -6, 7,\n", None, r"^line 2: fields must be >= 1, got -6$"),
    ("h,\nL0, 5, 6.0, 7,\n", None, r"^line 2: field '6.0' is not an integer$"),
    # a row of only non-integer numbers is data gone wrong, not a header to skip
    ("h,\nL0, 3.0, 2.0, 4.0,\n", None, r"^line 2: field '3.0' is not an integer$"),
    ("h,\nc, 4, 4, 3, 3, 1, 2, 1,\nL1, 1e3, .5, 4.,\n", None,
     r"^line 3: field '1e3' is not an integer$"),
    ("h,\nc, 4, 4, 5, 5, 1, 2, 1,\n", None, r"^line 2: filter 5x5 is larger than the 4x4 input$"),
    (",,,,\n# nothing\n", None, r"^line 1: no layers$"),
])
def test_refusals_name_the_line(text, kind, message):
    with pytest.raises(TopologyError, match=message):
        _read_quietly(text, kind)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"^kind must be None, 'conv' or 'gemm', not 'mnk'$"):
        read_topology("a, 1, 2, 3,\n", kind="mnk")
    with pytest.raises(TypeError, match=r"^source must be a path or the file's text, not int$"):
        read_topology(3)


def test_scalesim_count_uses_scalesim_output_size():
    layer, = read_topology("c, 10, 9, 3, 2, 3, 12, 2,\n")
    assert scalesim_breakdown(layer.scalesim_m, layer.k, layer.n, 8, 8, "ws").total == 281


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_systolic_run_scalesim_column_equals_real_scalesim_on_strided_convs(tmp_path,
                                                                          dataflow):
    text = CONV_HEADER + "".join(
        f"s{s}_{h}x{w}_{fh}x{fw}, {h}, {w}, {fh}, {fw}, 3, 5, {s},\n"
        for s in (1, 2, 3, 4) for h, w, fh, fw in ((10, 9, 3, 2), (17, 17, 5, 5), (7, 12, 1, 4)))
    topology = tmp_path / "strided.csv"
    topology.write_text(text)
    done = subprocess.run([sys.executable, "-m", "systolic.cli", "run", str(topology), "--dims",
                           "5x7", "--dataflow", dataflow, "--json", str(tmp_path / "r.json")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    ours = [r["scalesim_cycles"] for r in json.loads((tmp_path / "r.json").read_text())["layers"]]
    report, = scalesim_oracle.run_cases(tmp_path / "scalesim", [
        (scalesim_oracle.config_text(5, 7, dataflow), text, False)])
    theirs = [int(line.split(",")[2]) for line in
              report["COMPUTE_REPORT.csv"].splitlines()[1:]]
    assert ours == theirs
