"""Study presets: the ladder, how much is evaluated, and how hard PassUntil samples.

`smoke` runs in CI in minutes; `tiny` (the default) in about 9 minutes on 2 idle CPU cores (docs/STUDY.md);
`du2024` and `hu2024` are the papers' scales on GPUs and here support --dry-run only.
"""
from __future__ import annotations

from trainer.ladder import load_spec

PRESETS: dict[str, dict] = {
    # r = 2 everywhere: with r = 1 PassUntil falls back to a biased estimator (issue #15).
    "smoke": {"spec": "smoke", "world": {"n_entities": 60, "test_facts": 12, "test_add": 12, "test_copy": 12,
                                            "corpus_chars": 1_000_000},
              "eval_limit": 12, "passuntil": {"r": 2, "max_samples": 48, "batch_size": 48, "chunk_size": 16, "limit": 6},
              "dry_run_only": False},
    # 120 addition items, 60 facts (of 80 entities, every frequency rank): eval noise of a few points, not 7-8.
    # 40 PassUntil instances per task at a cap of 512 samples resolve mean pass rates down to about 0.5%.
    "tiny": {"spec": "tiny", "world": {"n_entities": 80, "test_facts": 60, "test_add": 120, "test_copy": 60,
                                       "corpus_chars": 4_500_000},
             "eval_limit": 120, "passuntil": {"r": 2, "max_samples": 512, "batch_size": 64, "chunk_size": 16, "limit": 40},
             "dry_run_only": False},
    "du2024": {"spec": "du2024", "dry_run_only": True},
    "hu2024": {"spec": "hu2024", "dry_run_only": True},
}


def preset(name: str) -> dict:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    out = dict(PRESETS[name])
    out["name"] = name
    out["spec"] = load_spec(out["spec"]) if isinstance(out["spec"], str) else dict(out["spec"])
    return out
