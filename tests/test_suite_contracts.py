"""The shared numeric-answer normaliser and the eval-table contract (reader, appender, limit check)."""
from __future__ import annotations

import pytest

from contracts.answers import last_number, normalize_number
from contracts.eval_table import COLUMNS, WHERE, EvalTableError, append_eval_rows, check_limits, limit_label, read_eval_table


def test_numbers_compare_in_one_canonical_form():
    assert [normalize_number(t) for t in ("$1,234.50.", "18", "18.0", " -3 ", "0.10", "1，000")] == \
        ["1234.5", "18", "18", "-3", "0.1", "1000"]
    assert normalize_number("no number") is None and normalize_number("3 and 4") is None
    assert last_number("She makes $18 a day, so the answer is 1,080.") == "1080"
    assert last_number(48) == "48" and last_number("答案是 72。") == "72" and last_number("none") is None
    assert last_number("12345678901234567893") == "12345678901234567893"  # no float rounding


def test_passuntil_and_the_suite_share_the_normaliser():
    import passuntil.tasks
    from lm_eval_tasks import metrics

    assert passuntil.tasks.last_number is last_number and metrics.last_number is last_number


def row(checkpoint="step_1", task="es_mmlu", metric="acc", limit=""):
    return {"run": "r", "checkpoint": checkpoint, "step": 1, "params": 10, "tokens": 100, "loss": 3.0, "task": task,
            "metric": metric, "value": 0.3, "stderr": "", "random_baseline": 0.25, "higher_is_better": True,
            "limit": limit, "num_fewshot": 5, "task_version": "1.0", "lm_eval_version": "0.4.13"}


def test_appending_under_another_limit_warns_and_keeps_both(tmp_path):
    table, said = tmp_path / "eval.csv", []
    append_eval_rows(table, [row(limit=limit_label(10))], warn=said.append)
    assert said == []
    append_eval_rows(table, [row(), row(metric="acc_norm")], warn=said.append)
    assert len(said) == 1 and "r/step_1 es_mmlu already has rows from limit 10" in said[0]
    rows = read_eval_table(table)
    assert [r["limit"] for r in rows] == ["10", "", ""] and list(rows[0]) == [*COLUMNS, WHERE]
    assert [r[WHERE] for r in rows] == [f"{table}:{n}" for n in (2, 3, 4)]  # each row knows its file:line
    assert rows[0]["higher_is_better"] == "true" and limit_label(0.5) == "0.5" and limit_label(None) == ""
    with pytest.raises(EvalTableError, match=r"es_mmlu/acc mixes rows from different evaluations \(full, limit=10\)"):
        check_limits(rows)
    check_limits(rows[1:])


def test_a_table_without_the_eval_columns_is_refused(tmp_path):
    (tmp_path / "t.csv").write_text("model,loss\nx,2\n")
    with pytest.raises(EvalTableError, match="lacks the column"):
        read_eval_table(tmp_path / "t.csv")
