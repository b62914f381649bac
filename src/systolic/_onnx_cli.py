"""The ``systolic onnx`` command: run an int8 ONNX model on the simulated TPU."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

__all__ = ["add_parser"]


def add_parser(commands, dims_type, usage_error) -> None:
    """Add the ``onnx`` subcommand to ``commands``; its errors raise ``usage_error``."""
    onnx = commands.add_parser(
        "onnx", help="run an int8 ONNX model on the simulated TPU",
        description="Run a model quantized by onnxruntime (QOperator or QDQ) on the simulated "
                    "TPU, bit for bit as onnxruntime's CPU provider, and print where the "
                    "cycles went.")
    onnx.add_argument("model", type=Path, help="the .onnx file")
    onnx.add_argument("--input", action="append", required=True, metavar="[NAME=]X.npy",
                      help="an input array; NAME= may be left out for a model with one input "
                           "(repeat for several inputs)")
    onnx.add_argument("--dims", type=dims_type, default=(256, 256), metavar="RxC",
                      help="array rows x columns (default 256x256, TPU v1)")
    onnx.add_argument("--engine", choices=("fast", "cycle"), default="fast",
                      help="fast path or every PE on every cycle (default fast)")
    onnx.add_argument("--out", type=Path, metavar="Y.npy",
                      help="write the output (.npy; several outputs: .npz by name)")
    onnx.set_defaults(handler=lambda args: _run(args, usage_error))


def _run(args: argparse.Namespace, usage_error) -> int:
    def fail(message: str):
        return usage_error(f"systolic onnx: error: {message}")

    try:
        import onnx

        from .tpu import OnnxSession, TPUConfig
    except ImportError:
        raise fail("needs the onnx extra: pip install 'systolic[onnx]'") from None
    try:
        model = onnx.load(str(args.model))
    except OSError as error:
        raise fail(f"cannot read {args.model}: {error.strerror or error}") from None
    except Exception as error:   # protobuf raises its own DecodeError on a non-ONNX file
        raise fail(f"{args.model} is not an ONNX model ({type(error).__name__})") from None
    rows, cols = args.dims
    try:
        session = OnnxSession(model, config=TPUConfig(rows=rows, cols=cols),
                              engine=args.engine)
    except (TypeError, ValueError) as error:
        raise fail(str(error)) from None
    names = [info.name for info in session.get_inputs()]
    feeds = {}
    for item in args.input:
        name, sep, file = item.rpartition("=")
        if not sep:
            if len(names) != 1:
                raise fail(f"the model has inputs {names}: give --input NAME=FILE")
            name = names[0]
        try:
            feeds[name] = np.load(file, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise fail(f"cannot read {file}: {error}") from None
    try:
        outputs = session.run(None, feeds)
    except (TypeError, ValueError) as error:
        raise fail(str(error)) from None
    print(session.report.summary())
    if args.out is not None:
        if len(outputs) == 1:
            np.save(args.out, outputs[0])
        else:
            np.savez(args.out, **dict(zip(session.get_outputs(), outputs, strict=True)))
        print(f"wrote {args.out}")
    return 0
