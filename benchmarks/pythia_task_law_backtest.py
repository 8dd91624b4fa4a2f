"""The task law on a real repeated-sampling ladder (Pythia on GSM8K, ../shared/data/pythia_gsm8k): every size with
at least 3 smaller ones predicted from them, at every checkpoint from 6B tokens on. Side by side on the same steps:

- before: the instance law's own interval (sampling + parameter noise), what `fit task-law --target` printed;
- after: the forecast, its interval learnt from the ladder by forward chaining (`emergent backtest task-law`);
- Hu et al.'s dataset-level line in log(-log PU) (point predictions only).

    python benchmarks/pythia_task_law_backtest.py [--data ../shared/data/pythia_gsm8k]
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from analysis.task_law import InstanceTaskLawModel
from analysis.task_law_backtest import backtest, format_backtest
from analysis.task_law_forecast import by_size
from contracts.records import read_records

CHECKPOINTS = ("6B", "20B", "60B", "200B", "300B")


def old_law_intervals(files, steps) -> dict:
    """The instance law's own prediction interval at each step of the forecast's backtest."""
    records = {f"gsm8k@{Path(p).name}": recs for p, recs in files}
    inside = {0.9: [], 0.95: []}
    ratios = []
    for s in steps:
        sizes_recs = by_size(records[s["ladder"]])
        fit = [r for n, v in sizes_recs.items() if n < s["target"] for r in v]
        law = InstanceTaskLawModel(fit, task="gsm8k").fit()
        for level in inside:
            est, low, high = (float(v[0]) for v in law.predict(s["target"], alpha=1 - level))
            inside[level].append(low <= s["actual"] <= high)
        ratios.append(abs(math.log(est / s["actual"])))
    return {"coverage": {k: float(np.mean(v)) for k, v in inside.items()}, "median_abs_log_ratio": float(np.median(ratios))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "pythia_gsm8k"))
    args = parser.parse_args()
    files = [(str(p), read_records(p).records) for p in (Path(args.data) / f"gsm8k_{ck}.jsonl" for ck in CHECKPOINTS)]
    start = time.perf_counter()
    result = backtest(files)
    print(format_backtest(result))
    print(f"forecast backtest: {time.perf_counter() - start:.1f} s")
    old = old_law_intervals(files, result["steps"])
    m = result["summary"]
    print("\n| on the same steps | 90% coverage | 95% coverage | median |log(pred/actual)| |")
    print("|---|---|---|---|")
    print(f"| before: instance law, its own interval | {old['coverage'][0.9]:.0%} | {old['coverage'][0.95]:.0%} | "
          f"{old['median_abs_log_ratio']:.3g} |")
    print(f"| after: forecast (median width {m['median_width_0.9']:.3g}x at 90%) | {m['coverage_0.9']:.0%} | "
          f"{m['coverage_0.95']:.0%} | {m['median_abs_log_ratio']:.3g} |")
    print(f"| Hu et al.'s dataset-level line | - | - | {m['median_abs_log_ratio_line']:.3g} |")


if __name__ == "__main__":
    main()
