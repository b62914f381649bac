"""A small int8 MLP on scikit-learn's digits (bundled with scikit-learn, no download).

Quantization (docs/tpu.md, "Quantized digits network"): pixels 0..16 are the int8 inputs
(real value ``pixel / 16``); weights are symmetric per-tensor int8 (``scale = max|W| / 127``);
biases are int32 in the accumulator's scale (``input scale x weight scale``); each layer's
output scale is calibrated on the training set (largest activation maps to 127), and the
accumulator-to-output rescaling is a :class:`Requant` (24-bit multiplier and shift,
round half to even, saturating).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._checks import check_int
from ._compiler import Dense, Network
from ._quant import Requant

__all__ = ["DigitsModel", "digits_mlp"]


@dataclass(frozen=True)
class DigitsModel:
    """The trained float model's results and its quantized int8 version.

    Attributes
    ----------
    network : Network
        The int8 network (input: 64 pixels as int8 0..16; output: 10 int8 logits).
    x_train, x_test : ndarray of int64, ``(n, 64)``
    y_train, y_test : ndarray of int64
    float_accuracy : float
        Test accuracy of the float model.
    """

    network: Network
    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    float_accuracy: float

    def accuracy(self, logits) -> float:
        """Test accuracy of int8 ``logits`` ``(len(y_test), 10)`` (ties go to the lower
        class)."""
        return float(np.mean(np.argmax(np.asarray(logits), axis=1) == self.y_test))


def _quantize_weight(w: np.ndarray) -> tuple[np.ndarray, float]:
    scale = float(np.abs(w).max()) / 127
    return np.clip(np.rint(w / scale), -127, 127).astype(np.int64), scale


def digits_mlp(hidden: int = 32, *, seed: int = 0) -> DigitsModel:
    """Train (deterministically, about a second) and quantize a ``64-hidden-10`` ReLU MLP.

    Needs scikit-learn. The split is 80/20, stratified, with ``seed``.
    """
    hidden = check_int("hidden", hidden, 1, 4096)
    seed = check_int("seed", seed, 0, 2**32 - 1)      # scikit-learn's random_state range
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    digits = load_digits()
    x = digits.data.astype(np.int64)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=seed,
                                                        stratify=y)
    clf = MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=200, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_train / 16.0, y_train)
    float_accuracy = float(clf.score(x_test / 16.0, y_test))

    s_x = 1 / 16
    w1, s_w1 = _quantize_weight(clf.coefs_[0])
    w2, s_w2 = _quantize_weight(clf.coefs_[1])
    hidden_real = np.maximum(x_train / 16.0 @ clf.coefs_[0] + clf.intercepts_[0], 0)
    s_h = float(hidden_real.max()) / 127
    logits_real = hidden_real @ clf.coefs_[1] + clf.intercepts_[1]
    s_o = float(np.abs(logits_real).max()) / 127
    b1 = np.rint(clf.intercepts_[0] / (s_x * s_w1)).astype(np.int64)
    b2 = np.rint(clf.intercepts_[1] / (s_h * s_w2)).astype(np.int64)
    network = Network([
        Dense(w1, b1, Requant.from_scale(s_x * s_w1 / s_h), "relu"),
        Dense(w2, b2, Requant.from_scale(s_h * s_w2 / s_o), "identity"),
    ], (64,))
    return DigitsModel(network, x_train, x_test, y_train, y_test, float_accuracy)
