"""Shared fixtures: an offline Hugging Face environment and a small prepared corpus."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"  # the real data sets, beside the clone (CI has them)
# .ci/run sets this: there a missing real data set fails its tests instead of skipping them.
REQUIRE_SHARED = "EMERGENT_REQUIRE_SHARED"


# The slow lane: files whose tests take over ~30 s together on 2 loaded cores (measured with --durations=0,
# 2026-12-08), and any test of a smoke study, vLLM or the pattern model. `make test-fast` runs the rest.
SLOW_FILES = {
    "test_crash_points.py", "test_analysis_gadre2024.py", "test_convert_lm_eval.py", "test_bad_input.py",
    "test_analysis_laws.py", "test_analysis_growth_pooling.py", "test_passuntil_runs.py", "test_passuntil_vllm.py",
    "test_suite_lm_eval.py", "test_suite_vllm.py", "test_distributed.py", "test_full_disk.py", "test_study.py",
    "test_analysis_cli.py", "test_bad_input_table.py", "test_resume.py", "test_checkpoint_checksums.py",
    "test_readme_commands.py", "test_task_law_forecast.py", "test_bad_input_resume.py", "test_analysis_two_runs.py",
    "test_analysis_prediction.py", "test_study_dry_run.py", "test_analysis_options.py", "test_clean_resume.py",
}
SLOW_FIXTURES = {"smoke_study", "vllm_python", "pattern_model"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.fspath)).name in SLOW_FILES or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def require_shared(path: Path, what: str) -> None:
    """Skip (locally, saying what is missing) or fail (in CI) a test whose real data set is absent."""
    if path.exists():
        return
    message = f"{path} is absent: {what} (../shared beside the clone)"
    if os.environ.get(REQUIRE_SHARED) == "1" or os.environ.get("CI"):
        pytest.fail(f"{message}; CI runs every real-data test", pytrace=False)
    pytest.skip(message)


@pytest.fixture()
def gadre_data() -> Path:
    path = SHARED / "data" / "gadre2024" / "exp_data"
    require_shared(path, "Gadre et al. 2024's ladder")
    return path


@pytest.fixture()
def bigbench_data() -> Path:
    require_shared(SHARED / "bigbench", "BIG-bench's tasks")
    return SHARED / "bigbench"


@pytest.fixture(scope="session", autouse=True)
def offline_hf(tmp_path_factory):
    home = tmp_path_factory.mktemp("hf_home")
    env = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_HOME": str(home), "LM_HARNESS_CACHE_PATH": str(home / "lm_eval_cache"),
           "TOKENIZERS_PARALLELISM": "false"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    from trainer.corpus import build_default_corpus

    return build_default_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory, corpus_dir) -> Path:
    """The embedded corpus tokenized with a 512-token BPE (about 0.6M training tokens)."""
    from trainer.data_prepare import prepare

    out = tmp_path_factory.mktemp("data") / "prepared"
    prepare([corpus_dir], out, vocab_size=512, val_fraction=0.05, seed=7)
    return out


def run_cli(*args: str, cwd: Path | None = None, check: bool = False, env: dict | None = None, timeout: int = 600):
    """Run `emergent ...` in a real subprocess (python -m emergent)."""
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run([sys.executable, "-m", "emergent", *args], cwd=cwd, capture_output=True, text=True,
                            env=full_env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"emergent {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def tiny_config(data_dir: Path, **overrides):
    """A ~0.2M-parameter rung (vocab 512, d_model 64, 4 layers)."""
    from trainer.config import ModelConfig, TrainConfig

    model = dict(vocab_size=512, d_model=64, n_layers=4, n_heads=4, n_kv_heads=2, max_seq_len=128)
    model.update(overrides.pop("model", {}))
    base = dict(model=ModelConfig(**model), data_dir=str(data_dir), tokens=64 * 16 * 20, seq_len=64,
                global_batch_size=16, micro_batch_size=8, val_tokens=8192, log_interval=1)
    base.update(overrides)
    cfg = TrainConfig(**base)
    cfg.optim.lr = 3e-3
    return cfg


def write_config(cfg, path: Path) -> Path:
    import yaml

    body = cfg.to_dict()
    body["optim"]["betas"] = list(body["optim"]["betas"])
    path.write_text(yaml.safe_dump(body))
    return path


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory):
    """`emergent study --preset smoke`, run once per session (minutes on 2 cores) and shared by the study,
    README-command and dry-run tests: (output directory, the finished process)."""
    out = tmp_path_factory.mktemp("study") / "smoke"
    first = run_cli("study", "--preset", "smoke", "--out", str(out), timeout=1500)
    assert first.returncode == 0, first.stderr[-4000:]
    return out, first


SUITE_FIXTURES = REPO / "tests" / "fixtures" / "suite"


@pytest.fixture()
def suite_data(monkeypatch):
    """Point every emergent-suite task at the fixture rows (hub schemas, written by hand)."""
    monkeypatch.setenv("EMERGENT_SUITE_DATA", str(SUITE_FIXTURES))
    return SUITE_FIXTURES


@pytest.fixture(scope="session")
def suite_model(tmp_path_factory) -> Path:
    """A tiny random LLaMA with a byte-level BPE trained on the fixture text (English and Chinese)."""
    import torch

    from trainer.config import ModelConfig
    from trainer.data_prepare import train_tokenizer
    from trainer.hf_convert import save_hf_checkpoint
    from trainer.model import Transformer

    texts = [p.read_text(encoding="utf-8") for p in sorted(SUITE_FIXTURES.glob("*/*.jsonl"))] * 3
    tokenizer = train_tokenizer(texts, 600)
    cfg = ModelConfig(vocab_size=len(tokenizer), d_model=64, n_layers=2, n_heads=2, max_seq_len=2048)
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("suite_model") / "ckpt"
    save_hf_checkpoint(out, Transformer(cfg).state_dict(), cfg, tokenizer)
    return out


def _pattern_corpus(path: Path, seed: int = 0) -> Path:
    """Copying patterns ('Input: c, a, e\\nOutput: c, a, e') and a tiny Python idiom, so a small model
    trained for seconds passes such items at a measurable, non-trivial rate."""
    import random

    rng = random.Random(seed)
    letters = "abcdefgh"
    lines = []
    for _ in range(4000):
        seq = ", ".join(rng.sample(letters, 3))
        lines.append(f"Input: {seq}\nOutput: {seq}\n")
    for _ in range(400):
        lines.append("def answer():\n    return 42\n")
    path.mkdir(parents=True, exist_ok=True)
    (path / "patterns.txt").write_text("\n".join(lines))
    return path


@pytest.fixture(scope="session")
def pattern_model(tmp_path_factory) -> Path:
    """A 2-layer model (head_dim 64, as vLLM's CPU kernels need) trained briefly on copying patterns; its
    1024-token context holds few-shot prompts whole, so backends never differ in how they truncate."""
    from trainer.config import ModelConfig, TrainConfig
    from trainer.data_prepare import prepare
    from trainer.loop import train

    root = tmp_path_factory.mktemp("pattern")
    data = root / "data"
    prepare([_pattern_corpus(root / "corpus")], data, vocab_size=300, val_fraction=0.02, seed=1)
    cfg = TrainConfig(model=ModelConfig(vocab_size=300, d_model=128, n_layers=2, n_heads=2, max_seq_len=1024),
                      data_dir=str(data), tokens=64 * 16 * 100, seq_len=64, global_batch_size=16, micro_batch_size=16,
                      val_tokens=2048, log_interval=50)
    cfg.optim.lr = 3e-3
    cfg.checkpoints.log_spaced = 0
    train(cfg, root / "run", progress=False)
    return root / "run" / "checkpoints" / f"step_{cfg.total_steps:08d}"


@pytest.fixture()
def vllm_python() -> str:
    """The vLLM CPU environment's python (built by `make test`): skipped without it, except in CI."""
    python = os.environ.get("EMERGENT_VLLM_PYTHON", "")
    if not python or not Path(python).is_file():
        if os.environ.get("CI"):
            pytest.fail("EMERGENT_VLLM_PYTHON is not set up in CI; `make test` builds .venv-vllm")
        pytest.skip("no vLLM environment (run through `make test` to build .venv-vllm)")
    return python
