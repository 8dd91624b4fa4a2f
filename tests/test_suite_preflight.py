"""The suite's checks in front of lm-eval read its YAMLs with a regex; they must agree with lm-eval's own index."""
from __future__ import annotations

import time

import pytest

from lm_eval_tasks import preflight


@pytest.fixture(scope="module")
def manager():
    from lm_eval_tasks.evaluate import task_manager

    return task_manager()


def test_declared_names_and_groups_are_lm_evals(manager):
    names = preflight.declared()
    ours = {n for n in manager.task_index if n.startswith(preflight.OURS)}
    assert set(names) == ours and len(ours) > 20
    from lm_eval_tasks.evaluate import expand_tasks

    for group in (n for n in names if not n.startswith("es_")):
        assert preflight.expand(group, names) == expand_tasks(manager, [group]), group


def test_every_task_data_check_agrees_with_loading(suite_data, manager):
    """With the fixture rows every task passes the check; pointing one task's folder away fails exactly it."""
    names = preflight.declared()
    tasks = [n for n in names if n.startswith("es_") and not n.startswith("es_mini")]
    assert all(preflight.data_problem(t, names) is None for t in tasks)
    assert preflight.check_run(["emergent_suite"]) == preflight.expand("emergent_suite", names)


def test_missing_everything_is_one_problem_each(tmp_path, monkeypatch):
    names = preflight.declared()
    monkeypatch.setenv("EMERGENT_SUITE_DATA", str(tmp_path))
    with pytest.raises(preflight.PreflightError, match=r"es_gsm8k: .*es_gsm8k/test.jsonl does not exist"):
        preflight.check_run(["es_gsm8k"])
    with pytest.raises(preflight.PreflightError, match="no task of group emergent_suite has its data"):
        preflight.check_run(["emergent_suite"])
    with pytest.raises(preflight.PreflightError, match="did you mean emergent_suite"):
        preflight.check_run(["emergent_suit", "hellaswag"])
    assert preflight.check_run(["hellaswag"]) == []  # lm-eval's own tasks are lm-eval's business
    with pytest.raises(preflight.PreflightError, match="no such directory"):
        preflight.check_run(["es_gsm8k"], model_path=str(tmp_path / "nomodel"))
    monkeypatch.delenv("EMERGENT_SUITE_DATA")
    problem = preflight.data_problem("es_gsm8k", names)  # tests run offline (conftest), with an empty HF_HOME
    assert "openai/gsm8k (main) is not in the local Hugging Face cache" in problem and "EMERGENT_SUITE_DATA=DIR" in problem


def test_unreachable_hub_is_found_in_seconds_and_switches_offline(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    started = time.perf_counter()
    assert not preflight.hub_reachable()
    assert time.perf_counter() - started < 3.5
    said: list[str] = []
    preflight.go_offline(said.append)
    assert preflight.offline() and said[0].startswith("warning: ") and "HF_HUB_OFFLINE=1" in said[0]
