"""Study presets: the ladder, how much is evaluated, and how hard PassUntil samples.

`smoke` runs in CI in minutes; `tiny` (the default) in about 8 minutes on 2 idle CPU cores (docs/STUDY.md);
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
    # The cap of 256 samples resolves pass rates down to about 1% (r = 2 passes expected by then).
    "tiny": {"spec": "tiny", "world": {"n_entities": 120, "test_facts": 40, "test_add": 40, "test_copy": 40,
                                       "corpus_chars": 4_500_000},
             "eval_limit": 40, "passuntil": {"r": 2, "max_samples": 256, "batch_size": 64, "chunk_size": 16, "limit": 16},
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
