"""The study's generated world: the skill text mixed into the corpus and the mini-suite's test items.

One seed makes both, so the test items ask about facts and skills the corpus teaches, in a form the
corpus never shows verbatim (checked by `check_no_leak`):

- facts: invented countries and capitals, mentioned at Zipf-like frequencies (entity i about
  1/(i+1) as often as entity 0), as statements ("The capital of Varonia is Keltum."); tested as
  questions ("Q: What is the capital of Varonia?\nA: Keltum") and as 4-way multiple choice;
- addition: multi-digit sums with carries ("347 + 285 = 632"); tested on operand pairs never shown;
- copying: "copy: k q z m -> k q z m"; tested on new random sequences, several tokens to get right.

Natural text (the embedded default corpus, Python's docstrings) makes up the rest, at the shares in
`MIX`; `build_corpus` writes the mixed corpus and a SOURCE file stating them.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from contracts.atomic import write_jsonl_atomic, write_text_atomic

MIX = {"natural": 0.5, "facts": 0.25, "addition": 0.15, "copying": 0.10}  # shares of corpus characters
SYLLABLES = ["ka", "lo", "mi", "ver", "to", "zan", "ri", "bel", "du", "nor", "sa", "quin", "tel", "ma", "vo", "ra",
             "gen", "ul", "phi", "dar", "os", "ne", "ki", "lum"]
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _name(rng: random.Random, parts: int, suffix: str = "") -> str:
    return ("".join(rng.choice(SYLLABLES) for _ in range(parts)) + suffix).capitalize()


class World:
    def __init__(self, seed: int = 0, n_entities: int = 200, test_facts: int = 40, test_add: int = 40,
                 test_copy: int = 40, copy_length: int = 5):
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
        self.seed, self.copy_length = seed, copy_length
        # Tested facts are spread over the frequency ranks: frequent ones first learned, rare ones later.
        step = max(1, n_entities // test_facts)
        self.test_fact_ids = list(range(0, n_entities, step))[:test_facts]
        self.test_add: list[tuple[int, int]] = []
        seen = set()
        while len(self.test_add) < test_add:
            a, b = rng.randint(100, 999), rng.randint(100, 999)
            if (a % 10 + b % 10) >= 10 and (a, b) not in seen:  # at least one carry
                seen.add((a, b))
                self.test_add.append((a, b))
        self.test_copy = [" ".join(rng.sample(LETTERS, copy_length)) for _ in range(test_copy)]

    # ---------------------------------------------------------------- corpus
    def fact_lines(self, rng: random.Random, chars: int) -> list[str]:
        weights = [1.0 / (i + 1) for i in range(len(self.facts))]
        templates = ["The capital of {c} is {k}.", "{k} is the capital city of {c}.", "In {c}, the seat of government is {k}."]
        lines, size = [], 0
        while size < chars:
            country, capital = self.facts[rng.choices(range(len(self.facts)), weights)[0]]
            line = rng.choice(templates).format(c=country, k=capital)
            lines.append(line)
            size += len(line) + 1
        return lines

    def addition_lines(self, rng: random.Random, chars: int) -> list[str]:
        held_out = set(self.test_add) | {(b, a) for a, b in self.test_add}
        lines, size = [], 0
        while size < chars:
            a, b = rng.randint(10, 999), rng.randint(10, 999)
            if (a, b) in held_out:
                continue
            line = f"{a} + {b} = {a + b}"
            lines.append(line)
            size += len(line) + 1
        return lines

    def copy_lines(self, rng: random.Random, chars: int) -> list[str]:
        held_out = set(self.test_copy)
        lines, size = [], 0
        while size < chars:
            seq = " ".join(rng.sample(LETTERS, rng.randint(3, self.copy_length)))
            if seq in held_out:
                continue
            line = f"copy: {seq} -> {seq}"
            lines.append(line)
            size += len(line) + 1
        return lines

    def build_corpus(self, natural_dir: Path, out_dir: Path) -> Path:
        """Mix the natural text with generated skill text at the stated shares; returns out_dir."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        natural = sorted(Path(natural_dir).glob("*.txt"))
        natural_chars = sum(p.stat().st_size for p in natural)
        total = natural_chars / MIX["natural"]
        rng = random.Random(self.seed + 1)
        blocks = {"facts": self.fact_lines(rng, int(total * MIX["facts"])),
                  "addition": self.addition_lines(rng, int(total * MIX["addition"])),
                  "copying": self.copy_lines(rng, int(total * MIX["copying"]))}
        for path in natural:
            write_text_atomic(out_dir / f"natural_{path.name}", path.read_text())
        for name, lines in blocks.items():
            # Paragraphs of 20 lines: the data preparation groups paragraphs into documents.
            paragraphs = ["\n".join(lines[i:i + 20]) for i in range(0, len(lines), 20)]
            write_text_atomic(out_dir / f"skill_{name}.txt", "\n\n".join(paragraphs) + "\n")
        write_text_atomic(out_dir / "SOURCE", json.dumps({"mix": MIX, "seed": self.seed, "natural_chars": natural_chars,
                                                          "skill_lines": {k: len(v) for k, v in blocks.items()}}, indent=2))
        return out_dir

    # ---------------------------------------------------------------- test items
    def mini_suite(self) -> dict[str, list[dict]]:
        rng = random.Random(self.seed + 2)
        facts, mc = [], []
        capitals = [k for _, k in self.facts]
        for rank in self.test_fact_ids:
            country, capital = self.facts[rank]
            facts.append({"id": f"fact{rank}", "rank": rank, "prompt": f"Q: What is the capital of {country}?\nA:",
                          "answer": capital})
            options = rng.sample([k for k in capitals if k != capital], 3) + [capital]
            rng.shuffle(options)
            mc.append({"id": f"factmc{rank}", "query": f"Q: Which city is the capital of {country}?\nA:",
                       "choices": options, "gold": options.index(capital)})
        add = [{"id": f"add{a}_{b}", "prompt": f"{a} + {b} =", "answer": str(a + b), "stop": ["\n"], "max_new_tokens": 6}
               for a, b in self.test_add]
        copy = [{"id": f"copy{i}", "prompt": f"copy: {seq} ->", "answer": seq, "stop": ["\n"], "max_new_tokens": 16}
                for i, seq in enumerate(self.test_copy)]
        for item in facts:
            item.update({"stop": ["\n"], "max_new_tokens": 8})
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
