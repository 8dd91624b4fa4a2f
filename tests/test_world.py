"""The study's generated world: no test item in the corpus, facts at their stated Zipf frequencies, every
test item well formed. Built once at a reduced corpus size (the generators are the study's own)."""
from __future__ import annotations

import math
import re
from collections import Counter

import pytest

from study.world import (ADDITION_GRADES, COPY_TRAIN_LENGTHS, FACT_TEMPLATES, LETTERS, MIX, QUESTION, World, check_no_leak, spaced,
                         zipf_weights)

NATURAL = "The quick brown fox jumps over the lazy dog, and the dog does not mind at all.\n\n" * 400


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    (root / "natural").mkdir()
    (root / "natural" / "prose.txt").write_text(NATURAL)
    world = World(seed=7, n_entities=120, test_facts=30, test_add=30, test_copy=30, corpus_chars=600_000)
    corpus = world.build_corpus(root / "natural", root / "corpus")
    return world, corpus, world.mini_suite()


def _lines(corpus, name):
    return [line for line in (corpus / f"skill_{name}.txt").read_text().splitlines() if line.strip()]


def test_no_test_item_in_the_corpus(built):
    world, corpus, suite = built
    assert set(check_no_leak(corpus, suite).values()) == {0}
    text = "\n".join(p.read_text() for p in corpus.glob("*.txt"))
    # Stronger than the verbatim probe: a tested fact is never shown in the question frame at all,
    # a tested sum never in either order, a tested sequence never copied.
    for rank in world.test_fact_ids:
        assert QUESTION.format(c=world.facts[rank][0]) not in text
    for a, b in world.test_add:
        assert f"{spaced(a)} + {spaced(b)} =" not in text and f"{spaced(b)} + {spaced(a)} =" not in text
    copied = {line.split(" -> ")[1] for line in _lines(corpus, "copying")}
    assert not copied & set(world.test_copy)


def test_skill_shares_are_as_stated(built):
    world, corpus, _ = built
    for name in ("facts", "addition", "copying"):
        size = len((corpus / f"skill_{name}.txt").read_text())
        assert abs(size / (world.corpus_chars * MIX[name]) - 1) < 0.05, name


def test_fact_frequencies_follow_the_zipf_weights(built):
    world, corpus, _ = built
    country_of = re.compile(r"\b([A-Z][a-z]+ia)\b")
    counts = Counter()
    for line in _lines(corpus, "facts"):
        countries = set(country_of.findall(line))
        assert len(countries) == 1, line  # every line mentions exactly one fact
        counts[countries.pop()] += 1
    total = sum(counts.values())
    weights = zipf_weights(len(world.facts))
    assert math.isclose(sum(weights), 1.0) and weights[0] / weights[9] == pytest.approx(10.0)
    for (country, _), w in zip(world.facts, weights):
        expected = total * w
        # Each entity's count is binomial(total, w): within 5 standard deviations of its expectation.
        assert abs(counts[country] - expected) <= 5 * math.sqrt(expected * (1 - w)) + 1, (country, counts[country], expected)
    # And the rank-frequency slope on log-log axes is the stated exponent (-1).
    xs = [math.log(i + 1) for i in range(len(world.facts))]
    ys = [math.log(max(counts[c], 1)) for c, _ in world.facts]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    assert slope == pytest.approx(-1.0, abs=0.1)


def _pattern(template: str) -> str:
    """A template as a regex: the first {c}/{k} captures a name, a repeat must be the same name."""
    out = re.escape(template)
    for field in ("c", "k"):
        out = out.replace(re.escape("{" + field + "}"), f"(?P<{field}>[A-Z][a-z]+)", 1)
        out = out.replace(re.escape("{" + field + "}"), f"(?P={field})")
    return out


def test_statements_use_the_templates(built):
    world, corpus, _ = built
    capital_of = dict(world.facts)
    statements = [_pattern(t) for t in FACT_TEMPLATES]
    question = _pattern(QUESTION)
    text = (corpus / "skill_facts.txt").read_text()
    for match in re.finditer(question + r" (?P<k>[A-Z][a-z]+)\.", text):
        assert capital_of[match["c"]] == match["k"]
    for line in _lines(corpus, "facts"):
        if line.startswith(("Q:", "A:")):
            continue
        match = next((m for m in (re.fullmatch(s, line) for s in statements) if m), None)
        assert match and capital_of[match["c"]] == match["k"], line


def test_every_test_item_is_well_formed(built):
    world, _, suite = built
    capital_of = dict(world.facts)
    capitals = set(capital_of.values())
    assert [len(suite[t]) for t in ("es_mini_facts", "es_mini_facts_mc", "es_mini_add", "es_mini_copy")] == [30] * 4
    for items in suite.values():
        assert len({item["id"] for item in items}) == len(items)
    for item in suite["es_mini_facts"]:
        country = world.facts[item["rank"]][0]
        assert item["prompt"] == QUESTION.format(c=country) and item["answer"] == capital_of[country]
        assert item["stop"] == ["\n"] and item["max_new_tokens"] >= 4
    assert sorted(item["rank"] for item in suite["es_mini_facts"]) == sorted(world.test_fact_ids)
    assert max(world.test_fact_ids) >= len(world.facts) * 3 // 4  # rare facts are tested too
    for item in suite["es_mini_facts_mc"]:
        country = world.facts[item["rank"]][0]
        assert item["query"] == QUESTION.format(c=country)
        assert len(set(item["choices"])) == 4 and set(item["choices"]) <= capitals
        assert item["choices"][item["gold"]] == capital_of[country]
    for item in suite["es_mini_add"]:
        match = re.fullmatch(r"((?:\d )+)\+ ((?:\d )+)=", item["prompt"])
        assert match, item["prompt"]
        a, b = (int(g.replace(" ", "")) for g in match.groups())
        assert 10 <= a <= 99 and 10 <= b <= 99 and (a % 10 + b % 10) >= 10  # two digits, a carry
        assert item["answer"] == spaced(a + b) and item["max_new_tokens"] >= len(str(a + b)) + 2
    for item in suite["es_mini_copy"]:
        seq = item["answer"].split(" ")
        assert item["prompt"] == f"copy: {item['answer']} ->"
        assert len(seq) == world.copy_length and len(set(seq)) == len(seq) and set(seq) <= set(LETTERS)
        assert COPY_TRAIN_LENGTHS[0] <= len(seq) <= COPY_TRAIN_LENGTHS[1]
        assert item["max_new_tokens"] >= len(seq) + 2


def test_same_seed_same_world_other_seed_other_world():
    one, two, other = World(seed=3, n_entities=50), World(seed=3, n_entities=50), World(seed=4, n_entities=50)
    assert one.mini_suite() == two.mini_suite() and one.facts == two.facts
    assert one.facts != other.facts


def test_addition_is_graded_at_its_stated_shares(built):
    _, corpus, _ = built
    grades = Counter()
    for line in _lines(corpus, "addition"):
        left, _, right = line.partition(" = ")
        a, _, b = left.partition(" + ")
        assert int(right.replace(" ", "")) == int(a.replace(" ", "")) + int(b.replace(" ", ""))
        digits = tuple(sorted((len(a.split()), len(b.split())), reverse=True))
        grades[digits] += 1
    total = sum(grades.values())
    assert set(grades) == set(ADDITION_GRADES)
    for grade, share in ADDITION_GRADES.items():
        assert abs(grades[grade] / total - share) < 0.02, grade


def test_tested_facts_start_at_the_stated_rank():
    world = World(seed=3, n_entities=240, test_facts=80, first_test_rank=1 / 6)
    ids = world.test_fact_ids
    assert len(ids) == 80 == len(set(ids)) and ids[0] == 40 and ids[-1] >= 236
    assert all(b - a in (2, 3) for a, b in zip(ids, ids[1:]))  # evenly spread over the rarer ranks
