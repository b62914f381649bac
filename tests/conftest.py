"""Shared pytest set-up for the model tests."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# The naive reference model and the strategies live next to the tests, not in the package;
# make them importable from test files in sub-folders too.
sys.path.insert(0, str(Path(__file__).parent))

# Tests must be reproducible: hypothesis draws the same examples on every run.
settings.register_profile("systolic", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("systolic")


@pytest.fixture
def rng():
    """A fixed-seed generator, fresh for every test."""
    return np.random.default_rng(20240601)
