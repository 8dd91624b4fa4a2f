"""Ladder specs: the papers' series have the expected sizes; the plan prints before anything trains."""
from __future__ import annotations

import math

import pytest

from tests.conftest import run_cli
from trainer.config import ModelConfig
from trainer.flops import param_counts
from trainer.ladder import list_specs, load_spec, plan, shape_from_params, shape_hu2024


def _label_value(label: str) -> float:
    return float(label[:-1]) * {"M": 1e6, "B": 1e9}[label[-1]]


def test_shipped_specs():
    assert {"tiny", "du2024", "hu2024"} <= set(list_specs())


def test_du2024_sizes_within_five_percent_of_labels():
    runs = plan(load_spec("du2024"))
    rungs = {r.rung: r for r in runs}
    assert list(rungs) == ["300M", "540M", "1B", "1.5B", "3B", "6B"]
    for label, run in rungs.items():
        assert run.config.model.vocab_size == 65024
        assert abs(run.params / _label_value(label) - 1) < 0.05, (label, run.params)
    tokens = sorted({r.tokens for r in runs})
    assert 33e9 <= tokens[0] < 34e9 and 500e9 <= tokens[-1] < 501e9


def test_hu2024_rule_spans_003b_to_24b():
    # The paper's rule: layers = 4i, heads = floor(i (8 + i) / 4), head_dim 64.
    assert shape_hu2024(3) == {"n_layers": 12, "n_heads": 8, "d_model": 512}
    assert shape_hu2024(9) == {"n_layers": 36, "n_heads": 38, "d_model": 2432}
    runs = plan(load_spec("hu2024"))
    labels = [_label_value(r.rung) for r in runs]
    nonemb = [r.params_nonembedding for r in runs]
    assert nonemb == sorted(nonemb)
    # Within 30% of each label (labels are rounded to one digit), spanning 0.03B..2.4B.
    for label, n in zip(labels, nonemb):
        assert abs(math.log(n / label)) < math.log(1.3), (label, n)
    assert labels[0] == 0.03e9 and labels[-1] == 2.4e9


@pytest.mark.parametrize("target", [1e6, 25e6, 350e6])
def test_params_rule_hits_target(target):
    shape = shape_from_params(target, 32000, {"head_dim": 64, "aspect_ratio": 64, "count": "nonembedding"})
    n = param_counts(ModelConfig(vocab_size=32000, **shape))["params_nonembedding"]
    assert abs(math.log(n / target)) < math.log(1.5)
    assert shape["d_model"] % 64 == 0


def test_plan_command_prints_table():
    result = run_cli("ladder", "plan", "du2024", check=True)
    out = result.stdout
    for column in ("params", "non-emb", "tokens", "FLOPs (6ND)", "ckpts", "est. here"):
        assert column in out
    assert "6B-500B" in out and "6.24B" in out
    tiny = run_cli("ladder", "plan", "tiny", check=True).stdout
    assert tiny.count("\n") >= 8 and "r4-819K" in tiny


def test_tiny_ladder_shape():
    runs = plan(load_spec("tiny"))
    sizes = {r.rung for r in runs}
    assert len(sizes) >= 4
    budgets = {}
    for r in runs:
        budgets.setdefault(r.rung, set()).add(r.tokens)
    assert any(len(b) >= 2 for b in budgets.values())
    assert all(r.checkpoints >= 2 for r in runs if r.tokens == max(x.tokens for x in runs))  # curves along the shared budget
