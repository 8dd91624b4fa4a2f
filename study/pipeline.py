"""The study's stages. Each writes its outputs atomically and then a marker DIR/stages/<stage>.json
(with its duration); a re-run skips marked stages and continues an interrupted one (training,
evaluation and PassUntil resume on their own). The prediction for the largest rung is written
before that rung is trained.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from contracts.atomic import write_text_atomic

STAGES = ["world", "data", "plan", "train_small", "eval_small", "passuntil_small", "fit_predict", "train_largest",
          "eval_largest", "passuntil_largest", "report"]
# Copying is left out: no rung of the CPU presets forms the circuit it needs, so every sample would fail.
PASSUNTIL_TASKS = ["es_mini_facts", "es_mini_add"]


DEFAULT_SEED = 1234


class Study:
    """One study in one folder. `seed` drives everything random: the world (facts, test items, corpus), the
    train/validation split, initialisation and data order of every run, and PassUntil's sampling."""

    def __init__(self, out: str | Path, preset: dict, seed: int | None = None, log=print):
        self.out = Path(out)
        self.preset = preset
        self.seed = int(seed if seed is not None else preset["spec"].get("seed", DEFAULT_SEED))
        self.spec = {**preset["spec"], "seed": self.seed}
        self.log = log
        self.stages_dir = self.out / "stages"

    # ---------------------------------------------------------------- bookkeeping
    def done(self, stage: str) -> bool:
        return (self.stages_dir / f"{stage}.json").is_file()

    def mark(self, stage: str, seconds: float, **info) -> None:
        write_text_atomic(self.stages_dir / f"{stage}.json", json.dumps({"stage": stage, "seconds": seconds, **info}, indent=2))

    def timings(self) -> dict[str, float]:
        out = {}
        for stage in STAGES:
            path = self.stages_dir / f"{stage}.json"
            if path.is_file():
                out[stage] = json.loads(path.read_text())["seconds"]
        return out

    def run(self) -> dict[str, float]:
        from contracts.locks import OutputLock

        self.out.mkdir(parents=True, exist_ok=True)
        with OutputLock(self.out, log=self.log):  # one study per folder: a second is refused, naming this one
            from contracts.atomic import clean_stale_temporaries

            clean_stale_temporaries(self.out, recursive=True)  # corpus/, stages/, mini_suite/, .REPORT.md.*.tmp, ...
            return self._run_stages()

    def _run_stages(self) -> dict[str, float]:
        self._check_same_study()
        write_text_atomic(self.out / "study.json", json.dumps({"preset": self.preset["name"], "seed": self.seed,
                                                               "spec": self.spec}, indent=2, default=str))
        for stage in STAGES:
            if self.done(stage):
                self.log(f"[study] {stage}: done earlier, reused")
                continue
            self.log(f"[study] {stage} ...")
            start = time.perf_counter()
            info = getattr(self, f"stage_{stage}")() or {}
            self.mark(stage, time.perf_counter() - start, **info)
            self.log(f"[study] {stage}: {time.perf_counter() - start:.1f}s")
        return self.timings()

    def _check_same_study(self) -> None:
        """A folder holds one study: resuming it under another preset or seed would mix two studies' stages."""
        from contracts.errors import InputError

        path = self.out / "study.json"
        if not path.is_file():
            return
        before = json.loads(path.read_text())
        was = (before.get("preset"), before.get("seed", before.get("spec", {}).get("seed")))
        if was != (self.preset["name"], self.seed):
            raise InputError(f"{self.out} holds the study of preset {was[0]} with seed {was[1]}, not preset "
                             f"{self.preset['name']} with seed {self.seed}: resume it with those, or choose another --out")

    def provenance(self) -> dict:
        """What every study artifact records of how it was made (besides library versions and git revision)."""
        return {"preset": self.preset["name"], "seed": self.seed}

    # ---------------------------------------------------------------- plan helpers
    def planned(self):
        from trainer.data import load_manifest
        from trainer.ladder import plan

        vocab = load_manifest(self.out / "data")["vocab_size"]
        return plan(self.spec, data_dir=str(self.out / "data"), vocab_size=vocab)

    def _split(self, largest: bool):
        runs = self.planned()
        top = max(r.params for r in runs)
        return [r for r in runs if (r.params == top) == largest]

    def largest(self):
        return self._split(largest=True)

    def small(self):
        return self._split(largest=False)

    def run_dirs(self, runs) -> list[Path]:
        return [self.out / "runs" / r.name for r in runs]

    def task_law_runs(self, runs):
        """One run per size for PassUntil and the task law (a law in N needs one budget per N): each rung's
        run at the ladder's most common budget (or its largest, if it lacks that budget). Extra budgets on
        small rungs feed the loss law L(N, D) only."""
        budgets = [r.tokens for r in self.planned()]
        common = max(set(budgets), key=lambda b: (budgets.count(b), b))
        by_rung: dict[str, list] = {}
        for r in runs:
            by_rung.setdefault(r.rung, []).append(r)
        return [min(group, key=lambda r: (r.tokens != common, -r.tokens)) for group in by_rung.values()]

    # ---------------------------------------------------------------- stages
    def stage_world(self):
        from study.world import World, check_no_leak, write_suite
        from trainer.corpus import build_default_corpus

        world = World(seed=self.seed, **self.preset["world"])
        natural = build_default_corpus(self.out / "natural")
        corpus = world.build_corpus(natural, self.out / "corpus")
        suite = world.mini_suite()
        leaks = check_no_leak(corpus, suite)
        if any(leaks.values()):
            raise RuntimeError(f"test items appear verbatim in the corpus: {leaks}")
        write_suite(suite, self.out / "mini_suite")
        return {"leaks": leaks, "items": {k: len(v) for k, v in suite.items()}}

    def stage_data(self):
        from trainer.data_prepare import prepare

        if (self.out / "data" / "data.json").is_file():
            return {}
        manifest = prepare([self.out / "corpus"], self.out / "data", vocab_size=int(self.spec.get("vocab_size", 2048)),
                           seed=self.seed, val_fraction=0.05)
        return {"train_tokens": manifest["train_tokens"], "vocab_size": manifest["vocab_size"]}

    def stage_plan(self):
        from trainer.ladder import measure_matmul_flops, plan_table

        table = plan_table(self.planned(), matmul_flops=measure_matmul_flops())  # the study trains here: time it
        write_text_atomic(self.out / "plan.txt", table + "\n")
        self.log(table)
        return {}

    def _train(self, runs):
        from trainer.ladder import run_ladder

        run_ladder(self.spec, self.out, data_dir=self.out / "data", only=[r.name for r in runs], progress=False,
                   log=self.log)

    def stage_train_small(self):
        self._train(self.small())

    def stage_train_largest(self):
        self._train(self.largest())

    def _eval(self, runs):
        from lm_eval_tasks.evaluate import evaluate

        os.environ["EMERGENT_MINI_DATA"] = str(self.out / "mini_suite")
        added = evaluate(self.run_dirs(runs), ["emergent_mini"], self.out / "eval.csv", batch_size=16,
                         limit=self.preset["eval_limit"], log=self.log)
        return {"rows_added": added}

    def stage_eval_small(self):
        return self._eval(self.small())

    def stage_eval_largest(self):
        return self._eval(self.largest())

    def _passuntil(self, runs):
        from passuntil.backends.hf import HFBackend
        from passuntil.scheduler import Settings, run
        from passuntil.tasks import load_custom
        from contracts.run_dir import read_checkpoints

        import torch

        cfg = self.preset["passuntil"]
        settings = Settings(r=cfg["r"], max_samples=cfg["max_samples"], batch_size=cfg["batch_size"],
                            chunk_size=cfg["chunk_size"], seed=self.seed)
        # Sampling from the study's tiny models is made of small ops: on 2 CPU cores, intra-op threads cost
        # more than they give (tiny preset, same records: 308 s with 2 threads, 39 s with 1 on a busier machine).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for run_dir in self.run_dirs(self.task_law_runs(runs)):
                final = read_checkpoints(run_dir)[-1]
                backend = HFBackend(str(final.path))
                for task in PASSUNTIL_TASKS:
                    loaded = load_custom(self.out / "mini_suite" / f"{task}.jsonl", name=task)
                    run(loaded, backend, settings, self.out / "passuntil" / f"{task}.jsonl", model_name=f"{final.run}",
                        params=final.params, limit=cfg["limit"], progress=False, log=self.log)
        finally:
            torch.set_num_threads(threads)
        return {}

    def stage_passuntil_small(self):
        return self._passuntil(self.small())

    def stage_passuntil_largest(self):
        return self._passuntil(self.largest())

    def inputs(self, runs=None):
        """(eval rows, checkpoint rows, PassUntil records), restricted to `runs` when given."""
        from analysis.io import read_csv, read_jsonl
        from contracts.records import read_records

        names = {r.name for r in (runs or self.planned())}
        eval_rows = [r for r in read_csv(self.out / "eval.csv") if r["run"] in names]
        checkpoints = [row for name in sorted(names) for row in read_jsonl(self.out / "runs" / name / "checkpoints.jsonl")]
        records = []
        for task in PASSUNTIL_TASKS:
            path = self.out / "passuntil" / f"{task}.jsonl"
            if path.is_file():
                records += [r for r in read_records(path).records if r["model"] in names]
        return eval_rows, checkpoints, records

    def stage_fit_predict(self):
        from analysis.pipeline import fit_all, to_fits_json
        from analysis.predict import predict
        from analysis.results import write_fits

        eval_rows, checkpoints, records = self.inputs(self.small())
        fits = fit_all(eval_rows, checkpoints, records, n_boot=100)
        fits_json = {**to_fits_json(fits), "study": self.provenance()}
        write_fits(self.out / "fits.json", fits_json)
        target = self.largest()[0]
        prediction = predict(fits_json, float(target.params), float(target.tokens))
        prediction["written_before_training"] = not (self.out / "runs" / target.name / "checkpoints.jsonl").exists()
        prediction["run"] = target.name
        prediction["study"] = self.provenance()
        write_fits(self.out / "prediction.json", prediction)
        return {"skipped_fits": fits.get("skipped", {})}

    def stage_report(self):
        from study.report import write_report

        write_report(self)
        return {}
