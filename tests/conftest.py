"""Shared pytest set-up for the model tests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings

# Tests must be reproducible: hypothesis draws the same examples on every run.
settings.register_profile("systolic", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("systolic")


@pytest.fixture
def rng():
    """A fixed-seed generator, fresh for every test."""
    return np.random.default_rng(20240601)
