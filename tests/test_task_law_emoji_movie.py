"""Emoji Movie without common-word answers (Hu et al. 2024), on BIG-bench's own task.json."""
from __future__ import annotations

import json

import pytest

from passuntil.tasks import EMOJI_MOVIE_COMMON_WORD_ANSWERS, load_bigbench_qa
from tests.conftest import REPO

BIGBENCH = REPO.parent / "shared" / "bigbench"


@pytest.mark.usefixtures("bigbench_data")
def test_common_word_answers_are_dropped_and_counted():
    examples = json.loads((BIGBENCH / "emoji_movie" / "task.json").read_text())["examples"]
    task = load_bigbench_qa("emoji_movie", BIGBENCH / "emoji_movie")
    kept_answers = {a.lower() for inst in task.instances for a in inst.answers}
    assert not kept_answers & EMOJI_MOVIE_COMMON_WORD_ANSWERS
    dropped = [ex["target"] for ex in examples if ex["target"].lower() in EMOJI_MOVIE_COMMON_WORD_ANSWERS]
    assert sorted(dropped) == sorted(EMOJI_MOVIE_COMMON_WORD_ANSWERS)  # every listed word is one of the task's answers
    assert all(len(a.split()) == 1 for a in dropped)
    assert len(task.instances) == len(examples) - len(dropped) and task.removed_guessable >= len(dropped)
    assert {"finding nemo", "shrek", "the lion king"} <= kept_answers  # film names stay
    # Ids keep the example's index in task.json, so records stay comparable across versions of the filter.
    assert all(examples[int(inst.id.split("/")[1])]["target"] in inst.answers for inst in task.instances)
    # Date Understanding has no such filter.
    assert load_bigbench_qa("date_understanding", BIGBENCH / "date_understanding").name == "date_understanding"
