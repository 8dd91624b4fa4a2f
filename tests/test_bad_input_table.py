"""Every bad input a user or a crashed job produces, as a table: the command, the files it is given, the
exit status, a fragment of the one-line message, and what must NOT have been created. Each case runs
the real `emergent` entry point in its own process (forked from one interpreter that imported the
package once: tests/bad_input_driver.py); none may print a traceback.

Placeholders in argv and file bodies: {tmp} (this test's directory), {data} (a prepared data directory),
{ckpt} (a checkpoint directory whose model.safetensors is garbage).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO, SUITE_FIXTURES, run_cli, tiny_config


@dataclass
class Case:
    id: str
    argv: list[str]
    status: int
    fragment: str
    files: dict[str, str | bytes] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)  # relative to {tmp}: must not exist afterwards
    env: dict[str, str] = field(default_factory=dict)
    warning: bool = False  # status 0 with a warning line on stderr (the figure named), not an error
    program: str = "emergent"  # or the `passuntil` alias, or lm-eval's own `lm_eval`
    one_line: bool = False  # stderr is that one line and nothing else
    stdout_fragment: str = ""  # status 0: what stdout must show


def _config_text(data_dir: Path, **edits) -> str:
    import yaml

    body = tiny_config(data_dir).to_dict()
    body["optim"]["betas"] = list(body["optim"]["betas"])
    for dotted, value in edits.items():
        section, _, key = dotted.rpartition(".")
        (body[section] if section else body)[key] = value
    return yaml.safe_dump(body)


def _record(**edits) -> str:
    rec = {"task": "t", "instance_id": "0", "model": "m", "params": 1000, "samples": 10, "passes": 2, "censored": False,
           "r": 2, "max_samples": 100, "pu_mle": 0.2}
    rec.update(edits)
    return json.dumps(rec)


def _eval_csv(edit=None) -> str:
    """A small eval table in the contract's columns (4 runs x 6 checkpoints); `edit(lines)` damages it."""
    lines = ["run,checkpoint,step,params,tokens,loss,task,metric,value,stderr,random_baseline"]
    for run, size in enumerate((1e6, 3e6, 1e7, 3e7)):
        for k in range(6):
            loss = 4 - 0.3 * run - 0.05 * k
            lines.append(f"r{run},r{run}/s{k},{k},{size:g},{1e8 * (k + 1):g},{loss:g},t,acc,{0.25 + 0.02 * run + 0.01 * k:g},"
                         "0.01,0.25")
    if edit:
        edit(lines)
    return "\n".join(lines) + "\n"


def _set_cell(lines, row: int, column: int, value: str) -> None:
    cells = lines[row].split(",")
    cells[column] = value
    lines[row] = ",".join(cells)


def _shard(count: int, payload: int) -> bytes:
    import struct

    return struct.pack("<8sIIQ8x", b"EMTOKENS", 1, 2, count) + b"\0" * payload


def _issue27_cases() -> list[Case]:
    """The 19 bad inputs of issue 27: each a one-line error, a non-zero exit, nothing created."""
    words = " ".join(["alpha beta gamma delta epsilon zeta eta theta"] * 8)
    corpus = "\n\n".join(f"{words} {i}" for i in range(300)) + "\n"
    fit_curve = ["fit", "loss-curve", "--table", "{tmp}/e.csv", "--bootstrap", "5", "--out", "{tmp}/o.json"]
    checkpoints = "".join(json.dumps({"run": f"r{i}", "step": 1, "params": "big" if i == 2 else 1e6 * (i + 1),
                                      "tokens": 1e8, "val_loss": 3 - 0.1 * i}) + "\n" for i in range(6))
    pu = ["passuntil", "run", "--model", "{ckpt}", "--task", "custom", "--data", "{tmp}/t.jsonl", "--out", "{tmp}/pu.jsonl",
          "--no-progress"]
    code_row = {"id": "a", "prompt": "def f(x):\n", "entry_point": "f"}
    truncated = {"d/data.json": json.dumps({"vocab_size": 512, "train": [{"file": "train_000.bin", "tokens": 1000}],
                                            "train_tokens": 1000, "val": {"file": "val.bin", "tokens": 10}}),
                 "d/train_000.bin": _shard(1000, 100), "d/val.bin": _shard(10, 20),
                 "s.yaml": "rungs:\n  - {name: a, d_model: 64, n_layers: 2, n_heads: 4}\n"}
    return [
        Case("27-tokenizer-not-a-tokenizer", ["data", "prepare", "{tmp}/a.txt", "--out", "{tmp}/prep", "--tokenizer",
                                               "{tmp}/tok"], 2, "not a Hugging Face tokenizer",
             {"a.txt": corpus, "tok/tokenizer.json": "not a tokenizer\n"}, ["prep"], one_line=True),
        Case("27-curve-text-in-number", fit_curve, 2, "e.csv:5: column 'value' holds '0.3x7#'",
             {"e.csv": _eval_csv(lambda ls: _set_cell(ls, 4, 8, "0.3x7#"))}, ["o.json"], one_line=True),
        Case("27-curve-open-quote", fit_curve, 2, "e.csv:5: column 'value' runs over",
             {"e.csv": _eval_csv(lambda ls: _set_cell(ls, 4, 8, '"0.3'))}, ["o.json"], one_line=True),
        Case("27-curve-quote-inside", fit_curve, 2, "e.csv:5",
             {"e.csv": _eval_csv(lambda ls: _set_cell(ls, 4, 6, 't"x,y'))}, ["o.json"], one_line=True),
        Case("27-curve-truncated-row", fit_curve, 2, "e.csv:25: has fewer fields than the header",
             {"e.csv": _eval_csv(lambda ls: ls.__setitem__(-1, ls[-1][:25]))}, ["o.json"], one_line=True),
        Case("27-curve-nan-loss", fit_curve, 2, "e.csv:7: column 'loss' is nan",
             {"e.csv": _eval_csv(lambda ls: _set_cell(ls, 6, 5, "nan"))}, ["o.json"], one_line=True),
        Case("27-law-params-text", ["fit", "loss-law", "--table", "{tmp}/ck.jsonl", "--out", "{tmp}/o.json"], 2,
             "ck.jsonl record 3: column 'params' holds 'big'", {"ck.jsonl": checkpoints}, ["o.json"], one_line=True),
        Case("27-law-bootstrap-negative", ["fit", "loss-law", "--table", "{tmp}/ck.jsonl", "--bootstrap", "-1", "--out",
                                            "{tmp}/o.json"], 2, "'--bootstrap'", {"ck.jsonl": checkpoints}, ["o.json"],
             one_line=True),
        Case("27-task-law-target-nan", ["fit", "task-law", "--records", "{tmp}/r.jsonl", "--target", "nan", "--out",
                                         "{tmp}/o.json"], 2, "positive finite", {"r.jsonl": _record() + "\n"}, ["o.json"],
             one_line=True),
        Case("27-emergence-bootstrap-0", ["fit", "emergence", "--records", "{tmp}/r.jsonl", "--bootstrap", "0", "--out",
                                           "{tmp}/o.json"], 2, "'--bootstrap'", {"r.jsonl": _record() + "\n"}, ["o.json"],
             one_line=True),
        Case("27-predict-fits-list", ["predict", "--fits", "{tmp}/f.json", "--params", "1e9", "--out", "{tmp}/p.json"], 2,
             "holds a JSON list", {"f.json": "[1, 2, 3]"}, ["p.json"], one_line=True),
        Case("27-predict-fits-old", ["predict", "--fits", "{tmp}/f.json", "--params", "1e9", "--out", "{tmp}/p.json"], 2,
             "lacks the field 'formula'", {"f.json": json.dumps({"loss_law": {"law": "loss_law", "params": {}}})},
             ["p.json"], one_line=True),
        Case("27-predict-params-nan", ["predict", "--fits", "{tmp}/f.json", "--params", "nan"], 2, "positive finite",
             {"f.json": "{}"}, one_line=True),
        Case("27-predict-params-negative", ["predict", "--fits", "{tmp}/f.json", "--params", "-1e8"], 2, "positive finite",
             {"f.json": "{}"}, one_line=True),
        Case("27-study-out-proc", ["study", "--preset", "smoke", "--out", "/proc/emergent-study"], 2,
             "nothing can be created under /proc", one_line=True),
        Case("27-vocab-size-huge", ["data", "prepare", "{tmp}/a.txt", "--out", "{tmp}/prep", "--vocab-size",
                                     "1000000000000"], 2, "'--vocab-size'", {"a.txt": corpus}, ["prep"], one_line=True),
        Case("27-task-max-new-tokens-text", pu, 2, "'max_new_tokens' must be a positive whole number",
             {"t.jsonl": json.dumps({"id": "a", "prompt": "p", "answer": "a", "max_new_tokens": "many"}) + "\n"},
             ["pu.jsonl"], one_line=True),
        Case("27-task-tests-number", pu, 2, "'tests' must be Python source", {"t.jsonl": json.dumps({**code_row, "tests": 5})
                                                                              + "\n"}, ["pu.jsonl"], one_line=True),
        Case("27-task-tests-invalid", pu, 2, "'tests' is not valid Python",
             {"t.jsonl": json.dumps({**code_row, "tests": "def check(c):\n    assert c(1) =="}) + "\n"}, ["pu.jsonl"],
             one_line=True),
        Case("27-task-unknown-checker", pu, 2, "unknown checker 'fuzzy'",
             {"t.jsonl": json.dumps({"id": "a", "prompt": "p", "answer": "a", "checker": "fuzzy"}) + "\n"}, ["pu.jsonl"],
             one_line=True),
        Case("27-ladder-only-unknown", ["ladder", "run", "smoke", "--out", "{tmp}/lad", "--only", "zz"], 2,
             "--only names unknown runs ['zz']", absent=["lad"], one_line=True),
        Case("27-ladder-truncated-shard", ["ladder", "run", "{tmp}/s.yaml", "--out", "{tmp}/lad", "--data", "{tmp}/d"], 2,
             "train_000.bin is truncated", truncated, ["lad"], one_line=True),
        Case("27-lm-eval-mini-suite-damaged", ["--model", "hf", "--model_args", "pretrained={ckpt}", "--output_path",
                                                "{tmp}/o", "--tasks", "es_mini_add"], 2, "es_mini_add.jsonl:2 is not valid JSON",
             {"mini/es_mini_add.jsonl": '{"id": "a", "prompt": "1 + 1 =", "answer": "2"}\n{broken\n'}, ["o"],
             env={"EMERGENT_MINI_DATA": "{tmp}/mini"}, program="lm_eval", one_line=True),
    ]


def cases(data_dir: Path) -> list[Case]:
    good = _config_text(data_dir)
    train = ["train", "--config", "{tmp}/c.yaml", "--out", "{tmp}/run", "--no-progress"]
    pu = ["passuntil", "run", "--model", "{ckpt}", "--task", "custom", "--data", "{tmp}/t.jsonl", "--out", "{tmp}/pu.jsonl",
          "--no-progress"]
    mixed_records = "\n".join([_record(pu_unbiased=1 / 9), _record(instance_id="1", passes=20), "[1, 2]",
                                _record(instance_id="2", pu_mle=float("nan"))]) + "\n"
    censored = "\n".join(_record(instance_id=str(i), samples=400, passes=0, censored=True, max_samples=400, pu_mle=0.0,
                                  pu_unbiased=0.0) for i in range(3)) + "\n"
    huge_spec = ("vocab_size: 32000\nseq_len: 2048\nrungs:\n  - {name: huge, d_model: 65536, n_layers: 256, n_heads: 512, "
                 "tokens: 1.0e18}\n")
    lm_eval = ["--model", "hf", "--model_args", "pretrained={ckpt}", "--output_path", "{tmp}/o", "--limit", "2", "--tasks"]
    task_file = {"t.jsonl": json.dumps({"id": "a", "prompt": "Say the phrase:", "answer": "the quick brown fox jumps over"}) + "\n"}
    return [
        # malformed YAML / JSON
        Case("config-yaml", train, 2, "c.yaml", {"c.yaml": "model: [1, 2\n"}, ["run"]),
        Case("config-not-mapping", train, 2, "does not hold a mapping", {"c.yaml": "- 1\n- 2\n"}, ["run"]),
        Case("data-json", train + ["--data", "{tmp}/d"], 2, "data.json", {"c.yaml": good, "d/data.json": "{\"vocab"}, ["run"]),
        Case("stored-config", [*train, "--resume"], 2, "config.yaml", {"c.yaml": good, "run/config.yaml": "model: {\n"}),
        Case("ladder-yaml", ["ladder", "plan", "{tmp}/s.yaml"], 2, "s.yaml", {"s.yaml": "rungs: [\n"}),
        Case("ladder-run-yaml", ["ladder", "run", "{tmp}/s.yaml", "--out", "{tmp}/lad"], 2, "s.yaml",
             {"s.yaml": "rungs: [\n"}, ["lad"]),
        Case("ladder-run-bad-data", ["ladder", "run", "{tmp}/s.yaml", "--out", "{tmp}/lad", "--data", "{tmp}/d"], 2,
             "data.json", {"s.yaml": "rungs:\n  - {name: a, d_model: 64, n_layers: 2, n_heads: 4}\n",
                           "d/data.json": "[]"}, ["lad"]),
        Case("ladder-run-nan", ["ladder", "run", "{tmp}/s.yaml", "--out", "{tmp}/lad", "--data", "{data}"], 2,
             "tokens", {"s.yaml": "rungs:\n  - {name: a, d_model: 64, n_layers: 2, n_heads: 4, tokens: .nan}\n"}, ["lad"]),
        Case("study-yaml", ["study", "{tmp}/st.yaml", "--out", "{tmp}/so"], 2, "st.yaml", {"st.yaml": "a: [\n"}, ["so"]),
        # NaN / inf / negative sizes
        Case("lr-nan", train, 2, "optim.lr", {"c.yaml": _config_text(data_dir, **{"optim.lr": float("nan")})}, ["run"]),
        Case("tokens-inf", train, 2, "tokens", {"c.yaml": _config_text(data_dir, tokens=float("inf"))}, ["run"]),
        Case("vocab-negative", train, 2, "model.vocab_size", {"c.yaml": _config_text(data_dir, **{"model.vocab_size": -5})},
             ["run"]),
        Case("text-for-number", train, 2, "seq_len", {"c.yaml": _config_text(data_dir, seq_len="big")}, ["run"]),
        Case("too-large", train, 2, "memory", {"c.yaml": _config_text(
            data_dir, **{"model.d_model": 65536, "model.n_layers": 512, "model.n_heads": 512, "model.n_kv_heads": 512})},
            ["run"]),
        # control characters in names
        Case("name-control", train, 2, "control character", {"c.yaml": _config_text(data_dir, name="a\x07b")}, ["run"]),
        Case("out-control", ["train", "--config", "{tmp}/c.yaml", "--out", "{tmp}/r\x1bun"], 2, "control character",
             {"c.yaml": good}, ["r\x1bun"]),
        # resume into nothing
        Case("resume-empty", [*train, "--resume"], 2, "nothing to resume", {"c.yaml": good}, ["run"]),
        # data prepare
        Case("prepare-binary", ["data", "prepare", "{tmp}/junk.txt", "--out", "{tmp}/prep"], 2, "not text",
             {"junk.txt": bytes(range(256)) * 64}, ["prep"]),
        Case("prepare-vocab-0", ["data", "prepare", "{tmp}/a.txt", "--out", "{tmp}/prep", "--vocab-size", "0"], 2,
             "vocab-size", {"a.txt": "hello world\n"}, ["prep"]),
        Case("prepare-out-under-file", ["data", "prepare", "{tmp}/a.txt", "--out", "{tmp}/a.txt/prep"], 2, "not a directory",
             {"a.txt": "hello world\n"}),
        # ladder plan of absurd size: a warning with the figure
        Case("ladder-absurd", ["ladder", "plan", "{tmp}/s.yaml"], 0, "years", {"s.yaml": (
            "vocab_size: 32000\nseq_len: 2048\nrungs:\n  - {name: huge, d_model: 65536, n_layers: 256, n_heads: 512, "
            "tokens: 1.0e18}\n")}, warning=True),
        # eval
        Case("eval-limit-negative", ["eval", "{ckpt}", "--tasks", "es_gsm8k", "--table", "{tmp}/e.csv", "--limit", "-1"], 2,
             "--limit", absent=["e.csv"]),
        Case("eval-no-checkpoints", ["eval", "{tmp}/r", "--tasks", "es_gsm8k", "--table", "{tmp}/e.csv"], 2, "checkpoint",
             {"r/checkpoints.jsonl": json.dumps({"step": 1, "path": "checkpoints/step_00000001"}) + "\n"}, ["e.csv"]),
        Case("eval-empty-dir", ["eval", "{tmp}/r", "--tasks", "es_gsm8k", "--table", "{tmp}/e.csv"], 2, "checkpoint",
             {"r/.keep": ""}, ["e.csv"]),
        Case("eval-garbage-weights", ["eval", "{ckpt}", "--tasks", "es_gsm8k", "--table", "{tmp}/e.csv"], 2,
             "model.safetensors", absent=["e.csv"]),
        Case("eval-vllm-missing", ["eval", "{ckpt}", "--tasks", "es_gsm8k", "--table", "{tmp}/e.csv", "--backend", "vllm"],
             2, "make vllm-venv", absent=["e.csv"]),
        Case("eval-suite-data-missing", ["eval", "{ckpt}", "--tasks", "emergent_suite", "--table", "{tmp}/e.csv"], 2,
             "EMERGENT_SUITE_DATA", absent=["e.csv"], env={"EMERGENT_SUITE_DATA": "/nonexistent/suite"}),
        Case("eval-table-under-file", ["eval", "{ckpt}", "--tasks", "es_gsm8k", "--table", "{tmp}/f/e.csv"], 2,
             "not a directory", {"f": "x"}),
        Case("eval-checkpoint-json", ["eval", "{tmp}/ck", "--tasks", "es_gsm8k", "--table", "{tmp}/e.csv"], 2,
             "checkpoint.json is not valid JSON", {"ck/config.json": "{}", "ck/checkpoint.json": "{\"step\": "}, ["e.csv"]),
        # passuntil run
        Case("pu-limit-negative", [*pu, "--limit", "-1"], 2, "--limit", task_file, ["pu.jsonl"]),
        Case("pu-time-limit-0", [*pu, "--time-limit", "0"], 2, "--time-limit", task_file, ["pu.jsonl"]),
        Case("pu-garbage-weights", pu, 2, "model.safetensors", task_file, ["pu.jsonl"]),
        Case("pu-vllm-missing", [*pu, "--backend", "vllm"], 2, "make vllm-venv", task_file, ["pu.jsonl"]),
        Case("pu-task-rejected", pu, 2, "t.jsonl", {"t.jsonl": "{not json\n"}, ["pu.jsonl"]),
        Case("pu-out-under-file", [*pu[:-3], "--out", "{tmp}/f/pu.jsonl"], 2, "not a directory", {**task_file, "f": "x"}),
        # passuntil summarize: records that break the contract
        Case("sum-not-object", ["passuntil", "summarize", "{tmp}/r.jsonl"], 2, "r.jsonl:2",
             {"r.jsonl": _record() + "\n[1, 2]\n" + _record(instance_id="1") + "\n"}),
        Case("sum-no-fields", ["passuntil", "summarize", "{tmp}/r.jsonl"], 2, "r.jsonl:1", {"r.jsonl": "{}\n"}),
        Case("sum-passes-gt-samples", ["passuntil", "summarize", "{tmp}/r.jsonl"], 2, "exceed samples",
             {"r.jsonl": _record(passes=20) + "\n"}),
        Case("sum-nan", ["passuntil", "summarize", "{tmp}/r.jsonl"], 2, "r.jsonl:1",
             {"r.jsonl": _record(pu_mle=float("nan")) + "\n"}),
        Case("sum-counts-and-fix", ["passuntil", "summarize", "{tmp}/r.jsonl"], 2,
             "3 of 4 line(s) are not valid records", {"r.jsonl": mixed_records}),
        Case("sum-names-drop-invalid", ["passuntil", "summarize", "{tmp}/r.jsonl"], 2, "rerun with --drop-invalid",
             {"r.jsonl": mixed_records}),
        Case("sum-drop-invalid", ["passuntil", "summarize", "{tmp}/r.jsonl", "--drop-invalid"], 0,
             "3 records ignored: 'pu_mle' not finite (1), not a JSON object (1), passes > samples (1)",
             {"r.jsonl": mixed_records}, warning=True, stdout_fragment="0.111"),
        Case("sum-censored-upper-bound", ["passuntil", "summarize", "{tmp}/r.jsonl"], 0, "", {"r.jsonl": censored},
             stdout_fragment="[0, 0.00307]"),
        # click's usage errors: one line with the help hint folded in, for `emergent` and the `passuntil` alias
        Case("usage-missing-option", ["train", "--out", "{tmp}/run"], 2, "missing option '--config' (see `emergent "
             "train --help`)", absent=["run"], one_line=True),
        Case("usage-bad-choice", [*pu, "--backend", "tpu"], 2, "invalid value for '--backend'", task_file, ["pu.jsonl"],
             one_line=True),
        Case("usage-extra-argument", ["ladder", "plan", "tiny", "extra"], 2, "unexpected extra argument (extra)",
             one_line=True),
        Case("usage-alias-missing", ["run", "--model", "{ckpt}", "--out", "{tmp}/pu.jsonl"], 2,
             "missing option '--task' (see `passuntil run --help`)", absent=["pu.jsonl"], program="passuntil",
             one_line=True),
        # eval: a misspelt task fails first, with the close matches
        Case("eval-unknown-task", ["eval", "{ckpt}", "--tasks", "es_gsm8kk", "--table", "{tmp}/e.csv"], 2,
             "did you mean es_gsm8k", absent=["e.csv"], one_line=True),
        # ladder run of an absurd plan: refused before anything exists, the estimate and the override named
        Case("ladder-run-absurd", ["ladder", "run", "{tmp}/s.yaml", "--out", "{tmp}/lad"], 2, "--allow-huge",
             {"s.yaml": huge_spec}, ["lad"], one_line=True),
        # lm-eval's own command with the suite: the suite's checks come before lm-eval indexes or loads anything
        Case("lm-eval-no-data", [*lm_eval, "emergent_suite"], 2, "no task of group emergent_suite has its data",
             absent=["o"], env={"EMERGENT_SUITE_DATA": None}, program="lm_eval", one_line=True),
        Case("lm-eval-data-dir-missing", [*lm_eval, "emergent_suite"], 2,
             "EMERGENT_SUITE_DATA=/nonexistent/suite is not a directory", absent=["o"],
             env={"EMERGENT_SUITE_DATA": "/nonexistent/suite"}, program="lm_eval", one_line=True),
        Case("lm-eval-unknown-task", [*lm_eval, "es_gsm8kk"], 2, "did you mean es_gsm8k", absent=["o"],
             program="lm_eval", one_line=True),
        Case("lm-eval-model-missing", ["--model", "hf", "--model_args", "pretrained={tmp}/nomodel", "--output_path",
                                       "{tmp}/o", "--tasks", "es_gsm8k"], 2, "pretrained=", absent=["o"],
             env={"EMERGENT_SUITE_DATA": str(SUITE_FIXTURES)}, program="lm_eval", one_line=True),
        # issue #16: no HF_HUB_OFFLINE and no hub (an endpoint that refuses): offline at once, the dataset named
        Case("lm-eval-hub-unreachable", [*lm_eval, "es_gsm8k"], 2, "openai/gsm8k (main) is not in the local",
             absent=["o"], program="lm_eval", env={"EMERGENT_SUITE_DATA": None, "HF_HUB_OFFLINE": None,
                                                   "HF_DATASETS_OFFLINE": None, "TRANSFORMERS_OFFLINE": None,
                                                   "HF_ENDPOINT": "http://127.0.0.1:9"}),
        *_issue27_cases(),
    ]


@pytest.fixture(scope="module")
def garbage_checkpoint(tmp_path_factory, data_dir) -> Path:
    """A checkpoint directory whose config and tokenizer are fine and whose weights are random bytes."""
    from transformers import LlamaConfig

    ckpt = tmp_path_factory.mktemp("garbage") / "step_00000001"
    LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2).save_pretrained(ckpt)
    shutil.copytree(data_dir / "tokenizer", ckpt, dirs_exist_ok=True)
    (ckpt / "model.safetensors").write_bytes(b"\x13\x00\x00\x00\x00\x00\x00\x00{garbage" + bytes(range(256)) * 8)
    return ckpt


def _fill(text: str, tmp: Path, data: Path, ckpt: Path) -> str:
    return text.replace("{tmp}", str(tmp)).replace("{data}", str(data)).replace("{ckpt}", str(ckpt))


def _write_files(case: Case, tmp: Path, data: Path, ckpt: Path) -> None:
    for rel, body in case.files.items():
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(_fill(body, tmp, data, ckpt))


@dataclass
class Result:
    returncode: int
    stderr: str
    stdout: str = ""


@pytest.fixture(scope="module")
def results(tmp_path_factory, data_dir, garbage_checkpoint) -> dict[str, tuple[Result, Path]]:
    """Every case, run by one interpreter (tests/bad_input_driver.py forks per command line)."""
    root = tmp_path_factory.mktemp("bad_input")
    jobs, where = [], {}
    for case in cases(data_dir):
        tmp = root / case.id
        tmp.mkdir()
        _write_files(case, tmp, data_dir, garbage_checkpoint)
        where[case.id] = tmp
        env = {k: _fill(v, tmp, data_dir, garbage_checkpoint) if isinstance(v, str) else v for k, v in case.env.items()}
        jobs.append({"argv": [_fill(a, tmp, data_dir, garbage_checkpoint) for a in case.argv], "env": env,
                     "program": case.program,
                     "stdout": str(root / f"{case.id}.out"), "stderr": str(root / f"{case.id}.err")})
    (root / "jobs.json").write_text(json.dumps(jobs))
    subprocess.run([sys.executable, "-m", "tests.bad_input_driver", str(root / "jobs.json")], cwd=REPO, check=True,
                   timeout=900)
    codes = json.loads((root / "jobs.json.status").read_text())
    return {job_id: (Result(code, Path(job["stderr"]).read_text(errors="replace"),
                            Path(job["stdout"]).read_text(errors="replace")), where[job_id])
            for job_id, code, job in zip(where, codes, jobs)}


def _check(case: Case, result, tmp: Path) -> None:
    where = f"{case.id}: exit {result.returncode}\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr, where
    assert result.returncode == case.status, where
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    if case.stdout_fragment:
        assert case.stdout_fragment in result.stdout, f"{where}\n{result.stdout[-2000:]}"
    if case.one_line:
        assert len(lines) == 1, where
    if case.warning:
        assert any(line.startswith("warning: ") and case.fragment in line for line in lines), where
    elif case.status == 0:
        assert not any(line.lower().startswith("error") for line in lines), where
    else:
        assert lines and lines[-1].startswith(("error: ", "Error: ")), where
        assert case.fragment in lines[-1], where
        assert sum(line.lower().startswith("error") for line in lines) == 1, where
    for rel in case.absent:
        assert not (tmp / rel).exists(), f"{case.id}: {rel} was created"


CASE_IDS = [c.id for c in cases(Path("DATA"))]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_bad_input(case_id, results, data_dir):
    case = next(c for c in cases(data_dir) if c.id == case_id)
    result, tmp = results[case_id]
    _check(case, result, tmp)


def test_debug_shows_the_traceback(tmp_path):
    (tmp_path / "s.yaml").write_text("rungs: [\n")
    for argv, env in ((["--debug", "ladder", "plan", str(tmp_path / "s.yaml")], {}),
                      (["ladder", "plan", str(tmp_path / "s.yaml")], {"EMERGENT_DEBUG": "1"})):
        result = run_cli(*argv, env=env)
        assert result.returncode == 2 and "Traceback" in result.stderr, result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("error: "), result.stderr


def test_library_errors_become_one_line_at_the_boundary(monkeypatch):
    """An error from inside a library (here json's, as a damaged file gives it) that no reader caught."""
    import click
    from click.testing import CliRunner

    from emergent.cli import BoundaryGroup

    @click.group(cls=BoundaryGroup)
    def top():
        pass

    @top.command()
    def broken():
        json.loads("{torn")

    monkeypatch.delenv("EMERGENT_DEBUG", raising=False)
    result = CliRunner().invoke(top, ["broken"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert result.output.startswith("error: JSONDecodeError:") and "--debug" in result.output
    monkeypatch.setenv("EMERGENT_DEBUG", "1")
    assert isinstance(CliRunner().invoke(top, ["broken"]).exception, json.JSONDecodeError)
