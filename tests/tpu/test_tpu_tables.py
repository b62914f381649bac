"""Each TPU instruction has its encoding, static check and execution in explicit tables."""

from __future__ import annotations

import pytest

from systolic.tpu import MNEMONICS, _machine


def test_every_mnemonic_has_a_check_and_an_execution():
    assert set(_machine._CHECKS) == set(MNEMONICS)
    assert set(_machine._EXECUTE) == set(MNEMONICS)
    _machine._check_tables()


def test_a_missing_execution_fails_the_import_check(monkeypatch):
    table = {name: step for name, step in _machine._EXECUTE.items() if name != "SetPool"}
    monkeypatch.setattr(_machine, "_EXECUTE", table)
    with pytest.raises(ImportError, match=r"^TPU instruction tables disagree: execution "
                                          r"missing for \['SetPool'\], unknown \[\]$"):
        _machine._check_tables()


def test_an_unknown_check_fails_the_import_check(monkeypatch):
    monkeypatch.setattr(_machine, "_CHECKS", {**_machine._CHECKS, "Jump": None})
    with pytest.raises(ImportError, match=r"static check missing for \[\], unknown \['Jump'\]$"):
        _machine._check_tables()
