"""Files and extras of the command line, checked before any work so that every failure is one
line (raised as :class:`CliError`, which the command line prints with its prefix)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

__all__ = ["CliError", "check_output_file", "load_operand", "read_text", "require_extra"]


class CliError(Exception):
    """A user error of the command line: the message, without the ``systolic cmd:`` prefix."""


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def read_text(path: Path) -> str:
    """The UTF-8 text of ``path``."""
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as error:
        raise CliError(f"cannot read {path}: {_reason(error)}") from None
    except UnicodeDecodeError as error:
        raise CliError(f"{path} is not UTF-8 text (byte {error.start})") from None


def check_output_file(path: Path) -> None:
    """Refuse an output file that cannot be written: a directory, or in a missing or read-only
    directory. Nothing is created."""
    if path.is_dir():
        raise CliError(f"cannot write {path}: it is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise CliError(f"cannot write {path}: directory {parent} does not exist")
    writable = os.access(path, os.W_OK) if path.exists() else os.access(parent, os.W_OK)
    if not writable:
        raise CliError(f"cannot write {path}: permission denied")


def require_extra(extra: str, *modules: str) -> None:
    """Refuse when one of ``modules`` of the optional ``extra`` is not installed."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise CliError(f"this command needs the optional '{extra}' dependencies "
                       f"({', '.join(missing)} not installed): pip install 'systolic[{extra}]'")


def load_operand(name: str, path: Path) -> np.ndarray:
    """A 2-D integer operand from a ``.npy`` file (no pickled objects)."""
    try:
        with open(path, "rb") as handle:
            array = np.load(handle, allow_pickle=False)
    except OSError as error:
        raise CliError(f"cannot read {path}: {_reason(error)}") from None
    except (ValueError, EOFError):
        # numpy reads anything without the .npy magic as a pickle, which is refused
        raise CliError(f"{path} is not a .npy array file") from None
    if not isinstance(array, np.ndarray):
        raise CliError(f"{path} is not a .npy array file")
    if array.dtype.kind not in "iu":
        raise CliError(f"{name} ({path}) must hold integers, got dtype {array.dtype.name}")
    if array.ndim != 2:
        raise CliError(f"{name} ({path}) must be 2-D, got shape {array.shape}")
    return array
