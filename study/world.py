"""The study's generated world: the skill text mixed into the corpus and the mini-suite's test items.

One seed makes both, so the test items ask about facts and skills the corpus teaches, in a form the
corpus never shows verbatim (checked by `check_no_leak`). Each skill is tuned so that a CPU ladder
sees it emerge: small rungs sit at zero exact match, larger ones leave it.

- facts: invented countries and capitals, mentioned at Zipf frequencies (entity i is mentioned in
  proportion to 1/(i+1)^ZIPF_EXPONENT), as statements ("The capital of Varonia is Keltum.", two more
  templates). The corpus also shows a question frame ("Q: Name the capital of X.\nA: The capital of X
  is Y.") for the facts that are never tested, so the frame is familiar; a test item puts a tested
  fact in that frame, so the model must recall a fact it saw only as a statement. Memorising rare facts
  takes capacity: the rank a model still recalls grows with its size.
- addition: sums written digit by digit ("4 7 + 8 5 = 1 3 2": one token per digit, so the model
  must learn the carry, not a table of number tokens), graded by difficulty (`ADDITION_GRADES`):
  one-digit sums, a two-digit number plus a digit, then two two-digit numbers, so every rung has
  something to learn before the hard grade. Tested on two-digit pairs never shown (in either order),
  each with a carry. Exact match needs every digit right: per-digit accuracy rises smoothly, exact
  match late.
- copying: "copy: k q z m -> k q z m"; tested on new random sequences of `copy_length`
  letters. Copying an unseen sequence needs an induction-like circuit (two attention layers); no
  rung of the CPU presets forms it in its budget, so copying gets a small share and no PassUntil.

Natural text (the embedded default corpus, Python's docstrings) makes up the rest, at the shares in
`MIX`; `build_corpus` writes the mixed corpus and a SOURCE file stating them.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from contracts.atomic import write_jsonl_atomic, write_text_atomic

MIX = {"natural": 0.10, "facts": 0.35, "addition": 0.45, "copying": 0.10}  # shares of corpus characters
CORPUS_CHARS = 3_000_000  # the mixed corpus's size: more than the largest run reads, so no run repeats an epoch
ZIPF_EXPONENT = 1.0
FACT_TEMPLATES = ["The capital of {c} is {k}.", "{k} is the capital city of {c}.", "In {c}, the seat of government is {k}."]
QUESTION = "Q: Name the capital of {c}.\nA: The capital of {c} is"
MC_QUERY = QUESTION  # multiple choice scores each capital as the continuation of the same frame
SYLLABLES = ["ka", "lo", "mi", "ver", "to", "zan", "ri", "bel", "du", "nor", "sa", "quin", "tel", "ma", "vo", "ra",
             "gen", "ul", "phi", "dar", "os", "ne", "ki", "lum"]
LETTERS = "abcdefghijklmnopqrstuvwxyz"
COPY_TRAIN_LENGTHS = (2, 6)
# Shares of the addition lines by grade, (digits of a, digits of b): the easy grades teach the format and
# single-digit sums, which the hard grade (the tested one) builds on.
ADDITION_GRADES = {(1, 1): 0.10, (2, 1): 0.20, (2, 2): 0.70}


def _name(rng: random.Random, parts: int, suffix: str = "") -> str:
    return ("".join(rng.choice(SYLLABLES) for _ in range(parts)) + suffix).capitalize()


def random_operand(rng: random.Random, digits: int) -> int:
    """A number of exactly `digits` digits (0-9 for one digit)."""
    return rng.randint(10 ** (digits - 1) if digits > 1 else 0, 10 ** digits - 1)


def spaced(number: int) -> str:
    """A number written digit by digit ("132" -> "1 3 2"): one token per digit under any byte-level BPE."""
    return " ".join(str(number))


def addition_line(a: int, b: int) -> str:
    return f"{spaced(a)} + {spaced(b)} = {spaced(a + b)}"


def zipf_weights(n: int, exponent: float = ZIPF_EXPONENT) -> list[float]:
    """The share of fact mentions each entity gets (sums to 1)."""
    raw = [1.0 / (i + 1) ** exponent for i in range(n)]
    total = sum(raw)
    return [w / total for w in raw]


class World:
    def __init__(self, seed: int = 0, n_entities: int = 200, test_facts: int = 40, test_add: int = 40,
                 test_copy: int = 40, copy_length: int = 4, corpus_chars: int = CORPUS_CHARS,
                 first_test_rank: float = 0.0):
        rng = random.Random(seed)
        countries, capitals = set(), set()
        self.facts: list[tuple[str, str]] = []
        while len(self.facts) < n_entities:
            country, capital = _name(rng, 2, "ia"), _name(rng, 2)
            if country in countries or capital in capitals or capital in countries:
                continue
            countries.add(country)
            capitals.add(capital)
            self.facts.append((country, capital))
        self.seed, self.copy_length, self.corpus_chars = seed, copy_length, corpus_chars
        if not COPY_TRAIN_LENGTHS[0] <= copy_length <= COPY_TRAIN_LENGTHS[1]:
            raise ValueError(f"copy_length must lie in {COPY_TRAIN_LENGTHS}, the lengths the corpus shows")
        # Tested facts are spread evenly over the frequency ranks from `first_test_rank` on: frequent facts are
        # learned first, rare ones later, and the most frequent (which every rung recalls) are left untested.
        first = int(first_test_rank * n_entities)
        self.test_fact_ids = sorted({first + (i * (n_entities - first)) // test_facts for i in range(test_facts)})
        self.test_add: list[tuple[int, int]] = []
        seen = set()
        while len(self.test_add) < test_add:
            a, b = rng.randint(10, 99), rng.randint(10, 99)
            if (a % 10 + b % 10) >= 10 and (a, b) not in seen and (b, a) not in seen:  # at least one carry
                seen.add((a, b))
                self.test_add.append((a, b))
        self.test_copy = [" ".join(rng.sample(LETTERS, copy_length)) for _ in range(test_copy)]

    # ---------------------------------------------------------------- corpus
    def fact_lines(self, rng: random.Random, chars: int) -> list[str]:
        """Fact mentions at Zipf frequencies; untested facts are sometimes shown in the question frame."""
        weights = zipf_weights(len(self.facts))
        tested = set(self.test_fact_ids)
        lines, size = [], 0
        while size < chars:
            i = rng.choices(range(len(self.facts)), weights)[0]
            country, capital = self.facts[i]
            if i not in tested and rng.random() < 0.25:
                line = QUESTION.format(c=country) + f" {capital}."
            else:
                line = rng.choice(FACT_TEMPLATES).format(c=country, k=capital)
            lines.append(line)
            size += len(line) + 1
        return lines

    def addition_lines(self, rng: random.Random, chars: int) -> list[str]:
        held_out = set(self.test_add) | {(b, a) for a, b in self.test_add}
        grades, shares = list(ADDITION_GRADES), list(ADDITION_GRADES.values())
        lines, size = [], 0
        while size < chars:
            da, db = rng.choices(grades, shares)[0]
            a, b = random_operand(rng, da), random_operand(rng, db)
            if rng.random() < 0.5:
                a, b = b, a
            if (a, b) in held_out:
                continue
            line = addition_line(a, b)
            lines.append(line)
            size += len(line) + 1
        return lines

    def copy_lines(self, rng: random.Random, chars: int) -> list[str]:
        held_out = set(self.test_copy)
        lines, size = [], 0
        while size < chars:
            seq = " ".join(rng.sample(LETTERS, rng.randint(*COPY_TRAIN_LENGTHS)))
            if seq in held_out:
                continue
            line = f"copy: {seq} -> {seq}"
            lines.append(line)
            size += len(line) + 1
        return lines

    def build_corpus(self, natural_dir: Path, out_dir: Path) -> Path:
        """Mix natural text with generated skill text at the stated shares of `corpus_chars`; returns out_dir."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        natural_budget = int(self.corpus_chars * MIX["natural"])
        natural_chars = 0
        for path in sorted(Path(natural_dir).glob("*.txt")):  # whole files, in name order, up to the budget
            if natural_chars >= natural_budget:
                break
            text = path.read_text()
            write_text_atomic(out_dir / f"natural_{path.name}", text)
            natural_chars += len(text)
        rng = random.Random(self.seed + 1)
        blocks = {"facts": self.fact_lines(rng, int(self.corpus_chars * MIX["facts"])),
                  "addition": self.addition_lines(rng, int(self.corpus_chars * MIX["addition"])),
                  "copying": self.copy_lines(rng, int(self.corpus_chars * MIX["copying"]))}
        for name, lines in blocks.items():
            # Paragraphs of 20 lines: the data preparation groups paragraphs into documents.
            paragraphs = ["\n".join(lines[i:i + 20]) for i in range(0, len(lines), 20)]
            write_text_atomic(out_dir / f"skill_{name}.txt", "\n\n".join(paragraphs) + "\n")
        write_text_atomic(out_dir / "SOURCE", json.dumps({"mix": MIX, "seed": self.seed, "natural_chars": natural_chars,
                                                          "zipf_exponent": ZIPF_EXPONENT,
                                                          "addition_grades": {f"{a}+{b}": w for (a, b), w in ADDITION_GRADES.items()},
                                                          "skill_lines": {k: len(v) for k, v in blocks.items()}}, indent=2))
        return out_dir

    # ---------------------------------------------------------------- test items
    def mini_suite(self) -> dict[str, list[dict]]:
        rng = random.Random(self.seed + 2)
        facts, mc = [], []
        capitals = [k for _, k in self.facts]
        for rank in self.test_fact_ids:
            country, capital = self.facts[rank]
            prompt = QUESTION.format(c=country)
            facts.append({"id": f"fact{rank}", "rank": rank, "prompt": prompt, "answer": capital,
                          "stop": ["\n"], "max_new_tokens": 8})
            options = rng.sample([k for k in capitals if k != capital], 3) + [capital]
            rng.shuffle(options)
            mc.append({"id": f"factmc{rank}", "rank": rank, "query": MC_QUERY.format(c=country), "choices": options,
                       "gold": options.index(capital)})
        add = [{"id": f"add{a}_{b}", "prompt": f"{spaced(a)} + {spaced(b)} =", "answer": spaced(a + b), "stop": ["\n"],
                "max_new_tokens": 8} for a, b in self.test_add]
        copy = [{"id": f"copy{i}", "prompt": f"copy: {seq} ->", "answer": seq, "stop": ["\n"],
                 "max_new_tokens": 2 * self.copy_length + 4} for i, seq in enumerate(self.test_copy)]
        return {"es_mini_facts": facts, "es_mini_facts_mc": mc, "es_mini_add": add, "es_mini_copy": copy}


def check_no_leak(corpus_dir: Path, suite: dict[str, list[dict]]) -> dict[str, int]:
    """Counts of test items whose prompt-plus-answer appears verbatim in the corpus (must all be 0)."""
    text = "\n".join(p.read_text() for p in sorted(Path(corpus_dir).glob("*.txt")))
    leaks = {}
    for task, items in suite.items():
        count = 0
        for item in items:
            if "answer" in item:
                probe = f"{item['prompt']} {item['answer']}"
            else:
                probe = f"{item['query']} {item['choices'][item['gold']]}"
            count += probe in text
        leaks[task] = count
    return leaks


def write_suite(suite: dict[str, list[dict]], out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    for task, items in suite.items():
        write_jsonl_atomic(out_dir / f"{task}.jsonl", items)
    return out_dir
