# Two entry points, each building its own virtual environment on first use:
#   make study   - the main job on the embedded default corpus, on CPU
#   make test    - the test suite
# TORCH_SPEC pins torch before anything else is resolved, so pip never pulls a multi-GB
# CUDA build on a CPU machine; GPU users override it, e.g. make study TORCH_SPEC='torch==2.13.0+cu128'.
PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
STUDY_OUT  ?= study-tiny
PYTEST_ARGS ?=

STAMP := $(VENV)/.installed

.PHONY: study test venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q "$(TORCH_SPEC)"
	$(VENV)/bin/python -m pip install -q "$(TORCH_SPEC)" -e '.[dev]'
	touch $(STAMP)

study: $(STAMP)
	$(VENV)/bin/emergent ladder run tiny --out $(STUDY_OUT)

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
