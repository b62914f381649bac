"""Digits end to end: train a small MLP, quantize it to int8, run it on the simulated TPU.

The TPU's int8 logits must equal a plain numpy int8 reference of the same quantized network
bit for bit; accuracy is printed next to the float model's.

Usage: python examples/digits_mlp.py [--rows 64] [--cols 64] [--engine fast|cycle]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from systolic import tpu
from systolic.tpu import digits_mlp


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--cols", type=int, default=64)
    parser.add_argument("--engine", choices=("fast", "cycle"), default="fast")
    parser.add_argument("--show-program", action="store_true", help="print the program text")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    model = digits_mlp()
    trained = time.perf_counter() - start
    x = model.x_test
    config = tpu.TPUConfig(rows=args.rows, cols=args.cols)
    compiled = tpu.compile_network(model.network, len(x), config)
    logits, report = compiled.run(x, engine=args.engine)
    reference = model.network.reference(x)
    if not np.array_equal(logits, reference):
        raise SystemExit("TPU logits differ from the numpy int8 reference")

    print(f"scikit-learn digits: {len(model.x_train)} training and {len(x)} test images "
          f"(trained in {trained:.1f} s)")
    print(f"float MLP accuracy:        {model.float_accuracy:.2%}")
    print(f"int8 numpy reference:      {model.accuracy(reference):.2%}")
    print(f"int8 on the simulated TPU: {model.accuracy(logits):.2%}  "
          f"(logits equal the reference bit for bit)")
    print(f"machine: {config.rows}x{config.cols} array at {config.clock_hz / 1e6:.0f} MHz, "
          f"{args.engine} engine, {len(compiled.program)} instructions")
    print(report.summary())
    if args.show_program:
        print(compiled.program.text)


if __name__ == "__main__":
    main()
