"""Does the default study's story survive a reseed? The study under several seeds, one after another, each in
its own folder under --out (a finished seed is reused, an interrupted one resumes; the embedded natural
text, which no seed changes, is built once and copied). Per seed it prints the verdict's first sentence, the
predicted quantities inside their 90% and 95% intervals, each task metric's class, the six claims of
study/report_claims.py (all from the seed's claims.json and fits.json) and the runtime (its stage times); then how many seeds agree on each claim, and the interval
coverage over all seeds pooled.

    python benchmarks/study_seeds.py --seeds 5 [--preset tiny] [--out study-seeds] [--first-seed 1]
"""
from __future__ import annotations

import argparse
import json
import shutil
from collections import Counter
from pathlib import Path

from contracts.table import format_table
from study.pipeline import Study
from study.presets import preset
from study.report_claims import LEVEL

LEVELS = (0.9, 0.95)


def run_seed(out: Path, preset_name: str, seed: int, natural: Path | None) -> None:
    if natural is not None and not (out / "natural").exists():
        out.mkdir(parents=True, exist_ok=True)
        shutil.copytree(natural, out / "natural")
    Study(out, preset(preset_name), seed=seed, log=lambda *a: None).run()


def runtime(out: Path) -> float:
    """The study's own stage times (stages/*.json): also right for a seed finished by an earlier call."""
    return sum(json.loads(p.read_text())["seconds"] for p in (out / "stages").glob("*.json"))


def verdict_sentence(out: Path) -> str:
    text = (out / "REPORT.md").read_text()
    start = text.index("**Verdict.**") + len("**Verdict.** ")
    return text[start:text.index(".", start) + 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--out", default="study-seeds")
    args = parser.parse_args()
    root = Path(args.out)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    natural, rows, claims_by_seed, pooled = None, [], {}, {level: [0, 0] for level in LEVELS}
    for seed in seeds:
        out = root / f"seed{seed}"
        if not (out / "stages" / "report.json").is_file():
            run_seed(out, args.preset, seed, natural)
        natural = natural or out / "natural"
        seconds = runtime(out)
        judged = json.loads((out / "claims.json").read_text())
        claims = {c["name"]: c for c in judged["claims"]}
        claims_by_seed[seed] = claims
        counts = {level: tuple(judged["inside"][f"{level:g}"]) for level in LEVELS}
        for level, (k, n) in counts.items():
            pooled[level][0] += k
            pooled[level][1] += n
        curves = json.loads((out / "fits.json").read_text())["loss_curves"]
        classes = Counter(f.get("classification", "?") for f in curves.values())
        print(f"\n## seed {seed} ({seconds:.0f} s)\n{verdict_sentence(out)}")
        print("  classes: " + ", ".join(f"{k} {f.get('classification', '?')}" for k, f in sorted(curves.items())))
        for name, c in claims.items():
            print(f"  {'HOLDS' if c['holds'] else 'fails'}  {name}: {c['text']}")
        rows.append([seed, f"{seconds:.0f}", *(f"{k}/{n}" for k, n in counts.values()),
                     ", ".join(f"{v} {k}" for k, v in sorted(classes.items())),
                     "".join("+" if c["holds"] else "-" for c in claims.values())])
    names = list(next(iter(claims_by_seed.values())))
    print("\n" + format_table(["seed", "seconds", "inside 90%", "inside 95%", "classes", "claims " + " ".join(
        str(i) for i in range(1, len(names) + 1))], rows))
    print("\nclaims held, by seed count:")
    for i, name in enumerate(names, 1):
        held = sum(claims_by_seed[s][name]["holds"] for s in seeds)
        print(f"  {i}. {name}: {held} of {len(seeds)}")
    for level, (k, n) in pooled.items():
        print(f"pooled: {k} of {n} predicted quantities inside their {level:.0%} intervals ({k / max(n, 1):.0%})")
    print(f"(claims judged at the {LEVEL:.0%} level)")


if __name__ == "__main__":
    main()
