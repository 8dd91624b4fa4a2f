"""The ladder is data: a YAML spec maps each rung to a shape, token budgets, batch, LR and checkpoints.

A rung gives its shape in one of three ways:
- explicitly: d_model, n_layers, n_heads (n_kv_heads, d_ff optional);
- `params: 25e6`: the aspect rule below picks the shape;
- `index: i` with `shape_rule: {kind: hu2024}`: Hu et al. 2024's series, n_layers = 4i and
  n_heads = floor(i (8 + i) / 4) with head_dim 64 (i = 3..9 gives 0.03B..2.4B non-embedding params).

The aspect rule (documented once, here): head_dim is fixed (shape_rule.head_dim, default 64); for
every depth L the width is d_model = head_dim * round(aspect_ratio * L / head_dim) (aspect_ratio
default 64, i.e. d_model = 64 L as in Kaplan et al.'s well-performing range); d_ff follows the SwiGLU
rule; the depth whose parameter count (shape_rule.count: total or nonembedding) is closest to the
target in log space wins.

Every (rung, token budget) pair is one run: RUNS_DIR/<rung>-<tokens>/.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

from trainer.config import ModelConfig, TrainConfig, check_name, checkpoint_steps, read_yaml_file
from trainer.memory import TRAINING_BYTES_PER_PARAM, host_memory_bytes, launched_processes
from contracts.errors import ConfigError
from contracts.table import format_table
from trainer.flops import flops_per_token, param_counts, training_flops

SPEC_DIR = Path(__file__).parent / "specs"


def list_specs() -> list[str]:
    return sorted(p.stem for p in SPEC_DIR.glob("*.yaml"))


def load_spec(name_or_path: str | Path) -> dict:
    path = Path(name_or_path)
    if not path.is_file():
        path = SPEC_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError(f"no ladder spec {name_or_path!r}: give a YAML path or one of {', '.join(list_specs())}")
    spec = read_yaml_file(path, "ladder spec")
    if not isinstance(spec, dict) or not spec.get("rungs"):
        raise ConfigError(f"ladder spec {path} has no rungs")
    if not isinstance(spec["rungs"], list) or not all(isinstance(r, dict) and "name" in r for r in spec["rungs"]):
        raise ConfigError(f"ladder spec {path}: rungs must be a list of mappings, each with a name")
    for rung in spec["rungs"]:
        check_name(str(rung["name"]), f"ladder spec {path}: rung name")
    spec.setdefault("name", path.stem)
    return spec


def tokens_label(tokens: float) -> str:
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if tokens >= scale:
            value = tokens / scale
            return f"{value:.3g}{unit}"
    return f"{int(tokens)}"


def shape_from_params(target: float, vocab_size: int, rule: dict) -> dict:
    head_dim = int(rule.get("head_dim", 64))
    aspect = float(rule.get("aspect_ratio", 64))
    count = rule.get("count", "total")
    tie = bool(rule.get("tie_embeddings", True))
    best: dict = {}
    best_err = math.inf
    for layers in range(1, 257):
        heads = max(1, round(aspect * layers / head_dim))
        d_model = heads * head_dim
        cfg = ModelConfig(vocab_size=vocab_size, d_model=d_model, n_layers=layers, n_heads=heads,
                          tie_embeddings=tie)
        n = param_counts(cfg)["params" if count == "total" else "params_nonembedding"]
        err = abs(math.log(n / target))
        if err < best_err:
            best, best_err = {"d_model": d_model, "n_layers": layers, "n_heads": heads}, err
    return best


def shape_hu2024(index: int) -> dict:
    heads = index * (8 + index) // 4
    return {"n_layers": 4 * index, "n_heads": heads, "d_model": 64 * heads}


@dataclass
class PlannedRun:
    rung: str
    name: str
    config: TrainConfig
    params: int
    params_nonembedding: int
    tokens: float
    flops: float
    steps: int
    checkpoints: int


def rung_shape(rung: dict, spec: dict, vocab_size: int) -> dict:
    rule = spec.get("shape_rule", {}) or {}
    explicit = {k: rung[k] for k in ("d_model", "n_layers", "n_heads", "n_kv_heads", "d_ff") if k in rung}
    if "d_model" in explicit:
        return explicit
    if "index" in rung:
        if rule.get("kind") != "hu2024":
            raise ConfigError(f"rung {rung.get('name')} gives an index but shape_rule.kind is not hu2024")
        return {**shape_hu2024(int(rung["index"])), **explicit}
    if "params" in rung:
        return {**shape_from_params(float(rung["params"]), vocab_size, rule), **explicit}
    raise ConfigError(f"rung {rung.get('name')} needs d_model/n_layers/n_heads, params, or index")


def learning_rate(spec: dict, d_model: int) -> float:
    lr = spec.get("lr", {}) or {}
    base = float(lr.get("base", 3e-3))
    if lr.get("rule", "constant") == "width":
        # Wider models need smaller steps; lr ~ 1/width is the muP-style transfer rule for Adam.
        return base * float(lr.get("ref_d_model", d_model)) / d_model
    return base


def set_fields(section: object, values: dict, where: str) -> None:
    """Set a config section's fields from a spec; a key the section does not have is a typo, not a no-op."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a mapping, got {values!r}")
    known = {f.name for f in dataclasses.fields(section)}  # type: ignore[arg-type]
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{where} has no field {key!r}; known fields: {', '.join(sorted(known))}")
        setattr(section, key, value)


def plan(spec: dict, data_dir: str | None = None, vocab_size: int | None = None) -> list[PlannedRun]:
    try:
        return _plan(spec, data_dir, vocab_size)
    except (TypeError, ValueError, KeyError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"ladder spec {spec.get('name')}: a value has the wrong type or is missing ({err})") from None


# A plan beyond this on one H100 is almost surely a typo in the spec's sizes or tokens.
ABSURD_H100_SECONDS = 10 * 365 * 86400


def absurd_plan_warning(runs: list[PlannedRun]) -> str | None:
    """A warning (with the figure) when the plan would take longer than anyone will run it, else None."""
    seconds = sum(estimate_seconds_h100(r) for r in runs)
    if seconds <= ABSURD_H100_SECONDS:
        return None
    return (f"this plan needs {seconds / 86400 / 365:.3g} years on one H100 at 40% MFU "
            f"({sum(r.flops for r in runs):.3g} FLOPs); check the spec's sizes and tokens")


YEAR = 365 * 86400
# `ladder run` refuses a plan beyond this (or a run beyond memory) unless told --allow-huge: such a plan is
# almost surely a typo, and finding out after the corpus is prepared and a run directory made is too late.
REFUSE_SECONDS = YEAR


def memory_problem(run: PlannedRun) -> str | None:
    """The run's weights, gradients and Adam moments (16 bytes a parameter) against this machine's memory
    (no torch, no timing: `ladder plan` uses it too)."""
    need = TRAINING_BYTES_PER_PARAM * run.params
    have = host_memory_bytes()
    if need <= have:
        return None
    return (f"run {run.name} needs about {need / 2**30:,.0f} GiB for weights, gradients and optimizer state "
            f"({run.params:.3g} parameters), more than this machine's {have / 2**30:,.0f} GiB")


def plan_limits(runs: list[PlannedRun], matmul_flops: float | None = None) -> list[str]:
    """Why the plan should not start here, each with its estimate: a run beyond memory; the whole plan beyond
    REFUSE_SECONDS on this machine (with a measured matmul rate) or else on one H100 (a lower bound anywhere)."""
    problems = [p for p in (memory_problem(r) for r in runs) if p][:1]
    if matmul_flops:
        seconds = sum(estimate_seconds_here(r, matmul_flops) for r in runs)
        where = f"on this machine (matmul rate {matmul_flops / 1e9:.0f} GFLOP/s)"
    else:
        devices = launched_processes()  # under torchrun: its processes share the work
        seconds = sum(estimate_seconds_h100(r) for r in runs) / devices
        where = "on one H100 at 40% MFU" if devices == 1 else f"on {devices} H100s at 40% MFU"
    if seconds > REFUSE_SECONDS:
        problems.append(f"the plan needs about {seconds / YEAR:.3g} years {where} ({sum(r.flops for r in runs):.3g} FLOPs)")
    return problems


def refuse_huge_plan(runs: list[PlannedRun]) -> None:
    """Before `ladder run` creates anything: a ConfigError naming the estimate and --allow-huge."""
    import torch

    on_gpu = torch.cuda.is_available() and any(r.config.device != "cpu" for r in runs)
    problems = plan_limits(runs, None if on_gpu else measure_matmul_flops())
    if problems:
        raise ConfigError(f"{'; '.join(problems)}; check the spec's sizes and tokens, or pass --allow-huge to start it "
                          "anyway")


def _plan(spec: dict, data_dir: str | None = None, vocab_size: int | None = None) -> list[PlannedRun]:
    vocab = int(vocab_size or spec.get("vocab_size", 32000))
    seq_len = int(spec.get("seq_len", 2048))
    model_defaults = dict(spec.get("model", {}) or {})
    model_defaults.setdefault("max_seq_len", seq_len)
    batch = spec.get("batch", {}) or {}
    runs = []
    for rung in spec["rungs"]:
        name = str(rung["name"])
        shape = rung_shape(rung, spec, vocab)
        model = ModelConfig(vocab_size=vocab, **{**model_defaults, **shape})
        counts = param_counts(model)
        budgets = rung.get("tokens", spec.get("tokens"))
        if budgets is None:
            ratio = float(spec.get("tokens_per_param", 20))  # Chinchilla's compute-optimal ratio
            budgets = [ratio * counts["params"]]
        budgets = budgets if isinstance(budgets, list) else [budgets]
        for tokens in budgets:
            tokens = float(tokens)
            if not math.isfinite(tokens) or tokens <= 0:
                raise ConfigError(f"ladder spec {spec['name']}: rung {name} has tokens {tokens}; give a positive, finite budget")
            rung_batch = {**batch, **(rung.get("batch", {}) or {})}
            cfg = TrainConfig(
                model=copy.deepcopy(model),
                data_dir=str(data_dir or spec.get("data_dir") or "DATA"),
                tokens=tokens,
                seq_len=seq_len,
                global_batch_size=int(rung_batch.get("global_batch_size", 32)),
                micro_batch_size=int(rung_batch.get("micro_batch_size", rung_batch.get("global_batch_size", 32))),
                seed=int(spec.get("seed", 1234)),
                val_tokens=int(spec.get("val_tokens", 65536)),
                log_interval=int(spec.get("log_interval", 10)),
                name=f"{name}-{tokens_label(tokens)}",
            )
            for section in ("optim", "schedule", "checkpoints"):
                set_fields(getattr(cfg, section), spec.get(section) or {}, f"ladder spec {spec['name']}: {section}")
            beta1, beta2 = cfg.optim.betas
            cfg.optim.betas = (float(beta1), float(beta2))
            cfg.optim.lr = float(rung.get("lr", learning_rate(spec, model.d_model)))
            for key in ("device", "precision", "compile", "parallel"):
                if key in spec:
                    setattr(cfg, key, spec[key])
            cfg.validate()
            steps = checkpoint_steps(cfg.total_steps, cfg.tokens_per_step, cfg.checkpoints.log_spaced,
                                     cfg.checkpoints.every_tokens, cfg.checkpoints.final)
            runs.append(PlannedRun(name, cfg.name, cfg, counts["params"], counts["params_nonembedding"],
                                   cfg.total_steps * cfg.tokens_per_step,
                                   training_flops(counts["params"], cfg.total_steps * cfg.tokens_per_step),
                                   cfg.total_steps, len(steps)))
    return runs


# Throughput model for "estimated time on this machine": a measured matmul rate times the share of it a
# training step reaches. The share was measured on 2 CPU cores (docs/PERFORMANCE.md): tiny models are
# dominated by per-op overhead, hence the floor on time per step.
CPU_TRAINING_EFFICIENCY = 0.45
CPU_OVERHEAD_S_PER_LAYER_STEP = 0.004
H100_BF16_PEAK, PLANNING_MFU = 989e12, 0.40


def measure_matmul_flops(size: int = 512, repeats: int = 8) -> float:
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size ** 3 * repeats / (time.perf_counter() - start)


def estimate_seconds_here(run: PlannedRun, matmul_flops: float) -> float:
    compute = flops_per_token(run.config.model, run.config.seq_len) * run.tokens / (matmul_flops * CPU_TRAINING_EFFICIENCY)
    overhead = CPU_OVERHEAD_S_PER_LAYER_STEP * run.config.model.n_layers * run.steps * (
        run.config.global_batch_size // run.config.micro_batch_size)
    return compute + overhead


def estimate_seconds_h100(run: PlannedRun) -> float:
    return flops_per_token(run.config.model, run.config.seq_len) * run.tokens / (H100_BF16_PEAK * PLANNING_MFU)


def human_count(n: float) -> str:
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.3g}"


def human_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f}h"
    if seconds < 86400 * 365:
        return f"{seconds / 86400:.0f}d"
    return f"{seconds / 86400 / 365:.1f}y"


def plan_table(runs: list[PlannedRun], matmul_flops: float | None = None) -> str:
    """The plan as a table. 'est. here' needs this machine's matmul rate (FLOP/s): pass one, e.g. from
    measure_matmul_flops(); without it the column shows '-' (printing a plan never times the machine)."""
    header = ["run", "layers", "d_model", "heads", "params", "non-emb", "tokens", "FLOPs (6ND)", "steps",
              "ckpts", "lr", "est. here", "est. H100@40%"]
    rows = []
    for r in runs:
        m = r.config.model
        here = human_duration(estimate_seconds_here(r, matmul_flops)) if matmul_flops else "-"
        rows.append([r.name, m.n_layers, m.d_model, f"{m.n_heads}/{m.n_kv_heads}", human_count(r.params),
                     human_count(r.params_nonembedding), human_count(r.tokens), f"{r.flops:.3g}", r.steps,
                     r.checkpoints, f"{r.config.optim.lr:.2g}", here, human_duration(estimate_seconds_h100(r))])
    if matmul_flops:
        total_here = sum(estimate_seconds_here(r, matmul_flops) for r in runs)
        here = f"about {human_duration(total_here)} here (matmul rate {matmul_flops / 1e9:.0f} GFLOP/s)"
    else:
        here = "time here not estimated (--time-here measures this machine)"
    footer = (f"{len(runs)} runs, {sum(r.flops for r in runs):.3g} FLOPs in all; {here}, "
              f"{human_duration(sum(estimate_seconds_h100(r) for r in runs))} on one H100 at 40% MFU")
    return format_table(header, rows, align="l" + "r" * (len(header) - 1)) + "\n" + footer


def run_ladder(spec: dict, out: str | Path, data_dir: str | Path | None = None, only: list[str] | None = None,
               progress: bool = True, log=print, allow_huge: bool = False) -> list[dict]:
    """Train every run of the ladder one after another, into OUT/runs/<run>/.

    Finished runs are skipped and interrupted ones resumed, so re-running the command after a kill
    continues where it stopped. Without --data the embedded default corpus is prepared into OUT/data.
    """
    import json

    from contracts.atomic import read_jsonl, write_text_atomic
    from trainer.data import load_manifest
    from trainer.data_prepare import prepare
    from trainer.loop import train
    from contracts.provenance import provenance

    from contracts.atomic import check_output_path, clean_stale_temporaries

    out = check_output_path(out)
    # Everything is checked before OUT is created: the data (when given) and every run of the plan.
    planned = plan(spec, data_dir=str(data_dir) if data_dir else None,
                   vocab_size=load_manifest(data_dir)["vocab_size"] if data_dir is not None else None)
    unknown = set(only or ()) - {r.name for r in planned} - {r.rung for r in planned}
    if unknown:
        raise ConfigError(f"--only names unknown runs {sorted(unknown)}; the plan has {[r.name for r in planned]}")
    if not allow_huge:
        refuse_huge_plan([r for r in planned if not only or r.name in only or r.rung in only])
    out.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(out)  # not recursive: each run directory is cleaned under its own lock
    if data_dir is None:
        data_dir = out / "data"
        if not (data_dir / "data.json").is_file():
            from trainer.corpus import build_default_corpus

            corpus = build_default_corpus(out / "corpus")
            log(f"preparing the embedded default corpus ({corpus}) into {data_dir}")
            prepare([corpus], data_dir, vocab_size=int(spec.get("vocab_size", 2048)), seed=int(spec.get("seed", 1234)),
                    val_fraction=float(spec.get("val_fraction", 0.05)))
    vocab = load_manifest(data_dir)["vocab_size"]
    runs = plan(spec, data_dir=str(data_dir), vocab_size=vocab)
    if only:
        unknown = set(only) - {r.name for r in runs} - {r.rung for r in runs}
        if unknown:
            raise ConfigError(f"--only names unknown runs {sorted(unknown)}; the plan has {[r.name for r in runs]}")
        runs = [r for r in runs if r.name in only or r.rung in only]
    log(plan_table(runs))
    write_text_atomic(out / "ladder.json", json.dumps({"spec": spec, "data_dir": str(data_dir), "vocab_size": vocab,
                                                        "runs": [r.name for r in runs], "provenance": provenance()},
                                                       indent=2, default=str))
    summaries = []
    for run in runs:
        run_dir = out / "runs" / run.name
        done = read_jsonl(run_dir / "checkpoints.jsonl")
        if done and done[-1]["step"] >= run.steps:
            log(f"[{run.name}] finished earlier ({run.steps} steps); skipping")
            summaries.append({"run_dir": str(run_dir), "skipped": True})
            continue
        started = time.perf_counter()
        summary = train(run.config, run_dir, resume=(run_dir / "config.yaml").exists(), progress=progress)
        summary["seconds"] = time.perf_counter() - started
        log(f"[{run.name}] done in {summary['seconds']:.0f}s")
        summaries.append(summary)
    return summaries
