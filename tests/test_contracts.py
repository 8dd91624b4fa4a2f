"""The contracts every stage shares: the JSONL reader/appender, the PassUntil record reader, the error root, the table."""
from __future__ import annotations

import importlib.util
import json

import click
import pytest

from contracts.atomic import JsonlAppender, append_jsonl, read_jsonl, read_jsonl_strict
from contracts.errors import ConfigError, DataError, EmergentError, RecordError, TrainingDiverged
from contracts.records import FIELD_NAMES, read_records, record_problem
from contracts.table import format_table
from tests.synthetic import passuntil_records


def test_torn_tail_is_skipped_then_cut_and_a_bad_middle_line_is_named(tmp_path):
    log = tmp_path / "log.jsonl"
    append_jsonl(log, {"step": 1})
    with open(log, "a") as fh:
        fh.write('{"step": 2, "lo')  # a killed writer
    assert read_jsonl(log) == [{"step": 1}]
    append_jsonl(log, {"step": 3})  # the appender cuts the torn line first
    assert read_jsonl(log) == [{"step": 1}, {"step": 3}]
    log.write_text('{"a": 1}\nnot json\n{"a": 2}\n')
    with pytest.raises(DataError, match=r"log.jsonl:2 is not valid JSON"):
        read_jsonl(log)
    with pytest.raises(DataError, match=r"log.jsonl:2 is not valid JSON"):
        read_jsonl_strict(log)
    log.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(DataError, match=r"log.jsonl:2 holds a JSON list"):
        read_jsonl_strict(log)


def test_record_reader_checks_every_record_and_counts_drops(tmp_path):
    records = passuntil_records([lambda n: 0.3, lambda n: 0.01], [1e6, 1e7], cap=500)
    path = tmp_path / "pu.jsonl"
    with JsonlAppender(path) as out:
        for rec in records:
            out.write(rec)
    found = read_records(path)
    assert found.records == records and found.dropped == []
    assert all(record_problem(r) is None for r in records)
    # each kind of breakage, one line each: named by file:line when strict, dropped and counted otherwise
    broken = [{**records[0], "passes": records[0]["samples"] + 1}, {**records[0], "pu_mle": 1.5},
              {k: v for k, v in records[0].items() if k != "task"}, {**records[0], "censored": "no"},
              {**records[0], "params": None}]
    with open(path, "a") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in broken)
        fh.write('{"task": "x", "inst')  # torn
    with pytest.raises(RecordError, match=rf"pu.jsonl:{len(records) + 1}: PassUntil record passes .* exceed samples"):
        read_records(path)
    lenient = read_records(path, strict=False, need_params=True)
    assert lenient.records == records and len(lenient.dropped) == len(broken) + 1
    reasons = " | ".join(lenient.dropped)
    for needle in ("exceed samples", "'pu_mle' = 1.5 is out of range", "lacks 'task'", "'censored' is 'no'",
                   "'params' is null", "torn last line"):
        assert needle in reasons, reasons
    assert "6 line(s) dropped" in lenient.report()
    assert FIELD_NAMES[:3] == ("task", "instance_id", "model")


def test_error_root_is_a_click_exception_with_clicks_exit_codes(capsys):
    assert issubclass(EmergentError, click.ClickException)
    assert ConfigError("x").exit_code == 2 and isinstance(ConfigError("x"), ValueError)
    assert TrainingDiverged(5, float("nan"), None).exit_code == 1
    ConfigError("model.d_model must be positive").show()
    assert capsys.readouterr().err == "error: model.d_model must be positive\n"


def test_logger_writes_jsonl_and_optional_sinks_fail_clearly(tmp_path):
    from trainer.logger import make_logger

    log = make_logger(tmp_path)
    log.log({"step": 1, "loss": 2.5})
    log.log({"step": 2, "loss": 2.0})
    log.close()
    assert read_jsonl(tmp_path / "metrics.jsonl") == [{"step": 1, "loss": 2.5}, {"step": 2, "loss": 2.0}]
    with pytest.raises(ConfigError, match="unknown sinks"):
        make_logger(tmp_path, ["mlflow"])
    if importlib.util.find_spec("tensorboard") is None:
        with pytest.raises(ConfigError, match=r"emergent-suite\[tensorboard\]"):
            make_logger(tmp_path, ["tensorboard"])


def test_one_table_printer():
    text = format_table(["run", "params"], [["r0", "1.2M"], ["r10-long", 7]])
    assert text.splitlines() == ["run       params", "--------  ------", "r0          1.2M", "r10-long       7"]
    with pytest.raises(ValueError):
        format_table(["a", "b"], [["only one"]])
