# The two commands a new user runs (see README): `make demo` and `make test`.
# Each target creates .venv on first use and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU build of torch by default. GPU users: make TORCH_SPEC='torch==2.13.0' TORCH_INDEX=<your CUDA wheel index>
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
PYTEST_ARGS ?=
# demo size preset (tiny | small | large) and report folder
DEMO_SIZE ?= small
DEMO_OUT ?= reports/demo

.PHONY: install varnet demo test test-slow lint format bench notebooks clean

# The neuralop extra (neuraloperator 2.0, which leaves torch as it is) lets the tests train our Monarch spectral
# convolution inside neuraloperator's own FNO and Trainer; without it those tests skip. fastmri (without its
# dependency pins, which would replace torch; pandas comes with [dev]) lets the tests read our folders with
# fastMRI's own SliceDataset and run its VarNet. the-well (without its pin fsspec==2024.10.0, which would downgrade
# torch's fsspec; what it imports is already here) lets the tests compare our The Well reader with its WellDataset.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH_SPEC) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -e '.[dev,neuralop,triton]'
	$(PY) -m pip install -q --no-deps fastmri==0.3.0
	$(PY) -m pip install -q --no-deps the-well==1.2.0
	touch $@

install: $(VENV)/.installed

# Optional: fastMRI's VarNet (a peer row of the learned MRI benchmark). fastmri's own dependency pins would
# replace torch, so it is installed without them and the one it needs at import (pandas) comes from [varnet].
varnet: $(VENV)/.installed
	$(PY) -m pip install -q --no-deps fastmri==0.3.0
	$(PY) -m pip install -q -e '.[varnet]'

demo: $(VENV)/.installed
	$(VENV)/bin/monarch-sci demo --size $(DEMO_SIZE) --out $(DEMO_OUT)

# The suite runs on every core (pytest-xdist, one worker per core, one thread per worker); TEST_WORKERS=0 runs it
# in this process.
TEST_WORKERS ?= auto
test: $(VENV)/.installed
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -n $(TEST_WORKERS) -m "not slow" $(PYTEST_ARGS)

test-slow: $(VENV)/.installed
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -n $(TEST_WORKERS) -m slow $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(VENV)/.installed
	$(PY) benchmarks/monarch_multiply.py

notebooks: $(VENV)/.installed
	cd notebooks && for f in [0-9][0-9]_*.py; do ../$(VENV)/bin/jupytext --to ipynb --update $$f 2>/dev/null || ../$(VENV)/bin/jupytext --to ipynb $$f; done

clean:
	rm -rf $(VENV) build *.egg-info
