"""The composed `emergent` command: every stage's commands, `--version`, click's exit codes, typed options."""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tests.conftest import run_cli

BLOCK_TORCH = """
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, NoTorch())
from emergent.cli import main
main(sys.argv[1:])
"""


def test_commands_version_and_passuntil_alias():
    top = run_cli("--help", check=True).stdout
    for command in ("train", "data", "ladder", "eval", "passuntil", "fit", "predict", "study"):
        assert f"  {command} " in top, top
    version = run_cli("--version", check=True).stdout
    assert version.startswith("emergent ") and len(version.split()) >= 2
    # `emergent passuntil` and the `passuntil` script are the same group
    nested = run_cli("passuntil", "tasks", check=True).stdout
    alias = subprocess.run([sys.executable, "-m", "passuntil", "tasks"], capture_output=True, text=True, check=True).stdout
    assert nested == alias and "humaneval" in nested
    script = subprocess.run([sys.executable, "-m", "passuntil", "--version"], capture_output=True, text=True, check=True)
    assert script.stdout.split()[0] == "passuntil" and script.stdout.split()[1] == version.split()[1]
    assert "all" not in run_cli("fit", "--help", check=True).stdout.split("Commands:")[1].split()


def test_ladder_plan_needs_no_torch_and_times_nothing():
    result = subprocess.run([sys.executable, "-c", BLOCK_TORCH, "ladder", "plan", "tiny"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert "est. here" in lines[0] and "r4-819K" in result.stdout
    assert "not estimated" in lines[-1] and "GFLOP/s" not in result.stdout
    given = run_cli("ladder", "plan", "tiny", "--matmul-gflops", "50", check=True).stdout
    assert "matmul rate 50 GFLOP/s" in given and "not estimated" not in given


def test_unknown_spec_key_is_one_line_error(tmp_path):
    from trainer.ladder import SPEC_DIR

    spec = yaml.safe_load((SPEC_DIR / "tiny.yaml").read_text())
    spec["optim"] = {**(spec.get("optim") or {}), "weight_decai": 0.1}
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = run_cli("ladder", "plan", str(path))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "no field 'weight_decai'" in lines[0] and "weight_decay" in lines[0]


def test_typed_options_are_usage_errors(tmp_path):
    bad_batch = run_cli("eval", str(tmp_path), "--tasks", "es_mmlu", "--table", str(tmp_path / "t.csv"),
                        "--batch-size", "eight")
    assert bad_batch.returncode == 2 and "--batch-size" in bad_batch.stderr
    bad_dtype = subprocess.run([sys.executable, "-m", "passuntil", "run", "--model", str(tmp_path), "--task", "humaneval",
                                "--dtype", "float33", "--out", str(tmp_path / "o.jsonl")], capture_output=True, text=True)
    assert bad_dtype.returncode == 2 and "--dtype" in bad_dtype.stderr
    assert not (tmp_path / "t.csv").exists() and not (tmp_path / "o.jsonl").exists()


@pytest.mark.slow  # loads torch and transformers in a subprocess
def test_unloadable_model_is_one_line_usage_error(tmp_path):
    task = tmp_path / "t.jsonl"
    task.write_text('{"id": "a", "prompt": "The capital of France is", "answer": "Paris, the city of light"}\n')
    result = subprocess.run([sys.executable, "-m", "passuntil", "run", "--model", str(tmp_path / "no-such-model"),
                             "--task", f"custom={task}", "--out", str(tmp_path / "o.jsonl")], capture_output=True, text=True)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: --model"), result.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_every_option_of_every_command_has_help():
    import click

    from emergent.cli import main

    def options(command, path):
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from options(sub, f"{path} {name}")
        else:
            yield from ((path, p.opts[0], p.help) for p in command.params if isinstance(p, click.Option) and not p.hidden)

    found = list(options(main, "emergent"))
    assert len(found) > 100
    assert [(path, opt) for path, opt, text in found if not text] == []


def test_device_auto_is_the_default_and_means_cpu_without_a_gpu():
    import torch

    from contracts.devices import resolve_device

    for command in (["eval"], ["passuntil", "run"]):
        assert "[default: auto]" in " ".join(run_cli(*command, "--help", check=True).stdout.split())
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cuda:1") == "cuda:1" and resolve_device("cpu") == "cpu"
