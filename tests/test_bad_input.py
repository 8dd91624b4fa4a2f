"""Bad input: a one-line error naming the problem and the fix, exit status 2 (click's usage status),
nothing overwritten. A run that diverges is a runtime failure: the same one line, exit status 1."""
from __future__ import annotations

import json
import math

import pytest

from tests.conftest import run_cli, tiny_config, write_config


def _one_line_error(result, *needles, status=2):
    assert result.returncode == status, (result.returncode, result.stderr[-2000:])
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def _config(tmp_path, data_dir, **model):
    cfg = tiny_config(data_dir)
    body = cfg.to_dict()
    body["optim"]["betas"] = list(body["optim"]["betas"])
    body["model"].update(model)
    path = tmp_path / "bad.yaml"
    import yaml

    path.write_text(yaml.safe_dump(body))
    return path


@pytest.mark.parametrize("model,needle", [
    ({"d_model": 66, "n_heads": 4}, "not divisible by model.n_heads"),
    ({"n_heads": 4, "n_kv_heads": 3}, "does not divide model.n_heads"),
    ({"max_seq_len": 32}, "exceeds model.max_seq_len"),
    ({"vocab_size": 100}, "larger than model.vocab_size"),
])
def test_bad_model_shapes(tmp_path, data_dir, model, needle):
    out = tmp_path / "run"
    _one_line_error(run_cli("train", "--config", str(_config(tmp_path, data_dir, **model)), "--out", str(out)), needle)
    assert not (out / "checkpoints").exists()


def test_missing_and_empty_data_dir(tmp_path, data_dir):
    config = write_config(tiny_config(data_dir), tmp_path / "ok.yaml")
    _one_line_error(run_cli("train", "--config", str(config), "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "a")),
                    "does not exist", "emergent data prepare")
    (tmp_path / "empty").mkdir()
    _one_line_error(run_cli("train", "--config", str(config), "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "b")),
                    "no data.json")


def test_vocabulary_too_large_for_shard_dtype(tmp_path, corpus_dir):
    tok_dir = tmp_path / "bigtok"
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {f"t{i}": i for i in range(70_000)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="t0"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=core, eos_token="t1", unk_token="t0").save_pretrained(tok_dir)
    out = tmp_path / "data"
    _one_line_error(run_cli("data", "prepare", str(corpus_dir), "--out", str(out), "--tokenizer", str(tok_dir),
                            "--dtype", "uint16"), "does not fit uint16", "--dtype uint32")
    assert not out.exists()


def test_existing_run_dir_needs_resume(tmp_path, data_dir):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text("precious: true\n")
    config = write_config(tiny_config(data_dir), tmp_path / "ok.yaml")
    _one_line_error(run_cli("train", "--config", str(config), "--out", str(out)), "already holds a run", "--resume")
    assert (out / "config.yaml").read_text() == "precious: true\n"


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, data_dir):
    # AdamW's decoupled decay with lr * weight_decay = 3 multiplies every weight by -2 per step: the
    # weights double until the loss overflows (at step 57 here), long after several checkpoints.
    cfg = tiny_config(data_dir, tokens=1024 * 200)
    cfg.checkpoints.every_tokens = 1024 * 5
    cfg.schedule.warmup_fraction = 0.0
    cfg.optim.weight_decay = 1000.0
    out = tmp_path / "run"
    result = run_cli("train", "--config", str(write_config(cfg, tmp_path / "boom.yaml")), "--out", str(out), "--no-progress")
    _one_line_error(result, "loss became", "at step 57", "last good checkpoint is step_00000055", "--resume",
                    status=1)
    saved = [json.loads(line) for line in (out / "checkpoints.jsonl").read_text().splitlines()]
    assert saved[-1]["step"] == 55
    for record in saved:  # whatever was saved before the blow-up is intact and finite
        assert math.isfinite(record["val_loss"])
        assert (out / record["path"] / "model.safetensors").is_file()
    assert len(list((out / "checkpoints").glob("step_*"))) == len(saved)
    assert (out / saved[-1]["path"] / "trainer_state.pt").is_file()  # resumable from there


def test_unknown_spec(tmp_path):
    _one_line_error(run_cli("ladder", "plan", "nonexistent-spec"), "no ladder spec", "tiny")
